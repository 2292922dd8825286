"""Rate limits, parallel limits and budgets: admission before the upstream, settlement after.

``build_limiter(config, prices, metrics)`` returns ``None`` when no limit or budget is
configured (the pipeline then has no admit stage at all), else a ``Limiter``. A reload builds
the new config's limiter with ``previous=`` the old one: the bucket tables, parallel counters,
spend book and Redis connection (process state, ``fastgw.runtime``) carry over; the scopes
and limits are the new config's.

- ``await limiter.admit(key, team, model, request)`` (``limiter.admit_local(...)``, not
  awaited, when ``limiter.remote`` is None) → a ``Ticket`` (its ``headers`` are the
  ``x-ratelimit-*`` of the response), or raises ``RateLimited`` (429 ``requests``/``tokens``),
  ``QuotaExceeded`` (429 ``insufficient_quota``) or ``StateUnavailable`` (503, Redis down and
  failing closed). Scopes: the key, its team, the public model (``[limits.models."name"]``).
  With the local backend the scopes' ``Plan`` (its compiled ``Gate``: bucket handles, header
  parts, budget counters) is kept per (key id, model) and reused while the same key and team
  record objects are passed; an admission is then one call into the gate.
- ``limiter.settle(ticket, ex)`` once the request is over, whatever happened to it: corrects
  the token reservation to the usage, frees parallel slots, commits spend.
- ``limiter.pending``: a key's ``parallel`` limit checked on the request head, before the
  body is read (``fastgw.limits.pending``).
- ``await limiter.close()`` at worker shutdown (flushes settlements queued for Redis).

The backend is chosen once, here: ``local`` (this process) or ``redis`` (shared).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..config import Config, limits_wanted, redis_url
from ..exchange import FREE_OUTCOMES, Exchange
from ..keys import KeyRecord, TeamRecord
from ..metrics import Metrics
from ..pricing import PriceTable
from ..tokens import estimate_other
from ..wire import ChatRequest
from .local import LocalLimiter, Plan
from .pending import PendingKeys
from .periods import Periods
from .reserve import Scope, budgets, has_budget, reserve_tokens
from .spend import seed_from_usage_log
from .ticket import Ticket

log = logging.getLogger("fastgw")

__all__ = ["Limiter", "Ticket", "build_limiter"]


_MAX_PLANS = 10_000  # (key, model) plans kept; past that they are all built again


class _Cached:
    """The local plan of one (key, model), valid while the same ``key`` and ``team`` record
    objects are passed (records are frozen, and replaced whenever they change). Its gate
    prices the reservation at the upstream's price when a budget applies (else at 0)."""

    __slots__ = ("key", "plan", "team")

    def __init__(self, key: KeyRecord, team: TeamRecord | None, plan: Plan) -> None:
        self.key = key
        self.team = team
        self.plan = plan


class Limiter:
    def __init__(
        self,
        config: Config,
        prices: PriceTable,
        local: LocalLimiter,
        remote: Any = None,
        pending: PendingKeys | None = None,
    ) -> None:
        self.local = local
        self.remote = remote  # a RedisLimiter, or None
        self.pending = pending if pending is not None else PendingKeys(local.metrics)
        self.prices = prices
        self.model_limits = dict(config.limits.models)
        self.default_completion = config.limits.default_completion_tokens
        self.reserve_share = config.limits.max_reservation_share
        # the budget reservation is priced at the model's first deployment
        self.upstream = {m.name: m.deployments[0].model for m in config.models if m.deployments}
        self._plans: dict[tuple[str, str], _Cached] = {}

    def admit_local(
        self, key: KeyRecord, team: TeamRecord | None, model: str, request: Any
    ) -> Ticket:
        """``admit`` without a coroutine, for the local backend (``remote`` is None)."""
        cached = self._plans.get((key.id, model))
        if cached is None or cached.key is not key or cached.team is not team:
            cached = self._plan(key, team, model)
        gate = cached.plan.gate  # compiled: the estimate, its price and the admission
        if type(request) is ChatRequest:  # the common request, in one call
            ticket = gate.admit_chat(
                request.messages, request.max_completion_tokens, request.max_tokens, request.n
            )
        else:
            ticket = gate.admit_reserved(*reserve_tokens(request, self.default_completion))
        if ticket is None:
            return self.local.refused(cached.plan, gate.asked_tokens, gate.asked_cost)
        return ticket

    async def admit(
        self, key: KeyRecord, team: TeamRecord | None, model: str, request: Any
    ) -> Ticket:
        if self.remote is None:
            return self.admit_local(key, team, model, request)
        scopes = self._scopes(key, team, model)
        prompt, allowance = reserve_tokens(request, self.default_completion)
        estimate = 0.0
        if has_budget(scopes):
            estimate = self.prices.cost(self.upstream.get(model), prompt, allowance)
            # as the local gate does: at most reserve_share of the smallest budget
            cap = self.reserve_share * min(amount for _i, _s, amount in budgets(scopes))
            estimate = min(estimate, cap)
        ticket: Ticket = await self.remote.admit(scopes, prompt + allowance, estimate)
        return ticket

    def _scopes(self, key: KeyRecord, team: TeamRecord | None, model: str) -> list[Scope]:
        scopes: list[Scope] = [("key", key.id, key)]
        if team is not None:
            scopes.append(("team", team.id, team))
        model_limits = self.model_limits.get(model)
        if model_limits is not None:
            scopes.append(("model", model, model_limits))
        return scopes

    def _plan(self, key: KeyRecord, team: TeamRecord | None, model: str) -> _Cached:
        """Build and keep the local plan of ``key`` (with ``team``) on ``model``."""
        plan = self.local.plan(self._scopes(key, team, model))
        price = None
        if plan.gate.has_budgets:
            upstream = self.upstream.get(model)
            price = None if upstream is None else self.prices.price(upstream)
        if len(self._plans) >= _MAX_PLANS:
            self._plans.clear()
        plan.gate.set_reservation(
            self.default_completion,
            0.0 if price is None else price.input,
            0.0 if price is None else price.output,
            estimate_other,
        )
        plan.gate.set_reserve_share(self.reserve_share)
        cached = self._plans[key.id, model] = _Cached(key, team, plan)
        return cached

    def settle(self, ticket: Ticket, ex: Exchange) -> None:
        """Settle ``ticket`` with what the finished request ``ex`` used: a cache hit (or a
        coalesced request: another one made the call) used no upstream tokens and cost nothing
        (it still counted as a request); an answer with usage settles to that usage and its
        price (a relayed stream always has one: the upstream's, which the gateway asks for,
        or the tokens counted from the text relayed); a stream
        relayed with no usage at all keeps its reservation and is charged it (at most the
        reservation share of a budget); anything else (refused, failed before an answer) used
        nothing."""
        if ex.cache in FREE_OUTCOMES:
            tokens, cost = 0, 0.0
        elif ex.prompt_tokens is not None:
            tokens, cost = ex.prompt_tokens + (ex.completion_tokens or 0), ex.cost_usd or 0.0
        elif ex.stream and ex.ttft is not None:
            tokens, cost = ticket.tokens, ticket.estimated_cost
            if ex.cost_usd is None and cost:
                ex.cost_usd = cost  # charged its estimate
        else:
            tokens, cost = 0, 0.0
        if self.remote is None:
            self.local.settle_now(ticket, tokens, cost)
        else:
            self.remote.settle(ticket, tokens, cost)

    async def close(self) -> None:
        if self.remote is not None:
            await self.remote.close()


def build_limiter(
    config: Config, prices: PriceTable, metrics: Metrics, previous: Limiter | None = None
) -> Limiter | None:
    """The limiter of one worker, or None when nothing is limited (see ``limits_wanted``).
    ``previous``: the limiter of the config this one replaces (a reload), whose tables and
    counters it keeps when the backend is the same."""
    if not limits_wanted(config):
        return None
    if previous is not None and (previous.remote is None) == (config.state.backend != "redis"):
        return Limiter(config, prices, previous.local, previous.remote, previous.pending)
    periods = Periods(config.limits.timezone)
    local = LocalLimiter(periods, metrics)
    if config.state.backend == "redis":
        from .redis_backend import RedisLimiter  # the redis package only when it is used

        remote = RedisLimiter(config.state, redis_url(config.state), local, periods, metrics)
        return Limiter(config, prices, local, remote)
    rows = seed_from_usage_log(
        local.book,
        config.storage.sqlite_path,
        periods.current(time.time()),
        ("key", "team", "model"),
    )
    if rows:
        log.info("budgets: current spend seeded from %d usage groups", rows)
    return Limiter(config, prices, local)
