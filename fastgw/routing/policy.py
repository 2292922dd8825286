"""The arithmetic of retries and quotas: backoff delays, per-minute windows, retry rates.

Rules this module keeps:
- No I/O, no clock and no randomness of its own: ``now`` and a ``random()`` source are given,
  so tests replay exact schedules.
- Backoff is exponential (``backoff_s * 2**n``, capped at ``backoff_max_s``) with jitter: a
  delay is drawn from ``[(1 - jitter) * d, d]``, so ``jitter = 0`` is deterministic and the
  lower bound is always known.
- A per-minute limit is a sliding window approximated by two fixed minutes: the previous
  minute's count weighted by how much of it still overlaps the last 60 s, plus this minute's.
"""

from __future__ import annotations

from collections.abc import Callable

from ..config import RetryConfig

MINUTE = 60.0


def backoff(config: RetryConfig, retry: int, random: Callable[[], float]) -> float:
    """The wait before retry number ``retry`` (0 for the first retry), in seconds."""
    delay = min(config.backoff_s * (2.0**retry), config.backoff_max_s)
    return delay * (1.0 - config.jitter * random())


class MinuteWindow:
    """Requests or tokens counted over the last minute (a sliding-window estimate)."""

    __slots__ = ("current", "limit", "previous", "start")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.start = 0.0
        self.current = 0.0
        self.previous = 0.0

    def _roll(self, now: float) -> None:
        elapsed = now - self.start
        if elapsed >= MINUTE:
            minutes = int(elapsed // MINUTE)
            self.previous = self.current if minutes == 1 else 0.0
            self.current = 0.0
            self.start += minutes * MINUTE

    def level(self, now: float) -> float:
        self._roll(now)
        overlap = 1.0 - (now - self.start) / MINUTE
        return self.previous * overlap + self.current

    def full(self, now: float) -> bool:
        return self.level(now) >= self.limit

    def add(self, now: float, amount: float = 1.0) -> None:
        self._roll(now)
        self.current += amount

    def free_in(self, now: float) -> float:
        """Seconds until the estimate drops below the limit (0 if it is already below)."""
        if not self.full(now):
            return 0.0
        if self.current >= self.limit:
            return self.start + MINUTE - now  # this minute alone is over: wait for it to end
        # previous * (1 - t/60) + current < limit  <=>  t > 60 * (1 - (limit - current)/previous)
        t = MINUTE * (1.0 - (self.limit - self.current) / self.previous)
        return max(self.start + t - now, 0.0) + 1e-3


class RateBucket:
    """At most ``rate`` events per second (a token bucket holding ``max(rate, 1)``)."""

    __slots__ = ("capacity", "level", "rate", "stamp")

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(rate, 1.0)
        self.level = self.capacity
        self.stamp = 0.0

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
            self.stamp = now

    def ready(self, now: float) -> bool:
        self._refill(now)
        return self.level >= 1.0

    def take(self, now: float) -> None:
        self._refill(now)
        self.level -= 1.0

    def ready_in(self, now: float) -> float:
        self._refill(now)
        return 0.0 if self.level >= 1.0 else (1.0 - self.level) / self.rate
