"""OpenAI's rate-limit headers, and the reset durations they carry.

``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` describe the tightest limit of each
kind that applies to the request (the one with the fewest units left). Reset durations are
written like Go's ``time.Duration`` strings, as OpenAI writes them: ``"20ms"``, ``"1s"``,
``"1.5s"``, ``"6m0s"``, ``"1h2m3s"``. No I/O. ``format_reset`` lives in the compiled core
(the local admission writes these headers there, on every limited request).
"""

from __future__ import annotations

import math

from .._core import format_reset

__all__ = ["format_reset", "rate_headers", "retry_after"]


def retry_after(seconds: float) -> str:
    """The ``Retry-After`` value: whole seconds, at least 1."""
    if seconds == math.inf:
        return "60"
    return str(max(1, math.ceil(seconds)))


def rate_headers(
    requests: tuple[int, float, float] | None, tokens: tuple[int, float, float] | None
) -> list[tuple[str, str]]:
    """The six headers from ``(limit, remaining, reset seconds)`` of the tightest requests
    limit and the tightest tokens limit (either may be None: that kind's three are left out).
    Remaining is floored at 0 (a bucket in debt shows 0)."""
    out: list[tuple[str, str]] = []
    if requests is not None:
        limit, remaining, reset = requests
        out += [
            ("x-ratelimit-limit-requests", str(limit)),
            ("x-ratelimit-remaining-requests", str(max(0, int(remaining)))),
            ("x-ratelimit-reset-requests", format_reset(reset)),
        ]
    if tokens is not None:
        limit, remaining, reset = tokens
        out += [
            ("x-ratelimit-limit-tokens", str(limit)),
            ("x-ratelimit-remaining-tokens", str(max(0, int(remaining)))),
            ("x-ratelimit-reset-tokens", format_reset(reset)),
        ]
    return out
