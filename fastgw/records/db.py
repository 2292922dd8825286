"""The SQLite file shared by every worker process: how it is opened, and its schema.

Rules kept here:
- WAL mode, so readers (each worker's key refresher, ``/admin/usage``) never wait on the usage
  writer, and a busy timeout, so writers from several processes queue instead of failing.
- ``synchronous=NORMAL``: in WAL mode a commit survives a process crash; only a power loss may
  lose the last transactions.
- The usage log is written on every request and read rarely (reports, and the budget seed at
  worker start, both bounded by time), so it is stored for its writer: one ``usage_batches``
  row per flush, holding the batch's rows as one JSON text (``body``) and their lowest and
  highest ``ts``. Its one index, on (``ts_max``, ``ts_min``), lets a reader of a time range skip
  the batches outside it unread. CPU: 0.65 µs a row (0.37 encoding it on the loop, 0.28
  writing it), against 3.2 with one table row per request and an index on ``ts`` (13 with
  indexes on key, team and model too): usage.py.
- ``usage`` is a VIEW of one row per request, for the sqlite3 CLI and ad-hoc SQL: its columns
  (``USAGE_COLUMNS``) and their order are a contract, and the body's rows follow that order.
- Reading pays for it, parsing the JSON. On 1M rows over 30 days in 10,000-row batches
  (``benchmarks/micro/bench_usage_log.py``, 2-core Xeon, SQLite 3.40), table then batches:
  a report on the month by model 0.52 s then 3.1, by day 0.81 then 3.4, of one key 0.12 then
  1.0; of one day 0.008-0.015 then 0.08-0.09 (only that day's batches are read); with no
  filter at all (every batch ever written) 0.19 then 1.8. Reports stay in SQL, which parses
  with the GIL released: ``/admin/usage`` runs beside the serving loop. The budget seed reads
  the month's batches and decodes them with msgspec instead, before its worker serves:
  1.0 s then 0.6 (through SQLite's JSON functions it took 3.2).
- ``initialise`` moves the rows of an older ``usage`` table into batches of 1,000, in one
  transaction, and drops it: an upgrade loses nothing.
- Every key/team write bumps ``meta.version`` in the same transaction and stamps the row with
  it, so a reader learns what changed with ``version > last seen`` (rows are never removed:
  a deleted key stays as a tombstone).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec

BUSY_TIMEOUT_MS = 5000

log = logging.getLogger("fastgw")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (name, value) VALUES ('version', 0);
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY,
    digest BLOB NOT NULL,
    team TEXT,
    models TEXT,
    cache_namespace TEXT,
    rpm INTEGER,
    tpm INTEGER,
    parallel INTEGER,
    budget_day_usd REAL,
    budget_month_usd REAL,
    expires_at REAL,
    enabled INTEGER NOT NULL DEFAULT 1,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS keys_digest ON keys (digest);
CREATE INDEX IF NOT EXISTS keys_version ON keys (version);
CREATE TABLE IF NOT EXISTS teams (
    id TEXT PRIMARY KEY,
    models TEXT,
    rpm INTEGER,
    tpm INTEGER,
    parallel INTEGER,
    budget_day_usd REAL,
    budget_month_usd REAL,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS teams_version ON teams (version);
CREATE TABLE IF NOT EXISTS usage_batches (
    id INTEGER PRIMARY KEY,
    ts_min REAL NOT NULL,
    ts_max REAL NOT NULL,
    row_count INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_batches_ts ON usage_batches (ts_max, ts_min);
"""

USAGE_COLUMNS = (
    "ts",
    "request_id",
    "key_id",
    "team_id",
    "model",
    "deployment",
    "provider",
    "status",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "latency_ms",
    "ttft_ms",
    "stream",
    "cache",
    "error",
)
# One row of ``usage_batches`` per flush: ``body`` is the JSON array of the batch's rows, each an
# array in ``USAGE_COLUMNS`` order, as msgspec encodes a list of tuples (REAL to the bit, 64-bit
# integers, null, true/false). The blob is bound as bytes and cast to TEXT inside SQLite (no
# copy under the GIL); TEXT, not BLOB, since SQLite 3.45+ reads a BLOB given to json_each as JSONB.
INSERT_BATCH = (
    "INSERT INTO usage_batches (ts_min, ts_max, row_count, body) VALUES (?, ?, ?, CAST(? AS TEXT))"
)
_MOVE_CHUNK_ROWS = 1000  # rows a batch when an older ``usage`` table is moved: batch_max

_encode = msgspec.json.Encoder().encode


def insert_batch(db: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Store ``rows`` (tuples in ``USAGE_COLUMNS`` order, at least one) as one batch, inside the
    caller's transaction. ``ts_min``/``ts_max`` come from the rows themselves, not their order:
    the wall clock may step back, and a retried batch is queued before newer rows."""
    stamps = [row[0] for row in rows]
    insert_encoded(db, min(stamps), max(stamps), len(rows), _encode(rows))


def insert_encoded(
    db: sqlite3.Connection, ts_min: float, ts_max: float, count: int, body: bytes
) -> None:
    """``insert_batch`` of rows already encoded: ``body`` is their JSON array (as ``_encode``
    writes a list of row tuples), ``ts_min``/``ts_max`` their lowest and highest ``ts``."""
    db.execute(INSERT_BATCH, (ts_min, ts_max, count, body))


def select_usage(columns: Iterable[str], batches: str = "") -> str:
    """A SELECT of ``columns`` (names from ``USAGE_COLUMNS``), one row per logged request, from
    the batches that pass the SQL condition ``batches`` on ``ts_min`` and ``ts_max`` (all if
    empty): the ``usage`` view is this with every column, and readers that know their time range
    use it to skip batches before any JSON is parsed.

    Each row's JSON text is made once by the inner SELECT, which ``LIMIT -1`` keeps from being
    flattened into the outer one: SQLite runs it as a co-routine, one row at a time (no
    temporary table), and the extracts then share one parse of that text. Flattened, every
    extract would render the row again (~25% slower over 9 columns); ``AS MATERIALIZED`` is as
    fast but writes every row of the range to a temporary table first."""
    rows = "SELECT r.value AS row_json FROM usage_batches AS b, json_each(b.body) AS r"
    if batches:
        rows += f" WHERE {batches}"
    values = ", ".join(
        f"json_extract(row_json, '$[{USAGE_COLUMNS.index(c)}]') AS {c}" for c in columns
    )
    return f"SELECT {values} FROM ({rows} LIMIT -1)"


USAGE_VIEW = f"CREATE VIEW usage AS {select_usage(USAGE_COLUMNS)}"


class CostRow(msgspec.Struct, array_like=True, frozen=True):
    """A usage row's columns up to ``cost_usd``, in ``USAGE_COLUMNS`` order (the later ones are
    skipped when decoding): what the budget seed reads."""

    ts: float
    request_id: Any
    key_id: str | None
    team_id: str | None
    model: str | None
    deployment: Any
    provider: Any
    status: Any
    prompt_tokens: Any
    completion_tokens: Any
    cost_usd: float | None


_decode_costs = msgspec.json.Decoder(list[CostRow]).decode


def cost_rows(db: sqlite3.Connection, start: float) -> Iterator[CostRow]:
    """The rows logged at or after ``start``, decoded by msgspec from the batches that end at or
    after it (the ``usage_batches_ts`` index skips the others unread). ``sqlite3.Error`` if the
    file has no batches table; ``msgspec.DecodeError`` if a body is not JSON or a row does not
    fit ``CostRow``."""
    for (body,) in db.execute("SELECT body FROM usage_batches WHERE ts_max >= ?", (start,)):
        for row in _decode_costs(body):
            if row.ts >= start:
                yield row


def _move_usage_table(db: sqlite3.Connection) -> int:
    """Move the rows of a ``usage`` TABLE (a store written before batches) into batches of
    ``_MOVE_CHUNK_ROWS`` in their order, then drop it; inside ``initialise``'s transaction, so
    an upgrade loses nothing or changes nothing. Returns the rows moved."""
    kind = db.execute("SELECT type FROM sqlite_master WHERE name = 'usage'").fetchone()
    if kind != ("table",):
        return 0
    columns = ", ".join(USAGE_COLUMNS)
    select = f"SELECT rowid, {columns} FROM usage WHERE rowid > ? ORDER BY rowid LIMIT ?"
    last: float = float("-inf")
    moved = 0
    while chunk := db.execute(select, (last, _MOVE_CHUNK_ROWS)).fetchall():
        last = chunk[-1][0]
        insert_batch(db, [row[1:] for row in chunk])
        moved += len(chunk)
    db.execute("DROP TABLE usage")  # its index goes with it
    return moved


def connect(path: str, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with the pragmas set."""
    db = sqlite3.connect(
        path,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,
        check_same_thread=check_same_thread,
    )
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA synchronous = NORMAL")
    return db


def initialise(path: str) -> None:
    """Create the file, switch it to WAL, create the tables and the ``usage`` view, and move an
    older ``usage`` table into batches; once before workers start (also safe, if slower, when
    several processes race to do it: the first does the work, the others find it done)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = connect(path)
    try:
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                db.execute("PRAGMA journal_mode = WAL")
                _create(db)
                return
            except sqlite3.OperationalError as exc:  # "database is locked": another process
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)  # back off before retrying the lock, not a wait for an event
    finally:
        db.close()


def _create(db: sqlite3.Connection) -> None:
    # statement by statement: ``executescript`` would commit the transaction first
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in SCHEMA.split(";\n"):  # no statement holds a ";\n" of its own
            if statement.strip():
                db.execute(statement)
        moved = _move_usage_table(db)
        if db.execute("SELECT sql FROM sqlite_master WHERE name = 'usage'").fetchone() != (
            USAGE_VIEW,
        ):  # missing, or made by another version of this code
            db.execute("DROP VIEW IF EXISTS usage")
            db.execute(USAGE_VIEW)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    if moved:
        log.info("usage log: %d rows of the usage table moved into usage_batches", moved)
