"""``[server]``: where and how fastgw listens, and the bounds it keeps on clients.

Rules this module keeps:
- Defaults are the named constants below (comparable defaults: Envoy's edge guide 10 s for
  request headers; nginx 60 s per body read and 75 s keep-alive; Granian 30 s head, 2048
  connections).
- ``check_server`` range-checks every number; it reads nothing outside the section.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from ._base import STRUCT

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_WORKERS = 1
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_DRAIN_TIMEOUT_S = 30.0
# On SIGTERM, seconds of still serving with /ready at 503 before accepting stops (fastgw.drain)
DEFAULT_DRAIN_GRACE_S = 5.0
MAX_DRAIN_GRACE_S = 300.0
DEFAULT_HEADER_TIMEOUT_S = 10.0  # connect (or end of the last answer) to a whole request head
DEFAULT_BODY_TIMEOUT_S = 30.0  # end of the head to the whole body
DEFAULT_MAX_CONNECTIONS = 10_000  # open client connections per worker
MIN_CLIENT_TIMEOUT_S = 0.1
MAX_CLIENT_TIMEOUT_S = 3600.0
MAX_CONNECTIONS_LIMIT = 1_000_000


class ServerConfig(msgspec.Struct, **STRUCT):
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    workers: int = DEFAULT_WORKERS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    drain_timeout_s: float = DEFAULT_DRAIN_TIMEOUT_S
    drain_grace_s: float = DEFAULT_DRAIN_GRACE_S
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    access_log: bool = True
    log_level: Literal["debug", "info", "warning", "error"] = "info"


def check_server(server: ServerConfig) -> list[str]:
    errors: list[str] = []
    if not 0 < server.port < 65536:
        errors.append(f"server.port: {server.port} is not a TCP port; use 1-65535")
    if server.workers < 1:
        errors.append("server.workers: must be at least 1")
    if server.max_body_bytes < 1024:
        errors.append("server.max_body_bytes: must be at least 1024")
    if server.drain_timeout_s <= 0:
        errors.append("server.drain_timeout_s: must be above 0")
    if not 0 <= server.drain_grace_s <= MAX_DRAIN_GRACE_S:
        errors.append(
            f"server.drain_grace_s: {server.drain_grace_s} is out of range; "
            f"use 0-{MAX_DRAIN_GRACE_S:g} seconds"
        )
    for field in ("header_timeout_s", "body_timeout_s"):
        value = getattr(server, field)
        if not MIN_CLIENT_TIMEOUT_S <= value <= MAX_CLIENT_TIMEOUT_S:
            errors.append(
                f"server.{field}: {value} is out of range; use "
                f"{MIN_CLIENT_TIMEOUT_S}-{MAX_CLIENT_TIMEOUT_S} seconds"
            )
    if not 1 <= server.max_connections <= MAX_CONNECTIONS_LIMIT:
        errors.append(
            f"server.max_connections: {server.max_connections} is out of range; "
            f"use 1-{MAX_CONNECTIONS_LIMIT} (open client connections per worker)"
        )
    return errors
