"""The exact-match response cache as the gateway uses it: which requests, which key, when
to store.

Rules this module keeps:
- A model without ``[models.cache]`` (or with ``enabled = false``) has no cache stage in its
  pipeline (``fastgw.pipeline``): no canonical form is built and no header is added, so a
  disabled cache costs nothing.
- Cacheable by default only when the answer is meant to repeat: ``temperature == 0`` or a
  ``seed`` (``when = "always"`` caches every request); embeddings are always cacheable.
- The key is xxh3-128 of the request's canonical form (the public model name in place of the
  client's ``model``) within the caller's namespace: the key's ``cache_namespace``, else its
  own (``fastgw.keys.default_namespace``: its id and digest, so an id deleted and created
  again starts empty). One tenant's answer never reaches another unless the config gives
  them one namespace; no key can name another's own namespace (its prefix is reserved).
- Building the canonical form is the costly step (~2 µs: a full decode and a sorted
  encode), and a client that repeats a request usually repeats its bytes. So the xxh3-128 of
  the raw body (with the endpoint, in the same namespace) is remembered as an alias of the
  canonical key it produced: a repeat skips the canonical form. Aliases live in their own
  LRU, bounded like the cache, and only ever point at a key; the entry itself is still
  looked up, so an alias never outlives or widens what the cache holds.
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
import xxhash

from .._core import ExactCache
from ..config import CacheConfig, ModelConfig
from ..wire import ChatRequest, CompletionRequest, EmbeddingRequest, Usage
from .canonical import (
    cache_key,
    canonical_chat,
    canonical_completion,
    canonical_embedding,
    key_prefix,
)
from .record import EXACT, CacheRecord

HIT, MISS, BYPASS = "hit", "miss", "bypass"

_RAW_TAG: dict[type, bytes] = {
    ChatRequest: b"raw:chat\n",
    CompletionRequest: b"raw:completions\n",
    EmbeddingRequest: b"raw:embeddings\n",
}
_KEY_BYTES = 16
_MAX_RAW_HEADS = 10_000  # namespaces seen; past that the prefixes are all built again

_usage_encoder = msgspec.msgpack.Encoder()
_usage_decoder = msgspec.msgpack.Decoder(Usage)

_CANONICAL: dict[type, Callable[[bytes, str], bytes]] = {
    ChatRequest: canonical_chat,
    CompletionRequest: canonical_completion,
    EmbeddingRequest: canonical_embedding,
}


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


def _directives(cache_control: str) -> tuple[bool, bool]:
    """(no_cache, no_store) from a Cache-Control request header (the caller skips an absent
    or empty one: no call on the common path)."""
    tokens = {t.strip().lower() for t in cache_control.split(",")}
    return "no-cache" in tokens, "no-store" in tokens


class ResponseCache:
    """The exact cache of one worker, shared by every model that enables it."""

    def __init__(self, config: CacheConfig) -> None:
        self.store = ExactCache(config.max_entries, config.max_bytes)
        self.aliases = ExactCache(config.max_entries, config.max_entries * _KEY_BYTES)
        # per (namespace, request type): what the alias key hashes before the body
        self._raw_heads: dict[tuple[str, type], bytes] = {}
        # the cache feed's publish (fastgw.cache.shared), when answers are shared
        self.publish: Callable[[CacheRecord], bool] | None = None

    def _raw_head(self, namespace: str, kind: type) -> bytes:
        if len(self._raw_heads) >= _MAX_RAW_HEADS:
            self._raw_heads.clear()
        head = self._raw_heads[namespace, kind] = key_prefix(namespace) + _RAW_TAG[kind]
        return head

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
        if not (
            isinstance(request, EmbeddingRequest)
            or settings.when == "always"
            or request.temperature == 0
            or request.seed is not None
        ):
            return CacheLookup(b"", False, False, 0.0)
        no_cache, no_store = _directives(cache_control) if cache_control else (False, False)
        kind = type(request)
        head = self._raw_heads.get((namespace, kind))
        if head is None:
            head = self._raw_head(namespace, kind)
        raw = xxhash.xxh3_128_digest(head + body)  # = cache_key(namespace, tag + body)
        key = self.aliases.get(raw)
        if key is None:
            try:
                canonical = _CANONICAL[kind](body, model.name)
            except msgspec.DecodeError:  # a number no double holds (1e999) in a field fastgw
                return CacheLookup(b"", False, False, 0.0)  # does not read: the upstream judges
            key = cache_key(namespace, canonical)
            self.aliases.put(raw, key, settings.ttl_s)
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
