"""What a failed OpenAI(-compatible) answer means for routing.

Rules this module keeps:
- No I/O: status, header values and body bytes in, a ``Failure`` kind or a wait out.
- A 400 is classified by the OpenAI error ``code`` first (OpenAI: ``context_length_exceeded``,
  ``content_policy_violation``; Azure: ``content_filter``), by its message only as a fallback.
- ``Retry-After`` is read as seconds or as an HTTP date; ``retry-after-ms`` wins when both
  are present (OpenAI sends both, the milliseconds are the precise one).
"""

from __future__ import annotations

import email.utils
import math

import msgspec

from ..failure import Failure
from .errors import ErrorDetail, read_error

RETRYABLE_STATUSES = frozenset((408, 429, 500, 502, 503, 504))
_CONTEXT_CODES = frozenset(("context_length_exceeded", "string_above_max_length"))
_POLICY_CODES = frozenset(("content_policy_violation", "content_filter", "content_filtered"))
_CONTEXT_WORDS = ("context length", "context_length", "maximum context", "too many tokens")
_POLICY_WORDS = ("content policy", "content management policy", "content_filter", "safety system")


def classify(status: int, body: bytes) -> Failure:
    """The kind of failure of a non-200 upstream answer."""
    if status == 429:
        return Failure.RATE_LIMITED
    if status in RETRYABLE_STATUSES or status >= 500:
        return Failure.TRANSIENT
    if status in (401, 403):
        return Failure.DEPLOYMENT
    if status in (400, 413, 422):
        return classify_400(body)
    return Failure.INVALID


def classify_400(body: bytes) -> Failure:
    """Context length, content policy or plain invalid, from an error body."""
    code = message = None
    try:
        error = read_error(body).error
    except msgspec.DecodeError:  # not an error object: its text is the message
        error = None
        message = body[:2000].decode("utf-8", "replace")
    if isinstance(error, ErrorDetail):
        code, message = error.code, error.message
    elif isinstance(error, str):
        message = error
    if code in _CONTEXT_CODES:
        return Failure.CONTEXT_LENGTH
    if code in _POLICY_CODES:
        return Failure.CONTENT_POLICY
    text = (message or "").lower()
    if any(word in text for word in _CONTEXT_WORDS):
        return Failure.CONTEXT_LENGTH
    if any(word in text for word in _POLICY_WORDS):
        return Failure.CONTENT_POLICY
    return Failure.INVALID


def retry_after(seconds: bytes | None, millis: bytes | None, now_epoch: float) -> float | None:
    """The wait an upstream asked for, in seconds (never negative), or None if it did not
    ask or the value cannot be read. ``now_epoch`` is wall-clock time for HTTP dates."""
    if millis is not None:
        try:
            value = float(millis) / 1000.0
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return max(value, 0.0)
    if seconds is None:
        return None
    text = seconds.decode("latin-1").strip()
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if math.isfinite(value):
        return max(value, 0.0)
    if text[:1].isdigit() or text.lower() in ("inf", "nan", "infinity"):
        return None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(when.timestamp() - now_epoch, 0.0)
