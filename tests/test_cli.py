"""The ``fastgw`` command, run as a real subprocess (``python -m fastgw``)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from fastgw._version import __version__
from fastgw.keys import KEY_PREFIX, hash_key

ROOT = Path(__file__).resolve().parent.parent


def fastgw(
    *args: str, stdin: str | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fastgw", *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=30,
    )


def test_version() -> None:
    """``fastgw --version`` prints the package version and exits 0."""
    result = fastgw("--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"fastgw {__version__}")


def test_no_command_is_a_usage_error() -> None:
    """Without a command, argparse prints the usage and exits 2."""
    result = fastgw()
    assert result.returncode == 2
    assert "usage: fastgw" in result.stderr


def test_check_config_ok_on_the_shipped_file() -> None:
    """``check-config`` with no path checks config/fastgw.toml, says OK with counts, exits 0."""
    result = fastgw("check-config")
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(
        r"config/fastgw\.toml: OK \(\d+ models, \d+ providers, \d+ keys\)\n", result.stdout
    )


def test_check_config_prints_every_error_with_its_key_path(tmp_path: Path) -> None:
    """A bad file exits 1 and prints each problem on its own line, with its key path."""
    path = tmp_path / "bad.toml"
    path.write_text(
        '[server]\nprot = 8080\nworkers = "two"\n'
        '[providers.m]\ntype = "mock"\ntokns = 3\n'
        '[[models]]\nname = "a"\ndeployments = [{ provider = "m", model = "x" }]\n'
        '[[keys]]\nid = "k"\n'
    )
    result = fastgw("check-config", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == f"{path}: 4 configuration errors:"
    assert lines[1:] == [
        "  - server.prot: unknown key; did you mean 'port'?",
        "  - server.workers: expected a whole number, got a string 'two'",
        "  - providers.m.tokns: unknown key; did you mean 'tokens'?",
        "  - keys[0].hash: missing; add it (a string)",
    ]


def test_check_config_meaning_errors(tmp_path: Path) -> None:
    """Errors found after decoding (ranges, references) are printed the same way."""
    path = tmp_path / "bad.toml"
    path.write_text(
        "[server]\nport = 0\n"
        '[[models]]\nname = "a"\ndeployments = [{ provider = "ghost", model = "x" }]\n'
    )
    result = fastgw("check-config", str(path))
    assert result.returncode == 1
    assert "  - server.port: 0 is not a TCP port; use 1-65535" in result.stderr
    assert "  - models[0].deployments[0].provider: unknown provider 'ghost';" in result.stderr


def test_check_config_missing_file(tmp_path: Path) -> None:
    """A path that does not exist exits 1 and says the file cannot be read."""
    path = tmp_path / "absent.toml"
    result = fastgw("check-config", str(path))
    assert result.returncode == 1
    assert f"{path}: 1 configuration error:" in result.stderr
    assert "cannot read the file" in result.stderr


def test_hash_key_stdin() -> None:
    """``hash-key --stdin`` hashes the first line of standard input (whitespace stripped)."""
    result = fastgw("hash-key", "--stdin", stdin="  sk-my-key \nignored\n")
    assert (result.returncode, result.stdout) == (0, hash_key("sk-my-key") + "\n")


def test_hash_key_stdin_empty() -> None:
    """An empty key is refused with exit code 2."""
    result = fastgw("hash-key", "--stdin", stdin="\n")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "no key given" in result.stderr


def test_hash_key_new() -> None:
    """``hash-key --new`` prints a fresh key once and the hash that matches it."""
    result = fastgw("hash-key", "--new")
    assert result.returncode == 0
    key_line, hash_line = result.stdout.splitlines()
    key = key_line.split()[1]
    assert key_line.startswith("key:  ") and key.startswith(KEY_PREFIX)
    assert hash_line == f"hash: {hash_key(key)}"
    assert fastgw("hash-key", "--new").stdout.splitlines()[0] != key_line


def test_serve_refuses_a_bad_config(tmp_path: Path) -> None:
    """``serve`` validates before starting: a bad file exits 2 with the errors, no server."""
    path = tmp_path / "bad.toml"
    path.write_text("[server]\nprot = 1\n")
    result = fastgw("serve", "--config", str(path))
    assert result.returncode == 2
    assert "server.prot: unknown key; did you mean 'port'?" in result.stderr
