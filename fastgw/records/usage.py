"""The usage log: one row per proxied request, written to SQLite in batches off the loop.

Rules kept here:
- On the request path ``record`` encodes the row (a tuple in ``USAGE_COLUMNS`` order) with
  msgspec straight into the batch's JSON text (a ``bytearray``) and notes its ``ts`` bounds: no
  I/O, and no Python object outlives the request. Queued tuples had cost ~3% of the gateway's
  throughput under load, most of it the garbage collector walking them as they aged through
  its generations; the encoding costs ~0.4 µs a row.
- A batch is handed to a single writer thread when ``batch_max`` rows wait or
  ``flush_interval_s`` after the first row of a batch: it stores it, in one transaction, as ONE
  row of ``usage_batches`` (``db.insert_encoded``: the JSON text and the lowest and highest
  ``ts``). SQLite does no work per request row, and the writer holds the GIL only to call
  SQLite; the event loop never waits on the disk. Reading is slower instead: see db.py.
  Values come back exactly (REAL to the bit, 64-bit integers, NULL, booleans as 0/1); only
  text is cut at a NUL character and a non-finite float is stored as NULL.
- Nothing is dropped: a batch that fails to write (the file busy past the timeout, a full
  disk) goes back in front of the queue and is written with the next flush, and the error is
  logged. ``close`` (the worker's graceful shutdown, after the drain) writes everything.
- A crash (SIGKILL, power loss) loses the rows not yet written: at most one flush interval.
- Logged: the proxied endpoints (chat, completions, embeddings) and the inbound Responses
  API (``POST /v1/responses``), errors and 429s included;
  not ``/health``, ``/metrics``, ``/models`` or ``/admin``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import msgspec

from ..exchange import Exchange
from .db import connect, insert_encoded

LOGGED_PATHS = frozenset(
    f"{prefix}/{endpoint}"
    for prefix in ("/v1", "")
    # "messages", "responses": the inbound APIs (Anthropic's Messages, OpenAI's Responses),
    # served by the chat pipeline
    for endpoint in ("chat/completions", "completions", "embeddings", "messages", "responses")
)
_CLOSE_ATTEMPTS = 3

log = logging.getLogger("fastgw")


class _Batch:
    """Rows handed to the writer: their JSON array, how many, their lowest and highest ts."""

    __slots__ = ("body", "count", "ts_max", "ts_min")

    def __init__(self, body: bytes, count: int, ts_min: float, ts_max: float) -> None:
        self.body = body
        self.count = count
        self.ts_min = ts_min
        self.ts_max = ts_max


class UsageLog:
    def __init__(
        self,
        path: str,
        loop: asyncio.AbstractEventLoop,
        flush_interval_s: float,
        batch_max: int,
    ) -> None:
        self.path = path
        self._loop = loop
        self._interval_s = flush_interval_s
        self._batch_max = batch_max
        # the batch being filled: "[" then each row's JSON array and a comma
        self._buf = bytearray(b"[")
        self._count = 0
        self._ts_min = math.inf
        self._ts_max = -math.inf
        self._encode_into = msgspec.json.Encoder().encode_into
        self._timer: asyncio.TimerHandle | None = None
        self._writes: set[asyncio.Future[None]] = set()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="fastgw-usage")
        self._db: sqlite3.Connection | None = None  # opened and used on the writer thread only
        self.written = 0

    def record(self, ex: Exchange, elapsed_s: float) -> None:
        """Queue the usage row of a finished request (if its endpoint is logged)."""
        if ex.path not in LOGGED_PATHS:
            return
        ts = time.time()
        ttft = ex.ttft
        buf = self._buf
        self._encode_into(
            (
                ts,
                ex.request_id,
                ex.key_id,
                ex.team_id,
                ex.model,
                ex.deployment,
                ex.provider,
                ex.status,
                ex.prompt_tokens,
                ex.completion_tokens,
                ex.cost_usd,
                elapsed_s * 1000.0,
                None if ttft is None else ttft * 1000.0,
                ex.stream,
                ex.cache,
                ex.error,
            ),
            buf,
            -1,
        )
        buf += b","
        if ts < self._ts_min:
            self._ts_min = ts
        if ts > self._ts_max:
            self._ts_max = ts
        self._count += 1
        if self._count >= self._batch_max:
            self.flush()
        elif self._timer is None:
            self._timer = self._loop.call_later(self._interval_s, self.flush)

    @property
    def pending(self) -> int:
        """Rows queued and not yet handed to the writer."""
        return self._count

    def flush(self) -> None:
        """Hand the queued rows to the writer thread (returns at once)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._count:
            return
        buf = self._buf
        buf[-1] = 0x5D  # the last comma becomes the closing "]"
        batch = _Batch(bytes(buf), self._count, self._ts_min, self._ts_max)
        self._buf = bytearray(b"[")
        self._count = 0
        self._ts_min, self._ts_max = math.inf, -math.inf
        future = self._loop.run_in_executor(self._executor, self._write, batch)
        self._writes.add(future)
        future.add_done_callback(lambda done: self._written(done, batch))

    async def sync(self) -> None:
        """Write every row queued so far and wait until they are in the file."""
        for _ in range(_CLOSE_ATTEMPTS):
            self.flush()
            while self._writes:
                await asyncio.wait(set(self._writes))
            if not self._count:
                break

    async def close(self) -> None:
        """Write every queued row, then close the file (the worker's shutdown)."""
        await self.sync()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._count:
            log.error("usage log: %d rows could not be written to %s", self._count, self.path)
        await self._loop.run_in_executor(self._executor, self._close_db)
        self._executor.shutdown(wait=True)

    def _written(self, future: asyncio.Future[None], batch: _Batch) -> None:
        self._writes.discard(future)
        exc = future.exception()
        if exc is None:
            self.written += batch.count
            return
        log.error("usage log: writing %d rows failed (%s); retrying", batch.count, exc)
        # back in front: kept in order and written with the next flush
        self._buf = bytearray(batch.body[:-1]) + b"," + self._buf[1:]
        self._count += batch.count
        self._ts_min = min(self._ts_min, batch.ts_min)
        self._ts_max = max(self._ts_max, batch.ts_max)
        if self._timer is None:
            self._timer = self._loop.call_later(self._interval_s, self.flush)

    # -- the writer thread ---------------------------------------------------------------------

    def _write(self, batch: _Batch) -> None:
        db = self._db
        if db is None:
            db = self._db = connect(self.path, check_same_thread=False)
        try:
            db.execute("BEGIN IMMEDIATE")
            insert_encoded(db, batch.ts_min, batch.ts_max, batch.count, batch.body)
            db.execute("COMMIT")
        except sqlite3.Error:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _close_db(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
