"""The shared cache's record, purge and Redis names (sans-IO), and the disk copy (SQLite)."""

from __future__ import annotations

import fnmatch
import time
from pathlib import Path

import msgspec
import pytest

from fastgw.cache import persist
from fastgw.cache.exact import ResponseCache
from fastgw.cache.record import (
    EXACT,
    CacheRecord,
    Purge,
    check_kind,
    decode_purge,
    decode_record,
    encode,
    entry_key,
    entry_pattern,
    feed_key,
)
from fastgw.config import CacheConfig, parse_config
from fastgw.wire import ChatRequest, Usage

BASE = "fastgw:cache:"


def record(
    n: int, *, namespace: str = "ns", model: str = "gpt", ttl_s: float = 60.0
) -> CacheRecord:
    return CacheRecord(
        EXACT, n.to_bytes(16, "big"), b"v%d" % n, time.time() + ttl_s, namespace, model, None
    )


def test_records_and_purges_round_trip_as_msgpack_arrays() -> None:
    """Both encode to msgpack arrays (no field names repeated) and decode to equal values;
    a second kind's opaque meta bytes ride unchanged."""
    semantic = CacheRecord("semantic", b"\x00" * 8, b"{}", 1e9, "ns", "m", b"\x01\xff" * 4)
    assert decode_record(encode(semantic)) == semantic
    assert msgspec.msgpack.decode(encode(semantic))[0] == "semantic"
    assert decode_purge(encode(Purge(None, "m"))) == Purge(None, "m")
    with pytest.raises(msgspec.DecodeError):
        decode_record(b"\x93garbage")


def test_purge_matches_namespace_model_or_both() -> None:
    """None in a purge matches any value."""
    assert Purge().matches("a", "m")
    assert Purge("a").matches("a", "x") and not Purge("a").matches("b", "x")
    assert Purge(None, "m").matches("z", "m") and not Purge(None, "m").matches("z", "n")
    assert Purge("a", "m").matches("a", "m") and not Purge("a", "m").matches("a", "n")


@pytest.mark.parametrize(
    "purge",
    [Purge(), Purge("ns-a"), Purge(None, "gpt"), Purge("ns-a", "gpt"), Purge("*", "?")],
)
def test_a_purge_pattern_matches_exactly_the_keys_it_names(purge: Purge) -> None:
    """Redis glob patterns (fnmatch here) of a purge match the entry keys of its namespace
    and model only, whatever characters the names hold (they are hashed)."""
    records = [
        record(i, namespace=ns, model=m)
        for i, (ns, m) in enumerate(
            [("ns-a", "gpt"), ("ns-a", "other"), ("ns-b", "gpt"), ("*", "?"), ("ns-a*", "g")]
        )
    ]
    pattern = entry_pattern(BASE, purge)
    for r in records:
        key = entry_key(BASE, r)
        assert key.startswith(BASE + "e:exact:")
        assert fnmatch.fnmatchcase(key, pattern) == purge.matches(r.namespace, r.model), key
    assert not fnmatch.fnmatchcase(feed_key(BASE), entry_pattern(BASE))


@pytest.mark.parametrize("kind", ["", "Exact", "a:b", "sem*", "x" * 33])
def test_a_kind_is_a_short_plain_name(kind: str) -> None:
    with pytest.raises(ValueError):
        check_kind(kind)
    assert check_kind("semantic_v2") == "semantic_v2"


def test_response_cache_records_and_insert_keep_usage_tag_and_time_left() -> None:
    """An exact cache's entries leave as records (usage in meta, namespace and model) and
    come back into another cache with the time they had left; expired or foreign-kind
    records are ignored."""
    config = parse_config(
        '[[models]]\nname = "gpt"\ndeployments = [{ provider = "p", model = "x" }]\n'
        '[models.cache]\nttl_s = 100\n[providers.p]\ntype = "mock"\n',
        env={},
    )
    model = config.models[0]
    a = ResponseCache(CacheConfig())
    body = b'{"model":"gpt","messages":[{"role":"user","content":"hi"}],"temperature":0}'
    lookup = a.lookup(model, "ns", msgspec.json.decode(body, type=ChatRequest), body, None)
    assert lookup is not None
    a.put(lookup, b"answer", Usage(prompt_tokens=3, completion_tokens=5, total_tokens=8))
    (out,) = a.records()
    assert (out.kind, out.key, out.value, out.namespace, out.model) == (
        EXACT, lookup.key, b"answer", "ns", "gpt",
    )  # fmt: skip
    assert 99 < out.ttl_s() <= 100
    b = ResponseCache(CacheConfig())
    b.insert(out)
    b.insert(msgspec.structs.replace(out, key=b"k" * 16, expires_at=time.time() - 1))
    b.insert(msgspec.structs.replace(out, key=b"s" * 16, kind="semantic"))
    assert b.store.entries == 1
    value, usage = b.store.get_with_meta(lookup.key)  # type: ignore[misc]
    assert value == b"answer" and usage.total_tokens == 8
    assert b.purge("other", None) == 0 and b.purge("ns", "gpt") == 1


def test_disk_copy_keeps_unexpired_entries_within_bounds(tmp_path: Path) -> None:
    """save then load: expired rows are dropped, the rest come back oldest first, bounded by
    entries and by value bytes (the latest expiries kept)."""
    path = str(tmp_path / "c.sqlite3")
    records = [record(i, ttl_s=100 + i) for i in range(10)] + [record(99, ttl_s=-1)]
    assert persist.save(path, records, max_entries=100) == 10
    assert persist.load(path, 100, 10**6) == records[:10]
    assert persist.load(path, 3, 10**6) == records[7:10]
    assert persist.load(path, 100, 5) == records[8:10]  # two values of 2 bytes fit in 5
    assert persist.load(str(tmp_path / "missing.sqlite3"), 10, 10) == []


def test_workers_saving_at_once_upsert_into_one_copy(tmp_path: Path) -> None:
    """Two workers save their own entries (one in common, with a later expiry in the second)
    into the same file: the next start loads the union, the later expiry kept; the file
    holds at most max_entries rows."""
    path = str(tmp_path / "c.sqlite3")
    first = [record(1, ttl_s=50), record(2, ttl_s=60)]
    second = [record(2, ttl_s=500), record(3, ttl_s=70)]
    persist.save(path, first, max_entries=10)
    persist.save(path, second, max_entries=10)
    loaded = {r.key[-1]: r for r in persist.load(path, 10, 10**6)}
    assert sorted(loaded) == [1, 2, 3]
    assert loaded[2].ttl_s() > 400
    persist.save(path, [], max_entries=2)
    assert sorted(r.key[-1] for r in persist.load(path, 10, 10**6)) == [2, 3]


def test_disk_purge_deletes_what_it_names(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sqlite3")
    persist.save(
        path,
        [record(1, namespace="a"), record(2, namespace="a", model="m"), record(3, namespace="b")],
        10,
    )
    assert persist.purge(path, Purge("a", "m")) == 1
    assert persist.purge(path, Purge(None, "gpt")) == 2
    assert persist.load(path, 10, 10**6) == []
    assert persist.purge(str(tmp_path / "missing"), Purge()) == 0
