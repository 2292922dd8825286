"""The Responses API's store: the responses a key asked to keep, for ``GET`` and ``DELETE
/v1/responses/{id}`` and for ``previous_response_id``, in SQLite off the event loop.

Rules this module keeps:
- One table, ``responses``, in the gateway's SQLite file (``storage.sqlite_path``, WAL): every
  worker of a host sees what another stored. A row holds the response object as answered
  (JSON) and the conversation's input items before it (JSON), the key that stored it, and
  when it expires.
- A key reads and deletes only its own rows: another key's id is "not found", as an unknown
  one is (existence does not leak); a put under an id another key holds changes nothing
  (the ids of native upstreams are theirs, not the gateway's).
- Bounded: rows expire (``expires``; an expired row is never returned and is deleted at the
  next write), a key keeps at most ``max_per_key`` rows (the oldest go first), and a row's
  size is bounded by the caller (``[responses] max_stored_bytes``).
- The loop never waits on the disk: every call runs on one thread of its own, with a
  connection that thread opened. Writes are batched: the puts that arrive while one
  transaction runs go together in the next (one commit, one expiry sweep, one bound check per
  key), so a worker stores past the ~700 single-row transactions a second it would manage
  one by one. A worker reads its own writes at once (``get`` and ``delete`` see the puts
  still queued); another worker or process sees a response once its transaction committed,
  a millisecond or so after the client got it (``finish`` runs after the response). The
  schema is created once, when the store is built (the worker's start).
- Several instances: each host has its own file; with ``[state] backend = "redis"`` the
  store is Redis instead (``fastgw.inbound.response_redis``, chosen by ``build_store``).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, NamedTuple, Protocol

from ..records.db import connect

if TYPE_CHECKING:
    from ..config import Config

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    response BLOB NOT NULL,
    items BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_key ON responses (key_id, created);
CREATE INDEX IF NOT EXISTS responses_expires ON responses (expires);
"""


class Stored(NamedTuple):
    response: bytes  # the response object, JSON
    items: bytes  # the conversation's input items before it, JSON


class _Put(NamedTuple):
    id: str
    key_id: str
    stored: Stored
    ttl_s: float
    max_per_key: int


class Store(Protocol):
    """What the front needs of a store (this SQLite one, or ``response_redis``'s). Failures
    raise ``sqlite3.Error``, ``OSError`` (``ConnectionError``) or ``TimeoutError``."""

    async def put(
        self, id: str, key_id: str, stored: Stored, ttl_s: float, max_per_key: int
    ) -> None: ...

    async def get(self, id: str, key_id: str) -> Stored | None: ...

    async def delete(self, id: str, key_id: str) -> bool: ...

    def close(self) -> None: ...


def build_store(config: Config) -> Store | None:
    """The store the process keeps (None with ``[responses] store = false``): in Redis with
    ``[state] backend = "redis"``, else in the SQLite file."""
    if not config.responses.store:
        return None
    if config.state.backend == "redis":
        from ..config import redis_url
        from .response_redis import RedisResponseStore  # hiredis: only with this backend

        state = config.state
        return RedisResponseStore(redis_url(state), state.prefix, state.timeout_s)
    return ResponseStore(config.storage.sqlite_path)


class ResponseStore:
    """See the module docstring. ``put``, ``get`` and ``delete`` are coroutines that run on
    the store's thread; ``close`` at the worker's stop."""

    def __init__(self, path: str) -> None:
        self.path = path
        db = connect(path)
        try:
            db.executescript(SCHEMA)
        finally:
            db.close()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="fastgw-responses")
        self._db: sqlite3.Connection | None = None  # opened and used on the store's thread
        self._pending: list[tuple[_Put, asyncio.Future[None]]] = []  # waiting for a write
        self._writing = False  # a write is submitted; the next one follows when it is done
        #: puts not yet committed, by id: this worker reads its own writes at once
        self._unwritten: dict[str, _Put] = {}

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = connect(self.path)
        return self._db

    async def _run(self, fn: object, *args: object) -> object:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)  # type: ignore[arg-type]

    # -- on the store's thread --------------------------------------------------------------

    def _put_many(self, puts: list[_Put]) -> None:
        """Store ``puts`` in one transaction: expired rows go, then each key's oldest past its
        bound."""
        now = time.time()
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM responses WHERE expires <= ?", (now,))
            db.executemany(
                # an id another key holds is left alone: a native upstream's ids are its own
                # (unique at OpenAI), and a key's write must never replace another key's row
                "INSERT INTO responses VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "created = excluded.created, expires = excluded.expires, "
                "response = excluded.response, items = excluded.items "
                "WHERE responses.key_id = excluded.key_id",
                [
                    (p.id, p.key_id, now, now + p.ttl_s, p.stored.response, p.stored.items)
                    for p in puts
                ],
            )
            for key_id, bound in {p.key_id: p.max_per_key for p in puts}.items():
                (count,) = db.execute(
                    "SELECT count(*) FROM responses WHERE key_id = ?", (key_id,)
                ).fetchone()
                if count > bound:
                    db.execute(
                        "DELETE FROM responses WHERE id IN (SELECT id FROM responses "
                        "WHERE key_id = ? ORDER BY created, rowid LIMIT ?)",
                        (key_id, count - bound),
                    )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _get(self, id: str, key_id: str) -> Stored | None:
        row = (
            self._conn()
            .execute(
                "SELECT response, items FROM responses WHERE id = ? AND key_id = ? AND expires > ?",
                (id, key_id, time.time()),
            )
            .fetchone()
        )
        return None if row is None else Stored(bytes(row[0]), bytes(row[1]))

    def _delete(self, id: str, key_id: str) -> bool:
        cursor = self._conn().execute(
            "DELETE FROM responses WHERE id = ? AND key_id = ? AND expires > ?",
            (id, key_id, time.time()),
        )
        return cursor.rowcount > 0

    # -- on the loop ------------------------------------------------------------------------

    async def put(
        self, id: str, key_id: str, stored: Stored, ttl_s: float, max_per_key: int
    ) -> None:
        """Keep ``stored`` under ``id`` for ``key_id``; ``sqlite3.Error`` if it cannot. Puts
        made while a write runs (or in the same loop iteration) share the next transaction."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        put = _Put(id, key_id, stored, ttl_s, max_per_key)
        self._pending.append((put, done))
        self._unwritten[id] = put
        if not self._writing:
            self._writing = True
            loop.call_soon(self._write, loop)
        await done

    def _write(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._pending = self._pending, []
        written = loop.run_in_executor(self._executor, self._put_many, [p for p, _ in batch])
        written.add_done_callback(partial(self._written, loop, batch))

    def _written(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[tuple[_Put, asyncio.Future[None]]],
        written: asyncio.Future[None],
    ) -> None:
        error = written.exception()
        for put, _ in batch:
            if self._unwritten.get(put.id) is put:
                del self._unwritten[put.id]
        for _, done in batch:
            if done.done():  # its request was cancelled meanwhile
                continue
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)
        if self._pending:
            self._write(loop)
        else:
            self._writing = False

    async def get(self, id: str, key_id: str) -> Stored | None:
        """The response ``id`` of ``key_id`` (None: unknown, expired or another key's)."""
        put = self._unwritten.get(id)
        if put is not None and put.key_id == key_id:
            return put.stored  # stored by this worker, its write still queued
        found = await self._run(self._get, id, key_id)
        assert found is None or isinstance(found, Stored)
        return found

    async def delete(self, id: str, key_id: str) -> bool:
        """Remove the response ``id`` of ``key_id``; False when there was none to remove."""
        put = self._unwritten.get(id)
        if put is not None and put.key_id == key_id:
            # still queued: dropped from the queue; already handed to the thread: the delete
            # runs after it there (one thread, in order)
            queued = [entry for entry in self._pending if entry[0] is put]
            for entry in queued:
                self._pending.remove(entry)
                if not entry[1].done():
                    entry[1].set_result(None)
            del self._unwritten[id]
            if queued:
                await self._run(self._delete, id, key_id)
                return True
        return bool(await self._run(self._delete, id, key_id))

    def close(self) -> None:
        def shut() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        self._executor.submit(shut)
        self._executor.shutdown(wait=True)


__all__ = ["ResponseStore", "Store", "Stored", "build_store"]
