"""What a request reserves and what it settles: the I/O-free arithmetic of admission.

- ``reserve_tokens``: prompt tokens counted locally (``fastgw.tokens``) plus the completion
  allowance (``max_completion_tokens``, ``max_tokens`` or ``[limits]
  default_completion_tokens``) for each of the ``n`` choices; embeddings reserve the input only.
- ``settled``: what a finished request really used, from its ``Exchange``:
  a cache hit used no upstream tokens and cost nothing (it still counted as a request);
  an answer with usage settles to that usage and its price;
  a stream that was relayed without usage (the client did not ask for ``include_usage``)
  keeps its reservation and is charged its estimate, an upper bound;
  anything else (refused, failed before an answer) used nothing and costs nothing.
- Scopes are ``(kind, id, limits)`` where ``limits`` is a ``KeyRecord``, ``TeamRecord`` or
  ``ModelLimits``: all carry ``rpm``, ``tpm``, ``parallel``, ``budget_day_usd`` and
  ``budget_month_usd``.
"""

from __future__ import annotations

from typing import Any

from .._core import chat_allowance
from ..exchange import Exchange
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
    if isinstance(request, CompletionRequest):
        allowance = request.max_tokens or default_completion
        return estimate_prompt(request.prompt), allowance * request.n
    return estimate_prompt(request.input), 0


def settled(ex: Exchange, reserved: int, estimated_cost: float) -> tuple[int, float]:
    """``(tokens, cost in USD)`` a finished request used; see the module docstring."""
    if ex.cache == "hit":
        return 0, 0.0
    if ex.prompt_tokens is not None:
        return ex.prompt_tokens + (ex.completion_tokens or 0), ex.cost_usd or 0.0
    if ex.stream and ex.ttft is not None:
        return reserved, estimated_cost
    return 0, 0.0


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
