"""Bedrock's errors as OpenAI error kinds (sans-IO).

Bedrock answers an error with an HTTP status, a JSON body ``{"message": ...}`` (``Message``
in some services' spelling) and the exception's name in the ``x-amzn-ErrorType`` header
(``ThrottlingException:http://...``); a stream's exception frames carry the same names in
lower camel case (``throttlingException``).

Rules this module keeps:
- The exception name decides the kind; the status only when there is no name.
- A ``ValidationException`` about the input's size is ``context_length`` (routing then tries
  the model's context fallbacks); other validation errors are ``invalid``.
- The message is passed on as Bedrock wrote it (it names no secret); a body that is not JSON
  is quoted, cut to ``MAX_MESSAGE_CHARS``.
"""

from __future__ import annotations

import msgspec

from ..openai.translate import error_answer, status_kind

MAX_MESSAGE_CHARS = 2000

#: exception name (lower-cased, no "exception" suffix) -> error kind
_KINDS = {
    "validation": "invalid",
    "accessdenied": "permission",
    "unrecognizedclient": "auth",
    "expiredtoken": "auth",
    "invalidsignature": "auth",
    "incompletesignature": "auth",
    "missingauthenticationtoken": "auth",
    "resourcenotfound": "not_found",
    "throttling": "rate_limited",
    "servicequotaexceeded": "rate_limited",
    "modeltimeout": "timeout",
    "modelnotready": "overloaded",
    "internalserver": "server",
    "serviceunavailable": "overloaded",
    "modelerror": "server",
    "modelstreamerror": "server",
}
_CONTEXT_WORDS = (
    "too long",
    "too many tokens",
    "too many input tokens",
    "context length",
    "context window",
    "maximum context",
)


class _Error(msgspec.Struct):
    message: str | None = None
    Message: str | None = None


_decode_error = msgspec.json.Decoder(_Error).decode


def error_kind(error_type: str | None, status: int, message: str) -> str:
    """The OpenAI error kind of a Bedrock error (``error_type``: the exception's name as in
    ``x-amzn-ErrorType`` or ``:exception-type``, None when absent)."""
    name = (error_type or "").partition(":")[0].lower().removesuffix("exception")
    kind = _KINDS.get(name)
    if kind is None:
        kind = "server" if status == 424 else status_kind(status)
    if kind == "invalid":
        text = message.lower()
        if any(word in text for word in _CONTEXT_WORDS):
            return "context_length"
    return kind


def error_message(body: bytes) -> str:
    """The message of a Bedrock error body."""
    try:
        error = _decode_error(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        error = None
    if error is not None and (error.message or error.Message):
        return (error.message or error.Message or "")[:MAX_MESSAGE_CHARS]
    text = body[:MAX_MESSAGE_CHARS].decode("utf-8", "replace").strip()
    return f"Bedrock answered: {text}" if text else "Bedrock answered with an error."


def translate_error(status: int, body: bytes, error_type: str | None) -> tuple[int, bytes]:
    """A Bedrock error answer as OpenAI's status and body."""
    message = error_message(body)
    return error_answer(error_kind(error_type, status, message), message)


__all__ = ["error_kind", "error_message", "translate_error"]
