"""Gemini's errors as OpenAI error kinds (``translate.ERROR_KINDS``).

Gemini answers errors as ``{"error": {"code", "message", "status"}}`` with a google.rpc
status name. Rules this module keeps:
- The status name decides the kind; the HTTP status decides when the body is not Gemini's
  (a proxy's HTML page, an empty body).
- ``INVALID_ARGUMENT`` about the input's token count is ``context_length``;
  ``RESOURCE_EXHAUSTED`` is ``rate_limited`` (429, cooled down); ``UNAVAILABLE`` is
  ``overloaded`` (503, retried); ``DEADLINE_EXCEEDED`` is ``timeout``.
- ``INVALID_ARGUMENT`` saying the API key is not valid (how Gemini answers a wrong key) is
  ``auth``, so routing treats it as the gateway's credential problem.
- A 429's ``google.rpc.RetryInfo.retryDelay`` (``"37s"``) is the wait Gemini asks for
  (``retry_after``): Gemini sends no Retry-After header, so the provider offers it as one.
- The message is Gemini's own, so a client sees what Google said.
"""

from __future__ import annotations

import msgspec

from ..openai.translate import error_answer, status_kind
from .wire import Error, decode_error

_KINDS = {
    "INVALID_ARGUMENT": "invalid",
    "FAILED_PRECONDITION": "invalid",
    "OUT_OF_RANGE": "invalid",
    "UNAUTHENTICATED": "auth",
    "PERMISSION_DENIED": "permission",
    "NOT_FOUND": "not_found",
    "RESOURCE_EXHAUSTED": "rate_limited",
    "INTERNAL": "server",
    "UNKNOWN": "server",
    "UNAVAILABLE": "overloaded",
    "DEADLINE_EXCEEDED": "timeout",
}
_TOO_LONG = ("token count", "too long", "exceeds the maximum number of tokens", "context")


def error_kind(error: Error, status: int) -> str:
    """The OpenAI error kind of a Gemini error object (``status``: the HTTP status)."""
    kind = _KINDS.get(error.status) or status_kind(status or error.code or 500)
    if kind == "invalid":
        text = error.message.lower()
        if "api key" in text and "not valid" in text:
            return "auth"  # Gemini answers a wrong key with 400 INVALID_ARGUMENT
        if "token" in text and any(words in text for words in _TOO_LONG):
            return "context_length"
    return kind


def error_answer_of(status: int, body: bytes) -> tuple[int, bytes]:
    """A non-200 Gemini answer as OpenAI's status and error body."""
    try:
        error = decode_error(body).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        text = body[:200].decode("utf-8", "replace").strip()
        return error_answer(status_kind(status), f"Gemini answered {status}: {text}")
    message = error.message or f"Gemini answered {status} {error.status}".strip()
    return error_answer(error_kind(error, status), message)


def retry_after(body: bytes) -> bytes | None:
    """The seconds a Gemini error body asks the client to wait (``RetryInfo.retryDelay``), as
    a Retry-After header value, or None."""
    try:
        details = decode_error(body).error.details
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    for detail in details:
        delay = detail.retry_delay
        if detail.type.endswith("RetryInfo") and delay and delay.endswith("s"):
            try:
                seconds = float(delay[:-1])
            except ValueError:
                return None
            if 0 <= seconds < 86400:
                return f"{seconds:g}".encode()
    return None
