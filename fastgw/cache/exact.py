"""The exact-match response cache as the gateway uses it: which requests, which key, when
to store.

Rules this module keeps:
- A model without ``[models.cache]`` (or with ``enabled = false``) has no cache stage in its
  pipeline (``fastgw.pipeline``): no canonical form is built and no header is added, so a
  disabled cache costs nothing.
- Cacheable by default only when the answer is meant to repeat: ``temperature == 0`` or a
  ``seed`` (``when = "always"`` caches every request); embeddings are always cacheable.
- The key is the request's (``fastgw.cache.keys``: xxh3-128 of its canonical form within
  the caller's namespace, with an alias LRU of raw bodies bounded like the cache). One
  tenant's answer never reaches another unless the config gives them one namespace.
- ``Cache-Control: no-cache`` skips the lookup (outcome ``bypass``); ``no-store`` skips the
  store. Only complete 200 answers are stored, as the plain completion body, with their
  usage decoded beside them (a hit reports it without parsing the body).
- Every entry is tagged with its namespace and public model, so ``purge`` (the admin API)
  removes one tenant's or one model's answers.
- Beyond this worker (``attach``): a store is also published to the cache feed
  (``fastgw.cache.shared``: a queue append, never a wait) as a ``CacheRecord`` of kind
  ``"exact"`` whose ``meta`` is the usage in msgpack; records from other workers come back
  through ``insert``. ``records``/``insert`` also carry the entries to and from the disk copy
  (``fastgw.cache.persist``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec

from .._core import ExactCache
from ..config import CacheConfig, ModelConfig
from ..wire import ChatRequest, CompletionRequest, EmbeddingRequest, Usage
from .keys import RequestKeys, directives, repeatable
from .record import EXACT, CacheRecord

HIT, MISS, BYPASS = "hit", "miss", "bypass"
_KEY_BYTES = 16

_usage_encoder = msgspec.msgpack.Encoder()
_usage_decoder = msgspec.msgpack.Decoder(Usage)


class CacheLookup:
    """What the cache does for one request: its key, whether to read and to store.
    ``outcome`` starts as ``miss`` or ``bypass`` and becomes ``hit`` when the read finds an
    answer."""

    __slots__ = ("key", "outcome", "read", "store", "tag", "ttl_s")

    def __init__(
        self, key: bytes, read: bool, store: bool, ttl_s: float, tag: tuple[str, str] = ("", "")
    ) -> None:
        self.key = key
        self.read = read
        self.store = store
        self.ttl_s = ttl_s
        self.tag = tag  # (namespace, public model)
        self.outcome = MISS if read else BYPASS


class ResponseCache:
    """The exact cache of one worker, shared by every model that enables it."""

    def __init__(self, config: CacheConfig) -> None:
        self.store = ExactCache(config.max_entries, config.max_bytes)
        self.keys = RequestKeys(config.max_entries)
        # the cache feed's publish (fastgw.cache.shared), when answers are shared
        self.publish: Callable[[CacheRecord], bool] | None = None

    def lookup(
        self,
        model: ModelConfig,
        namespace: str,
        request: ChatRequest | CompletionRequest | EmbeddingRequest,
        body: bytes,
        cache_control: str | None,
    ) -> CacheLookup | None:
        """How the cache treats ``request`` on ``model`` (a model whose cache is on: the
        pipeline has no cache stage otherwise)."""
        settings = model.cache
        if settings is None or not settings.enabled:
            return None
        if not repeatable(request, settings.when):
            return CacheLookup(b"", False, False, 0.0)
        no_cache, no_store, _ = directives(cache_control) if cache_control else (False, False, None)
        key = self.keys.key(model.name, namespace, request, body, settings.ttl_s)
        if key is None:
            return CacheLookup(b"", False, False, 0.0)
        return CacheLookup(key, not no_cache, not no_store, settings.ttl_s, (namespace, model.name))

    def get(self, lookup: CacheLookup) -> tuple[bytes, Usage | None] | None:
        """The stored answer and its usage (as ``put`` was given it), or None."""
        if not lookup.read:
            return None
        found = self.store.get_with_meta(lookup.key)
        if found is not None:
            lookup.outcome = HIT
        return found

    def discard(self, lookup: CacheLookup) -> None:
        """Forget the entry (it could not be used) and count the request as a miss."""
        self.store.delete(lookup.key)
        lookup.outcome = MISS

    def put(self, lookup: CacheLookup, value: bytes, usage: Usage | None) -> None:
        """Store ``value`` with its ``usage`` (the answer's own, decoded once here rather
        than on every hit)."""
        if not lookup.store:
            return
        tag = lookup.tag
        if self.store.put(lookup.key, value, lookup.ttl_s, usage, tag) and self.publish:
            meta = None if usage is None else _usage_encoder.encode(usage)
            expires_at = time.time() + lookup.ttl_s
            self.publish(CacheRecord(EXACT, lookup.key, value, expires_at, tag[0], tag[1], meta))

    # -- beyond this worker: the feed, the disk copy, the admin API -------------------------

    def insert(self, record: CacheRecord) -> None:
        """Store an ``"exact"`` record from elsewhere (another worker, Redis, the disk copy)
        for the time it has left; an expired one or one of another kind is ignored. Not
        published again."""
        ttl_s = record.ttl_s()
        if record.kind != EXACT or ttl_s <= 0 or len(record.key) != _KEY_BYTES:
            return
        usage = None if record.meta is None else _usage_decoder.decode(record.meta)
        self.store.put(record.key, record.value, ttl_s, usage, (record.namespace, record.model))

    def records(self) -> list[CacheRecord]:
        """The live entries as records, least recently used first."""
        now = time.time()
        return [
            CacheRecord(
                EXACT,
                key,
                value,
                now + left,
                tag[0],
                tag[1],
                None if usage is None else _usage_encoder.encode(usage),
            )
            for key, value, left, usage, tag in self.store.snapshot()
            if tag is not None
        ]

    def purge(self, namespace: str | None, model: str | None) -> int:
        """Remove the entries of ``namespace`` and/or ``model`` (None: any); how many."""
        return self.store.purge_tagged(namespace, model)
