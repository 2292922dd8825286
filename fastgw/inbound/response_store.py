"""The Responses API's store: the responses a key asked to keep, for ``GET`` and ``DELETE
/v1/responses/{id}`` and for ``previous_response_id``, in SQLite off the event loop.

Rules this module keeps:
- One table, ``responses``, in the gateway's SQLite file (``storage.sqlite_path``, WAL): every
  worker of a host sees what another stored. A row holds the response object as answered
  (JSON) and the conversation's input items before it (JSON), the key that stored it, and
  when it expires.
- A key reads and deletes only its own rows: another key's id is "not found", as an unknown
  one is (existence does not leak).
- Bounded: rows expire (``expires``; an expired row is never returned and is deleted at the
  next write), a key keeps at most ``max_per_key`` rows (the oldest go first), and a row's
  size is bounded by the caller (``[responses] max_stored_bytes``).
- The loop never waits on the disk: every call runs on one writer thread of its own, with a
  connection that thread opened. The schema is created once, when the store is built (the
  worker's start).
- Several instances: each host has its own file; with ``[state] backend = "redis"`` the
  store is Redis instead (``fastgw.inbound.response_redis``, chosen by ``build_store``).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
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

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = connect(self.path)
        return self._db

    async def _run(self, fn: object, *args: object) -> object:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)  # type: ignore[arg-type]

    # -- on the store's thread --------------------------------------------------------------

    def _put(self, id: str, key_id: str, stored: Stored, ttl_s: float, max_per_key: int) -> None:
        now = time.time()
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM responses WHERE expires <= ?", (now,))
            db.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?)",
                (id, key_id, now, now + ttl_s, stored.response, stored.items),
            )
            (count,) = db.execute(
                "SELECT count(*) FROM responses WHERE key_id = ?", (key_id,)
            ).fetchone()
            if count > max_per_key:
                db.execute(
                    "DELETE FROM responses WHERE id IN (SELECT id FROM responses "
                    "WHERE key_id = ? ORDER BY created LIMIT ?)",
                    (key_id, count - max_per_key),
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
        """Keep ``stored`` under ``id`` for ``key_id``; ``sqlite3.Error`` if it cannot."""
        await self._run(self._put, id, key_id, stored, ttl_s, max_per_key)

    async def get(self, id: str, key_id: str) -> Stored | None:
        """The response ``id`` of ``key_id`` (None: unknown, expired or another key's)."""
        found = await self._run(self._get, id, key_id)
        assert found is None or isinstance(found, Stored)
        return found

    async def delete(self, id: str, key_id: str) -> bool:
        """Remove the response ``id`` of ``key_id``; False when there was none to remove."""
        return bool(await self._run(self._delete, id, key_id))

    def close(self) -> None:
        def shut() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        self._executor.submit(shut)
        self._executor.shutdown(wait=True)


__all__ = ["ResponseStore", "Store", "Stored", "build_store"]
