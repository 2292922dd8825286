"""Admission under a plan of limits: the per-request work of the local limiter, compiled.

``fastgw.limits.local`` builds a ``Gate`` per admission plan (a key, its team and a model)
from the buckets and counters it configured, and ``fastgw.limits`` tells it how to reserve
(``set_reservation``: the default completion allowance, the price). Every request of that
plan is then one call, ``gate.admit_chat(messages, ...)`` for a chat request (the prompt
estimated here by ``estimate_messages``, the allowance by ``chat_allowance``) or
``gate.admit_reserved(prompt, allowance)`` for another (both end in ``gate.admit(tokens,
estimated_cost)``), and one ``settle_ticket(...)`` when it is over.

Rules this module keeps:
- No I/O and no awaiting, so an admission is atomic on the worker's loop. Order: budgets,
  then every bucket in one ``acquire_all``, then the parallel counters; the first check that
  refuses decides, and what the earlier ones took is given back before ``admit`` returns.
- A refusal returns ``None`` and says why in ``failure`` (with ``failed``: which budget,
  bucket position or parallel counter; ``now``: the wall time read); the caller words the
  429. ``PERIOD`` is not a refusal: the wall clock left the plan's day, so the caller points
  the budgets at the new period's counters (``set_period``) and admits again.
- Budget counters are ``Spend`` objects (a request is admitted while ``spent + reserved`` is
  under every budget); an admitted request adds its estimated cost to each ``reserved``, at
  most ``reserve_share`` of the smallest budget of the plan (``set_reserve_share``): one
  request's worst case cannot hold a shared budget; it is charged what it used when settled.
- The ``x-ratelimit-*`` headers describe the tightest request and token buckets of the plan
  (remaining floored at 0, resets as OpenAI writes them: ``format_reset``).
- ``settle_ticket`` runs once per ticket (later calls do nothing): corrects the token buckets
  to the tokens used, leaves the parallel counters, and moves the reservation to what was
  spent.
- Token counts cannot wrap: every count a caller passes (``n``, ``max_tokens``, a prompt
  estimate) is clamped into ``[0, TOKEN_CEILING]`` as a Python int before C arithmetic, and
  products and sums saturate at ``TOKEN_CEILING`` (2^53: far above any token limit, exact as a
  double and as a Redis number, far below ``Py_ssize_t``), in both twins alike.
- The buckets and counters are those of ``fastgw._core.buckets``, of the same twin (the
  compiled gate takes only compiled tables, typed, so its calls into them are C calls). Besides
  their public methods it uses ``TokenBucketTable._tightest`` (``tightest`` without building a
  tuple).

Compiled by Cython as ``fastgw._core.admission_c`` with ``admission_c.pxd`` beside it.
"""

import math
from collections.abc import Callable
from typing import Any

try:
    import cython
except ImportError:  # Cython builds the core; the pure twin runs without it (see the shim)
    from . import _cython_shim as cython

# Gate.failure: why the last admit returned None
PERIOD = 1  # the wall clock left the plan's day (not a refusal)
BUDGET = 2  # failed: index into the budgets
BUCKET = 3  # failed: the position acquire_all returned
PARALLEL = 4  # failed: index into the parallel counters

# the token estimate of a chat prompt (see estimate_messages): per message, per reply
PER_MESSAGE = cython.declare(cython.Py_ssize_t, 4)
PER_REPLY = cython.declare(cython.Py_ssize_t, 3)
_PER_TOKEN = cython.declare(cython.double, 1e-6)  # prices are USD per million tokens
TOKEN_CEILING = cython.declare(cython.Py_ssize_t, 2**53)  # the most tokens any request reserves
_CEILING = cython.declare(object, 2**53)  # the same as a Python int, to compare any int with

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


def estimate_messages(messages: list[Any], other: Callable[[Any], int]) -> int:
    """The prompt tokens of chat ``messages``, estimated: about four characters a token, plus
    the chat format's overhead per message and per reply. ``other(message)`` estimates a
    message whose content is not a plain string (a list of parts, or none)."""
    total: cython.Py_ssize_t = PER_REPLY
    for m in messages:
        content = m.content
        if type(content) is str:
            total += PER_MESSAGE + (len(content) + 3) // 4
        else:
            total += PER_MESSAGE + other(m)
    return total


def token_count(value: Any) -> int:
    """``value`` (an int of any size) clamped into ``[0, TOKEN_CEILING]``: compared as a
    Python int first, so that one past ``Py_ssize_t`` saturates (compiled: instead of raising
    OverflowError) and no later C arithmetic on it can wrap."""
    if value > _CEILING:
        return TOKEN_CEILING
    if value < 0:
        return 0
    count: cython.Py_ssize_t = value
    return count


def chat_allowance(
    max_completion_tokens: Any, max_tokens: Any, n: Any, default: cython.Py_ssize_t
) -> int:
    """The completion tokens a chat request may use: ``max_completion_tokens``, else
    ``max_tokens``, else ``default``, for each of its ``n`` choices; at most
    ``TOKEN_CEILING`` (the product saturates, it never wraps)."""
    chosen = max_completion_tokens or max_tokens or default
    if n == 1 and 0 < chosen <= _CEILING:  # the usual request: nothing to clamp
        return chosen
    per_choice: cython.Py_ssize_t = token_count(chosen)
    choices: cython.Py_ssize_t = token_count(n)
    if choices > 0 and per_choice > TOKEN_CEILING // choices:
        return TOKEN_CEILING
    return per_choice * choices


def _no_other(message: Any) -> int:
    raise ValueError("Gate.set_reservation was not called")


def _remaining(left: float) -> str:
    if not left > 0:
        return "0"
    whole: cython.longlong = int(min(left, 9e18))  # bucket capacities are far below this
    return f"{whole}"  # compiled: C integer formatting, no Python int


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
        self._fill(backend, tokens, estimated_cost, buckets, parallel, budgets, headers)

    def _fill(
        self,
        backend: str,
        tokens: Any,
        estimated_cost: float,
        buckets: Any,
        parallel: Any,
        budgets: Any,
        headers: Any,
    ) -> None:
        """Every field (compiled: a C call; the .pxd types the arguments)."""
        self.backend = backend
        self.tokens = tokens
        self.estimated_cost = estimated_cost
        self.buckets = buckets
        self.parallel = parallel
        self.budgets = budgets
        self.headers = headers
        self.settled = False


def _new_ticket(
    tokens: cython.Py_ssize_t,
    estimated_cost: float,
    buckets: Any,
    parallel: Any,
    budgets: Any,
    headers: Any,
) -> Ticket:
    """A local ``Ticket`` (compiled: allocated without a call through the type; the .pxd
    types the arguments)."""
    ticket: Ticket = Ticket.__new__(Ticket)
    ticket._fill("local", tokens, estimated_cost, buckets, parallel, budgets, headers)
    return ticket


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
        # what admit_chat and admit_reserved reserve (set_reservation), and what they asked
        self.default_completion = 0
        self.price_input = 0.0
        self.price_output = 0.0
        self.other: Callable[[Any], int] = _no_other
        self.asked_tokens = 0
        self.asked_cost = 0.0
        self.reserve_share = 1.0
        self.reserve_cap = math.inf  # reserve_share of the smallest budget (set_period)

    def set_reserve_share(self, share: float) -> None:
        """Reserve at most ``share`` (in (0, 1]) of the smallest budget per request."""
        self.reserve_share = share
        self._set_cap()

    def _set_cap(self) -> None:
        cap: cython.double = math.inf
        limit: cython.double
        for limit in self.budget_limits:
            if limit * self.reserve_share < cap:
                cap = limit * self.reserve_share
        self.reserve_cap = cap

    def set_reservation(
        self,
        default_completion: cython.Py_ssize_t,
        price_input: float,
        price_output: float,
        other: Callable[[Any], int],
    ) -> None:
        """How ``admit_chat`` and ``admit_reserved`` turn a request into tokens and USD: the
        completion allowance when a request names none, the price (USD per million input and
        output tokens; 0 when no budget applies) and ``estimate_messages``' ``other``."""
        self.default_completion = default_completion
        self.price_input = price_input
        self.price_output = price_output
        self.other = other

    def admit_chat(
        self,
        messages: list[Any],
        max_completion_tokens: Any,
        max_tokens: Any,
        n: Any,
    ) -> Ticket | None:
        """``admit_reserved`` for a chat request: its prompt estimated from ``messages``
        (``estimate_messages``) and its ``chat_allowance``."""
        prompt: cython.Py_ssize_t = estimate_messages(messages, self.other)
        allowance: cython.Py_ssize_t = chat_allowance(
            max_completion_tokens, max_tokens, n, self.default_completion
        )
        return self.admit_reserved(prompt, allowance)

    def admit_reserved(self, prompt: Any, allowance: Any) -> Ticket | None:
        """``admit`` reserving ``prompt + allowance`` tokens (each clamped by ``token_count``)
        and their price (as ``PriceTable.cost`` sums it, with no cached tokens); both are kept
        in ``asked_tokens`` and ``asked_cost`` for the caller of a refusal."""
        asked: cython.Py_ssize_t = token_count(prompt)
        completion: cython.Py_ssize_t = token_count(allowance)
        cost: cython.double = (
            asked * self.price_input + completion * self.price_output
        ) * _PER_TOKEN
        asked += completion  # at most 2 * TOKEN_CEILING: no wrap
        self.asked_tokens = asked
        self.asked_cost = cost
        return self.admit(asked, cost)

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
        self._set_cap()

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
            if estimated_cost > self.reserve_cap:
                estimated_cost = self.reserve_cap
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
                i = table._tightest(self.requests)  # tightest() without its tuple
                headers.append(self.request_limits[i])
                headers.append(("x-ratelimit-remaining-requests", _remaining(table._least)))
                headers.append(("x-ratelimit-reset-requests", format_reset(table._reset)))
            if self.token_handles:
                i = table._tightest(self.tokens)
                headers.append(self.token_limits[i])
                headers.append(("x-ratelimit-remaining-tokens", _remaining(table._least)))
                headers.append(("x-ratelimit-reset-tokens", format_reset(table._reset)))
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
        return _new_ticket(tokens, estimated_cost, self.token_handles, entered, spends, headers)

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
