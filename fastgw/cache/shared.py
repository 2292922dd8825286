"""The cache feed: every worker and instance on one Redis server shares what any of them stores.

With ``[state] backend = "redis"`` and ``[cache] share = true``, each worker keeps its own
in-memory caches (a hit is a local LRU get: no Redis round trip on a lookup) and this feed
keeps them in step:

- **Store.** ``publish(record)`` appends to a bounded queue and returns at once: a store
  (on a miss) costs ~0.5 µs more CPU with sharing on, a hit nothing more
  (``benchmarks/micro/bench_cache_share.py``). One task writes each batch in one pipelined
  round trip: ``SET <entry key> <record> PX <ttl>`` and ``XADD <feed> MAXLEN ~
  <feed_max_len> * o <origin> k <entry key>``. A full queue drops the share
  (``fastgw_cache_share_total{event="dropped"}``); the request never waits on Redis and
  never fails because of it.
- **Feed.** One task per worker blocks on ``XREAD BLOCK 1000`` from the last id it read,
  fetches the announced entries with one ``MGET`` and hands each to the listener of its kind
  with its remaining TTL; its own announcements (``o``) are skipped. Purges ride the same
  stream (field ``p``), in order with the stores.
- **Warm.** At start (and after a gap, below) the feed notes the stream's last id, then walks
  the entries with ``SCAN MATCH`` + ``MGET`` (up to ``max_entries``) and reads on from that
  id: what was stored during the walk is read twice, which is harmless.
- **Why a stream, not pub/sub.** Pub/sub forgets what a disconnected subscriber missed, so a
  worker would never learn of a purge sent during a blip. A stream keeps the last
  ``feed_max_len`` announcements: a worker that reconnects reads on from its last id. If that
  id has been trimmed away (or Redis restarted empty), it cannot know what it missed: it
  clears its caches (a missed purge must not be served) and warms again. The entries
  themselves live in plain keys with their TTL, so a restart (or a gap) warms from them
  without the stream holding every answer's bytes twice.
- **Redis down.** The caches keep working locally; each failure is counted
  (``event="failed"``) and logged at most once per ``_LOG_INTERVAL_S``; both tasks reconnect
  with backoff. A batch that failed is dropped (a cache, not a log).

The API another cache kind uses (the semantic cache: ``kind = "semantic"``)::

    feed = runtime.shared_feed()         # None: answers are not shared in this process
    feed.register("semantic", on_entry, on_purge)
    #   on_entry(record: CacheRecord) -> None   a record of that kind stored by another
    #       worker or instance (or found by a warm), not yet expired; record.ttl_s() is the
    #       time it has left; record.meta is the bytes that kind published.
    #   on_purge(namespace: str | None, model: str | None) -> None   remove those entries
    #       (None: any); called for admin purges from anywhere, and with (None, None) when
    #       the feed lost its place.
    feed.publish(CacheRecord(kind="semantic", key=..., value=..., expires_at=time.time() +
                             ttl_s, namespace=..., model=..., meta=...))  # -> bool (queued)

Callbacks run on the worker's event loop and must not block or raise (an exception is
logged, and the record or purge skipped for that kind). A record of a kind nobody
registered is ignored, and a warm reaches only the kinds registered by then: register
while the pipelines are built (the feed's tasks run once the worker's loop does).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any

import msgspec

from ..config import CacheConfig, StateConfig
from ..limits.resp import ReplyError, RespClient
from ..metrics import Metrics
from .record import (
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

log = logging.getLogger("fastgw")

OnEntry = Callable[[CacheRecord], None]
OnPurge = Callable[[str | None, str | None], object]  # what it returns is ignored

_FAILED = (OSError, asyncio.TimeoutError, ReplyError)  # refused, reset, timed out, refused op
_BLOCK_MS = 1000  # a read waits at most this long for an announcement, then asks again
_BATCH = 256  # records per write round trip, announcements per read
_SCAN_COUNT = 500
_BACKOFF_FIRST_S = 0.05
_BACKOFF_MAX_S = 2.0
_LOG_INTERVAL_S = 10.0
_CLOSE_FLUSH_S = 2.0  # at shutdown, how long the queue may take to go out


class CacheFeed:
    """One worker's link to the shared cache (see the module docstring)."""

    def __init__(
        self,
        url: str,
        state: StateConfig,
        cache: CacheConfig,
        metrics: Metrics,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.url = url
        self.timeout = state.timeout_s
        self.base = state.prefix + cache.redis_prefix
        self.stream = feed_key(self.base)
        self.max_len = cache.feed_max_len
        self.warm_limit = cache.max_entries
        self.loop = loop
        self.origin = os.urandom(8).hex().encode()
        self._listeners: dict[str, tuple[OnEntry, OnPurge | None]] = {}
        self._queue: collections.deque[CacheRecord] = collections.deque()
        self._queue_max = cache.share_queue
        self._wake = asyncio.Event()
        self._share = metrics.cache_share
        self._share.values.update({(e,): 0.0 for e in ("sent", "received", "dropped", "failed")})
        self._last_id: bytes = b"0-0"
        self._synced = False
        self.warmed = asyncio.Event()  # set once the first warm is done (tests, logs)
        self._writer: RespClient | None = None
        self._reader: RespClient | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._down_logged_at = -_LOG_INTERVAL_S
        self._failing: set[str] = set()  # "write", "read": the parts that last failed

    # -- the API of the caches --------------------------------------------------------------

    def register(self, kind: str, on_entry: OnEntry, on_purge: OnPurge | None = None) -> None:
        """Route the records of ``kind`` to ``on_entry`` and purges to ``on_purge`` (a second
        registration of a kind replaces the first: a reload's new cache)."""
        self._listeners[check_kind(kind)] = (on_entry, on_purge)

    def publish(self, record: CacheRecord) -> bool:
        """Queue ``record`` for Redis; False (and counted) when the queue is full. Never
        blocks, never raises for Redis."""
        queue = self._queue
        if len(queue) >= self._queue_max:
            self._share.values[("dropped",)] += 1
            return False
        queue.append(record)
        wake = self._wake
        if not wake.is_set():
            wake.set()
        return True

    async def purge(self, purge: Purge) -> int:
        """Apply ``purge`` to this worker's caches now, delete its entries from Redis and
        announce it to every other worker and instance. Returns the Redis keys deleted.
        Raises ``ConnectionError``/``TimeoutError`` when Redis cannot be reached (the local
        purge is done by then)."""
        self._apply_purge(purge)
        queue = self._queue  # not written yet: it would bring a purged answer back
        kept = [r for r in queue if not purge.matches(r.namespace, r.model)]
        if len(kept) != len(queue):
            queue.clear()
            queue.extend(kept)
        client = await RespClient.connect(self.url, self.timeout * 4)
        try:
            deleted = 0
            cursor: bytes = b"0"
            pattern = entry_pattern(self.base, purge)
            while True:
                cursor, keys = await client.call(
                    "SCAN", cursor, "MATCH", pattern, "COUNT", _SCAN_COUNT
                )
                if keys:
                    deleted += await client.call("UNLINK", *keys)
                if cursor == b"0":
                    break
            await client.call(
                "XADD", self.stream, "MAXLEN", "~", self.max_len, "*",
                "o", self.origin, "p", encode(purge),
            )  # fmt: skip
            return deleted
        finally:
            client.close()

    # -- lifetime ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer and the reader (the reader warms first)."""
        if not self._tasks:
            self._tasks = [
                self.loop.create_task(self._write_loop()),
                self.loop.create_task(self._read_loop()),
            ]

    async def close(self) -> None:
        """Send what is queued (for up to ``_CLOSE_FLUSH_S``), then stop both tasks."""
        writer, reader = self._tasks if self._tasks else (None, None)
        if reader is not None:
            reader.cancel()
        if writer is not None and self._queue and not self.down:
            deadline = self.loop.time() + _CLOSE_FLUSH_S
            while self._queue and self.loop.time() < deadline and not self.down:
                await asyncio.sleep(0.01)  # the writer's own pace; bounded by the deadline
        if writer is not None:
            writer.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for client in (self._writer, self._reader):
            if client is not None:
                client.close()

    # -- writing ----------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        backoff = _BACKOFF_FIRST_S
        queue = self._queue
        while True:
            await self._wake.wait()
            self._wake.clear()
            while queue:
                batch = [queue.popleft() for _ in range(min(_BATCH, len(queue)))]
                try:
                    await self._write(batch)
                except _FAILED as exc:
                    self._failed("write", exc, len(batch))
                    self._writer = _close(self._writer)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, _BACKOFF_MAX_S)
                    continue
                backoff = _BACKOFF_FIRST_S
                self._share.values[("sent",)] += len(batch)
                self._back("write")

    async def _write(self, batch: list[CacheRecord]) -> None:
        client = self._writer
        if client is None or client.closed:
            client = self._writer = await RespClient.connect(self.url, self.timeout)
        commands: list[tuple[Any, ...]] = []
        for record in batch:
            ttl_ms = int(record.ttl_s() * 1000)
            if ttl_ms <= 0:
                continue
            key = entry_key(self.base, record)
            commands.append(("SET", key, encode(record), "PX", ttl_ms))
            commands.append(
                ("XADD", self.stream, "MAXLEN", "~", self.max_len, "*", "o", self.origin, "k", key)
            )
        if not commands:
            return
        replies = await asyncio.gather(*client.send(commands), return_exceptions=True)
        for reply in replies:
            if isinstance(reply, BaseException):
                raise reply

    # -- reading ----------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        backoff = _BACKOFF_FIRST_S
        while True:
            try:
                client = self._reader
                if client is None or client.closed:
                    # a read blocks up to _BLOCK_MS: its reply may take that long and more
                    client = self._reader = await RespClient.connect(
                        self.url, _BLOCK_MS / 1000 + self.timeout
                    )
                    await self._resume(client)
                await self._read(client)
            except _FAILED as exc:
                self._failed("read", exc, 0)
                self._reader = _close(self._reader)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
                continue
            backoff = _BACKOFF_FIRST_S
            self._back("read")

    async def _resume(self, client: RespClient) -> None:
        """On a new connection: read on from the last id if the stream still holds it, else
        warm again (clearing first if this worker had been following the stream)."""
        if self._synced:
            found = await client.call("XRANGE", self.stream, self._last_id, self._last_id)
            if found:
                return
            log.warning("shared cache: announcements were missed; clearing and warming again")
            self._apply_purge(Purge())
        await self._warm(client)

    async def _warm(self, client: RespClient) -> None:
        top = await client.call("XREVRANGE", self.stream, "+", "-", "COUNT", 1)
        last: bytes = top[0][0] if top else b"0-0"
        loaded = 0
        cursor: bytes = b"0"
        pattern = entry_pattern(self.base)
        while loaded < self.warm_limit:
            cursor, keys = await client.call("SCAN", cursor, "MATCH", pattern, "COUNT", _SCAN_COUNT)
            if keys:
                wanted = keys[: self.warm_limit - loaded]
                loaded += self._deliver(await client.call("MGET", *wanted))
            if cursor == b"0":
                break
        self._last_id, self._synced = last, True
        self.warmed.set()
        log.info("shared cache: warmed %d entries from redis", loaded)

    async def _read(self, client: RespClient) -> None:
        reply = await client.call(
            "XREAD", "COUNT", _BATCH, "BLOCK", _BLOCK_MS, "STREAMS", self.stream, self._last_id
        )
        if not reply:
            return  # nothing within _BLOCK_MS
        keys: list[bytes] = []
        for entry_id, fields in reply[0][1]:
            self._last_id = entry_id
            announced = dict(zip(fields[::2], fields[1::2], strict=False))
            if announced.get(b"o") == self.origin:
                continue
            key = announced.get(b"k")
            if key is not None:
                keys.append(key)
                continue
            purge = announced.get(b"p")
            if purge is not None:
                if keys:  # stores before the purge land before it
                    self._deliver(await client.call("MGET", *keys))
                    keys = []
                self._apply_purge(decode_purge(purge))
        if keys:
            self._deliver(await client.call("MGET", *keys))

    def _deliver(self, values: list[bytes | None]) -> int:
        """Hand each live record to its kind's listener; returns how many were handed."""
        handed = 0
        for data in values:
            if data is None:  # expired or purged since it was announced
                continue
            try:
                record = decode_record(data)
            except msgspec.DecodeError:
                log.warning("shared cache: skipped an entry that is not a cache record")
                continue
            listener = self._listeners.get(record.kind)
            if listener is None or record.ttl_s() <= 0:
                continue
            try:
                listener[0](record)
            except Exception:  # another component's callback: it must not stop the feed
                log.exception("shared cache: the %r listener failed", record.kind)
                continue
            handed += 1
        self._share.values[("received",)] += handed
        return handed

    def _apply_purge(self, purge: Purge) -> None:
        for kind, (_, on_purge) in self._listeners.items():
            if on_purge is None:
                continue
            try:
                on_purge(purge.namespace, purge.model)
            except Exception:  # another component's callback: it must not stop the feed
                log.exception("shared cache: the %r purge listener failed", kind)

    # -- health -----------------------------------------------------------------------------

    @property
    def down(self) -> bool:
        """Whether the last write or the last read failed."""
        return bool(self._failing)

    def _failed(self, what: str, exc: BaseException, records: int) -> None:
        self._share.values[("failed",)] += max(records, 1)
        self._failing.add(what)
        now = self.loop.time()
        if now - self._down_logged_at >= _LOG_INTERVAL_S:
            self._down_logged_at = now
            log.warning(
                "shared cache: redis %s failed (%s); the cache keeps serving this worker's "
                "entries and reconnects by itself",
                what,
                exc,
            )

    def _back(self, what: str) -> None:
        if what in self._failing:
            self._failing.discard(what)
            log.info("shared cache: redis answers the %s again", what)


def _close(client: RespClient | None) -> RespClient | None:
    """Close ``client``; what the caller then holds (None: connect again)."""
    if client is not None:
        client.close()
    return None
