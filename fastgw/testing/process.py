"""A real fastgw server in a subprocess, for end-to-end tests and benchmarks.

``GatewayProcess(config_text)`` writes the TOML to a temporary file, starts
``python -m fastgw serve`` on a free loopback port and returns once ``GET /ready`` answers
200 (polled, never slept on). ``stop()`` sends SIGTERM and waits for the drain.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class GatewayProcess:
    def __init__(
        self,
        config_text: str,
        *,
        workers: int = 1,
        env: dict[str, str] | None = None,
        ready_timeout: float = 30.0,
        python: str = sys.executable,  # another environment's interpreter (install tests)
    ) -> None:
        self.port = free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="fastgw-")
        self.config_path = Path(self._dir.name) / "fastgw.toml"
        self.config_path.write_text(config_text)
        self.log_path = Path(self._dir.name) / "server.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                python,
                "-m",
                "fastgw",
                "serve",
                "--config",
                str(self.config_path),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._wait_ready(ready_timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"fastgw exited early:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.base_url + "/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(
                    0.02
                )  # poll interval between readiness probes, not a wait for the server
        self.stop()
        raise RuntimeError(f"fastgw was not ready within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def terminate(self) -> None:
        """Send SIGTERM (start the drain) without waiting."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30.0) -> int:
        self.terminate()
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._log.close()
        return code

    def __enter__(self) -> GatewayProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self._dir.cleanup()
