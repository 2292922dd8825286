"""A key's ``parallel`` limit checked on its request head, before the body is read.

The admission (``Limiter.admit``) needs the body (its model and tokens), so on its own it
would let a key limited to N requests in flight open thousands of connections that send a
head and then stall their body: none of them is admitted yet, none is counted. So each
worker also counts a limited key's requests from their head to their finish
(``PendingKeys``): the request past the key's ``parallel`` is refused with 429 before its
body is read, and the count is given back in the account stage
(``fastgw.pipeline.account``), which runs once for every request whatever happened to it
(``Exchange.pending_key`` says what to give back).

This count is this worker's share: with several workers or the Redis backend the admission
still enforces the limit across them; here it only bounds what one worker holds. Costs: a
key without ``parallel`` pays one attribute test; a limited key ~0.35 µs (``enter`` and
``leave``, measured with timeit).
"""

from __future__ import annotations

from ..errors import RateLimited
from ..exchange import Exchange
from ..keys import KeyRecord
from ..metrics import Metrics
from .reserve import parallel_message


class PendingKeys:
    """The requests of each parallel-limited key this worker is handling (head to finish)."""

    __slots__ = ("counts", "metrics")

    def __init__(self, metrics: Metrics) -> None:
        self.counts: dict[str, int] = {}
        self.metrics = metrics

    def enter(self, key: KeyRecord, limit: int, ex: Exchange) -> None:
        """Count ``ex`` against ``key`` (whose ``parallel`` is ``limit``) or raise
        ``RateLimited`` if the key already has ``limit`` requests here."""
        counts = self.counts
        held = counts.get(key.id, 0)
        if held >= limit:
            self.metrics.refused("key", "parallel")
            raise RateLimited(
                parallel_message("key", key.id, limit),
                "requests",
                headers=[("retry-after", "1")],
            )
        counts[key.id] = held + 1
        ex.pending_key = key.id

    def leave(self, key_id: str) -> None:
        """Give back one request of ``key_id`` (its ``enter`` succeeded)."""
        counts = self.counts
        held = counts[key_id] - 1
        if held:
            counts[key_id] = held
        else:
            del counts[key_id]  # no entry kept for a key with nothing in flight
