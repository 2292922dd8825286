"""Each worker's view of the key store: the ring follows the SQLite rows within a quarter second.

Rules kept here:
- The request path stays a dict lookup (``KeyRing``); SQLite is read only by the refresher
  timer and on an auth miss.
- The refresher runs every ``REFRESH_INTERVAL_S`` on the worker's loop: one indexed read of
  ``meta.version`` when nothing changed (a few microseconds), and the changed rows when
  something did. A disabled, expired, changed or deleted key is thus refused by every worker
  within ``REFRESH_INTERVAL_S`` of its write (expiry needs no refresh: it is checked per
  request).
- An auth miss (a digest the ring does not hold) looks the digest up in SQLite (an indexed
  read, ~10 µs) so that a key created on another worker works at once. A flood of bad keys
  is bounded twice: digests found missing are remembered until the store's version changes
  (at most ``NEGATIVE_MAX`` of them), and at most ``MISS_LOOKUPS_PER_S`` lookups run per
  second per worker; past that a miss is refused without a lookup, and a new key still
  arrives with the next refresh.
- Keys and teams from the TOML win: the store cannot replace or remove them.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time

from ..keys import KeyRecord, KeyRing
from .keystore import KeyStore, StoredKey, StoredTeam

REFRESH_INTERVAL_S = 0.25
MISS_LOOKUPS_PER_S = 1000
NEGATIVE_MAX = 10_000

log = logging.getLogger("fastgw")


class KeyRefresher:
    def __init__(
        self,
        store: KeyStore,
        ring: KeyRing,
        loop: asyncio.AbstractEventLoop,
        interval_s: float = REFRESH_INTERVAL_S,
    ) -> None:
        self.store = store
        self.ring = ring
        self._loop = loop
        self._interval_s = interval_s
        self._config_digests = ring.digests()
        self._config_teams = frozenset(ring.teams)
        self._digests: dict[str, bytes] = {}  # store key id -> its digest in the ring
        self._version = 0
        self._misses: set[bytes] = set()
        self._lookups = float(MISS_LOOKUPS_PER_S)  # a token bucket of auth-miss lookups
        self._lookups_at = time.monotonic()
        self.lookups_refused = 0
        self.refresh()
        ring.on_miss = self.lookup
        self._timer: asyncio.TimerHandle | None = loop.call_later(interval_s, self._tick)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.ring.on_miss = None

    def refresh(self) -> bool:
        """Apply every row written since the last refresh; whether anything had changed."""
        version = self.store.version()
        if version == self._version:
            return False
        keys, teams = self.store.changes(self._version)
        for key in keys:
            self._apply_key(key)
        for team in teams:
            self._apply_team(team)
        self._version = max(version, *(k.stored.version for k in keys), 0)
        self._misses.clear()
        return True

    def lookup(self, digest: bytes) -> KeyRecord | None:
        """The ring's ``on_miss``: a key the store holds but this worker has not seen yet."""
        if digest in self._misses:
            return None
        now = time.monotonic()
        self._lookups = min(
            float(MISS_LOOKUPS_PER_S),
            self._lookups + (now - self._lookups_at) * MISS_LOOKUPS_PER_S,
        )
        self._lookups_at = now
        if self._lookups < 1.0:
            self.lookups_refused += 1
            return None
        self._lookups -= 1.0
        stored = self.store.find_digest(digest)
        if stored is None or digest in self._config_digests:
            if len(self._misses) >= NEGATIVE_MAX:
                self._misses.clear()
            self._misses.add(digest)
            return None
        self._apply_key(stored)
        return stored.record

    def _tick(self) -> None:
        try:
            self.refresh()
        except sqlite3.Error as exc:  # a busy or damaged file: keep the last view, say so
            log.warning("key store refresh failed (%s); retrying", exc)
        self._timer = self._loop.call_later(self._interval_s, self._tick)

    def _apply_key(self, stored: StoredKey) -> None:
        record = stored.record
        old = self._digests.pop(record.id, None)
        if old is not None:
            self.ring.discard(old)
        if stored.stored.deleted or record.digest in self._config_digests:
            return
        self.ring.put(record)
        self._digests[record.id] = record.digest

    def _apply_team(self, stored: StoredTeam) -> None:
        team_id = stored.record.id
        if team_id in self._config_teams:
            return
        if stored.stored.deleted:
            self.ring.teams.pop(team_id, None)
        else:
            self.ring.teams[team_id] = stored.record
