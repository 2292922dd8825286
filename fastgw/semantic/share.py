"""Semantic entries as cache records: what crosses workers and instances (the Redis cache
feed, ``fastgw.cache.shared``) and restarts (the disk copy, ``fastgw.cache.persist``).

Rules this module keeps:
- A record carries the answer (``value``), its namespace and model, its expiry, and in
  ``meta`` the partition, the embedded text, when it was stored and its usage: never the
  vectors. The receiving worker embeds the text again with its own fast model (a fraction
  of a millisecond), so a record is small and never depends on another process's model
  build; the partition carries the embedder's identity, so a worker with another embedder
  never finds the entry.
- A record from elsewhere is checked before use (``made``): its kind, a 16-byte partition,
  a bounded text, a future expiry; anything else is dropped.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
import xxhash

from ..cache.record import CacheRecord
from ..config.semantic import MAX_CHARS
from ..wire import Usage
from .service import Made

SEMANTIC = "semantic"


class _Meta(msgspec.Struct, array_like=True, frozen=True):
    partition: bytes
    text: str
    created_at: float
    usage: Usage | None = None


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_Meta)


def record(entry: Any) -> CacheRecord:
    """The record of an entry (a ``fastgw.semantic.index.Entry`` or a ``Made``)."""
    key = xxhash.xxh3_128_digest(entry.partition + entry.text.encode())
    meta = _encoder.encode(_Meta(entry.partition, entry.text, entry.created_at, entry.usage))
    return CacheRecord(
        SEMANTIC, key, entry.body, entry.expires_at, entry.namespace, entry.model, meta
    )


def made(found: CacheRecord) -> Made | None:
    """The entry a record from elsewhere describes, or None if it is not a usable one."""
    if found.kind != SEMANTIC or found.meta is None or found.expires_at <= time.time():
        return None
    try:
        meta = _decoder.decode(found.meta)
    except msgspec.DecodeError:
        return None
    if len(meta.partition) != 16 or not 0 < len(meta.text) <= MAX_CHARS:
        return None
    return Made(
        meta.partition,
        meta.text,
        found.value,
        meta.usage,
        meta.created_at,
        found.expires_at,
        found.namespace,
        found.model,
    )
