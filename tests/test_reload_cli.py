"""``fastgw reload`` without a server to signal: a broken file is refused before anything is
signalled (exit 1, its errors printed); a valid file with no running server says so (exit 2).
The signalling itself is tested against a real server in ``tests/e2e/test_reload_e2e.py``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import mock_config


def fastgw_reload(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fastgw", "reload", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_broken_file_is_refused_before_any_signal(tmp_path: Path) -> None:
    config = tmp_path / "fastgw.toml"
    config.write_text(mock_config() + "\n[[models]]\nname = 3\n")
    # a pid file naming this process: had the file been accepted, we would get the SIGHUP
    pid_file = tmp_path / "fastgw.pid"
    pid_file.write_text(str(os.getpid()))
    previous = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        result = fastgw_reload("--config", str(config), "--pid-file", str(pid_file))
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert result.returncode == 1
    assert "models[3].name" in result.stderr
    assert "the running config keeps serving" in result.stderr


def test_no_running_server_is_said(tmp_path: Path) -> None:
    config = tmp_path / "fastgw.toml"
    config.write_text(mock_config())
    missing = tmp_path / "none.pid"
    result = fastgw_reload("--config", str(config), "--pid-file", str(missing))
    assert result.returncode == 2
    assert "no running server found" in result.stderr
