"""A real ``redis-server`` on a free loopback port, for tests of the Redis backend.

``RedisServer()`` starts ``redis-server --port <free> --save '' --appendonly no`` bound to
127.0.0.1 and returns once it answers ``PING`` (polled, never slept on). ``stop()`` kills it
(an outage: nothing is saved); ``start()`` starts it again on the same port, empty.
``command()`` sends one command and returns the raw RESP reply (enough for tests).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from types import TracebackType

from .process import free_port


class RedisServer:
    def __init__(self, port: int | None = None, ready_timeout: float = 10.0) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: apt-get install -y redis-server")
        self.binary = binary
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.ready_timeout = ready_timeout
        self._dir = tempfile.TemporaryDirectory(prefix="fastgw-redis-")
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        """Start the server (again) on ``self.port`` and wait until it answers PING."""
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir.name,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited early (port {self.port} taken?)")
            try:
                if self.command("PING") == b"+PONG\r\n":
                    return
            except OSError:
                time.sleep(0.01)  # poll interval between readiness probes
        self.stop()
        raise RuntimeError(f"redis-server was not ready within {self.ready_timeout}s")

    def stop(self) -> None:
        """Kill the server (SIGKILL: an outage, not a shutdown) and wait for it to exit."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def command(self, *parts: str) -> bytes:
        """Send one command; the first reply's raw bytes (one ``recv``: short replies)."""
        payload = f"*{len(parts)}\r\n".encode() + b"".join(
            f"${len(p.encode())}\r\n{p}\r\n".encode() for p in parts
        )
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(payload)
            return sock.recv(65536)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self._dir.cleanup()
