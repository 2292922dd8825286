"""Limits kept in this process: token buckets, parallel counters and spend.

Rules this module keeps:
- No I/O and no awaiting inside an admission, so each one is atomic on the worker's loop:
  every check (budgets, then request and token buckets, then parallel counters) passes before
  anything is kept; a failing check gives back what the earlier ones took.
- Limits are read from the records an admission plan is built from (a key's rpm may be
  changed at run time by the admin API, which replaces the record, so ``Limiter`` builds a
  new plan): a scope's bucket is reconfigured when its rpm or tpm differs from what it was
  built with. A plan's budget counters are those of its period, renamed when the day changes.
- The per-request work of a plan is one call into its compiled ``Gate`` (``fastgw._core``:
  budgets, every bucket, the six headers, parallel counters, spend reservation), and one
  ``settle_ticket`` when the request is over; refusals are worded here, from the scopes.
- A bucket holds one minute's allowance: ``rpm`` requests (``tpm`` tokens) at most, refilled
  continuously at ``rpm / 60`` per second; so a burst can use a whole minute's allowance at
  once, and no 60-second window ever admits more than twice the limit.
- Only one process may enforce a limit this way: config validation refuses a local backend
  with several workers when limits are set (use ``[state] backend = "redis"``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from types import ModuleType
from typing import Any, NoReturn

from .. import _core
from .._core import Gate, ParallelCounter, Spend, Ticket, TokenBucketTable
from .._core.admission import BUCKET, BUDGET, PERIOD
from ..errors import QuotaExceeded, RateLimited
from ..metrics import Metrics
from .headers import rate_headers, retry_after
from .periods import Period, Periods, reset_text
from .reserve import Scope, budget_message, budgets, has_budget, parallel_message, rate_message
from .spend import SpendBook, spend_name


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
    """An admission under a list of scopes: its ``gate`` (``fastgw._core.Gate``: bucket
    handles, ready ``x-ratelimit-limit-*`` headers, parallel counters, the budget counters of
    the current period) does the per-request work; the scopes and their entries word a
    refusal. Built from the records given; valid while the same record objects are passed."""

    __slots__ = ("entries", "gate", "parallel", "period", "scopes")

    def __init__(
        self, scopes: list[Scope], entries: list[_Entry], gate: Gate, parallel: tuple[int, ...]
    ) -> None:
        self.scopes = scopes
        self.entries = entries
        self.gate = gate
        self.parallel = parallel  # the scope index of each of the gate's parallel counters
        self.period: Period | None = None


class LocalLimiter:
    backend = "local"

    def __init__(
        self,
        periods: Periods,
        metrics: Metrics,
        buckets: TokenBucketTable | None = None,
        counters: ParallelCounter | None = None,
        wall: Callable[[], float] = time.time,
        admission: ModuleType = _core,
    ) -> None:
        """``buckets``/``counters``: the tables to use (tests pass either twin on a fake
        clock); ``wall``: Unix time, for budget periods; ``admission``: where ``Gate`` and
        ``settle_ticket`` come from (tests pass either twin of ``fastgw._core.admission``)."""
        self.periods = periods
        self.metrics = metrics
        self.buckets = TokenBucketTable() if buckets is None else buckets
        self.counters = ParallelCounter() if counters is None else counters
        self.book = SpendBook()
        self._entries: dict[str, _Entry] = {}
        self._wall = wall
        self._gate: type[Gate] = admission.Gate
        # settle_now(ticket, tokens, cost): Correct the token buckets to ``tokens`` used, leave
        # the parallel counters and commit ``cost`` to the budgets. Exactly once per ticket
        # (later calls do nothing). A partial of the compiled call: no Python frame per request.
        self.settle_now: Callable[[Ticket, int, float], None] = partial(
            admission.settle_ticket, self.buckets, self.counters
        )

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
        entries = [self._entry(kind, ident, limits) for kind, ident, limits in scopes]
        parallel = [
            (i, e.par, limits.parallel)
            for i, (e, (_k, _i, limits)) in enumerate(zip(entries, scopes, strict=True))
            if e.par >= 0 and limits.parallel is not None
        ]
        gate = self._gate(
            self.buckets,
            self.counters,
            tuple(e.req for e in entries),
            tuple(e.tok for e in entries),
            tuple(("x-ratelimit-limit-requests", str(e.rpm)) for e in entries),
            tuple(("x-ratelimit-limit-tokens", str(e.tpm)) for e in entries),
            tuple((handle, limit) for _i, handle, limit in parallel),
            has_budget(scopes),
            self._wall,
        )
        return Plan(scopes, entries, gate, tuple(i for i, _h, _l in parallel))

    def admit_now(self, scopes: list[Scope], tokens: int, estimated_cost: float) -> Ticket:
        """Admit a request under every scope or raise ``RateLimited`` / ``QuotaExceeded``."""
        return self.admit_plan(self.plan(scopes), tokens, estimated_cost)

    def admit_plan(self, plan: Plan, tokens: int, estimated_cost: float) -> Ticket:
        """``admit_now`` with the scopes' plan (which ``Limiter`` keeps while the records
        passed are the same objects): one call into the compiled gate on every request of a
        limited key; a refusal is worded here."""
        ticket = plan.gate.admit(tokens, estimated_cost)
        return ticket if ticket is not None else self.refused(plan, tokens, estimated_cost)

    def refused(self, plan: Plan, tokens: int, estimated_cost: float) -> Ticket:
        """After ``plan.gate.admit`` returned None: admit again in a new budget period, or
        raise the refusal the gate reported (it kept nothing)."""
        gate = plan.gate
        while gate.failure == PERIOD:
            self._new_period(plan, gate.now)
            ticket = gate.admit(tokens, estimated_cost)
            if ticket is not None:
                return ticket
        if gate.failure == BUDGET:
            self._over_budget(plan, gate.failed)
        if gate.failure == BUCKET:
            self._refuse(plan, gate.failed, tokens)
        i = plan.parallel[gate.failed]
        kind, ident, limits = plan.scopes[i]
        self._reject(kind, "parallel")
        raise RateLimited(
            parallel_message(kind, ident, limits.parallel),
            "requests",
            headers=[*gate.headers, ("retry-after", "1")],
        )

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
        spends: list[Spend] = []
        amounts: list[float] = []
        for i, span, amount in budgets(plan.scopes):
            kind, ident, _limits = plan.scopes[i]
            period_id = period.day if span == "day" else period.month
            spends.append(self.book.counter(spend_name(kind, ident, period_id)))
            amounts.append(amount)
        plan.gate.set_period(period.day_start, period.day_end, tuple(spends), tuple(amounts))

    def _over_budget(self, plan: Plan, j: int) -> NoReturn:
        """Raise the ``QuotaExceeded`` of the plan's ``j``-th budget (``budgets`` order)."""
        period = plan.period
        assert period is not None
        i, span, budget = budgets(plan.scopes)[j]
        kind, ident, _limits = plan.scopes[i]
        spend = plan.gate.budget_spends[j]
        used = spend.spent + spend.reserved
        end = period.day_end if span == "day" else period.month_end
        self._reject(kind, "budget")
        resets = reset_text(end, self.periods.zone)
        raise QuotaExceeded(
            budget_message(kind, ident, span, budget, used, resets),
            headers=[("retry-after", retry_after(end - self._wall()))],
        )

    def _reject(self, kind: str, what: str) -> None:
        self.metrics.refused(kind, what)
