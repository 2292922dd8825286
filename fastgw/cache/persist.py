"""The caches' disk copy (local backend): written at a graceful shutdown, read at start.

Why SQLite and not a flat file: several workers shut down at once and each writes its own
live entries; one table keyed by (kind, key) takes their upserts concurrently (WAL and the
busy timeout of ``fastgw.records.db``), so no worker clobbers another's entries and the next
start reads the union, whatever the number of workers then. A length-prefixed file per worker
would need a naming scheme that outlives worker ids and a merge at load; SQLite is already
the project's embedded store and purges become one ``DELETE``.

Rules this module keeps:
- Its own file (``[cache] persist_path``, default beside ``storage.sqlite_path``:
  ``fastgw.cache.sqlite3``), so answers' bytes never bloat the keys and usage database.
- Rows are ``CacheRecord`` fields; ``expires_at`` is wall-clock (Unix) seconds, so an entry
  keeps its remaining life across the restart and an expired one is never loaded.
- Each cache kind (``exact``, ``semantic``) has its own bounds: ``save`` and ``load`` work
  on one kind's rows.
- ``save`` upserts (the later expiry wins), deletes the expired rows and keeps only the
  ``max_entries`` rows of its kind that expire last: what ``load`` would take anyway.
- ``load`` takes unexpired rows of its kind, latest expiry first, until ``max_entries`` or
  ``max_bytes`` of values, and returns them oldest first (put back in that order, the latest
  is the most recent in the LRU).
- Blocking I/O: only at start and at shutdown, and for an admin purge, never per request.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from ..records.db import connect
from .record import EXACT, CacheRecord, Purge

log = logging.getLogger("fastgw")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS cache_entries (
        kind TEXT NOT NULL,
        key BLOB NOT NULL,
        value BLOB NOT NULL,
        expires_at REAL NOT NULL,
        namespace TEXT NOT NULL,
        model TEXT NOT NULL,
        meta BLOB,
        PRIMARY KEY (kind, key)
    )""",
    "CREATE INDEX IF NOT EXISTS cache_entries_expiry ON cache_entries (expires_at)",
)
_COLUMNS = "kind, key, value, expires_at, namespace, model, meta"


def _open(path: str) -> sqlite3.Connection:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = connect(path)
    db.execute("PRAGMA journal_mode = WAL")
    for statement in _SCHEMA:
        db.execute(statement)
    return db


def save(path: str, records: Iterable[CacheRecord], max_entries: int, kind: str = EXACT) -> int:
    """Upsert the ``kind`` records of ``records`` into the file at ``path``; returns how
    many were written."""
    now = time.time()
    rows = [
        (r.kind, r.key, r.value, r.expires_at, r.namespace, r.model, r.meta)
        for r in records
        if r.expires_at > now and r.kind == kind
    ]
    db = _open(path)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            f"INSERT INTO cache_entries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, "
            "expires_at = excluded.expires_at, namespace = excluded.namespace, "
            "model = excluded.model, meta = excluded.meta "
            "WHERE excluded.expires_at >= cache_entries.expires_at",
            rows,
        )
        db.execute("DELETE FROM cache_entries WHERE expires_at <= ?", (now,))
        db.execute(
            "DELETE FROM cache_entries WHERE kind = ? AND rowid NOT IN (SELECT rowid FROM "
            "cache_entries WHERE kind = ? ORDER BY expires_at DESC LIMIT ?)",
            (kind, kind, max_entries),
        )
        db.execute("COMMIT")
    finally:
        db.close()
    return len(rows)


def load(path: str, max_entries: int, max_bytes: int, kind: str = EXACT) -> list[CacheRecord]:
    """The unexpired ``kind`` records of the file (none if it does not exist), within the
    bounds, oldest first."""
    if not Path(path).exists():
        return []
    db = _open(path)
    try:
        cursor = db.execute(
            f"SELECT {_COLUMNS} FROM cache_entries WHERE kind = ? AND expires_at > ? "
            "ORDER BY expires_at DESC LIMIT ?",
            (kind, time.time(), max_entries),
        )
        records: list[CacheRecord] = []
        size = 0
        for kind, key, value, expires_at, namespace, model, meta in cursor:
            size += len(value)
            if size > max_bytes:
                break
            records.append(CacheRecord(kind, key, value, expires_at, namespace, model, meta))
    finally:
        db.close()
    records.reverse()
    return records


def purge(path: str, purge: Purge) -> int:
    """Delete the rows ``purge`` names; returns how many."""
    if not Path(path).exists():
        return 0
    clauses, args = [], []
    if purge.namespace is not None:
        clauses.append("namespace = ?")
        args.append(purge.namespace)
    if purge.model is not None:
        clauses.append("model = ?")
        args.append(purge.model)
    where = " AND ".join(clauses) or "1"
    db = _open(path)
    try:
        return db.execute(f"DELETE FROM cache_entries WHERE {where}", args).rowcount
    finally:
        db.close()
