"""Reloading the config of a running server: validate first, then every worker swaps.

Three ways in, one path:
- ``SIGHUP`` to the server (its parent process; ``fastgw serve`` writes its pid to the pid
  file, ``fastgw reload`` reads it);
- ``fastgw reload`` (validates the file, then sends that ``SIGHUP``);
- ``POST /admin/reload`` (the worker validates the file, answers 400 with its errors if it is
  invalid, else sends that ``SIGHUP`` to its parent).

Rules this module keeps:
- Granian's own ``SIGHUP`` handling (respawn every worker, which with a broken file kills the
  server) is replaced in the parent (``take_over``): the parent reads and validates the file
  and, only if it is valid, sends ``RELOAD_SIGNAL`` (``SIGUSR1``) to each worker. A broken
  file is logged with all its errors and the running config keeps serving.
- Each worker reads the file again when signalled, validates it again (it may have changed
  in between) and swaps its pipelines (``fastgw.app.Gateway.swap``): one reference; requests
  and streams in flight finish on the old pipelines; deployment, limiter and pool state
  carries over (``fastgw.runtime``). No connection is dropped: no worker restarts.
- The parent ignores ``RELOAD_SIGNAL`` before it starts the workers, so a worker signalled
  before it installed its handler ignores it instead of dying (it reads the file at start).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import ConfigError, load_config

log = logging.getLogger("fastgw")

RELOAD_SIGNAL = signal.SIGUSR1


def default_pid_file(port: int) -> Path:
    """Where ``fastgw serve`` on ``port`` writes its pid unless ``--pid-file`` says otherwise:
    ``$XDG_RUNTIME_DIR/fastgw-<port>.pid``, else in the temporary directory."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"fastgw-{port}.pid"


# -- the parent (the server) -------------------------------------------------------------------


def take_over(server: Any, config_path: str) -> None:
    """Make ``server`` (a ``granian.Granian`` before ``serve()``) reload by validating the
    file and signalling its workers, instead of respawning them."""
    signal.signal(RELOAD_SIGNAL, signal.SIG_IGN)  # inherited by the workers until they listen

    def on_sighup(*_args: Any) -> None:
        reload_workers(config_path, [w._id() for w in list(server.wrks)])

    # Granian installs ``signal_handler_reload`` for SIGHUP when it starts: ours instead
    server.signal_handler_reload = on_sighup


def reload_workers(config_path: str, pids: list[int | None]) -> bool:
    """Validate ``config_path``; if valid, signal each worker to reload it."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        log.error("reload refused, the running config keeps serving: %s", exc)
        return False
    except OSError as exc:
        log.error("reload refused, the config file cannot be read: %s", exc)
        return False
    log.info("reload: %s is valid (%d models); reloading workers", config_path, len(config.models))
    for pid in pids:
        if pid is not None:
            # a worker that just died: its replacement reads the file when it starts
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, RELOAD_SIGNAL)
    return True


# -- a worker ----------------------------------------------------------------------------------


def install(loop: asyncio.AbstractEventLoop, reload: Callable[[], object]) -> None:
    """In a worker: call ``reload`` on the loop at each ``RELOAD_SIGNAL``; a ``SIGHUP`` sent to
    a worker directly is ignored (the server's parent is the one that reloads)."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    loop.add_signal_handler(RELOAD_SIGNAL, reload)


def signal_server() -> None:
    """In a worker of ``fastgw serve``: ask the server (the parent process) to reload."""
    os.kill(os.getppid(), signal.SIGHUP)
