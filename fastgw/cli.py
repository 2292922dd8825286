"""The ``fastgw`` command: serve, check-config, reload, hash-key, usage, --version."""

from __future__ import annotations

import argparse
import getpass
import sys

from ._version import __version__
from .config import DEFAULT_CONFIG_PATH, ConfigError, check_workers, load_config
from .keys import hash_key, new_key
from .records import command as usage_command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fastgw", description="An OpenAI-compatible LLM gateway.")
    parser.add_argument("--version", action="version", version=f"fastgw {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the gateway")
    serve.add_argument("--config", default=DEFAULT_CONFIG_PATH, help="TOML config file")
    serve.add_argument("--host", help="address to bind (overrides server.host)")
    serve.add_argument("--port", type=int, help="port to bind (overrides server.port)")
    serve.add_argument("--workers", type=int, help="worker processes (overrides server.workers)")
    serve.add_argument("--pid-file", help="where to write the server's pid (for fastgw reload)")

    reloading = commands.add_parser(
        "reload", help="validate the config file, then make the running server reload it"
    )
    reloading.add_argument("--config", default=DEFAULT_CONFIG_PATH, help="TOML config file")
    reloading.add_argument("--port", type=int, help="the server's port (default: server.port)")
    reloading.add_argument("--pid-file", help="the server's pid file (default: from the port)")

    check = commands.add_parser("check-config", help="validate a config file and print every error")
    check.add_argument("path", nargs="?", default=DEFAULT_CONFIG_PATH)

    hashing = commands.add_parser("hash-key", help="hash a gateway key for the config")
    hashing.add_argument("--new", action="store_true", help="make a new random key and hash it")
    hashing.add_argument("--stdin", action="store_true", help="read the key from standard input")

    usage_command.add_parser(commands)

    args = parser.parse_args(argv)
    if args.command == "usage":
        return usage_command.run(args)
    if args.command == "serve":
        return _serve(args)
    if args.command == "check-config":
        return _check(args.path)
    if args.command == "reload":
        return _reload(args)
    return _hash(args)


def _serve(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
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
    import os
    import signal
    from pathlib import Path

    from .reload import default_pid_file

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        print("fastgw reload: not reloaded; the running config keeps serving", file=sys.stderr)
        return 1
    pid_file = (
        Path(args.pid_file) if args.pid_file else default_pid_file(args.port or config.server.port)
    )
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError) as exc:
        print(f"fastgw reload: no running server found through {pid_file} ({exc})", file=sys.stderr)
        return 2
    print(f"fastgw reload: {args.config} is valid; server {pid} is reloading it")
    return 0


def _check(path: str) -> int:
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(
        f"{path}: OK ({len(config.models)} models, {len(config.providers)} providers, "
        f"{len(config.keys)} keys)"
    )
    return 0


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
