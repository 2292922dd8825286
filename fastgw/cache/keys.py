"""The key of a request: what makes two requests "the same" for the exact cache and for
coalescing (``fastgw.pipeline.coalesce``).

Rules this module keeps:
- The key is xxh3-128 of the request's canonical form (the public model name in place of the
  client's ``model``, ``fastgw.cache.canonical``) within the caller's namespace: the key's
  ``cache_namespace``, else its own (``fastgw.keys.default_namespace``). Requests of two
  namespaces never share a key.
- Building the canonical form is the costly step (~2 µs: a full decode and a sorted
  encode), and a client that repeats a request usually repeats its bytes. So the xxh3-128 of
  the raw body (with the endpoint, in the same namespace) is remembered as an alias of the
  canonical key it produced: a repeat skips the canonical form. Aliases live in their own
  LRU, bounded by ``max_entries``, and only ever point at a key.
- ``repeatable`` says whether an answer is meant to repeat: ``temperature == 0`` or a ``seed``
  (or ``when = "always"``); embeddings always are.
- No I/O: bytes and Structs in, bytes out.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import xxhash

from .._core import ExactCache
from ..wire import ChatRequest, CompletionRequest, EmbeddingRequest
from .canonical import (
    cache_key,
    canonical_chat,
    canonical_completion,
    canonical_embedding,
    key_prefix,
)

Request = ChatRequest | CompletionRequest | EmbeddingRequest

_RAW_TAG: dict[type, bytes] = {
    ChatRequest: b"raw:chat\n",
    CompletionRequest: b"raw:completions\n",
    EmbeddingRequest: b"raw:embeddings\n",
}
KEY_BYTES = 16
_MAX_RAW_HEADS = 10_000  # namespaces seen; past that the prefixes are all built again

_CANONICAL: dict[type, Callable[[bytes, str], bytes]] = {
    ChatRequest: canonical_chat,
    CompletionRequest: canonical_completion,
    EmbeddingRequest: canonical_embedding,
}


def repeatable(request: Request, when: str) -> bool:
    """Whether ``request``'s answer is meant to repeat (``when``: "deterministic" or
    "always")."""
    return (
        isinstance(request, EmbeddingRequest)
        or when == "always"
        or request.temperature == 0
        or request.seed is not None
    )


#: The longest ``max-age`` read from a request (a larger one means "any age").
MAX_AGE_CAP_S = 10 * 365 * 86_400


def directives(cache_control: str) -> tuple[bool, bool, float | None]:
    """(no_cache, no_store, max_age) from a Cache-Control request header (the caller skips an
    absent or empty one: no call on the common path). Only the first KiB is read; an
    unreadable ``max-age`` is ignored."""
    no_cache = no_store = False
    max_age: float | None = None
    for token in cache_control[:1024].split(","):
        name, _, argument = token.strip().lower().partition("=")
        if name == "no-cache":
            no_cache = True
        elif name == "no-store":
            no_store = True
        elif name == "max-age":
            argument = argument.strip().strip('"')
            if argument.isdigit():
                max_age = float(min(int(argument[:12]), MAX_AGE_CAP_S))
    return no_cache, no_store, max_age


class RequestKeys:
    """Keys of requests, with the alias LRU that spares a repeat the canonical form."""

    def __init__(self, max_entries: int) -> None:
        self.aliases = ExactCache(max_entries, max_entries * KEY_BYTES)
        # per (namespace, request type): what the alias key hashes before the body
        self._raw_heads: dict[tuple[str, type], bytes] = {}

    def _raw_head(self, namespace: str, kind: type) -> bytes:
        if len(self._raw_heads) >= _MAX_RAW_HEADS:
            self._raw_heads.clear()
        head = self._raw_heads[namespace, kind] = key_prefix(namespace) + _RAW_TAG[kind]
        return head

    def key(
        self, model: str, namespace: str, request: Request, body: bytes, ttl_s: float
    ) -> bytes | None:
        """The key of ``request`` (``body`` its bytes) on the public ``model``; None when the
        body cannot be canonicalised (a number no double holds, 1e999, in a field fastgw
        does not read: the upstream judges). An alias is kept ``ttl_s``."""
        kind = type(request)
        head = self._raw_heads.get((namespace, kind))
        if head is None:
            head = self._raw_head(namespace, kind)
        raw = xxhash.xxh3_128_digest(head + body)  # = cache_key(namespace, tag + body)
        key: bytes | None = self.aliases.get(raw)
        if key is None:
            try:
                canonical = _CANONICAL[kind](body, model)
            except msgspec.DecodeError:
                return None
            key = cache_key(namespace, canonical)
            self.aliases.put(raw, key, ttl_s)
        return key
