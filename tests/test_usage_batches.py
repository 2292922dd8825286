"""The usage log stored as batches on a real SQLite file: the ``usage`` view gives back every
row exactly, an older ``usage`` table is moved into batches on upgrade, and readers that skip
batches outside their time range answer as a scan of every row does."""

from __future__ import annotations

import datetime
import sqlite3
import subprocess
import sys
import zoneinfo
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastgw.limits.periods import period_at
from fastgw.limits.spend import SpendBook, seed_from_usage_log, spend_name
from fastgw.records.db import USAGE_COLUMNS, CostRow, connect, initialise
from fastgw.records.report import UsageQuery, day_function, summarise
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


def test_cost_row_is_the_start_of_a_usage_row() -> None:
    """The budget seed decodes rows by position: ``CostRow``'s fields are the first columns."""
    assert CostRow.__struct_fields__ == USAGE_COLUMNS[: len(CostRow.__struct_fields__)]


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


# -- readers skip batches outside their range ------------------------------------------------


def test_readers_never_parse_batches_outside_their_range(tmp_path: Path) -> None:
    """A batch whose body is not JSON breaks any reader that parses it; reports and the seed
    whose range ends before or starts after it answer, since they skip it by ts_min/ts_max."""
    path = fresh(tmp_path)
    write_batch(path, [usage_row(ts=T0 + 2 * DAY, key_id="k", cost_usd=1.0)])
    db = connect(path)
    db.execute(
        "INSERT INTO usage_batches (ts_min, ts_max, row_count, body) VALUES (?, ?, 1, 'oops')",
        (T0 - 40 * DAY, T0 - 39 * DAY),
    )
    late = summarise(db, UsageQuery(start=T0), UTC)
    assert late.data[0].requests == 1
    early = summarise(db, UsageQuery(end=T0 - 60 * DAY), UTC)
    assert early.data[0].requests == 0
    with pytest.raises(sqlite3.OperationalError, match="malformed JSON"):
        summarise(db, UsageQuery(), UTC)
    db.close()
    book = SpendBook()
    assert seed_from_usage_log(book, path, period_at(T0 + 2.5 * DAY, UTC), ["key"]) == 1
    assert book.used(spend_name("key", "k", "m202703")) == 1.0


stamp = st.integers(-3 * 48, 40 * 48).map(lambda half_hours: T0 + half_hours * 1800.0)
# within a batch, stamps near its flush time in any order, now and then days away
offset = st.integers(-8, 8).map(lambda quarters: quarters * 900.0) | st.integers(-9, 9).map(
    lambda days: days * DAY
)
logged = st.builds(
    lambda ts, key, team, model, status, prompt, completion, cost, cache: usage_row(
        ts=ts,
        key_id=key,
        team_id=team,
        model=model,
        status=status,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=cost,
        cache=cache,
    ),
    offset,
    st.sampled_from(["k1", "k2", None]),
    st.sampled_from(["t1", None]),
    st.sampled_from(["m1", "m2"]),
    st.sampled_from([200, 400, 429, 499, None]),
    st.none() | st.integers(0, 1000),
    st.none() | st.integers(0, 1000),
    st.none() | st.integers(-4, 400).map(lambda quarters: quarters / 4),  # exact sums
    st.sampled_from(["hit", "miss", None]),
)
batch = st.builds(
    lambda flushed, rows: [(flushed + row[0], *row[1:]) for row in rows],
    stamp,
    st.lists(logged, min_size=1, max_size=8),
)
batches = st.lists(batch, max_size=8)
bound = st.none() | stamp


GROUPED = {"model": "model", "key": "key_id", "team": "team_id"}


def scan(rows: Sequence[Row], query: UsageQuery, tz: datetime.tzinfo) -> list[tuple[Any, ...]]:
    """The report computed from every row, in Python: what pruning must not change."""
    col = {name: i for i, name in enumerate(USAGE_COLUMNS)}
    day = day_function(tz)
    groups: dict[Any, list[Any]] = {}
    for row in rows:
        ts = row[col["ts"]]
        if (query.start is not None and ts < query.start) or (
            query.end is not None and ts >= query.end
        ):
            continue
        if any(
            value is not None and row[col[column]] != value
            for column, value in (
                ("key_id", query.key),
                ("team_id", query.team),
                ("model", query.model),
            )
        ):
            continue
        if query.group_by is None:
            group = None
        elif query.group_by == "day":
            group = day(ts)
        else:
            group = row[col[GROUPED[query.group_by]]]
        sums = groups.setdefault(group, [0, 0, 0, 0.0, 0, 0])
        status = row[col["status"]]
        sums[0] += 1
        sums[1] += row[col["prompt_tokens"]] or 0
        sums[2] += row[col["completion_tokens"]] or 0
        sums[3] += row[col["cost_usd"]] or 0.0
        sums[4] += status is not None and status >= 400
        sums[5] += row[col["cache"]] == "hit"
    if query.group_by is None and not groups:
        groups[None] = [0, 0, 0, 0.0, 0, 0]
    ordered = sorted(groups.items(), key=lambda item: (item[0] is not None, item[0] or ""))
    return [(group, *sums) for group, sums in ordered]


@PROPERTY
@given(
    written=batches,
    start=bound,
    end=bound,
    key=st.sampled_from([None, "k1"]),
    group_by=st.sampled_from([None, "day", "model", "key", "team"]),
)
def test_reports_answer_as_a_scan_of_every_row(
    tmp_path_factory: Any,
    written: list[list[Row]],
    start: float | None,
    end: float | None,
    key: str | None,
    group_by: Any,
) -> None:
    """Batches of rows in any time order, overlapping or not: the report over any range, filter
    and grouping equals the same sums over every row of the ``usage`` view."""
    path = fresh(tmp_path_factory.mktemp("report"))
    for batch in written:
        write_batch(path, batch)
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    query = UsageQuery(start=start, end=end, key=key, group_by=group_by)
    db = connect(path)
    try:
        got = [
            (
                g.group,
                g.requests,
                g.prompt_tokens,
                g.completion_tokens,
                g.cost_usd,
                g.errors,
                g.cache_hits,
            )
            for g in summarise(db, query, paris).data
        ]
    finally:
        db.close()
    assert got == scan(read_usage(path), query, paris)


@PROPERTY
@given(written=batches, now=stamp)
def test_the_seed_answers_as_a_scan_of_every_row(
    tmp_path_factory: Any, written: list[list[Row]], now: float
) -> None:
    """The budget seed, reading only the batches that end in the current month, adds the same
    spend per key, team and model, day and month, as a scan of every row."""
    path = fresh(tmp_path_factory.mktemp("seed"))
    for batch in written:
        write_batch(path, batch)
    period = period_at(now, UTC)
    book = SpendBook()
    seed_from_usage_log(book, path, period, ["key", "team", "model"])
    col = {name: i for i, name in enumerate(USAGE_COLUMNS)}
    want: dict[str, float] = {}
    for row in read_usage(path):
        ts, cost = row[col["ts"]], row[col["cost_usd"]]
        if ts < period.month_start or cost is None or cost <= 0:
            continue
        for kind, column in (("key", "key_id"), ("team", "team_id"), ("model", "model")):
            if row[col[column]] is None:
                continue
            for period_id, since in ((period.day, period.day_start), (period.month, None)):
                if since is None or ts >= since:
                    name = spend_name(kind, row[col[column]], period_id)
                    want[name] = want.get(name, 0.0) + cost
    assert {name: counter.spent for name, counter in book.counters.items()} == want
