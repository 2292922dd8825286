"""Requests to the Redis scripts and their answers as Python values: no I/O.

``admit_call`` lays out one admission (``scripts.ADMIT``'s KEYS and ARGV) and remembers what
each position means; ``decide`` turns the script's answer into a ``Ticket`` or the error to
raise; ``settle_calls`` lays out the settlement of a batch of tickets in one call.
"""

from __future__ import annotations

from typing import Any

from ..errors import GatewayError, QuotaExceeded, RateLimited
from .headers import rate_headers, retry_after
from .periods import Period, reset_text
from .reserve import Scope, budget_message, parallel_message, rate_message
from .ticket import Ticket

_KEEP_S = 86400  # spend counters outlive their period by a day (for late settlements)
_MOST_TOKENS = 2**54  # a token correction past this is clamped (admission reserves <= 2^54)
_MOST_USD = 1e15  # a cost past this (or not finite) is clamped


def _tokens(value: int) -> float:
    """A token correction as SETTLE takes it: within +-``_MOST_TOKENS`` (clamped as an int,
    so even one past a double converts)."""
    return float(max(-_MOST_TOKENS, min(_MOST_TOKENS, value)))


def _usd(value: float) -> float:
    """An amount of USD as SETTLE takes it: finite, 0 to ``_MOST_USD``."""
    return min(value, _MOST_USD) if value > 0 else 0.0


class AdmitCall:
    """One admission's KEYS/ARGV and what each bucket, counter and budget stands for."""

    __slots__ = ("args", "buckets", "budgets", "estimate", "keys", "parallel", "period", "tokens")

    def __init__(self, tokens: int, estimate: float, period: Period | None) -> None:
        self.tokens = tokens
        self.estimate = estimate
        self.period = period
        self.keys: list[str] = []
        self.args: list[Any] = []
        # (kind, ident, span, budget, end, spent key, reserved key)
        self.budgets: list[tuple[str, str, str, float, float, str, str]] = []
        # (kind, ident, what, limit, key, rate, capacity, cost)
        self.buckets: list[tuple[str, str, str, int, str, float, float, float]] = []
        self.parallel: list[tuple[str, str, int, str]] = []  # (kind, ident, limit, key)


def admit_call(
    prefix: str, scopes: list[Scope], tokens: int, estimate: float, period: Period | None
) -> AdmitCall:
    call = AdmitCall(tokens, estimate, period)
    for kind, ident, limits in scopes:
        base = f"{prefix}{kind}:{ident}"
        if period is not None:
            for span, budget, period_id, end in (
                ("day", limits.budget_day_usd, period.day, period.day_end),
                ("month", limits.budget_month_usd, period.month, period.month_end),
            ):
                if budget is not None:
                    call.budgets.append(
                        (
                            kind,
                            ident,
                            span,
                            budget,
                            end,
                            f"{base}:s:{period_id}",
                            f"{base}:v:{period_id}",
                        )
                    )
        for what, limit, cost, tag in (
            ("requests", limits.rpm, 1.0, "r"),
            ("tokens", limits.tpm, float(tokens), "t"),
        ):
            if limit is not None:
                call.buckets.append(
                    (kind, ident, what, limit, f"{base}:{tag}", limit / 60.0, float(limit), cost)
                )
        if limits.parallel is not None:
            call.parallel.append((kind, ident, limits.parallel, f"{base}:p"))
    keys, args = call.keys, call.args
    args += [len(call.budgets), len(call.buckets), len(call.parallel)]
    for _k, _i, _s, budget, end, spent, reserved in call.budgets:
        keys += [spent, reserved]
        args += [repr(budget), repr(estimate), int(end) + _KEEP_S]
    for *_, key, rate, capacity, cost in call.buckets:
        keys.append(key)
        args += [repr(rate), repr(capacity), repr(cost)]
    for *_, limit, key in call.parallel:
        keys.append(key)
        args.append(limit)
    return call


def decide(call: AdmitCall, answer: list[Any], zone: Any, now: float) -> Ticket | GatewayError:
    """The ticket for an admitted request, or the error that refuses it."""
    code = int(answer[0])
    if code == 0:
        tightest: dict[str, tuple[int, float, float]] = {}
        for i, (_k, _i, what, limit, *_rest) in enumerate(call.buckets):
            level, reset_ms = float(answer[1 + 2 * i]), int(answer[2 + 2 * i]) / 1000.0
            if what not in tightest or level < tightest[what][1]:
                tightest[what] = (limit, level, reset_ms)
        return Ticket(
            "redis",
            call.tokens,
            call.estimate,
            _token_buckets(call),
            [key for *_, key in call.parallel],
            [
                (spent, reserved, int(end) + _KEEP_S)
                for _k, _i, _s, _b, end, spent, reserved in call.budgets
            ],
            rate_headers(tightest.get("requests"), tightest.get("tokens")),
        )
    index = int(answer[1]) - 1
    if code == 1:
        kind, ident, what, limit, _key, _rate, _cap, cost = call.buckets[index]
        retry_ms, level, reset_ms = int(answer[2]), float(answer[3]), int(answer[4]) / 1000.0
        state = (limit, level, reset_ms)
        headers = rate_headers(state, None) if what == "requests" else rate_headers(None, state)
        wait = float("inf") if retry_ms < 0 else retry_ms / 1000.0
        headers.append(("retry-after", retry_after(wait)))
        return RateLimited(rate_message(kind, ident, what, limit, int(cost)), what, headers=headers)
    if code == 2:
        kind, ident, limit, _key = call.parallel[index]
        return RateLimited(
            parallel_message(kind, ident, limit), "requests", headers=[("retry-after", "1")]
        )
    kind, ident, span, budget, end, _spent, _reserved = call.budgets[index]
    return QuotaExceeded(
        budget_message(kind, ident, span, budget, float(answer[2]), reset_text(end, zone)),
        headers=[("retry-after", retry_after(end - now))],
    )


def _token_buckets(call: AdmitCall) -> list[tuple[str, float, float]]:
    return [
        (key, rate, capacity)
        for _k, _i, what, _l, key, rate, capacity, _c in call.buckets
        if what == "tokens"
    ]


def rejected_scope(call: AdmitCall, answer: list[Any]) -> tuple[str, str]:
    """``(scope kind, what)`` of a refusal, for the rejections metric."""
    code, index = int(answer[0]), int(answer[1]) - 1
    if code == 1:
        return call.buckets[index][0], call.buckets[index][2]
    if code == 2:
        return call.parallel[index][0], "parallel"
    return call.budgets[index][0], "budget"


def settle_calls(
    settlements: list[tuple[Ticket, int, float]],
) -> tuple[list[str], list[Any]]:
    """KEYS and ARGV of one ``scripts.SETTLE`` call for every ``(ticket, tokens used, cost)``
    in ``settlements``: what they do to one counter is summed (the reservations given back,
    the spend, the token corrections, the parallel slots left), so requests that share a key,
    team or model cost Redis one script call, not one each. Summing equals applying them one
    by one, except that a bucket is clamped to its capacity once rather than after each.
    Each settlement's numbers are clamped to what the script takes (finite, in range) before
    they are summed, so a settlement with absurd numbers cannot make the call fail."""
    budgets: dict[tuple[str, str], list[Any]] = {}  # (spent, reserved) -> [estimate, cost, expire]
    buckets: dict[str, list[float]] = {}  # key -> [rate, capacity, delta]
    parallel: dict[str, int] = {}  # key -> slots left
    for ticket, tokens, used in settlements:
        estimate, cost = _usd(ticket.estimated_cost), _usd(used)
        for spent, reserved, expire_at in ticket.budgets:
            entry = budgets.get((spent, reserved))
            if entry is None:
                budgets[spent, reserved] = [estimate, cost, expire_at]
            else:
                entry[0] += estimate
                entry[1] += cost
                entry[2] = max(entry[2], expire_at)
        delta = _tokens(tokens - ticket.tokens)
        for key, rate, capacity in ticket.buckets:
            bucket = buckets.get(key)
            if bucket is None:
                buckets[key] = [rate, capacity, delta]
            else:
                bucket[2] += delta
        for key in ticket.parallel:
            parallel[key] = parallel.get(key, 0) + 1
    keys: list[str] = []
    args: list[Any] = [len(budgets), len(buckets), len(parallel)]
    for (spent, reserved), (estimate, cost, expire_at) in budgets.items():
        keys += [spent, reserved]
        args += [repr(estimate), repr(cost), expire_at]
    for key, (rate, capacity, delta) in buckets.items():
        keys.append(key)
        args += [repr(rate), repr(capacity), repr(delta)]
    for key, count in parallel.items():
        keys.append(key)
        args.append(count)
    return keys, args
