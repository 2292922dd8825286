"""Raw socket exchanges with a server under test: what a hostile client sees, byte for byte."""

from __future__ import annotations

import socket

#: recv calls per exchange at most: the server closes after the answer, so the loop ends.
MAX_READS = 10_000


def exchange(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send ``data`` (a whole request asking ``connection: close``) to ``127.0.0.1:port``
    and return everything the server sends back until it closes: status line, headers and
    body."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        parts = []
        for _ in range(MAX_READS):
            chunk = sock.recv(65536)
            if not chunk:
                break
            parts.append(chunk)
    return b"".join(parts)
