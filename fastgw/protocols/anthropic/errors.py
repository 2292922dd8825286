"""Anthropic's errors as OpenAI's error kinds (sans-IO).

Rules this module keeps:
- Anthropic's error body is ``{"type": "error", "error": {"type", "message"}}``; the error
  ``type`` names the kind (``ERROR_TYPES``), the HTTP status is the fallback when the body
  cannot be read or names a type not listed.
- A 400 whose message says the prompt is too long is ``context_length`` (routing may fall
  back to a model with a larger window); ``overloaded_error`` (529) is ``overloaded``, a
  retryable 503 to routing.
"""

from __future__ import annotations

import msgspec

from ..openai.translate import status_kind

#: Anthropic error type -> OpenAI error kind (``fastgw.protocols.openai.translate.ERROR_KINDS``)
ERROR_TYPES = {
    "invalid_request_error": "invalid",
    "authentication_error": "auth",
    "permission_error": "permission",
    "billing_error": "permission",
    "not_found_error": "not_found",
    "request_too_large": "too_large",
    "rate_limit_error": "rate_limited",
    "api_error": "server",
    "timeout_error": "timeout",
    "overloaded_error": "overloaded",
}
_CONTEXT_WORDS = ("prompt is too long", "context window", "context length", "too many tokens")


class ErrorDetail(msgspec.Struct):
    type: str = ""
    message: str = ""


class ErrorBody(msgspec.Struct):
    error: ErrorDetail


_read = msgspec.json.Decoder(ErrorBody).decode


def read_error(status: int, body: bytes) -> tuple[str, str]:
    """The OpenAI error kind and the message of an Anthropic error answer (or event data)."""
    try:
        detail = _read(body).error
    except msgspec.DecodeError:
        text = body[:500].decode("utf-8", "replace").strip()
        return status_kind(status), text or f"Anthropic answered with status {status}."
    return error_kind(detail.type, detail.message, status), detail.message


def error_kind(type_: str, message: str, status: int) -> str:
    kind = ERROR_TYPES.get(type_) or status_kind(status)
    if kind == "invalid" and any(w in message.lower() for w in _CONTEXT_WORDS):
        return "context_length"
    return kind


__all__ = ["ERROR_TYPES", "error_kind", "read_error"]
