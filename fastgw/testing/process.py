"""A real fastgw server in a subprocess, for end-to-end tests and benchmarks.

``GatewayProcess(config_text)`` writes the TOML to a temporary file, starts
``python -m fastgw serve`` on a free loopback port and returns once ``GET /ready`` answers
200 (polled, never slept on). The server runs in a process group of its own; ``stop()``
sends SIGINT to the whole group (as Ctrl-C would: no readiness grace, in-flight requests
drain) and waits for it, ``terminate()`` sends SIGTERM to the main process (as an
orchestrator would: the grace of ``server.drain_grace_s`` first). stdout (the JSON access
log) and stderr (everything else) are kept apart: ``stdout()`` and ``log()``.
"""

from __future__ import annotations

import contextlib
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
        cwd: str | os.PathLike[str] | None = None,
        python: str = sys.executable,  # another environment's interpreter (install tests)
    ) -> None:
        """``cwd``: the directory the server runs in (this process's by default). ``python -m``
        imports from there first, so a fastgw checkout there is the fastgw that serves (the
        baseline of an A/B benchmark)."""
        self.port = free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="fastgw-")
        self.config_path = Path(self._dir.name) / "fastgw.toml"
        self.config_path.write_text(config_text)
        self.log_path = Path(self._dir.name) / "server.log"  # stderr
        self.stdout_path = Path(self._dir.name) / "stdout.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self._stdout = open(self.stdout_path, "wb")  # noqa: SIM115 - closed in stop()
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
            stdout=self._stdout,
            stderr=self._log,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,  # its own process group: stop() reaches every worker
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
        """Everything the server wrote: stderr (its own log), then stdout (access lines)."""
        return self.log_path.read_text(errors="replace") + self.stdout()

    def stdout(self) -> str:
        """What the server wrote to stdout: the JSON access log, one line per request."""
        return self.stdout_path.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        """The Granian worker processes now alive (children of the main process; Linux)."""
        pids: list[int] = []
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{self.process.pid}/task").iterdir():
                with contextlib.suppress(OSError):
                    pids += [int(p) for p in (task / "children").read_text().split()]
        return sorted(pids)

    def terminate(self) -> None:
        """Send SIGTERM to the main process (the grace, then the drain) without waiting."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def interrupt(self) -> None:
        """Send SIGINT to every process of the server (as Ctrl-C does): the drain at once."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGINT)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGINT to the group, and wait; SIGKILL to the group past ``timeout``."""
        self.interrupt()
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            code = self.process.wait()
        self._log.close()
        self._stdout.close()
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
