"""One structured JSON line per request, written off the request path.

Lines are encoded with a prebuilt msgspec encoder into a buffer that is flushed to the sink
(stdout by default) when it passes 64 KiB, every 200 ms, and at shutdown. Keys and prompts are
never logged: the line names the key by its id.

Numbers are plain decimals, never in exponent form, so that any log tool reads them:
msgspec writes a float below 1e-6 (or from 1e16) with an exponent (``1e-7``), which the cost
of a few tokens of a cheap model reaches, so ``write`` hands such a ``cost_usd`` to the
encoder as the digits of its shortest repr in fixed notation (``0.0000001``). Latencies are
rounded to the microsecond and ``ts`` is an epoch time, so no other field reaches an
exponent. The check costs two float comparisons per line (~20 ns).
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from decimal import Decimal
from typing import BinaryIO

import msgspec

_FLUSH_BYTES = 64 * 1024
_FLUSH_INTERVAL_S = 0.2
#: msgspec writes positive floats outside this range in exponent form
_SMALLEST_PLAIN = 1e-6
_LARGEST_PLAIN = 1e16


class AccessLine(msgspec.Struct, omit_defaults=True):
    ts: float
    request_id: str
    method: str
    path: str
    status: int
    latency_ms: float
    key_id: str | None = None
    model: str | None = None
    deployment: str | None = None
    provider: str | None = None
    stream: bool = False
    ttft_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cache: str | None = None
    error: str | None = None
    team: str | None = None
    cost_usd: float | msgspec.Raw | None = None  # Raw: a tiny cost in fixed notation
    attempts: str | None = None


class AccessLog:
    def __init__(self, loop: asyncio.AbstractEventLoop, sink: BinaryIO | None = None) -> None:
        self._loop = loop
        self._sink = sink if sink is not None else sys.stdout.buffer
        self._buf = bytearray()
        self._encoder = msgspec.json.Encoder()
        self._timer: asyncio.TimerHandle | None = None

    def write(self, line: AccessLine) -> None:
        cost = line.cost_usd
        if isinstance(cost, float) and cost and not _SMALLEST_PLAIN <= cost < _LARGEST_PLAIN:
            line.cost_usd = plain_decimal(cost)
        self._encoder.encode_into(line, self._buf, -1)
        self._buf += b"\n"
        if len(self._buf) >= _FLUSH_BYTES:
            self.flush()
        elif self._timer is None:
            self._timer = self._loop.call_later(_FLUSH_INTERVAL_S, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._buf:
            data, self._buf = bytes(self._buf), bytearray()
            try:
                self._sink.write(data)
                self._sink.flush()
            except (OSError, ValueError):  # sink closed (a detached terminal): drop, never crash
                pass


def plain_decimal(value: float) -> float | msgspec.Raw:
    """A float as a JSON number in fixed notation, with the digits of its shortest repr
    (``2.5e-07`` -> ``0.00000025``); a value that is not finite is returned as it is (the
    encoder writes it as ``null``)."""
    if not math.isfinite(value):
        return value
    return msgspec.Raw(format(Decimal(repr(value)), "f").encode())


def now() -> float:
    return time.time()
