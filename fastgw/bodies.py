"""The deadline of a request body: the whole body within ``server.body_timeout_s`` of its head.

Granian (hyper) bounds the time to receive a request head and idle keep-alive time, but not
the body: a client that sends its head and then stalls or trickles its body would hold its
connection and its handler for ever. So the proxy registers each request while it awaits
its body (``BodyDeadlines.reading``: one dict store and one delete per request, 60-120 ns
with the pending-key test beside it, measured with timeit, where a timer per request, uvloop's
``call_later`` and ``cancel``, costs ~1 µs), and one periodic sweep per worker cancels the
requests whose head arrived more than ``timeout_s`` ago, marked ``BODY_TIMEOUT``; the proxy
turns that cancellation into a 408 in OpenAI's error shape (``request_timeout``), after
which Granian closes the connection (its body was not read to the end).

A stalled body is answered within ``timeout_s`` plus one sweep interval
(``min(1 s, timeout_s / 10)``). The deadline counts from the request's start
(``Exchange.start``: when its head was handed to the application), so a trickled body is
cut as surely as a stalled one.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .errors import PayloadTooLarge, RequestTimeout
from .exchange import Exchange

BODY_TIMEOUT = "body_timeout"
#: The longest pause between two sweeps (a shorter timeout sweeps ten times per timeout).
MAX_SWEEP_INTERVAL_S = 1.0


class BodyDeadlines:
    """The worker's requests that are receiving their body, each cut at its deadline."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout_s: float) -> None:
        self.loop = loop
        self.timeout_s = timeout_s
        self.interval_s = min(MAX_SWEEP_INTERVAL_S, timeout_s / 10)
        self.reading: dict[asyncio.Task[Any], Exchange] = {}
        self._timer: asyncio.TimerHandle | None = loop.call_later(self.interval_s, self._sweep)

    def _sweep(self) -> None:
        if self.reading:
            cutoff = time.perf_counter() - self.timeout_s
            for task, ex in list(self.reading.items()):
                # a task already being cancelled (client gone, drain cut) keeps its reason
                if ex.start <= cutoff and not task.cancelling():
                    ex.error = BODY_TIMEOUT
                    task.cancel()
        self._timer = self.loop.call_later(self.interval_s, self._sweep)

    def timed_out(self, ex: Exchange) -> RequestTimeout | None:
        """After a ``CancelledError`` while ``ex`` awaited its body: the 408 to answer if the
        sweep cut it (the task's cancellation is then withdrawn), else None (re-raise)."""
        if ex.error != BODY_TIMEOUT:
            return None
        ex.task.uncancel()
        return RequestTimeout(
            f"The request body did not arrive within {self.timeout_s:g} seconds "
            "(server.body_timeout_s)."
        )

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


async def read_body(proto: Any, declared: str | None, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit``: from
    its content-length before reading, or while reading a chunked body (never buffered
    past the limit)."""
    if declared is not None and declared.isdigit():
        if int(declared) > limit:
            raise _too_large(limit)
        body: bytes = await proto()  # the server reads at most content-length bytes
        return body
    parts = []
    size = 0
    async for chunk in proto:
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        parts.append(chunk)
    return b"".join(parts)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than the gateway's limit of {limit} bytes.")
