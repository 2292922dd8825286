"""Graceful shutdown of one worker.

Granian, on SIGTERM or SIGINT, stops accepting connections and waits for the open ones to
finish before it calls ``__rsgi_del__``; only its kill timeout bounds that wait, and a killed
worker logs nothing. So each worker chains its own handler in front of Granian's: the signal
starts the drain (``/ready`` answers 503) and a timer of ``server.drain_timeout_s``. When the
timer fires, every request still in flight is cancelled with the ``shutting_down`` mark: a
plain request is answered 503, a stream ends with an SSE error event, and each is accounted
and logged like any other request. Granian's kill timeout stays as a backstop a few seconds
later.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from types import FrameType
from typing import Any

from .exchange import Exchange

SHUTTING_DOWN = "shutting_down"
log = logging.getLogger("fastgw")


class Drain:
    def __init__(self, loop: asyncio.AbstractEventLoop, timeout_s: float) -> None:
        self.loop = loop
        self.timeout_s = timeout_s
        self.in_flight: dict[asyncio.Task[Any], Exchange] = {}
        self.draining = False

    def install(self) -> None:
        """Chain the drain in front of the handlers already installed (Granian's)."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)

            def handler(num: int, frame: FrameType | None, previous: Any = previous) -> None:
                self.loop.call_soon_threadsafe(self.begin)
                if callable(previous):
                    previous(num, frame)

            signal.signal(signum, handler)

    def begin(self) -> None:
        if self.draining:
            return
        self.draining = True
        log.info("draining %d requests (at most %.3gs)", len(self.in_flight), self.timeout_s)
        self.loop.call_later(self.timeout_s, self.cut)

    def cut(self) -> None:
        """Cancel whatever is still in flight: the drain timeout has passed."""
        if self.in_flight:
            log.warning("drain timeout: cutting %d requests still in flight", len(self.in_flight))
        for task, ex in list(self.in_flight.items()):
            ex.error = SHUTTING_DOWN
            task.cancel()
