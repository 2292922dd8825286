"""ExactCache, on the pure module and its compiled twin alike."""

from __future__ import annotations

import math
from collections import OrderedDict
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.twins import PROPERTY, FakeClock, twin


@pytest.fixture(scope="module", params=["python", "cython"])
def impl(request: pytest.FixtureRequest) -> ModuleType:
    """``fastgw._core.exact_cache`` or its compiled twin ``exact_cache_c``."""
    return twin("exact_cache", request.param)


def key(n: int) -> bytes:
    """A distinct 16-byte key for each ``n``."""
    return n.to_bytes(16, "big")


def make(
    impl: ModuleType, max_entries: int = 100, max_bytes: int = 10_000
) -> tuple[Any, FakeClock]:
    """A cache on a fake clock: (cache, clock)."""
    clock = FakeClock()
    return impl.ExactCache(max_entries, max_bytes, clock=clock), clock


def counters(cache: Any) -> tuple[int, ...]:
    """(hits, misses, evictions, expirations, entries, total_bytes)."""
    return (
        cache.hits,
        cache.misses,
        cache.evictions,
        cache.expirations,
        cache.entries,
        cache.total_bytes,
    )


def test_empty_cache_misses(impl: ModuleType) -> None:
    """A get on an empty cache is a counted miss."""
    cache, _ = make(impl)
    assert cache.get(key(1)) is None
    assert counters(cache) == (0, 1, 0, 0, 0, 0)
    assert len(cache) == 0


def test_put_then_get_returns_the_same_object(impl: ModuleType) -> None:
    """A stored value comes back as the very same bytes object, and the hit is counted."""
    cache, _ = make(impl)
    value = b'{"id":"chatcmpl-1"}' * 3
    assert cache.put(key(1), value, 60) is True
    assert cache.get(key(1)) is value
    assert counters(cache) == (1, 0, 0, 0, 1, len(value))


def test_meta_rides_with_its_entry(impl: ModuleType) -> None:
    """``get_with_meta`` returns the value and the ``meta`` given to ``put`` (None when none
    was), looks up exactly as ``get`` (hits, misses, expiry, recency) and does not count the
    meta's size; a replacing ``put`` replaces the meta too."""
    cache, clock = make(impl, max_entries=2, max_bytes=10)
    usage = object()
    assert cache.put(key(1), b"abc", 60, usage)
    assert cache.put(key(2), b"de", 60)
    pair = cache.get_with_meta(key(1))
    assert pair is not None and pair[0] == b"abc" and pair[1] is usage
    assert cache.get_with_meta(key(2)) == (b"de", None)
    assert cache.get_with_meta(key(3)) is None
    assert counters(cache) == (2, 1, 0, 0, 2, 5)
    cache.get_with_meta(key(1))  # key(1) the most recent: key(2) is evicted next
    cache.put(key(3), b"f", 60)
    assert cache.get(key(2)) is None and cache.get(key(1)) == b"abc"
    cache.put(key(1), b"g", 60, "new")
    assert cache.get_with_meta(key(1)) == (b"g", "new")
    clock.now += 60
    assert cache.get_with_meta(key(1)) is None
    assert cache.expirations == 1


def test_entry_bound_evicts_least_recently_used(impl: ModuleType) -> None:
    """Past ``max_entries`` the least recently used entry goes, and a hit refreshes recency."""
    cache, _ = make(impl, max_entries=3)
    for n in (1, 2, 3):
        cache.put(key(n), b"v%d" % n, 60)
    assert cache.get(key(1)) == b"v1"
    cache.put(key(4), b"v4", 60)
    assert cache.get(key(2)) is None
    assert [cache.get(key(n)) for n in (1, 3, 4)] == [b"v1", b"v3", b"v4"]
    assert cache.evictions == 1
    assert len(cache) == 3


def test_byte_bound_evicts_until_it_fits(impl: ModuleType) -> None:
    """Past ``max_bytes`` least recent entries go, as many as needed, and no more."""
    cache, _ = make(impl, max_bytes=100)
    for n in range(4):
        cache.put(key(n), b"x" * 25, 60)
    assert cache.total_bytes == 100
    cache.put(key(9), b"y" * 60, 60)
    assert [cache.get(key(n)) is not None for n in range(4)] == [False, False, False, True]
    assert cache.total_bytes == 85
    assert cache.evictions == 3


def test_both_bounds_hold_after_every_put(impl: ModuleType) -> None:
    """A put evicts until the entry count and the byte total are both within bounds."""
    cache, _ = make(impl, max_entries=2, max_bytes=10)
    cache.put(key(1), b"aaaa", 60)
    cache.put(key(2), b"bbbb", 60)
    cache.put(key(3), b"cc", 60)
    assert (len(cache), cache.total_bytes) == (2, 6)
    cache.put(key(4), b"dddddddddd", 60)
    assert (len(cache), cache.total_bytes) == (1, 10)
    assert cache.get(key(4)) == b"dddddddddd"


def test_value_larger_than_byte_bound_is_not_stored(impl: ModuleType) -> None:
    """An oversized value is refused, evicts nothing, but drops the old entry under its key."""
    cache, _ = make(impl, max_bytes=10)
    cache.put(key(1), b"old", 60)
    cache.put(key(2), b"other", 60)
    assert cache.put(key(1), b"z" * 11, 60) is False
    assert cache.get(key(1)) is None
    assert cache.get(key(2)) == b"other"
    assert cache.evictions == 0
    assert cache.put(key(3), b"z" * 10, 60) is True
    assert cache.total_bytes == 10


def test_replacing_a_key_updates_bytes_and_recency(impl: ModuleType) -> None:
    """A put under a stored key replaces it, fixes the byte total, makes it most recent and
    counts no eviction."""
    cache, _ = make(impl, max_entries=2)
    cache.put(key(1), b"aaaa", 60)
    cache.put(key(2), b"bb", 60)
    cache.put(key(1), b"a", 60)
    assert (len(cache), cache.total_bytes, cache.evictions) == (2, 3, 0)
    cache.put(key(3), b"c", 60)
    assert cache.get(key(2)) is None
    assert cache.get(key(1)) == b"a"


def test_entry_expires_exactly_at_its_ttl(impl: ModuleType) -> None:
    """An entry is a hit just before put time + ttl and an expired miss from then on."""
    cache, clock = make(impl)
    clock.now = 100.0
    cache.put(key(1), b"v", 30)
    clock.now = 129.999
    assert cache.get(key(1)) == b"v"
    clock.now = 130.0
    assert cache.get(key(1)) is None
    assert counters(cache) == (1, 1, 0, 1, 0, 0)
    assert cache.get(key(1)) is None
    assert cache.expirations == 1


def test_infinite_ttl_never_expires(impl: ModuleType) -> None:
    """``ttl_s=math.inf`` stores an entry that no clock value expires."""
    cache, clock = make(impl)
    cache.put(key(1), b"v", math.inf)
    clock.now = 1e300
    assert cache.get(key(1)) == b"v"


def test_a_put_restarts_the_ttl(impl: ModuleType) -> None:
    """Replacing an entry gives it the new TTL from the time of the new put."""
    cache, clock = make(impl)
    cache.put(key(1), b"v", 10)
    clock.now = 8.0
    cache.put(key(1), b"w", 10)
    clock.now = 17.0
    assert cache.get(key(1)) == b"w"


def test_expired_least_recent_entry_counts_as_expiration(impl: ModuleType) -> None:
    """Removing an already expired entry to make room is an expiration, not an eviction."""
    cache, clock = make(impl, max_entries=2)
    cache.put(key(1), b"short", 5)
    cache.put(key(2), b"long", 500)
    clock.now = 10.0
    cache.put(key(3), b"new", 500)
    assert (cache.evictions, cache.expirations) == (0, 1)
    cache.put(key(4), b"newer", 500)
    assert (cache.evictions, cache.expirations) == (1, 1)


def test_purge_expired_removes_only_expired(impl: ModuleType) -> None:
    """``purge_expired`` removes and counts every expired entry and keeps the rest."""
    cache, clock = make(impl)
    for n in range(10):
        cache.put(key(n), b"v" * n, 10 if n % 2 else 100)
    clock.now = 50.0
    assert cache.purge_expired() == 5
    assert cache.expirations == 5
    assert len(cache) == 5
    assert cache.total_bytes == sum(range(0, 10, 2))
    assert all(cache.get(key(n)) is not None for n in range(0, 10, 2))
    assert cache.purge_expired() == 0


def test_delete(impl: ModuleType) -> None:
    """``delete`` removes an entry, says whether there was one, and counts nothing."""
    cache, _ = make(impl)
    cache.put(key(1), b"v", 60)
    assert cache.delete(key(1)) is True
    assert cache.delete(key(1)) is False
    assert counters(cache) == (0, 0, 0, 0, 0, 0)


def test_clear_empties_and_keeps_counters(impl: ModuleType) -> None:
    """``clear`` removes everything, keeps the counters, and the cache works after it."""
    cache, _ = make(impl)
    for n in range(5):
        cache.put(key(n), b"v", 60)
    cache.get(key(1))
    cache.get(key(99))
    cache.clear()
    assert counters(cache) == (1, 1, 0, 0, 0, 0)
    assert cache.get(key(1)) is None
    cache.put(key(1), b"again", 60)
    assert cache.get(key(1)) == b"again"


def test_purge_tagged_removes_by_namespace_model_or_both(impl: ModuleType) -> None:
    """``purge_tagged`` removes the entries whose (namespace, model) tag matches, None matching
    any; untagged entries stay; bytes follow; nothing else is counted."""
    cache, _ = make(impl)
    tags = [("a", "m1"), ("a", "m2"), ("b", "m1"), ("b", "m2")]
    for n, tag in enumerate(tags):
        cache.put(key(n), b"v" * (n + 1), 60, None, tag)
    cache.put(key(9), b"untagged", 60)
    assert cache.purge_tagged("a", "m2") == 1
    assert cache.get(key(1)) is None
    assert cache.purge_tagged(None, "m1") == 2
    assert cache.purge_tagged("nobody", None) == 0
    assert [cache.get(key(n)) for n in (3, 9)] == [b"vvvv", b"untagged"]
    assert cache.purge_tagged(None, None) == 1
    assert len(cache) == 1 and cache.total_bytes == len(b"untagged")
    assert (cache.evictions, cache.expirations) == (0, 0)


def test_snapshot_lists_live_entries_least_recent_first(impl: ModuleType) -> None:
    """``snapshot`` gives (key, value, seconds left, meta, tag) of live entries, least recent
    first, and changes nothing: put back in its order, the recency is the same."""
    cache, clock = make(impl)
    cache.put(key(1), b"one", 10, "m1", ("ns", "gpt"))
    cache.put(key(2), b"two", 100)
    cache.put(key(3), b"three", 5)
    cache.get(key(1))
    clock.now = 6.0  # key 3 has expired, unmet
    before = counters(cache)
    assert cache.snapshot() == [
        (key(2), b"two", 94.0, None, None),
        (key(1), b"one", 4.0, "m1", ("ns", "gpt")),
    ]
    assert counters(cache) == before
    copy, _ = make(impl, max_entries=2)
    for k, value, left, meta, tag in cache.snapshot():
        copy.put(k, value, left, meta, tag)
    copy.put(key(4), b"four", 10)  # evicts the least recent: key 2
    assert copy.get(key(2)) is None and copy.get_with_meta(key(1)) == (b"one", "m1")


def test_tag_must_be_a_tuple_or_none(impl: ModuleType) -> None:
    """A tag is a (namespace, model) tuple; the compiled twin refuses anything else."""
    cache, _ = make(impl)
    if impl.__name__.endswith("_c"):
        with pytest.raises(TypeError):
            cache.put(key(1), b"v", 60, None, ["ns", "m"])


@pytest.mark.parametrize("bad_key", [b"", b"x" * 15, b"x" * 17, b"x" * 32])
def test_put_rejects_keys_that_are_not_16_bytes(impl: ModuleType, bad_key: bytes) -> None:
    """Only 16-byte digests are keys: ``put`` raises ``ValueError`` for any other length."""
    cache, _ = make(impl)
    with pytest.raises(ValueError):
        cache.put(bad_key, b"v", 60)
    assert len(cache) == 0


@pytest.mark.parametrize("ttl", [0.0, -1.0, math.nan])
def test_put_rejects_ttl_that_is_not_positive(impl: ModuleType, ttl: float) -> None:
    """A zero, negative or NaN TTL raises ``ValueError``."""
    cache, _ = make(impl)
    with pytest.raises(ValueError):
        cache.put(key(1), b"v", ttl)


@pytest.mark.parametrize(("max_entries", "max_bytes"), [(0, 10), (10, 0), (-1, 10)])
def test_bounds_must_be_positive(impl: ModuleType, max_entries: int, max_bytes: int) -> None:
    """A bound below 1 raises ``ValueError`` at construction."""
    with pytest.raises(ValueError):
        impl.ExactCache(max_entries, max_bytes)


def test_clock_errors_propagate(impl: ModuleType) -> None:
    """An exception raised by the clock reaches the caller of ``get`` and ``put``."""
    calls = []

    def clock() -> float:
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("clock")
        return 0.0

    cache = impl.ExactCache(10, 100, clock=clock)
    cache.put(key(1), b"v", 60)
    with pytest.raises(RuntimeError):
        cache.get(key(1))
    with pytest.raises(RuntimeError):
        cache.put(key(2), b"v", 60)


def test_default_clock_keeps_fresh_entries(impl: ModuleType) -> None:
    """Without an injected clock, an entry with a long TTL is a hit right after its put."""
    cache = impl.ExactCache(10, 100)
    cache.put(key(1), b"v", 3600)
    assert cache.get(key(1)) == b"v"


# --- property: the cache behaves like a plain reference model ------------------------------


class ModelCache:
    """An obviously correct, slow LRU with TTLs and the same counters."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.data: OrderedDict[bytes, tuple[bytes, float]] = OrderedDict()  # oldest first
        self.hits = self.misses = self.evictions = self.expirations = 0

    @property
    def total_bytes(self) -> int:
        return sum(len(v) for v, _ in self.data.values())

    def get(self, k: bytes, now: float) -> bytes | None:
        if k not in self.data:
            self.misses += 1
            return None
        value, expires = self.data[k]
        if now >= expires:
            del self.data[k]
            self.expirations += 1
            self.misses += 1
            return None
        self.data.move_to_end(k)
        self.hits += 1
        return value

    def put(self, k: bytes, value: bytes, ttl: float, now: float) -> bool:
        self.data.pop(k, None)
        if len(value) > self.max_bytes:
            return False
        self.data[k] = (value, now + ttl)
        while len(self.data) > self.max_entries or self.total_bytes > self.max_bytes:
            _, (_, expires) = self.data.popitem(last=False)
            if now >= expires:
                self.expirations += 1
            else:
                self.evictions += 1
        return True

    def purge(self, now: float) -> int:
        expired = [k for k, (_, expires) in self.data.items() if now >= expires]
        for k in expired:
            del self.data[k]
        self.expirations += len(expired)
        return len(expired)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.integers(0, 9), st.integers(0, 40), st.integers(1, 20)),
        st.tuples(st.just("get"), st.integers(0, 9)),
        st.tuples(st.just("delete"), st.integers(0, 9)),
        st.tuples(st.just("advance"), st.integers(0, 10)),
        st.tuples(st.just("purge")),
        st.tuples(st.just("clear")),
    ),
    max_size=80,
)


@PROPERTY
@given(max_entries=st.integers(1, 6), max_bytes=st.integers(1, 100), ops=operations)
def test_cache_matches_reference_model(
    impl: ModuleType, max_entries: int, max_bytes: int, ops: list[tuple[Any, ...]]
) -> None:
    """Any sequence of operations gives the reference model's results, contents and counters."""
    cache, clock = make(impl, max_entries, max_bytes)
    model = ModelCache(max_entries, max_bytes)
    for op in ops:
        if op[0] == "put":
            _, n, size, ttl = op
            value = bytes([n]) * size
            assert cache.put(key(n), value, ttl) == model.put(key(n), value, ttl, clock.now)
        elif op[0] == "get":
            assert cache.get(key(op[1])) == model.get(key(op[1]), clock.now)
        elif op[0] == "delete":
            assert cache.delete(key(op[1])) == (model.data.pop(key(op[1]), None) is not None)
        elif op[0] == "advance":
            clock.now += op[1]
        elif op[0] == "purge":
            assert cache.purge_expired() == model.purge(clock.now)
        else:
            cache.clear()
            model.data.clear()
        assert counters(cache) == (
            model.hits,
            model.misses,
            model.evictions,
            model.expirations,
            len(model.data),
            model.total_bytes,
        )
        assert len(cache) <= max_entries
        assert cache.total_bytes <= max_bytes
