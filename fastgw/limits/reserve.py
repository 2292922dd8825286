"""What a request reserves, and the wording of refusals: the I/O-free parts of admission
(what a finished request settles is ``Limiter.settle``).

- ``reserve_tokens``: prompt tokens counted locally (``fastgw.tokens``) plus the completion
  allowance (``max_completion_tokens``, ``max_tokens`` or ``[limits]
  default_completion_tokens``) for each of the ``n`` choices; embeddings reserve the input only.
- Scopes are ``(kind, id, limits)`` where ``limits`` is a ``KeyRecord``, ``TeamRecord`` or
  ``ModelLimits``: all carry ``rpm``, ``tpm``, ``parallel``, ``budget_day_usd`` and
  ``budget_month_usd``.
"""

from __future__ import annotations

from typing import Any

from .._core import chat_allowance
from ..tokens import estimate_messages, estimate_prompt
from ..wire import ChatRequest, CompletionRequest, EmbeddingRequest

Scope = tuple[str, str, Any]  # (kind: "key" | "team" | "model", id, limits record)


def reserve_tokens(
    request: ChatRequest | CompletionRequest | EmbeddingRequest, default_completion: int
) -> tuple[int, int]:
    """``(prompt estimate, completion allowance)`` for a request."""
    if isinstance(request, ChatRequest):  # as Gate.admit_chat reserves it
        prompt = estimate_messages(request.messages)
        allowance = chat_allowance(
            request.max_completion_tokens, request.max_tokens, request.n, default_completion
        )
        return prompt, allowance
    if isinstance(request, CompletionRequest):  # the same saturating product as chat
        allowance = chat_allowance(None, request.max_tokens, request.n, default_completion)
        return estimate_prompt(request.prompt), allowance
    return estimate_prompt(request.input), 0


def budgets(scopes: list[Scope]) -> list[tuple[int, str, float]]:
    """``(scope index, "day" | "month", USD)`` of every budget of ``scopes``, in the order the
    local gate holds their counters: per scope, the day's then the month's."""
    return [
        (i, span, amount)
        for i, (_k, _i, limits) in enumerate(scopes)
        for span, amount in (("day", limits.budget_day_usd), ("month", limits.budget_month_usd))
        if amount is not None
    ]


def has_budget(scopes: list[Scope]) -> bool:
    """Whether any of ``scopes`` has a day or month budget (the reservation is then priced)."""
    return any(
        limits.budget_day_usd is not None or limits.budget_month_usd is not None
        for _k, _i, limits in scopes
    )


def scope_label(kind: str, ident: str) -> str:
    return f"{kind} '{ident}'"


def budget_message(
    kind: str, ident: str, period: str, budget: float, spent: float, resets: str
) -> str:
    """The ``insufficient_quota`` message: which budget, how much, when it resets."""
    span = "daily" if period == "day" else "monthly"
    return (
        f"The {span} budget of {scope_label(kind, ident)} (${budget:.4f}) is used up "
        f"(${spent:.4f} spent or reserved); it resets at {resets}."
    )


def rate_message(kind: str, ident: str, what: str, limit: int, asked: int) -> str:
    """The ``rate_limit_exceeded`` message, worded like OpenAI's."""
    unit = {"requests": "requests per min (RPM)", "tokens": "tokens per min (TPM)"}[what]
    if what == "tokens" and asked > limit:
        return (
            f"Request too large for {scope_label(kind, ident)} on {unit}: "
            f"Limit {limit}, Requested {asked}. Send fewer tokens or ask for a higher limit."
        )
    return (
        f"Rate limit reached for {scope_label(kind, ident)} on {unit}: Limit {limit}, "
        f"Requested {asked}. Please try again later."
    )


def parallel_message(kind: str, ident: str, limit: int) -> str:
    return (
        f"Too many parallel requests for {scope_label(kind, ident)}: Limit {limit} "
        "in flight. Please try again when one has finished."
    )
