"""The account stage: once per request, whatever happened to it, after its response.

``Account(ex)`` runs its steps in order: give back the key's parallel slot (first, so nothing
skips it), price the answer, settle the limiter's ticket, observe the metrics (one call), write
the usage row and the access line. Pricing and the metrics always run; a step whose feature is
off (no limits, no usage log, no access log) is not in its tuple. Everything is read from
the exchange, whose status the response seam (``fastgw.respond``) set: the response, the
usage row and the access line agree.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..accesslog import AccessLine, AccessLog
from ..config import ModelConfig
from ..exchange import Exchange
from ..limits import Limiter
from ..metrics import Metrics
from ..pricing import PriceTable
from ..records.usage import UsageLog

Step = Callable[[Exchange, float], None]


class Account:
    def __init__(
        self,
        models: dict[str, ModelConfig],
        prices: PriceTable,
        limiter: Limiter | None,
        metrics: Metrics,
        usage: UsageLog | None,
        access: AccessLog | None,
    ) -> None:
        self.models = models
        self.prices = prices
        self.metrics = metrics
        # optional steps around the two that always run (price, then observe), in order:
        # leave (first: nothing skips it), price, settle, observe, record, access
        first: list[Step] = []
        settle: list[Step] = []
        last: list[Step] = []
        if limiter is not None:
            self.leave = limiter.pending.leave
            self.settle = limiter.settle
            first.append(self._leave)
            settle.append(self._settle)
        if usage is not None:
            last.append(usage.record)  # (ex, elapsed): called as it is
        if access is not None:
            self.write = access.write
            last.append(self._access)
        self.first, self.then, self.last = tuple(first), tuple(settle), tuple(last)
        self.names = tuple(
            step.__name__.lstrip("_")
            for step in (*first, self._cost, *settle, self._observe, *last)
        )  # ("leave", "cost", "settle", "observe", "record", "access") with everything on

    def __call__(self, ex: Exchange) -> None:
        elapsed = time.perf_counter() - ex.start
        for step in self.first:
            step(ex, elapsed)
        self._cost(ex, elapsed)
        for step in self.then:
            step(ex, elapsed)
        self._observe(ex, elapsed)
        for step in self.last:
            step(ex, elapsed)

    def _leave(self, ex: Exchange, elapsed: float) -> None:
        if ex.pending_key is not None:
            self.leave(ex.pending_key)

    def _cost(self, ex: Exchange, elapsed: float) -> None:
        if ex.prompt_tokens is not None:
            ex.cost_usd = (
                0.0
                if ex.cache == "hit" or ex.cache == "coalesced"  # answered without a call
                else self.prices.cost(
                    ex.deployment, ex.prompt_tokens, ex.completion_tokens or 0, ex.cached_tokens
                )
            )

    def _settle(self, ex: Exchange, elapsed: float) -> None:
        if ex.ticket is not None:
            self.settle(ex.ticket, ex)

    def _observe(self, ex: Exchange, elapsed: float) -> None:
        """The metrics of one request: the only place they are recorded."""
        # only configured names become metric labels: a client cannot mint new series
        model = ex.model if ex.model in self.models else ""
        self.metrics.observe_request(ex, model, elapsed)

    def _access(self, ex: Exchange, elapsed: float) -> None:
        ttft = ex.ttft
        self.write(
            AccessLine(  # positional (the field order of AccessLine): cheaper per request
                time.time(),
                ex.request_id,
                ex.method,
                ex.path,
                ex.status,
                int(elapsed * 1e6 + 0.5) / 1000,  # to the µs: round(x, 3) costs ~3x
                ex.key_id,
                ex.model,
                ex.deployment,
                ex.provider,
                ex.stream,
                None if ttft is None else int(ttft * 1e6 + 0.5) / 1000,
                ex.prompt_tokens,
                ex.completion_tokens,
                ex.cache,
                ex.error,
                ex.team_id,
                ex.cost_usd,
                ex.attempts,
            )
        )
