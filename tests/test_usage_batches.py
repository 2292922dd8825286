"""The usage log stored as batches on a real SQLite file: the ``usage`` view gives back every
row exactly, and an older ``usage`` table is moved into batches on upgrade."""

from __future__ import annotations

import datetime
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastgw.records.db import USAGE_COLUMNS, initialise
from tests.conftest import mock_config
from tests.twins import PROPERTY
from tests.usage_rows import Row, usage_row, write_batch

UTC = datetime.UTC
T0 = datetime.datetime(2027, 3, 1, tzinfo=UTC).timestamp()
DAY = 86400.0

# The usage table as fastgw wrote it before batches (db.py at 26636bf).
OLD_USAGE_TABLE = """
CREATE TABLE usage (
    ts REAL NOT NULL, request_id TEXT, key_id TEXT, team_id TEXT, model TEXT, deployment TEXT,
    provider TEXT, status INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER,
    cost_usd REAL, latency_ms REAL, ttft_ms REAL, stream INTEGER, cache TEXT, error TEXT
);
CREATE INDEX usage_ts ON usage (ts);
"""


def read_usage(path: str) -> list[Row]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT * FROM usage").fetchall()
    finally:
        db.close()


def exact(rows: Sequence[Row]) -> list[tuple[tuple[type, Any], ...]]:
    """Rows with each value's type beside it, booleans as the integers SQLite gives back
    (so 1 and 1.0, or 0 and False, never compare equal by accident)."""
    return [tuple((type(int(v) if isinstance(v, bool) else v), v) for v in row) for row in rows]


def fresh(tmp_path: Path, name: str = "records.sqlite3") -> str:
    path = str(tmp_path / name)
    initialise(path)
    return path


# -- the view ---------------------------------------------------------------------------------

texts = st.none() | st.text(st.characters(blacklist_characters="\x00", codec="utf-8"))
reals = st.none() | st.floats(allow_nan=False, allow_infinity=False)
integers = st.none() | st.integers(-(2**63), 2**63 - 1)
rows = st.tuples(
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
    texts,
    texts,
    texts,
    texts,
    texts,
    integers,
    integers,
    integers,
    reals,
    reals,
    reals,
    st.none() | st.booleans(),
    texts,
    texts,
)


@PROPERTY
@given(batch=st.lists(rows, min_size=1, max_size=20))
def test_view_gives_back_every_value_exactly(tmp_path_factory: Any, batch: list[Row]) -> None:
    """Any row written as a batch comes back from ``SELECT * FROM usage`` with the same values
    and types: REAL to the bit, 64-bit integers, NULL, booleans as 0/1, any text without NUL."""
    path = fresh(tmp_path_factory.mktemp("view"))
    write_batch(path, batch)
    assert exact(read_usage(path)) == exact(batch)


def test_view_cuts_text_at_nul_and_stores_non_finite_as_null(tmp_path: Path) -> None:
    """The two documented losses of the JSON batch (usage.py)."""
    path = fresh(tmp_path)
    write_batch(path, [usage_row(ts=1.0, error="a\x00b", cost_usd=float("inf"))])
    db = sqlite3.connect(path)
    assert db.execute("SELECT error, cost_usd FROM usage").fetchall() == [("a", None)]


# -- upgrade from the usage table -------------------------------------------------------------


def old_store(path: str, rows: Sequence[Row]) -> None:
    db = sqlite3.connect(path)
    db.executescript(OLD_USAGE_TABLE)
    marks = ", ".join("?" * len(USAGE_COLUMNS))
    db.executemany(f"INSERT INTO usage VALUES ({marks})", rows)
    db.commit()
    db.close()


def test_an_old_usage_table_is_moved_into_batches(tmp_path: Path) -> None:
    """``initialise`` on a store with the ``usage`` table moves every row, in order and with its
    types, into batches of 1,000 whose ts_min/ts_max bound their rows, then drops the table;
    a second ``initialise`` changes nothing."""
    path = str(tmp_path / "old.sqlite3")
    old = [
        usage_row(
            ts=T0 + (i * 7919 % 2500) * 0.1,  # not in order: the bounds must come from the rows
            request_id=f"req_{i}",
            key_id=None if i % 5 == 0 else "k",
            status=200 if i % 3 else 429,
            prompt_tokens=2**62 + i,
            cost_usd=0.1 * i,
            stream=i % 2,
            cache="hit" if i % 7 == 0 else None,
        )
        for i in range(2500)
    ]
    old_store(path, old)
    initialise(path)
    assert exact(read_usage(path)) == exact(old)
    db = sqlite3.connect(path)
    kinds = dict(db.execute("SELECT name, type FROM sqlite_master WHERE name LIKE 'usage%'"))
    assert kinds == {"usage": "view", "usage_batches": "table", "usage_batches_ts": "index"}
    batches = db.execute("SELECT ts_min, ts_max, row_count FROM usage_batches ORDER BY id")
    chunks = [old[:1000], old[1000:2000], old[2000:]]
    assert batches.fetchall() == [
        (min(r[0] for r in c), max(r[0] for r in c), len(c)) for c in chunks
    ]
    db.close()
    initialise(path)
    assert exact(read_usage(path)) == exact(old)


def test_fastgw_usage_reads_an_old_store(tmp_path: Path) -> None:
    """``fastgw usage`` run before any upgraded server: it moves the table and reports it."""
    path = tmp_path / "old.sqlite3"
    old_store(str(path), [usage_row(ts=T0 + i, model="gpt-test", cost_usd=0.5) for i in range(3)])
    config_path = tmp_path / "fastgw.toml"
    config_path.write_text(mock_config(extra=f'[storage]\nsqlite_path = "{path}"\n'))
    result = subprocess.run(
        [sys.executable, "-m", "fastgw", "usage", "--config", str(config_path), "--json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    total = msgspec.json.decode(result.stdout)["data"][0]
    assert (total["requests"], total["cost_usd"]) == (3, 1.5)
    assert len(read_usage(str(path))) == 3


def test_a_failed_upgrade_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    """The move is one transaction: a row it cannot move (here a NULL ts, which the old schema
    forbade) stops it with nothing changed, the old table and its rows still there."""
    path = str(tmp_path / "old.sqlite3")
    db = sqlite3.connect(path)
    db.execute(f"CREATE TABLE usage ({', '.join(USAGE_COLUMNS)})")  # without NOT NULL on ts
    db.executemany(
        "INSERT INTO usage (ts, request_id) VALUES (?, ?)",
        [(T0 + i, f"req_{i}") for i in range(1500)] + [(None, "bad")],
    )
    db.commit()
    db.close()
    with pytest.raises(TypeError):
        initialise(path)
    db = sqlite3.connect(path)
    names = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert "usage_batches" not in names
    assert db.execute("SELECT type FROM sqlite_master WHERE name = 'usage'").fetchone() == (
        "table",
    )
    assert db.execute("SELECT count(*) FROM usage").fetchone() == (1501,)
