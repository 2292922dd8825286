"""The cache feed (``fastgw.cache.shared``) against a real ``redis-server``: several feeds in
one process stand for workers and instances (each has its own connections and origin)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

from fastgw.cache.exact import ResponseCache
from fastgw.cache.record import EXACT, CacheRecord, Purge
from fastgw.cache.shared import CacheFeed
from fastgw.config import Config, parse_config
from fastgw.metrics import Metrics
from fastgw.testing import RedisServer

pytestmark = pytest.mark.e2e

WITHIN_S = 1.0  # "served by the others within a second"


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def _config(redis: RedisServer, prefix: str, cache: str = "max_entries = 100\n") -> Config:
    return parse_config(
        f'[state]\nbackend = "redis"\nredis_url = "{redis.url}"\nprefix = "{prefix}"\n'
        f"[cache]\n{cache}",
        env={},
    )


class Worker:
    """A feed and the exact cache it feeds, as a worker's runtime wires them."""

    def __init__(self, config: Config) -> None:
        self.metrics = Metrics()
        self.feed = CacheFeed(
            config.state.redis_url, config.state, config.cache, self.metrics,
            asyncio.get_running_loop(),
        )  # fmt: skip
        self.cache = ResponseCache(config.cache)
        self.cache.publish = self.feed.publish
        self.feed.register(EXACT, self.cache.insert, self.cache.purge)
        self.feed.start()

    def share(self, event: str) -> float:
        return self.metrics.cache_share.values[(event,)]


@pytest.fixture
def prefix() -> str:
    return f"t{time.monotonic_ns()}:"  # each test its own keys and stream


def _record(n: int, *, kind: str = EXACT, namespace: str = "ns", model: str = "gpt") -> CacheRecord:
    meta = None if kind == EXACT else b"vector:%d" % n
    return CacheRecord(
        kind, n.to_bytes(16, "big"), b"v%d" % n, time.time() + 60, namespace, model, meta
    )


async def _until(check: Callable[[], bool], within_s: float = WITHIN_S) -> float:
    """Poll ``check`` on the loop until it holds; the seconds it took (fails past within_s)."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < within_s, "not within the time allowed"
        await asyncio.sleep(0.005)  # poll interval, not a wait for the feed
    return time.monotonic() - start


async def test_a_store_reaches_every_other_worker_within_a_second(
    redis_server: RedisServer, prefix: str
) -> None:
    """A record published by one worker is in the other workers' caches (value, usage, tag)
    well within a second; its own announcement is not read back."""
    config = _config(redis_server, prefix)
    workers = [Worker(config) for _ in range(3)]
    await asyncio.gather(*(w.feed.warmed.wait() for w in workers))
    record = _record(1)
    workers[0].feed.publish(record)
    took = await _until(lambda: all(w.cache.store.get(record.key) for w in workers[1:]))
    assert took < WITHIN_S
    (copy,) = workers[1].cache.records()
    assert (copy.key, copy.value, copy.namespace, copy.model) == (record.key, b"v1", "ns", "gpt")
    assert 59 < copy.ttl_s() <= 60
    assert workers[0].share("sent") == 1 and workers[0].share("received") == 0
    assert workers[1].share("received") == 1
    for w in workers:
        await w.feed.close()


async def test_a_second_kind_rides_the_same_feed_with_its_meta(
    redis_server: RedisServer, prefix: str
) -> None:
    """A "semantic" listener gets the semantic records, meta bytes intact, and purges; the
    exact cache never sees them."""
    config = _config(redis_server, prefix)
    a, b = Worker(config), Worker(config)
    seen: list[CacheRecord] = []
    purges: list[tuple[str | None, str | None]] = []
    b.feed.register("semantic", seen.append, lambda ns, m: purges.append((ns, m)))
    await asyncio.gather(a.feed.warmed.wait(), b.feed.warmed.wait())
    semantic = _record(7, kind="semantic")
    assert a.feed.publish(semantic)
    await _until(lambda: bool(seen))
    assert seen == [semantic] and b.cache.store.entries == 0
    await a.feed.purge(Purge("ns", None))
    await _until(lambda: bool(purges))
    assert purges == [("ns", None)]
    await a.feed.close()
    await b.feed.close()


async def test_a_new_worker_warms_from_redis_within_its_bound(
    redis_server: RedisServer, prefix: str
) -> None:
    """A worker that starts after the stores loads them from Redis (at most max_entries),
    then follows the feed."""
    config = _config(redis_server, prefix, "max_entries = 5\n")
    first = Worker(config)
    await first.feed.warmed.wait()
    for n in range(8):
        first.feed.publish(_record(n))
    await _until(lambda: first.share("sent") == 8)
    late = Worker(config)
    await asyncio.wait_for(late.feed.warmed.wait(), WITHIN_S)
    assert late.cache.store.entries == 5
    first.feed.publish(_record(100))
    await _until(lambda: late.cache.store.get((100).to_bytes(16, "big")) is not None)
    await first.feed.close()
    await late.feed.close()


async def test_a_purge_removes_entries_in_redis_and_every_worker(
    redis_server: RedisServer, prefix: str
) -> None:
    """A purge by namespace (then by model) deletes the named entries from Redis and from
    every worker's cache, and leaves the others."""
    config = _config(redis_server, prefix)
    a, b = Worker(config), Worker(config)
    await asyncio.gather(a.feed.warmed.wait(), b.feed.warmed.wait())
    records = [
        _record(1, namespace="team-a"),
        _record(2, namespace="team-a", model="other"),
        _record(3, namespace="team-b"),
    ]
    for r in records:
        a.cache.insert(r)
        a.feed.publish(r)
    await _until(lambda: b.cache.store.entries == 3)
    assert await a.feed.purge(Purge("team-a", "gpt")) == 1
    assert a.cache.store.get(records[0].key) is None
    await _until(lambda: b.cache.store.entries == 2)
    assert await b.feed.purge(Purge(None, "gpt")) == 1
    await _until(lambda: a.cache.store.entries == 1)
    assert a.cache.store.get(records[1].key) == b"v2"
    keys = redis_server.command("KEYS", f"{prefix}cache:e:*")
    assert keys.startswith(b"*1\r\n"), keys
    late = _record(4, namespace="team-c")
    a.feed.publish(late)  # still queued when the purge starts: it must not come back
    await a.feed.purge(Purge("team-c"))
    a.feed.publish(_record(5))
    await _until(lambda: b.cache.store.get(_record(5).key) is not None)
    assert b.cache.store.get(late.key) is None
    await a.feed.close()
    await b.feed.close()


async def test_redis_down_keeps_the_cache_local_drops_shares_and_recovers(prefix: str) -> None:
    """Redis killed: publishing never raises or blocks, failures are counted, a full queue
    drops (counted); when Redis is back (empty: announcements were lost) the feed clears,
    warms again and shares once more."""
    with RedisServer() as redis:
        config = _config(redis, prefix, "share_queue = 3\n")
        a, b = Worker(config), Worker(config)
        await asyncio.gather(a.feed.warmed.wait(), b.feed.warmed.wait())
        b.cache.insert(_record(50))
        redis.stop()
        for n in range(10):
            a.cache.insert(_record(n))
            a.feed.publish(_record(n))
        await _until(lambda: a.share("failed") >= 1 and a.feed.down, within_s=5)
        assert a.share("dropped") >= 1
        assert a.cache.store.entries == 10  # the local cache serves on
        redis.start()
        # b notices the restarted (empty) stream: it cannot know what it missed, so it clears
        await _until(lambda: b.cache.store.get(_record(50).key) is None, within_s=10)
        sent = [_record(99)]

        def shared_again() -> bool:  # a new record per poll: the writer retries on the next
            if any(b.cache.store.get(r.key) is not None for r in sent):
                return True
            sent.append(_record(100 + len(sent)))
            a.feed.publish(sent[-1])
            return False

        await _until(shared_again, within_s=10)
        assert not a.feed.down
        await a.feed.close()
        await b.feed.close()
