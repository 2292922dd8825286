"""Serving with Granian: RSGI interface, uvloop, one process per worker.

The config is validated once in the parent (so a bad file fails before any worker starts) and
its path is handed to the workers through ``FASTGW_CONFIG``; each worker builds its own state
in ``__rsgi_init__``. On SIGTERM each worker keeps serving for ``server.drain_grace_s`` with
``/ready`` at 503, then stops accepting and drains its in-flight requests and streams for up
to ``server.drain_timeout_s`` (``fastgw.drain``; SIGINT skips the grace); Granian kills a
worker still alive a few seconds after both.

On SIGHUP the server validates the config file again and, if it is valid, every worker swaps
in its new pipelines without dropping a connection; an invalid file is logged and the running
config keeps serving (``fastgw.reload``). The server's pid is written to a pid file
(``--pid-file``, default ``fastgw.reload.default_pid_file``) for ``fastgw reload``.

A worker that dies (a crash, the OOM killer, ``kill -9``) is replaced by Granian
(``respawn_failed_workers``): the others keep their connections and the port stays open. A
worker that dies again within a few seconds of its replacement is a crash loop, and Granian
stops the server rather than spin.

stdout carries the JSON access log and nothing else (``fastgw.accesslog``): Granian's own
lines (start, workers, shutdown) go to stderr, like fastgw's own log (``granian_logging``).

Inbound connections are bounded here, in Granian (Rust), at no cost to a request:
- ``server.max_connections`` open connections per worker (Granian's ``backpressure``: past
  it a worker stops accepting, and new connections wait in the listen backlog);
- ``server.header_timeout_s`` to receive a whole request head, counted from the connection's
  start or from the end of the previous answer on a keep-alive connection: so it is also
  the idle keep-alive bound (hyper's ``header_read_timeout``; Granian has no separate
  keep-alive timer). HTTP/1.1 only: in Granian's "auto" mode the connection's first bytes
  are read to tell HTTP/1 from HTTP/2 with no timer at all, so a client that connects and
  sends nothing would hold its connection for ever (measured);
- the body's own deadline (``server.body_timeout_s``) is kept in Python (``fastgw.proxy``).
"""

from __future__ import annotations

import logging
import math
import os
import resource
from pathlib import Path
from typing import Any

from .config import CONFIG_ENV, Config
from .reload import default_pid_file, take_over

log = logging.getLogger("fastgw")

#: File descriptors a worker needs beside its client connections (upstream pools, SQLite, logs).
FD_HEADROOM = 1024


def serve(
    config: Config,
    config_path: str,
    host: str,
    port: int,
    workers: int,
    pid_file: str | None = None,
) -> None:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings

    from .metrics.shared import METRICS_DIR_ENV, new_directory
    from .records.db import initialise

    os.environ[CONFIG_ENV] = os.path.abspath(config_path)
    initialise(config.storage.sqlite_path)  # once, before the workers open it
    os.environ[METRICS_DIR_ENV] = new_directory()  # the workers' metrics, summed on scrape
    raise_fd_limit(config.server.max_connections * workers + FD_HEADROOM)
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
        log_dictconfig=granian_logging(),
        respawn_failed_workers=True,
        workers_kill_timeout=kill_timeout(config),
        backlog=2048,
        backpressure=config.server.max_connections,
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(
            header_read_timeout=max(1, round(config.server.header_timeout_s * 1000))
        ),
        websockets=False,
        # ``fastgw reload`` finds the server here (fastgw.reload)
        pid_file=Path(pid_file) if pid_file else default_pid_file(port),
    )
    take_over(server, os.path.abspath(config_path))  # SIGHUP: validate, then workers swap
    server.serve()


def kill_timeout(config: Config) -> int:
    """Seconds Granian waits for a worker after forwarding SIGTERM before it kills it: a
    backstop, since each worker cuts its own requests at the end of the grace plus the drain
    (``fastgw.drain``)."""
    return math.ceil(config.server.drain_grace_s + config.server.drain_timeout_s) + 5


def granian_logging() -> dict[str, Any]:
    """Granian's logging config (``log_dictconfig``; it replaces the top-level keys it
    names): its handlers write to stderr instead of stdout, so stdout holds only the JSON
    access log. Granian's own access log is off (``log_access=False``); its handler is
    redirected too in case it is turned on."""
    stderr = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
    return {
        "handlers": {
            "console": {**stderr, "formatter": "generic"},
            "access": {**stderr, "formatter": "access"},
        }
    }


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's open-file limit (which the workers inherit) towards ``wanted``,
    up to the hard limit; warn when that is too low for ``max_connections``. Returns the
    soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft != resource.RLIM_INFINITY and soft < wanted:
        log.warning(
            "open files are limited to %d (ulimit -n), fewer than server.max_connections "
            "needs (%d): raise the limit or lower max_connections",
            soft,
            wanted,
        )
    return soft


def _granian_level(level: str) -> Any:
    from granian.log import LogLevels

    return LogLevels(level)
