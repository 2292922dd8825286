"""Admission under a plan of limits: the per-request work of the local limiter, compiled.

``fastgw.limits.local`` builds a ``Gate`` per admission plan (a key, its team and a model)
from the buckets and counters it configured; every request of that plan is then one call,
``gate.admit(tokens, estimated_cost)``, and one ``settle_ticket(...)`` when it is over.

Rules this module keeps:
- No I/O and no awaiting, so an admission is atomic on the worker's loop. Order: budgets,
  then every bucket in one ``acquire_all``, then the parallel counters; the first check that
  refuses decides, and what the earlier ones took is given back before ``admit`` returns.
- A refusal returns ``None`` and says why in ``failure`` (with ``failed``: which budget,
  bucket position or parallel counter; ``now``: the wall time read); the caller words the
  429. ``PERIOD`` is not a refusal: the wall clock left the plan's day, so the caller points
  the budgets at the new period's counters (``set_period``) and admits again.
- Budget counters are ``Spend`` objects (a request is admitted while ``spent + reserved`` is
  under every budget); an admitted request adds its estimated cost to each ``reserved``.
- The ``x-ratelimit-*`` headers describe the tightest request and token buckets of the plan
  (remaining floored at 0, resets as OpenAI writes them: ``format_reset``).
- ``settle_ticket`` runs once per ticket (later calls do nothing): corrects the token buckets to the
  tokens used, leaves the parallel counters, and moves the reservation to what was spent.
- The buckets and counters are those of ``fastgw._core.buckets`` (either twin); this module
  only calls their public methods.

Compiled by Cython as ``fastgw._core.admission_c`` with ``admission_c.pxd`` beside it.
"""

import math
from collections.abc import Callable
from typing import Any

import cython

# Gate.failure: why the last admit returned None
PERIOD = 1  # the wall clock left the plan's day (not a refusal)
BUDGET = 2  # failed: index into the budgets
BUCKET = 3  # failed: the position acquire_all returned
PARALLEL = 4  # failed: index into the parallel counters

_MS_TEXT = cython.declare(tuple, tuple(f"{ms}ms" for ms in range(1000)))
_NO_SPENDS = cython.declare(tuple, ())


def format_reset(seconds: float) -> str:
    """``seconds`` (rounded up to the millisecond) as OpenAI's reset duration, written like
    Go's ``time.Duration``: ``"20ms"``, ``"1s"``, ``"1.5s"``, ``"6m0s"``, ``"1h2m3s"``; an
    infinite wait is written as an hour."""
    if not seconds > 0:
        return "0s"
    if seconds == math.inf:
        seconds = 3600.0
    ms: cython.longlong = math.ceil(seconds * 1000 - 1e-6)
    if ms < 1000:
        return _MS_TEXT[ms]  # the usual case
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest // 1000}.{rest % 1000:03d}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{secs}"
    if minutes:
        return f"{minutes}m{secs}"
    return secs


def _remaining(left: float) -> str:
    return str(int(left)) if left > 0 else "0"


class Spend:
    """One budget counter: USD ``spent`` (settled) and ``reserved`` by requests in flight."""

    __slots__ = ("reserved", "spent")

    def __init__(self) -> None:
        self.spent = 0.0
        self.reserved = 0.0

    def commit(self, reserved: float, cost: float) -> None:
        """Release ``reserved`` and add ``cost`` to what was spent."""
        left: cython.double = self.reserved - reserved
        self.reserved = left if left > 1e-12 else 0.0
        if cost:
            self.spent += cost


class Ticket:
    """What an admission took for one request.

    - ``backend``: ``"local"`` or ``"redis"`` (a Redis limiter that fell back to local limits
      settles a local ticket locally).
    - ``tokens``: tokens reserved (prompt estimate + completion allowance);
      ``estimated_cost``: USD reserved against budgets (0 when no budget applies).
    - ``buckets``: the token buckets to correct at settlement (a tuple of handles locally,
      Redis bucket descriptions remotely); ``parallel``: counters to leave; ``budgets``: spend
      counters that hold ``estimated_cost`` in reserve (``Spend`` objects locally, counter
      names remotely).
    - ``headers``: the ``x-ratelimit-*`` headers of the response.
    """

    __slots__ = (
        "backend",
        "buckets",
        "budgets",
        "estimated_cost",
        "headers",
        "parallel",
        "settled",
        "tokens",
    )

    def __init__(
        self,
        backend: str,
        tokens: int,
        estimated_cost: float,
        buckets: Any,
        parallel: Any,
        budgets: Any,
        headers: list[tuple[str, str]],
    ) -> None:
        self.backend = backend
        self.tokens = tokens
        self.estimated_cost = estimated_cost
        self.buckets = buckets
        self.parallel = parallel
        self.budgets = budgets
        self.headers = headers
        self.settled = False


class Gate:
    """The per-request part of one admission plan.

    ``requests`` / ``tokens``: a request and a token bucket handle per scope (``-1``: none);
    ``request_limits`` / ``token_limits``: per scope, its ready ``x-ratelimit-limit-*``
    header; ``parallel``: ``(counter handle, limit)`` pairs; ``has_budgets``: whether any
    scope has a budget (its counters come with ``set_period``); ``wall``: Unix time.
    """

    def __init__(
        self,
        table: Any,
        counters: Any,
        requests: tuple[int, ...],
        tokens: tuple[int, ...],
        request_limits: tuple[tuple[str, str], ...],
        token_limits: tuple[tuple[str, str], ...],
        parallel: tuple[tuple[int, int], ...],
        has_budgets: bool,
        wall: Callable[[], float],
    ) -> None:
        self.table = table
        self.counters = counters
        self.requests = requests
        self.tokens = tokens
        self.request_handles = tuple([h for h in requests if h >= 0])
        self.token_handles = tuple([h for h in tokens if h >= 0])
        self.request_limits = request_limits
        self.token_limits = token_limits
        self.parallel_handles = tuple([p[0] for p in parallel])
        self.parallel_limits = tuple([p[1] for p in parallel])
        self.has_budgets = has_budgets
        self.budget_spends = _NO_SPENDS
        self.budget_limits = _NO_SPENDS
        self.day_start = 0.0  # an empty period: the first admission asks for one
        self.day_end = 0.0
        self.wall = wall
        self.failure = 0
        self.failed = -1
        self.now = 0.0
        self.headers: list[tuple[str, str]] = []

    def set_period(
        self, day_start: float, day_end: float, spends: tuple[Any, ...], limits: tuple[Any, ...]
    ) -> None:
        """Check ``spends`` against ``limits`` (USD, aligned) while the wall time is in
        ``[day_start, day_end)``."""
        if len(spends) != len(limits):
            raise ValueError("spends and limits must have the same length")
        self.day_start = day_start
        self.day_end = day_end
        self.budget_spends = spends
        self.budget_limits = limits

    def admit(self, tokens: cython.Py_ssize_t, estimated_cost: float) -> Ticket | None:
        """A ``Ticket`` for a request reserving ``tokens`` and ``estimated_cost`` USD, or None
        (see ``failure``) with nothing kept."""
        j: cython.Py_ssize_t
        k: cython.Py_ssize_t
        spend: Spend
        now: cython.double
        if self.has_budgets:
            now = self.wall()
            if not self.day_start <= now < self.day_end:
                self._fail(PERIOD, -1, now, [])
                return None
            for j in range(len(self.budget_spends)):
                spend = self.budget_spends[j]
                if spend.spent + spend.reserved >= self.budget_limits[j]:
                    self._fail(BUDGET, j, now, [])
                    return None
        cost: cython.double = tokens
        headers: list[tuple[str, str]] = []
        table = self.table
        buckets: cython.bint = len(self.request_handles) > 0 or len(self.token_handles) > 0
        if buckets:
            refused = table.acquire_all(self.requests, self.tokens, cost)
            if refused >= 0:
                self._fail(BUCKET, refused, 0.0, [])
                return None
            if self.request_handles:
                i, left, reset = table.tightest(self.requests)
                headers.append(self.request_limits[i])
                headers.append(("x-ratelimit-remaining-requests", _remaining(left)))
                headers.append(("x-ratelimit-reset-requests", format_reset(reset)))
            if self.token_handles:
                i, left, reset = table.tightest(self.tokens)
                headers.append(self.token_limits[i])
                headers.append(("x-ratelimit-remaining-tokens", _remaining(left)))
                headers.append(("x-ratelimit-reset-tokens", format_reset(reset)))
        entered: list[int] = []
        if self.parallel_handles:
            counters = self.counters
            for k in range(len(self.parallel_handles)):
                handle = self.parallel_handles[k]
                if not counters.try_enter(handle, self.parallel_limits[k]):
                    for handle in entered:
                        counters.leave(handle)
                    if buckets:
                        table.settle_all(self.request_handles, -1.0)
                        table.settle_all(self.token_handles, -cost)
                    self._fail(PARALLEL, k, 0.0, headers)
                    return None
                entered.append(handle)
        spends = self.budget_spends
        for j in range(len(spends)):
            spend = spends[j]
            spend.reserved += estimated_cost
        return Ticket("local", tokens, estimated_cost, self.token_handles, entered, spends, headers)

    def _fail(
        self, why: cython.int, which: cython.Py_ssize_t, now: float, headers: list[Any]
    ) -> None:
        self.failure = why
        self.failed = which
        self.now = now
        self.headers = headers


def settle_ticket(
    table: Any, counters: Any, ticket: Ticket, tokens: cython.Py_ssize_t, cost: float
) -> None:
    """Settle a local ``ticket`` on ``table`` and ``counters``: correct its token buckets to
    ``tokens`` used, leave its parallel counters, commit ``cost`` to its budgets. Exactly
    once per ticket (later calls do nothing)."""
    if ticket.settled:
        return
    ticket.settled = True
    delta: cython.double = tokens - ticket.tokens
    if delta and ticket.buckets:
        table.settle_all(ticket.buckets, delta)
    for handle in ticket.parallel:
        counters.leave(handle)
    reserved: cython.double = ticket.estimated_cost
    spend: Spend
    for spend in ticket.budgets:
        spend.commit(reserved, cost)
