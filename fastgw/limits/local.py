"""Limits kept in this process: token buckets, parallel counters and spend.

Rules this module keeps:
- No I/O and no awaiting inside an admission, so each one is atomic on the worker's loop:
  every check (budgets, then request and token buckets, then parallel counters) passes before
  anything is kept; a failing check gives back what the earlier ones took.
- Limits are read from the records an admission plan is built from (a key's rpm may be
  changed at run time by the admin API, which replaces the record, so ``Limiter`` builds a
  new plan): a scope's bucket is reconfigured when its rpm or tpm differs from what it was
  built with. A plan's budget counters are those of its period, renamed when the day changes.
- A bucket holds one minute's allowance: ``rpm`` requests (``tpm`` tokens) at most, refilled
  continuously at ``rpm / 60`` per second; so a burst can use a whole minute's allowance at
  once, and no 60-second window ever admits more than twice the limit.
- Only one process may enforce a limit this way: config validation refuses a local backend
  with several workers when limits are set (use ``[state] backend = "redis"``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NoReturn

from .._core import ParallelCounter, TokenBucketTable
from ..errors import QuotaExceeded, RateLimited
from ..metrics import Metrics
from .headers import format_reset, rate_headers, retry_after
from .periods import Period, Periods, reset_text
from .plan import Scope, budget_message, parallel_message, rate_message
from .spend import Spend, SpendBook, spend_name
from .ticket import Ticket


class _Entry:
    """One scope's buckets: the limits they were built with and their handles (-1: none)."""

    __slots__ = ("name", "par", "req", "rpm", "tok", "tpm")

    def __init__(self, name: str) -> None:
        self.name = name
        self.rpm: int | None = None
        self.tpm: int | None = None
        self.req = -1
        self.tok = -1
        self.par = -1


class Plan:
    """Everything an admission under a list of scopes needs that does not change per
    request: per scope (aligned tuples) the request and token bucket handles (-1: none)
    and the ``x-ratelimit-limit-*`` headers; the parallel counters ``(handle, limit,
    scope)``; the budgets ``(Spend counter, USD, scope, "day" | "month")`` of the period
    ``[day_start, day_end)`` and their counters (refreshed when a request falls outside it).
    Built from the records given; valid while the same record objects are passed."""

    __slots__ = (
        "budgets",
        "day_end",
        "day_start",
        "entries",
        "has_buckets",
        "has_requests",
        "parallel",
        "period",
        "request_handles",
        "request_limits",
        "requests",
        "scopes",
        "spends",
        "token_handles",
        "token_limits",
        "tokens",
    )

    def __init__(self, scopes: list[Scope], entries: list[_Entry]) -> None:
        self.scopes = scopes
        self.entries = entries
        self.requests = tuple(e.req for e in entries)
        self.tokens = tuple(e.tok for e in entries)
        self.request_handles = tuple(h for h in self.requests if h >= 0)
        self.token_handles = tuple(h for h in self.tokens if h >= 0)
        self.has_requests = bool(self.request_handles)
        self.has_buckets = self.has_requests or bool(self.token_handles)
        self.request_limits = tuple(("x-ratelimit-limit-requests", str(e.rpm)) for e in entries)
        self.token_limits = tuple(("x-ratelimit-limit-tokens", str(e.tpm)) for e in entries)
        self.parallel = tuple(
            (e.par, limits.parallel, i)
            for i, (e, (_k, _i, limits)) in enumerate(zip(entries, scopes, strict=True))
            if e.par >= 0 and limits.parallel is not None
        )
        has_budget = any(
            limits.budget_day_usd is not None or limits.budget_month_usd is not None
            for _k, _i, limits in scopes
        )
        self.period: Period | None = None
        # an empty period until the first admission fills the budgets in (none: never)
        self.day_start = self.day_end = 0.0
        placeholder = (Spend(), 0.0, 0, "")
        self.budgets: tuple[tuple[Spend, float, int, str], ...] = (placeholder,) * has_budget
        self.spends: tuple[Spend, ...] = ()


class LocalLimiter:
    backend = "local"

    def __init__(
        self,
        periods: Periods,
        metrics: Metrics,
        buckets: TokenBucketTable | None = None,
        counters: ParallelCounter | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        """``buckets``/``counters``: the tables to use (tests pass either twin on a fake
        clock); ``wall``: Unix time, for budget periods."""
        self.periods = periods
        self.metrics = metrics
        self.buckets = TokenBucketTable() if buckets is None else buckets
        self.counters = ParallelCounter() if counters is None else counters
        self.book = SpendBook()
        self._entries: dict[str, _Entry] = {}
        self._wall = wall

    def _entry(self, kind: str, ident: str, limits: Any) -> _Entry:
        name = kind + ":" + ident
        entry = self._entries.get(name)
        if entry is None:
            entry = self._entries[name] = _Entry(name)
        rpm, tpm = limits.rpm, limits.tpm
        if entry.rpm != rpm or (entry.req < 0 and rpm is not None):
            entry.rpm = rpm
            if rpm is not None:
                entry.req = self.buckets.configure(name + ":r", rpm / 60.0, float(rpm))
            else:
                entry.req = -1
        if entry.tpm != tpm or (entry.tok < 0 and tpm is not None):
            entry.tpm = tpm
            if tpm is not None:
                entry.tok = self.buckets.configure(name + ":t", tpm / 60.0, float(tpm))
            else:
                entry.tok = -1
        if entry.par < 0 and limits.parallel is not None:
            entry.par = self.counters.register(name)
        return entry

    def plan(self, scopes: list[Scope]) -> Plan:
        """The admission plan of ``scopes``: their buckets configured from the records (see
        the module docstring), handles, limits and header parts; budget counter names are
        filled in by the first admission of each period."""
        return Plan(scopes, [self._entry(kind, ident, limits) for kind, ident, limits in scopes])

    def admit_now(self, scopes: list[Scope], tokens: int, estimated_cost: float) -> Ticket:
        """Admit a request under every scope or raise ``RateLimited`` / ``QuotaExceeded``."""
        return self.admit_plan(self.plan(scopes), tokens, estimated_cost)

    def admit_plan(self, plan: Plan, tokens: int, estimated_cost: float) -> Ticket:
        """``admit_now`` with the scopes' plan (which ``Limiter`` keeps while the records
        passed are the same objects): budgets, then every bucket in one call into the core,
        then parallel counters; this runs on every request of a limited key, on the worker's
        only Python thread."""
        if plan.budgets:
            now = self._wall()
            if not plan.day_start <= now < plan.day_end:
                self._new_period(plan, now)
            for spend, budget, i, span in plan.budgets:
                used = spend.spent + spend.reserved
                if used >= budget:
                    self._over_budget(plan, i, span, budget, used)
        table = self.buckets
        headers: list[tuple[str, str]] = []
        if plan.has_buckets:
            refused = table.acquire_all(plan.requests, plan.tokens, float(tokens))
            if refused >= 0:
                self._refuse(plan, refused, tokens)
            # rate_headers, written out: remaining floored at 0, limits preformatted
            if plan.has_requests:
                i, left, reset = table.tightest(plan.requests)  # type: ignore[misc]
                headers = [
                    plan.request_limits[i],
                    ("x-ratelimit-remaining-requests", str(int(left)) if left > 0 else "0"),
                    ("x-ratelimit-reset-requests", format_reset(reset)),
                ]
            if plan.token_handles:
                i, left, reset = table.tightest(plan.tokens)  # type: ignore[misc]
                headers += (
                    plan.token_limits[i],
                    ("x-ratelimit-remaining-tokens", str(int(left)) if left > 0 else "0"),
                    ("x-ratelimit-reset-tokens", format_reset(reset)),
                )
        entered: list[int] = []
        if plan.parallel:
            counters = self.counters
            for handle, limit, i in plan.parallel:
                if not counters.try_enter(handle, limit):
                    for h in entered:
                        counters.leave(h)
                    if plan.has_buckets:
                        table.settle_all(plan.request_handles, -1.0)
                        table.settle_all(plan.token_handles, -float(tokens))
                    kind, ident, _limits = plan.scopes[i]
                    self._reject(kind, "parallel")
                    headers.append(("retry-after", "1"))
                    raise RateLimited(
                        parallel_message(kind, ident, limit), "requests", headers=headers
                    )
                entered.append(handle)
        spends = plan.spends
        for spend in spends:
            spend.reserved += estimated_cost
        return Ticket("local", tokens, estimated_cost, plan.token_handles, entered, spends, headers)

    def _refuse(self, plan: Plan, position: int, tokens: int) -> NoReturn:
        """Raise the ``RateLimited`` of the bucket at ``position`` of ``acquire_all`` (which
        gave back what it took)."""
        table = self.buckets
        wait = table.last_wait()
        i = position // 2
        kind, ident, _limits = plan.scopes[i]
        entry = plan.entries[i]
        if position % 2 == 0:
            what, limit, handle, asked = "requests", entry.rpm, entry.req, 1
        else:
            what, limit, handle, asked = "tokens", entry.tpm, entry.tok, tokens
        assert limit is not None
        self._reject(kind, what)
        state = (limit, table.remaining(handle), table.reset_after(handle))
        headers = rate_headers(state, None) if what == "requests" else rate_headers(None, state)
        headers.append(("retry-after", retry_after(wait)))
        raise RateLimited(rate_message(kind, ident, what, limit, asked), what, headers=headers)

    def _new_period(self, plan: Plan, now: float) -> None:
        """Point the plan's budgets at the counters of the period containing ``now``."""
        period = self.periods.current(now)
        self.book.roll(period)
        plan.period = period
        plan.day_start, plan.day_end = period.day_start, period.day_end
        book = self.book
        budgets: list[tuple[Spend, float, int, str]] = []
        for i, (kind, ident, limits) in enumerate(plan.scopes):
            if limits.budget_day_usd is not None:
                spend = book.counter(spend_name(kind, ident, period.day))
                budgets.append((spend, limits.budget_day_usd, i, "day"))
            if limits.budget_month_usd is not None:
                spend = book.counter(spend_name(kind, ident, period.month))
                budgets.append((spend, limits.budget_month_usd, i, "month"))
        plan.budgets = tuple(budgets)
        plan.spends = tuple(b[0] for b in budgets)

    def _over_budget(self, plan: Plan, i: int, span: str, budget: float, used: float) -> NoReturn:
        kind, ident, _limits = plan.scopes[i]
        period = plan.period
        assert period is not None
        end = period.day_end if span == "day" else period.month_end
        self._reject(kind, "budget")
        resets = reset_text(end, self.periods.zone)
        raise QuotaExceeded(
            budget_message(kind, ident, span, budget, used, resets),
            headers=[("retry-after", retry_after(end - self._wall()))],
        )

    def _reject(self, kind: str, what: str) -> None:
        self.metrics.rejections.inc((kind, what))

    def settle_now(self, ticket: Ticket, tokens: int, cost: float) -> None:
        """Correct the token buckets to ``tokens`` used, leave the parallel counters and
        commit ``cost`` to the budgets. Exactly once per ticket (later calls do nothing)."""
        if ticket.settled:
            return
        ticket.settled = True
        delta = float(tokens - ticket.tokens)
        if delta and ticket.buckets:
            self.buckets.settle_all(ticket.buckets, delta)  # type: ignore[arg-type]  # a tuple
        for handle in ticket.parallel:
            self.counters.leave(handle)
        reserved = ticket.estimated_cost
        for spend in ticket.budgets:  # Spend counters (a local ticket)
            left = spend.reserved - reserved  # Spend.commit, inlined
            spend.reserved = left if left > 1e-12 else 0.0
            if cost:
                spend.spent += cost
