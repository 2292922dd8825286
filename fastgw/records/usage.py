"""The usage log: one row per proxied request, written to SQLite in batches off the loop.

Rules kept here:
- On the request path ``record`` builds one tuple and appends it to a list: no encoding, no
  I/O. A batch is written when ``batch_max`` rows wait or ``flush_interval_s`` after the first
  row of a batch, in one transaction, on a single writer thread (the event loop never waits on
  the disk). ``record`` costs ~0.2 µs (leaner variants did not pay).
- The writer holds the GIL as little as it can, since it shares it with the loop thread, and
  spends as little CPU as it can, since on a two-core machine that CPU competes with the load:
  each flush stores the whole batch as ONE row of ``usage_batches`` (``db.insert_batch``): the
  JSON text msgspec encodes from the rows in one C call, and the batch's lowest and highest
  ``ts``. SQLite does no work per request row. The writer's CPU: 0.56 µs a row (encoding 0.18
  and the ``ts`` bounds 0.05 under the GIL; the insert and commit of ~140 bytes a row without
  it), against 3.2 µs when SQLite unpacked each batch with ``json_each`` into one table row per
  request and its ``ts`` index (``benchmarks/micro/bench_usage_log.py``: 1M rows, 1,000 a
  flush). Binding 16 parameters a row (``executemany``) had cost ~2.4 µs a row under the GIL
  and a GIL convoy with the loop thread; nicing the writer thread did not pay. Reading is
  slower instead: see db.py.
  Values come back exactly (REAL to the bit, 64-bit integers, NULL, booleans as 0/1); only
  text is cut at a NUL character and a non-finite float is stored as NULL.
- Nothing is dropped: a batch that fails to write (the file busy past the timeout, a full
  disk) goes back in front of the queue and is retried at the next flush, and the error is
  logged. ``close`` (the worker's graceful shutdown, after the drain) writes everything.
- A crash (SIGKILL, power loss) loses the rows not yet written: at most one flush interval.
- Logged: the proxied endpoints (chat, completions, embeddings), errors and 429s included;
  not ``/health``, ``/metrics``, ``/models`` or ``/admin``.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..exchange import Exchange
from .db import connect, insert_batch

LOGGED_PATHS = frozenset(
    f"{prefix}/{endpoint}"
    for prefix in ("/v1", "")
    for endpoint in ("chat/completions", "completions", "embeddings")
)
_CLOSE_ATTEMPTS = 3

log = logging.getLogger("fastgw")
Row = tuple[Any, ...]


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
        self._rows: list[Row] = []
        self._timer: asyncio.TimerHandle | None = None
        self._writes: set[asyncio.Future[None]] = set()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="fastgw-usage")
        self._db: sqlite3.Connection | None = None  # opened and used on the writer thread only
        self.written = 0

    def record(self, ex: Exchange, elapsed_s: float) -> None:
        """Queue the usage row of a finished request (if its endpoint is logged)."""
        if ex.path not in LOGGED_PATHS:
            return
        ttft = ex.ttft
        self._rows.append(
            (
                time.time(),
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
            )
        )
        if len(self._rows) >= self._batch_max:
            self.flush()
        elif self._timer is None:
            self._timer = self._loop.call_later(self._interval_s, self.flush)

    @property
    def pending(self) -> int:
        """Rows queued and not yet handed to the writer."""
        return len(self._rows)

    def flush(self) -> None:
        """Hand the queued rows to the writer thread (returns at once)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        future = self._loop.run_in_executor(self._executor, self._write, rows)
        self._writes.add(future)
        future.add_done_callback(lambda done: self._written(done, rows))

    async def sync(self) -> None:
        """Write every row queued so far and wait until they are in the file."""
        for _ in range(_CLOSE_ATTEMPTS):
            self.flush()
            while self._writes:
                await asyncio.wait(set(self._writes))
            if not self._rows:
                break

    async def close(self) -> None:
        """Write every queued row, then close the file (the worker's shutdown)."""
        await self.sync()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._rows:
            log.error("usage log: %d rows could not be written to %s", len(self._rows), self.path)
        await self._loop.run_in_executor(self._executor, self._close_db)
        self._executor.shutdown(wait=True)

    def _written(self, future: asyncio.Future[None], rows: list[Row]) -> None:
        self._writes.discard(future)
        exc = future.exception()
        if exc is None:
            self.written += len(rows)
            return
        log.error("usage log: writing %d rows failed (%s); retrying", len(rows), exc)
        self._rows[:0] = rows  # back in front: kept in order and retried with the next flush
        if self._timer is None:
            self._timer = self._loop.call_later(self._interval_s, self.flush)

    # -- the writer thread ---------------------------------------------------------------------

    def _write(self, rows: list[Row]) -> None:
        db = self._db
        if db is None:
            db = self._db = connect(self.path, check_same_thread=False)
        try:
            db.execute("BEGIN IMMEDIATE")
            insert_batch(db, rows)  # one row holding the batch's JSON text
            db.execute("COMMIT")
        except sqlite3.Error:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _close_db(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
