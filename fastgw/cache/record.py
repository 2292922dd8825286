"""What the caches share: one record per stored answer, one purge, their Redis names and bytes.

Sans-IO (no asyncio, no sockets): ``fastgw.cache.shared`` moves these bytes through Redis and
``fastgw.cache.persist`` through SQLite.

Rules this module keeps:
- A ``CacheRecord`` is self-contained: ``kind`` says which cache it belongs to (``"exact"``
  here; ``"semantic"`` for the semantic cache), ``key`` is that cache's own key (16 bytes for
  the exact cache), ``value`` the answer, ``expires_at`` the wall-clock (Unix) second it
  expires (monotonic clocks differ between hosts), ``namespace`` and ``model`` whose answer
  it is (what an admin purge matches), ``meta`` opaque bytes the kind's owner reads (the exact
  cache: its usage, msgpack). The record never grows a field only one kind reads: that
  goes in ``meta``.
- Encoded as msgpack arrays (``array_like``): field names are not repeated in every entry.
- A ``Purge`` names a namespace, a model, both, or neither (everything), for every kind.
- Redis names, under ``[state] prefix`` + ``[cache] redis_prefix`` (``fastgw:cache:``):
  ``<base>e:<kind>:<h(namespace)>:<h(model)>:<key hex>`` for an entry (a string holding the
  encoded record, with the entry's TTL), ``<base>feed`` for the stream of announcements.
  ``h`` is the xxh3-64 hex of the name, so a purge finds its keys with ``SCAN MATCH`` and no
  client string is ever a glob pattern.
- A kind is 1-32 characters of ``[a-z0-9_]`` (it is part of a key name and a pattern).
"""

from __future__ import annotations

import re
import time

import msgspec
import xxhash

EXACT = "exact"
_KIND_RE = re.compile(r"^[a-z0-9_]{1,32}$")


class CacheRecord(msgspec.Struct, frozen=True, array_like=True):
    """One cached answer as the workers, instances and the disk copy share it."""

    kind: str
    key: bytes
    value: bytes
    expires_at: float  # Unix seconds (time.time() clock)
    namespace: str
    model: str
    meta: bytes | None = None

    def ttl_s(self, now: float | None = None) -> float:
        """Seconds left before it expires (0 or less: expired)."""
        return self.expires_at - (time.time() if now is None else now)


class Purge(msgspec.Struct, frozen=True, array_like=True):
    """Remove the entries of ``namespace`` and/or ``model`` (None: any) of every kind."""

    namespace: str | None = None
    model: str | None = None

    def matches(self, namespace: str, model: str) -> bool:
        return (self.namespace is None or self.namespace == namespace) and (
            self.model is None or self.model == model
        )


_encoder = msgspec.msgpack.Encoder()
_record_decoder = msgspec.msgpack.Decoder(CacheRecord)
_purge_decoder = msgspec.msgpack.Decoder(Purge)


def encode(item: CacheRecord | Purge) -> bytes:
    return _encoder.encode(item)


def decode_record(data: bytes) -> CacheRecord:
    """``msgspec.DecodeError`` (a ``ValueError``) for bytes that are not a record."""
    return _record_decoder.decode(data)


def decode_purge(data: bytes) -> Purge:
    return _purge_decoder.decode(data)


def check_kind(kind: str) -> str:
    """``kind`` if it can name a cache, else ``ValueError``."""
    if not _KIND_RE.match(kind):
        raise ValueError(f"cache kind {kind!r} must be 1-32 characters of [a-z0-9_]")
    return kind


def name_hash(name: str) -> str:
    return xxhash.xxh3_64_hexdigest(name.encode())


def entry_key(base: str, record: CacheRecord) -> str:
    """The Redis key of ``record`` (``base``: the cache's Redis prefix)."""
    ns, model = name_hash(record.namespace), name_hash(record.model)
    return f"{base}e:{record.kind}:{ns}:{model}:{record.key.hex()}"


def entry_pattern(base: str, purge: Purge | None = None) -> str:
    """The ``SCAN MATCH`` pattern of every entry (``purge`` None) or of those it names."""
    ns = "*" if purge is None or purge.namespace is None else name_hash(purge.namespace)
    model = "*" if purge is None or purge.model is None else name_hash(purge.model)
    return f"{base}e:*:{ns}:{model}:*"


def feed_key(base: str) -> str:
    return f"{base}feed"
