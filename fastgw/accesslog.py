"""One structured JSON line per request, written off the request path.

Lines are encoded with a prebuilt msgspec encoder into a buffer that is flushed to the sink
(stdout by default) when it passes 64 KiB, every 200 ms, and at shutdown. Keys and prompts are
never logged: the line names the key by its id.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import BinaryIO

import msgspec

_FLUSH_BYTES = 64 * 1024
_FLUSH_INTERVAL_S = 0.2


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
    cost_usd: float | None = None
    attempts: str | None = None


class AccessLog:
    def __init__(self, loop: asyncio.AbstractEventLoop, sink: BinaryIO | None = None) -> None:
        self._loop = loop
        self._sink = sink if sink is not None else sys.stdout.buffer
        self._buf = bytearray()
        self._encoder = msgspec.json.Encoder()
        self._timer: asyncio.TimerHandle | None = None

    def write(self, line: AccessLine) -> None:
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


def now() -> float:
    return time.time()
