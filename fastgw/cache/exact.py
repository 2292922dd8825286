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
"""

from __future__ import annotations

from .._core import ExactCache
from ..config import CacheConfig, ModelConfig
from ..wire import ChatRequest, CompletionRequest, EmbeddingRequest, Usage
from .keys import RequestKeys, directives, repeatable

HIT, MISS, BYPASS = "hit", "miss", "bypass"


class CacheLookup:
    """What the cache does for one request: its key, whether to read and to store.
    ``outcome`` starts as ``miss`` or ``bypass`` and becomes ``hit`` when the read finds an
    answer."""

    __slots__ = ("key", "outcome", "read", "store", "ttl_s")

    def __init__(self, key: bytes, read: bool, store: bool, ttl_s: float) -> None:
        self.key = key
        self.read = read
        self.store = store
        self.ttl_s = ttl_s
        self.outcome = MISS if read else BYPASS


class ResponseCache:
    """The exact cache of one worker, shared by every model that enables it."""

    def __init__(self, config: CacheConfig) -> None:
        self.store = ExactCache(config.max_entries, config.max_bytes)
        self.keys = RequestKeys(config.max_entries)

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
        return CacheLookup(key, not no_cache, not no_store, settings.ttl_s)

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
        if lookup.store:
            self.store.put(lookup.key, value, lookup.ttl_s, usage)
