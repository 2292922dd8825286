"""The ``fastgw`` command: serve, check-config, reload, init, hash-key, usage, --version.

Rules this module keeps:
- Each subcommand is one ``add_parser`` call in ``build_parser`` and one handler taking the
  parsed arguments and returning the exit code (``set_defaults(run=...)``): a new command is
  two small additions.
- Exit codes: 0 done; 1 the checked file has errors (``check-config``) or the command failed;
  2 a usage error or a config ``serve`` cannot start with.
- A gateway key is printed once, when it is made (``hash-key --new``, ``init``), and written
  nowhere: the config holds its hash.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path

from ._version import __version__
from .config import DEFAULT_CONFIG_PATH, ConfigError, Report, check_file, check_workers
from .config.starter import starter_config
from .keys import hash_key, new_key
from .records import command as usage_command

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastgw", description="An OpenAI-compatible LLM gateway.")
    parser.add_argument("--version", action="version", version=f"fastgw {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the gateway")
    serve.add_argument("--config", default=DEFAULT_CONFIG_PATH, help="TOML config file")
    serve.add_argument("--host", help="address to bind (overrides server.host)")
    serve.add_argument("--port", type=int, help="port to bind (overrides server.port)")
    serve.add_argument("--workers", type=int, help="worker processes (overrides server.workers)")
    serve.add_argument("--pid-file", help="where to write the server's pid (for fastgw reload)")
    serve.set_defaults(run=_serve)

    reloading = commands.add_parser(
        "reload", help="validate the config file, then make the running server reload it"
    )
    reloading.add_argument("--config", default=DEFAULT_CONFIG_PATH, help="TOML config file")
    reloading.add_argument("--port", type=int, help="the server's port (default: server.port)")
    reloading.add_argument("--pid-file", help="the server's pid file (default: from the port)")
    reloading.set_defaults(run=_reload)

    check = commands.add_parser(
        "check-config", help="validate a config file and print every error and warning"
    )
    check.add_argument("path", nargs="?", default=DEFAULT_CONFIG_PATH)
    check.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    check.set_defaults(run=_check)

    init = commands.add_parser("init", help="write a starter config with one new key")
    init.add_argument("path", nargs="?", default=DEFAULT_CONFIG_PATH)
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(run=_init)

    hashing = commands.add_parser("hash-key", help="hash a gateway key for the config")
    hashing.add_argument("--new", action="store_true", help="make a new random key and hash it")
    hashing.add_argument("--stdin", action="store_true", help="read the key from standard input")
    hashing.set_defaults(run=_hash)

    usage_command.add_parser(commands)
    commands.choices["usage"].set_defaults(run=usage_command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Handler = args.run
    return run(args)


def _print_warnings(report: Report) -> None:
    for warning in report.warnings:
        print(f"{report.source}: warning: {warning}", file=sys.stderr)


def _serve(args: argparse.Namespace) -> int:
    report = check_file(args.config)
    _print_warnings(report)
    if report.config is None:
        print(ConfigError(report.source, report.errors), file=sys.stderr)
        return 2
    config = report.config
    from .server import serve

    server = config.server
    workers_errors = check_workers(config, args.workers or server.workers)
    if workers_errors:
        print(ConfigError(args.config, workers_errors), file=sys.stderr)
        return 2
    serve(
        config,
        args.config,
        host=args.host or server.host,
        port=args.port or server.port,
        workers=args.workers or server.workers,
        pid_file=args.pid_file,
    )
    return 0


def _reload(args: argparse.Namespace) -> int:
    """Validate the file (refused: its errors, exit 1), then SIGHUP the server in the pid file
    (the server validates it again and every worker swaps; fastgw.reload)."""
    import signal

    from .reload import default_pid_file

    report = check_file(args.config)
    _print_warnings(report)
    if report.config is None:
        print(ConfigError(report.source, report.errors), file=sys.stderr)
        print("fastgw reload: not reloaded; the running config keeps serving", file=sys.stderr)
        return 1
    port = args.port or report.config.server.port
    pid_file = Path(args.pid_file) if args.pid_file else default_pid_file(port)
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError) as exc:
        print(f"fastgw reload: no running server found through {pid_file} ({exc})", file=sys.stderr)
        return 2
    print(f"fastgw reload: {args.config} is valid; server {pid} is reloading it")
    return 0


def _check(args: argparse.Namespace) -> int:
    report = check_file(args.path)
    if report.config is None:
        print(ConfigError(report.source, report.errors), file=sys.stderr)
    _print_warnings(report)
    if report.config is None or (args.strict and report.warnings):
        return 1
    config = report.config
    print(
        f"{args.path}: OK ({len(config.models)} models, {len(config.providers)} providers, "
        f"{len(config.keys)} keys)"
    )
    return 0


def _init(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if path.exists() and not args.force:
        print(f"fastgw init: {path} exists; pass --force to overwrite it", file=sys.stderr)
        return 1
    key = new_key()
    text = starter_config("starter", hash_key(key))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_new(path, text, replace=args.force)
    except OSError as exc:
        print(f"fastgw init: cannot write {path}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    print(f"key:  {key}    (shown once: give it to the client, keep it nowhere else)")
    print(f"serve it with: fastgw serve --config {path}")
    return 0


def _write_new(path: Path, text: str, *, replace: bool) -> None:
    """Write ``text`` to ``path``; without ``replace``, fail if the file appeared meanwhile
    (O_EXCL: no check-then-write race that could overwrite someone's config)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    fd = os.open(path, flags, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)


def _hash(args: argparse.Namespace) -> int:
    if args.new:
        key = new_key()
        print(f"key:  {key}    (shown once: give it to the client, keep it nowhere else)")
        print(f"hash: {hash_key(key)}")
        return 0
    key = sys.stdin.readline() if args.stdin else getpass.getpass("key to hash: ")
    key = key.strip()
    if not key:
        print("fastgw hash-key: no key given", file=sys.stderr)
        return 2
    print(hash_key(key))
    return 0


if __name__ == "__main__":
    sys.exit(main())
