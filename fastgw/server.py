"""Serving with Granian: RSGI interface, uvloop, one process per worker.

The config is validated once in the parent (so a bad file fails before any worker starts) and
its path is handed to the workers through ``FASTGW_CONFIG``; each worker builds its own state
in ``__rsgi_init__``. On SIGTERM or SIGINT Granian stops accepting connections and each
worker drains its in-flight requests and streams for up to ``server.drain_timeout_s``
before it is killed.
"""

from __future__ import annotations

import math
import os
from typing import Any

from .config import CONFIG_ENV, Config


def serve(config: Config, config_path: str, host: str, port: int, workers: int) -> None:
    from granian import Granian
    from granian.constants import Interfaces, Loops

    from .records.db import initialise

    os.environ[CONFIG_ENV] = os.path.abspath(config_path)
    initialise(config.storage.sqlite_path)  # once, before the workers open it
    server = Granian(
        "fastgw.app:create_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.RSGI,
        loop=Loops.uvloop,
        workers=workers,
        log_access=False,
        log_level=_granian_level(config.server.log_level),
        # a backstop: each worker cuts its own requests at the drain timeout (fastgw.drain)
        workers_kill_timeout=math.ceil(config.server.drain_timeout_s) + 5,
        backlog=2048,
        websockets=False,
    )
    server.serve()


def _granian_level(level: str) -> Any:
    from granian.log import LogLevels

    return LogLevels(level)
