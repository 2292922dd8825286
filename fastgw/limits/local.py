"""Limits kept in this process: token buckets, parallel counters and spend.

Rules this module keeps:
- No I/O and no awaiting inside an admission, so each one is atomic on the worker's loop:
  every check (budgets, then request and token buckets, then parallel counters) passes before
  anything is kept; a failing check gives back what the earlier ones took.
- Limits are read from the records passed to each admission (a key's rpm may be changed at
  run time by the admin API): a scope's bucket is reconfigured when its rpm or tpm differs
  from what it was built with (two int comparisons).
- A bucket holds one minute's allowance: ``rpm`` requests (``tpm`` tokens) at most, refilled
  continuously at ``rpm / 60`` per second; so a burst can use a whole minute's allowance at
  once, and no 60-second window ever admits more than twice the limit.
- Only one process may enforce a limit this way: config validation refuses a local backend
  with several workers when limits are set (use ``[state] backend = "redis"``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, NoReturn

from .._core import ParallelCounter, TokenBucketTable
from ..errors import QuotaExceeded, RateLimited
from ..metrics import Metrics
from .headers import rate_headers, retry_after
from .periods import Periods, reset_text
from .plan import Scope, budget_message, parallel_message, rate_message
from .spend import SpendBook, spend_name
from .ticket import Ticket


class _Entry:
    """One scope's buckets: the limits they were built with, their handles (-1: none), and
    the names of its spend counters in the current period (built once a day, not per
    request)."""

    __slots__ = ("day", "day_name", "month_name", "name", "par", "req", "rpm", "tok", "tpm")

    def __init__(self, name: str) -> None:
        self.name = name
        self.rpm: int | None = None
        self.tpm: int | None = None
        self.req = -1
        self.tok = -1
        self.par = -1
        self.day = ""  # the period day the names below are for
        self.day_name = ""
        self.month_name = ""


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

    def admit_now(self, scopes: list[Scope], tokens: int, estimated_cost: float) -> Ticket:
        """Admit a request under every scope or raise ``RateLimited`` / ``QuotaExceeded``.

        One pass per scope, written out rather than looped over (requests, tokens): this
        runs on every request of a limited key, on the worker's only Python thread."""
        entries = [self._entry(kind, ident, limits) for kind, ident, limits in scopes]
        budgets = self._check_budgets(scopes, entries, estimated_cost)
        table = self.buckets
        cost = float(tokens)
        taken: list[tuple[int, float]] = []
        token_handles: list[int] = []
        req_handle = tok_handle = -1
        req_limit = tok_limit = 0
        req_left = tok_left = math.inf
        for (kind, ident, _limits), entry in zip(scopes, entries, strict=True):
            handle = entry.req
            if handle >= 0:
                wait = table.try_acquire(handle, 1.0)
                if wait:
                    self._refuse(taken, kind, ident, "requests", entry.rpm, handle, 1, wait)
                taken.append((handle, 1.0))
                left = table.remaining(handle)
                if left < req_left:
                    req_handle, req_left, req_limit = handle, left, entry.rpm or 0
            handle = entry.tok
            if handle >= 0:
                wait = table.try_acquire(handle, cost)
                if wait:
                    self._refuse(taken, kind, ident, "tokens", entry.tpm, handle, tokens, wait)
                taken.append((handle, cost))
                token_handles.append(handle)
                left = table.remaining(handle)
                if left < tok_left:
                    tok_handle, tok_left, tok_limit = handle, left, entry.tpm or 0
        headers = rate_headers(
            None if req_handle < 0 else (req_limit, req_left, table.reset_after(req_handle)),
            None if tok_handle < 0 else (tok_limit, tok_left, table.reset_after(tok_handle)),
        )
        entered: list[int] = []
        counters = self.counters
        for (kind, ident, limits), entry in zip(scopes, entries, strict=True):
            if entry.par >= 0 and limits.parallel is not None:
                if not counters.try_enter(entry.par, limits.parallel):
                    for h in entered:
                        counters.leave(h)
                    for h, c in taken:
                        table.settle(h, -c)
                    self._reject(kind, "parallel")
                    headers.append(("retry-after", "1"))
                    raise RateLimited(
                        parallel_message(kind, ident, limits.parallel), "requests", headers=headers
                    )
                entered.append(entry.par)
        book = self.book
        for name in budgets:
            book.reserve(name, estimated_cost)
        return Ticket("local", tokens, estimated_cost, token_handles, entered, budgets, headers)

    def _refuse(
        self,
        taken: list[tuple[int, float]],
        kind: str,
        ident: str,
        what: str,
        limit: int | None,
        handle: int,
        asked: int,
        wait: float,
    ) -> NoReturn:
        """Give back what this admission took and raise its ``RateLimited``."""
        table = self.buckets
        for h, c in taken:
            table.settle(h, -c)
        assert limit is not None
        self._reject(kind, what)
        state = (limit, table.remaining(handle), table.reset_after(handle))
        headers = rate_headers(state, None) if what == "requests" else rate_headers(None, state)
        headers.append(("retry-after", retry_after(wait)))
        raise RateLimited(rate_message(kind, ident, what, limit, asked), what, headers=headers)

    def _check_budgets(
        self, scopes: list[Scope], entries: list[_Entry], estimated_cost: float
    ) -> list[str]:
        """The spend counters this request reserves against; raises ``QuotaExceeded``."""
        names: list[str] = []
        period = None
        for (kind, ident, limits), entry in zip(scopes, entries, strict=True):
            day, month = limits.budget_day_usd, limits.budget_month_usd
            if day is None and month is None:
                continue
            if period is None:
                period = self.periods.current(self._wall())
                self.book.roll(period)
            if entry.day != period.day:
                entry.day = period.day
                entry.day_name = spend_name(kind, ident, period.day)
                entry.month_name = spend_name(kind, ident, period.month)
            if day is not None:
                self._check_budget(kind, ident, "day", day, entry.day_name, period.day_end)
                names.append(entry.day_name)
            if month is not None:
                self._check_budget(kind, ident, "month", month, entry.month_name, period.month_end)
                names.append(entry.month_name)
        return names

    def _check_budget(
        self, kind: str, ident: str, span: str, budget: float, name: str, end: float
    ) -> None:
        used = self.book.used(name)
        if used >= budget:
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
        if delta:
            for handle in ticket.buckets:
                self.buckets.settle(handle, delta)
        for handle in ticket.parallel:
            self.counters.leave(handle)
        for name in ticket.budgets:
            self.book.commit(name, ticket.estimated_cost, cost)
