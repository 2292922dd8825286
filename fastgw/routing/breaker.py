"""The circuit breaker of one deployment: closed, open, half-open.

Rules this module keeps:
- No I/O and no clock of its own: every call is given ``now`` (monotonic seconds).
- Closed: requests flow. It opens after ``failures`` consecutive failures, or when the share
  of failures in the current window of ``window_s`` reaches ``error_ratio`` once the window
  saw ``min_requests`` results.
- Open: no requests until ``cooldown_s`` passed; then half-open. A failure reported while
  open (an active health check) restarts the cool-down; ``opens`` counts transitions only.
- Half-open: exactly one probe request is let through; its success closes the circuit, its
  failure opens it for another cool-down. A probe that ends without a result (the client
  went away) gives the turn back with ``release``.
"""

from __future__ import annotations

from ..config import CircuitConfig

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    __slots__ = (
        "_probing",
        "config",
        "consecutive",
        "opened_at",
        "opens",
        "state",
        "window_failures",
        "window_start",
        "window_total",
    )

    def __init__(self, config: CircuitConfig) -> None:
        self.config = config
        self.state = CLOSED
        self.consecutive = 0
        self.opened_at = 0.0
        self.opens = 0  # how many times it opened (for /metrics)
        self.window_start = 0.0
        self.window_total = 0
        self.window_failures = 0
        self._probing = False

    def available(self, now: float) -> bool:
        """Whether a request may be sent now (without claiming the half-open probe)."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN:
            return now - self.opened_at >= self.config.cooldown_s
        return not self._probing

    def acquire(self, now: float) -> bool:
        """Claim the right to send one request now; a half-open circuit gives it once."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN:
            if now - self.opened_at < self.config.cooldown_s:
                return False
            self.state = HALF_OPEN
            self._probing = False
        if self._probing:
            return False
        self._probing = True
        return True

    def release(self) -> None:
        """A claimed probe ended without a result: let the next request probe."""
        self._probing = False

    def success(self, now: float) -> None:
        if self.state != CLOSED:
            self.state = CLOSED
            self._probing = False
            self._new_window(now)
        self.consecutive = 0
        self._count(now, False)

    def failure(self, now: float) -> None:
        if self.state != CLOSED:  # the probe failed (or a late result after opening)
            self._open(now)
            return
        self.consecutive += 1
        self._count(now, True)
        config = self.config
        if self.consecutive >= config.failures or (
            config.error_ratio is not None
            and self.window_total >= config.min_requests
            and self.window_failures >= config.error_ratio * self.window_total
        ):
            self._open(now)

    def retry_in(self, now: float) -> float:
        """Seconds until the circuit lets a probe through (0 when it would now)."""
        if self.state != OPEN:
            return 0.0
        return max(self.opened_at + self.config.cooldown_s - now, 0.0)

    def _open(self, now: float) -> None:
        if self.state != OPEN:  # a failure while open (a health check) only restarts the wait
            self.opens += 1
        self.state = OPEN
        self.opened_at = now
        self._probing = False
        self.consecutive = 0
        self._new_window(now)

    def _count(self, now: float, failed: bool) -> None:
        if now - self.window_start >= self.config.window_s:
            self._new_window(now)
        self.window_total += 1
        if failed:
            self.window_failures += 1

    def _new_window(self, now: float) -> None:
        self.window_start = now
        self.window_total = 0
        self.window_failures = 0
