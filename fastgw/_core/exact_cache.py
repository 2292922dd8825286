"""Exact response cache: LRU of response bytes under 16-byte digests, with a TTL per entry.

Rules this module keeps:
- No I/O, no locks: one cache per worker, used from its event loop. Keys are the 16-byte
  digests of ``fastgw.cache.canonical.cache_key``; values are response bytes, stored and
  returned as the same object, never copied.
- Two bounds hold after every ``put``: at most ``max_entries`` entries and at most
  ``max_bytes`` bytes of values. Least recently used entries are removed until both hold; a
  value longer than ``max_bytes`` is not stored at all. Only value lengths are counted, not
  the per-entry overhead (key, node, dict slot: about 200 bytes) nor the optional ``meta``
  object an entry carries beside its value.
- A hit and a ``put`` make an entry the most recent. An entry is expired from the moment the
  clock reaches ``put`` time + ``ttl_s``; an expired entry is a miss and is removed when met
  (``get``, eviction, ``purge_expired``). Nothing is swept in the background.
- An entry may carry a ``tag``: a ``(namespace, model)`` pair of strings naming whose answer
  it is, so ``purge_tagged`` can remove one tenant's or one model's entries (a full scan, for
  the admin API) and ``snapshot`` can hand them to a disk or Redis copy.
- Counters only ever grow (``clear`` keeps them): ``hits``, ``misses`` (expired ones too),
  ``evictions`` (removed to fit the bounds while still live), ``expirations``.
- Structure: a dict from key to node, and the nodes in a ring through a sentinel, most recent
  first. In the compiled twin the nodes are a cdef class, so a move to the front is a few
  pointer assignments. The default clock is ``time.monotonic`` here and ``CLOCK_MONOTONIC``
  read directly in the compiled twin (the same clock on Linux).

Compiled by Cython as ``fastgw._core.exact_cache_c`` with ``exact_cache_c.pxd`` beside it.
"""

import time
from collections.abc import Callable
from typing import Any

try:
    import cython
except ImportError:  # Cython builds the core; the pure twin runs without it (see the shim)
    from . import _cython_shim as cython  # type: ignore[no-redef]

if cython.compiled:
    from cython.cimports.posix.time import CLOCK_MONOTONIC, clock_gettime, timespec

_KEY_SIZE = cython.declare(cython.Py_ssize_t, 16)


def _monotonic() -> float:
    """Seconds from the monotonic clock."""
    if cython.compiled:
        ts = cython.declare(timespec)
        clock_gettime(CLOCK_MONOTONIC, cython.address(ts))
        return ts.tv_sec + ts.tv_nsec * 1e-9
    else:
        return time.monotonic()


class _Entry:
    """One cached value and its place in the recency ring."""

    __slots__ = ("expires", "key", "newer", "older", "pair", "tag", "value")

    def __init__(self, key: bytes, value: bytes, expires: float) -> None:
        self.key = key
        self.value = value
        self.pair = (value, None)
        self.tag = None
        self.expires = expires
        self.newer = self
        self.older = self


class ExactCache:
    """LRU cache of response bytes, bounded by entry count and by total value bytes.

    ``max_entries`` and ``max_bytes`` must be at least 1 (``ValueError`` otherwise).
    ``clock`` returns seconds as a float from a monotonic source; ``None`` (the default) uses
    the process monotonic clock. Exceptions from ``clock`` propagate.
    """

    def __init__(
        self, max_entries: int, max_bytes: int, clock: Callable[[], float] | None = None
    ) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("max_entries and max_bytes must be at least 1")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._clock = clock
        self._map: dict[bytes, _Entry] = {}
        # The sentinel: walking ``.older`` from it visits entries from most to least recent,
        # so ``_root.older`` is the most recent entry and ``_root.newer`` the least recent.
        self._root = _Entry(b"", b"", 0.0)
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.expirations = 0
        self.total_bytes = 0

    def __len__(self) -> int:
        return len(self._map)

    @property
    def entries(self) -> int:
        """Entries stored now, expired ones not yet met included."""
        return len(self._map)

    def get(self, key: bytes) -> bytes | None:
        """The value stored under ``key`` and not expired, or ``None``.

        A hit makes the entry the most recent; an expired entry is removed.
        """
        entry: _Entry = self._find(key)
        return None if entry is None else entry.value

    def get_with_meta(self, key: bytes) -> tuple[bytes, Any] | None:
        """``(value, meta)`` of the entry under ``key`` (``meta`` as given to ``put``), or
        ``None``; a lookup exactly as ``get`` (the pair is the entry's own: no allocation)."""
        entry: _Entry = self._find(key)
        return None if entry is None else entry.pair

    def _find(self, key: bytes) -> _Entry | None:
        """The live entry under ``key``, made the most recent, with hits and misses counted."""
        entry: _Entry = self._map.get(key)
        if entry is None:
            self.misses += 1
            return None
        if self._now() >= entry.expires:
            self._drop(entry)
            self.expirations += 1
            self.misses += 1
            return None
        root: _Entry = self._root
        if root.older is not entry:
            entry.newer.older = entry.older
            entry.older.newer = entry.newer
            self._link_front(entry)
        self.hits += 1
        return entry

    def put(
        self,
        key: bytes,
        value: bytes,
        ttl_s: float,
        meta: Any = None,
        tag: Any = None,  # (namespace, model) or None; typed in exact_cache.pyi
    ) -> bool:
        """Store ``value`` under ``key`` for ``ttl_s`` seconds (``math.inf``: no expiry) as
        the most recent entry, replacing any entry under ``key``; return whether it was
        stored. ``meta`` rides along, uncounted (``get_with_meta``): what the caller would
        otherwise derive from the value on every hit. ``tag``: ``(namespace, model)``, for
        ``purge_tagged`` and ``snapshot``.

        A value longer than ``max_bytes`` is not stored, and any entry under ``key`` is
        removed all the same (it is no longer the latest answer). Least recent entries are
        then evicted until both bounds hold. ``ValueError`` if ``key`` is not 16 bytes long or
        ``ttl_s`` is not positive.
        """
        if len(key) != _KEY_SIZE:
            raise ValueError("key must be a 16-byte digest")
        if not ttl_s > 0.0:
            raise ValueError("ttl_s must be positive")
        now: cython.double = self._now()
        old: _Entry = self._map.get(key)
        if old is not None:
            self._drop(old)
        size: cython.Py_ssize_t = len(value)
        if size > self.max_bytes:
            return False
        entry: _Entry = _Entry.__new__(_Entry)
        entry.key = key
        entry.value = value
        entry.pair = (value, meta)
        entry.tag = tag
        entry.expires = now + ttl_s
        self._link_front(entry)
        self._map[key] = entry
        self.total_bytes += size
        while len(self._map) > self.max_entries or self.total_bytes > self.max_bytes:
            lru: _Entry = self._root.newer
            self._drop(lru)
            if now >= lru.expires:
                self.expirations += 1
            else:
                self.evictions += 1
        return True

    def delete(self, key: bytes) -> bool:
        """Remove the entry under ``key``; return whether there was one. Counts nothing."""
        entry: _Entry = self._map.get(key)
        if entry is None:
            return False
        self._drop(entry)
        return True

    def clear(self) -> None:
        """Remove every entry. The counters are kept."""
        root: _Entry = self._root
        entry: _Entry = root.older
        while entry is not root:
            following: _Entry = entry.older
            entry.newer = entry.older = None  # break the ring so nothing waits for the GC
            entry = following
        root.newer = root.older = root
        self._map.clear()
        self.total_bytes = 0

    def purge_expired(self) -> int:
        """Remove every expired entry (a full scan, for periodic housekeeping off the request
        path); return how many were removed. Each counts as an expiration."""
        now: cython.double = self._now()
        root: _Entry = self._root
        entry: _Entry = root.newer
        removed: cython.Py_ssize_t = 0
        while entry is not root:
            newer: _Entry = entry.newer
            if now >= entry.expires:
                self._drop(entry)
                removed += 1
            entry = newer
        self.expirations += removed
        return removed

    def purge_tagged(self, namespace: str | None, model: str | None) -> int:
        """Remove every entry whose tag matches: its namespace is ``namespace`` (any when
        None) and its model is ``model`` (any when None); both None removes every tagged
        entry. Untagged entries stay. Returns how many were removed; counts nothing else."""
        root: _Entry = self._root
        entry: _Entry = root.newer
        removed: cython.Py_ssize_t = 0
        while entry is not root:
            newer: _Entry = entry.newer
            tag: tuple[str, str] | None = entry.tag
            if (
                tag is not None
                and (namespace is None or tag[0] == namespace)
                and (model is None or tag[1] == model)
            ):
                self._drop(entry)
                removed += 1
            entry = newer
        return removed

    def snapshot(self) -> list[tuple[bytes, bytes, float, Any, tuple[str, str] | None]]:
        """``(key, value, seconds left, meta, tag)`` of every live entry, least recent first
        (put back in this order, they keep their recency). Changes nothing."""
        now: cython.double = self._now()
        root: _Entry = self._root
        entry: _Entry = root.newer
        out: list[tuple[bytes, bytes, float, Any, tuple[str, str] | None]] = []
        while entry is not root:
            if now < entry.expires:
                out.append((entry.key, entry.value, entry.expires - now, entry.pair[1], entry.tag))
            entry = entry.newer
        return out

    def _now(self) -> float:
        if self._clock is None:
            return _monotonic()
        return self._clock()

    def _link_front(self, entry: _Entry) -> None:
        """Insert an unlinked ``entry`` as the most recent."""
        root: _Entry = self._root
        first: _Entry = root.older
        entry.newer = root
        entry.older = first
        first.newer = entry
        root.older = entry

    def _drop(self, entry: _Entry) -> None:
        """Unlink a stored ``entry`` and forget it."""
        entry.newer.older = entry.older
        entry.older.newer = entry.newer
        del self._map[entry.key]
        self.total_bytes -= len(entry.value)
