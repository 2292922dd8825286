"""The records layer on a real SQLite file: the key store, each worker's refresher and
auth-miss lookup, the batched usage writer, and usage summaries."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import sqlite3
import zoneinfo
from collections.abc import Iterator
from pathlib import Path

import pytest

from fastgw.errors import AuthenticationFailed, Conflict, InvalidRequest, NotFound
from fastgw.exchange import Exchange
from fastgw.keys import KeyRecord, KeyRing, TeamRecord, new_key
from fastgw.records import refresh
from fastgw.records.db import USAGE_COLUMNS, initialise
from fastgw.records.keystore import KeyStore
from fastgw.records.refresh import KeyRefresher
from fastgw.records.report import UsageQuery, build_sql, parse_filters, summarise
from fastgw.records.usage import UsageLog
from tests.usage_rows import usage_row, write_batch

UTC = datetime.UTC


def record(key_id: str, secret: str, **fields: object) -> KeyRecord:
    digest = hashlib.sha256(secret.encode()).digest()
    return KeyRecord(id=key_id, digest=digest, models=None, namespace=f"key:{key_id}", **fields)  # type: ignore[arg-type]


@pytest.fixture
def path(tmp_path: Path) -> str:
    db = str(tmp_path / "records.sqlite3")
    initialise(db)
    return db


@pytest.fixture
def store(path: str) -> Iterator[KeyStore]:
    s = KeyStore(path)
    yield s
    s.close()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = asyncio.new_event_loop()
    yield lp
    lp.close()


def bearer(secret: str) -> str:
    return f"Bearer {secret}"


# -- schema and store ------------------------------------------------------------------------------


def test_schema_is_wal_with_the_usage_contract(path: str) -> None:
    """The file is in WAL mode, rows are stored in batches, and the ``usage`` view over them
    has exactly the agreed columns, in order."""
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    kinds = dict(db.execute("SELECT name, type FROM sqlite_master WHERE name LIKE 'usage%'"))
    assert kinds == {"usage": "view", "usage_batches": "table", "usage_batches_ts": "index"}
    columns = tuple(row[1] for row in db.execute("PRAGMA table_info(usage)"))
    assert columns == USAGE_COLUMNS
    indexes = {row[1] for row in db.execute("PRAGMA index_list(usage_batches)")}
    assert indexes == {"usage_batches_ts"}  # one index, for time ranges: write cost, see db.py
    initialise(path)  # idempotent


def test_store_versions_every_write(store: KeyStore) -> None:
    """Each write bumps the version; ``changes`` gives the rows past a version, tombstones too."""
    assert store.version() == 0
    a = store.create_key(record("a", "secret-a", rpm=5))
    b = store.create_key(record("b", "secret-b"))
    assert (a.stored.version, b.stored.version, store.version()) == (1, 2, 2)
    store.update_key(record("a", "ignored", rpm=7, enabled=False))
    store.delete_key("b")
    keys, teams = store.changes(2)
    assert [(k.record.id, k.stored.deleted) for k in keys] == [("a", False), ("b", True)]
    assert keys[0].record.rpm == 7 and not keys[0].record.enabled
    assert keys[0].record.digest == hashlib.sha256(b"secret-a").digest()  # digest unchanged
    assert teams == []
    assert [k.record.id for k in store.list_keys()] == ["a"]
    assert store.find_digest(hashlib.sha256(b"secret-b").digest()) is None


def test_store_conflicts_and_missing_rows(store: KeyStore) -> None:
    store.create_key(record("a", "s1"))
    with pytest.raises(Conflict):
        store.create_key(record("a", "s2"))
    with pytest.raises(NotFound):
        store.get_key("zz")
    with pytest.raises(NotFound):
        store.delete_key("zz")
    store.delete_key("a")
    store.create_key(record("a", "s3"))  # a deleted id may be used again
    assert store.get_key("a").record.digest == hashlib.sha256(b"s3").digest()


def test_store_teams(store: KeyStore) -> None:
    team = TeamRecord(id="t", rpm=3, models=frozenset({"m"}), metadata={"x": "y"})
    assert store.put_team(team, create=True).record == team
    with pytest.raises(Conflict):
        store.put_team(team, create=True)
    with pytest.raises(NotFound):
        store.put_team(TeamRecord(id="u"), create=False)
    store.create_key(record("k", "s", team="t"))
    with pytest.raises(Conflict):
        store.delete_team("t")
    store.delete_key("k")
    store.delete_team("t")
    assert store.list_teams() == []


# -- refresher -------------------------------------------------------------------------------------


def test_refresher_follows_the_store(path: str, loop: asyncio.AbstractEventLoop) -> None:
    """A worker's ring learns creates, changes and deletes from another connection."""
    writer, reader = KeyStore(path), KeyStore(path)
    ring = KeyRing([])
    refresher = KeyRefresher(reader, ring, loop)
    try:
        assert not refresher.refresh()  # nothing changed: one read of the version
        writer.create_key(record("k", "s1"))
        writer.put_team(TeamRecord(id="t"), create=True)
        assert refresher.refresh()
        assert ring.authenticate(bearer("s1"), None).id == "k"
        assert "t" in ring.teams
        writer.update_key(record("k", "s1", enabled=False))
        refresher.refresh()
        with pytest.raises(AuthenticationFailed) as info:
            ring.authenticate(bearer("s1"), None)
        assert info.value.code == "key_disabled"
        writer.delete_key("k")
        writer.delete_team("t")
        refresher.refresh()
        with pytest.raises(AuthenticationFailed) as info:
            ring.authenticate(bearer("s1"), None)
        assert info.value.code == "invalid_api_key"
        assert "t" not in ring.teams
    finally:
        refresher.close()
        writer.close()
        reader.close()


def test_auth_miss_finds_a_new_key_at_once(path: str, loop: asyncio.AbstractEventLoop) -> None:
    """A key written by another process works before any refresh; bad keys are remembered
    until the store changes."""
    writer, reader = KeyStore(path), KeyStore(path)
    ring = KeyRing([])
    refresher = KeyRefresher(reader, ring, loop)
    try:
        secret = new_key()
        writer.create_key(record("new", secret))
        assert ring.authenticate(bearer(secret), None).id == "new"  # no refresh() called
        with pytest.raises(AuthenticationFailed):
            ring.authenticate(bearer("sk-bad-0123456789"), None)
        assert len(refresher._misses) == 1
        writer.create_key(record("other", "x"))
        refresher.refresh()
        assert not refresher._misses
    finally:
        refresher.close()
        writer.close()
        reader.close()


def test_auth_miss_lookups_are_rate_bounded(
    path: str, loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flood of distinct bad keys costs at most MISS_LOOKUPS_PER_S store reads a second
    (the clock stands still here, so the bucket does not refill)."""
    store = KeyStore(path)
    with monkeypatch.context() as patch:
        patch.setattr(refresh.time, "monotonic", lambda: 1000.0)
        refresher = KeyRefresher(store, KeyRing([]), loop)
        try:
            flood = refresh.MISS_LOOKUPS_PER_S + 50
            for i in range(flood):
                assert refresher.lookup(hashlib.sha256(str(i).encode()).digest()) is None
            assert refresher.lookups_refused == 50
            assert len(refresher._misses) == refresh.MISS_LOOKUPS_PER_S
        finally:
            refresher.close()
            store.close()


def test_refresher_timer_runs_on_the_loop(path: str, loop: asyncio.AbstractEventLoop) -> None:
    """The refresher reschedules itself on the worker's loop until closed."""
    writer, reader = KeyStore(path), KeyStore(path)
    ring = KeyRing([])
    refresher = KeyRefresher(reader, ring, loop, interval_s=0.01)
    writer.create_key(record("k", "s1"))

    async def until_seen() -> None:
        while ring.digests() == frozenset():
            await asyncio.sleep(0.005)  # poll interval, not a wait for the refresh itself

    loop.run_until_complete(asyncio.wait_for(until_seen(), 2))
    refresher.close()
    writer.close()
    reader.close()


# -- usage log -------------------------------------------------------------------------------------


def exchange(path: str = "/v1/chat/completions", status: int = 200) -> Exchange:
    ex = Exchange("req_1", "POST", path, None)
    ex.key_id, ex.team_id, ex.model, ex.status = "k", "t", "gpt", status
    ex.prompt_tokens, ex.completion_tokens, ex.cost_usd = 3, 5, 0.25
    return ex


def rows(path: str) -> list[tuple[object, ...]]:
    return sqlite3.connect(path).execute("SELECT * FROM usage").fetchall()


def test_usage_log_batches_and_flushes_on_close(path: str, loop: asyncio.AbstractEventLoop) -> None:
    """Rows wait in memory until batch_max, then are written; close writes the rest;
    only proxied endpoints are logged."""
    usage = UsageLog(path, loop, flush_interval_s=60, batch_max=3)
    for _ in range(2):
        usage.record(exchange(), 0.01)
    usage.record(exchange("/health"), 0.01)
    usage.record(exchange("/admin/keys"), 0.01)
    assert usage.pending == 2
    usage.record(exchange("/embeddings", 500), 0.01)  # third row: the batch goes
    assert usage.pending == 0
    usage.record(exchange(), 0.02)
    loop.run_until_complete(usage.close())
    written = rows(path)
    assert len(written) == 4 and usage.written == 4
    first = dict(zip(USAGE_COLUMNS, written[0], strict=True))
    assert first["key_id"] == "k" and first["cost_usd"] == 0.25 and first["latency_ms"] == 10.0
    assert [r[7] for r in written] == [200, 200, 500, 200]


def test_usage_rows_keep_their_types_exactly(path: str, loop: asyncio.AbstractEventLoop) -> None:
    """The batch goes to SQLite as one JSON text: every value comes back as it was bound one by
    one (REAL stays REAL to the last bit, 64-bit integers, NULLs, booleans as 0/1, any text)."""
    usage = UsageLog(path, loop, flush_interval_s=60, batch_max=1000)
    odd = "quote \" backslash \\ newline \n \u00e9\u4e2d\U0001f600 \x01 'single'"
    cases = [
        (1e-300, 0.1 + 0.2, 2**63 - 1, -(2**63), True, odd, None),
        (5e-324, 1.7976931348623157e305, 0, None, False, "", 1 / 3),
    ]
    queued = []
    for cost, elapsed, prompt, completion, stream, text, ttft in cases:
        ex = exchange()
        ex.cost_usd, ex.prompt_tokens, ex.completion_tokens = cost, prompt, completion
        ex.stream, ex.error, ex.cache, ex.ttft = stream, text, text, ttft
        usage.record(ex, elapsed)
        ms = None if ttft is None else ttft * 1000.0
        head = (ex.request_id, "k", "t", "gpt", None, None, 200, prompt, completion, cost)
        queued.append((*head, elapsed * 1000.0, ms, int(stream), text, text))
    loop.run_until_complete(usage.close())
    written = rows(path)
    assert [row[1:] for row in written] == queued  # ts aside: the wall time of the record
    assert all(type(row[0]) is float for row in written)
    for got, want in zip(written, queued, strict=True):
        assert [type(v) for v in got[1:]] == [type(v) for v in want]


def test_usage_log_flushes_on_its_interval(path: str, loop: asyncio.AbstractEventLoop) -> None:
    usage = UsageLog(path, loop, flush_interval_s=0.01, batch_max=1000)
    usage.record(exchange(), 0.01)

    async def until_written() -> None:
        while usage.written == 0:
            await asyncio.sleep(0.005)  # poll interval, not a wait for the flush itself

    loop.run_until_complete(asyncio.wait_for(until_written(), 2))
    loop.run_until_complete(usage.close())
    assert len(rows(path)) == 1


def test_usage_rows_survive_a_failed_write(tmp_path: Path, loop: asyncio.AbstractEventLoop) -> None:
    """A batch that cannot be written (no table yet) goes back in front of the queue and is
    written, before the rows queued after it, by a later flush: none lost, order kept."""
    path = str(tmp_path / "late.sqlite3")
    sqlite3.connect(path).close()  # a file without the schema
    usage = UsageLog(path, loop, flush_interval_s=60, batch_max=1000)
    for request_id in ("req_1", "req_2"):
        ex = exchange()
        ex.request_id = request_id
        usage.record(ex, 0.01)
    loop.run_until_complete(usage.sync())  # every attempt fails: the rows stay queued
    assert usage.pending == 2 and usage.written == 0
    ex = exchange()
    ex.request_id = "req_3"
    usage.record(ex, 0.01)
    initialise(path)
    loop.run_until_complete(usage.close())
    assert usage.written == 3
    db = sqlite3.connect(path)
    assert [r[0] for r in db.execute("SELECT request_id FROM usage")] == ["req_1", "req_2", "req_3"]
    assert db.execute("SELECT row_count FROM usage_batches").fetchall() == [(3,)]


# -- reports ---------------------------------------------------------------------------------------


def test_parse_filters() -> None:
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    q = parse_filters({"start": "2027-01-31", "end": "1800000000", "group_by": "day"}, paris)
    assert q.start == datetime.datetime(2027, 1, 31, tzinfo=paris).timestamp()
    assert (q.end, q.group_by) == (1800000000.0, "day")
    for params, param in (({"start": "x"}, "start"), ({"group_by": "week"}, "group_by")):
        with pytest.raises(InvalidRequest) as info:
            parse_filters(params, paris)
        assert info.value.param == param


def test_build_sql_uses_parameters_only() -> None:
    """Filter values are bound, never spliced into the SQL."""
    sql, params = build_sql(UsageQuery(key="k'; DROP TABLE usage; --", group_by="team"))
    assert "DROP" not in sql and params == ["k'; DROP TABLE usage; --"]


def test_days_are_calendar_days_in_the_zone(path: str) -> None:
    """23:30 UTC on Jan 1 is Jan 2 in Paris: group_by=day follows [limits] timezone."""
    late = datetime.datetime(2027, 1, 1, 23, 30, tzinfo=UTC).timestamp()
    early = datetime.datetime(2027, 1, 1, 12, 0, tzinfo=UTC).timestamp()
    write_batch(
        path,
        [
            usage_row(
                ts=ts,
                key_id="k",
                status=status,
                prompt_tokens=1,
                completion_tokens=2,
                cost_usd=0.5,
                cache=cache,
            )
            for ts, status, cache in ((late, 200, "hit"), (early, 429, None), (early, 200, None))
        ],
    )
    db = sqlite3.connect(path)
    paris = summarise(db, UsageQuery(group_by="day"), zoneinfo.ZoneInfo("Europe/Paris"))
    assert [(g.group, g.requests, g.errors, g.cache_hits) for g in paris.data] == [
        ("2027-01-01", 2, 1, 0),
        ("2027-01-02", 1, 0, 1),
    ]
    utc = summarise(db, UsageQuery(group_by="day"), UTC)
    assert [(g.group, g.requests, g.cost_usd) for g in utc.data] == [("2027-01-01", 3, 1.5)]
