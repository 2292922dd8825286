"""OpenAI's error body, written (the gateway's own errors) and read (an upstream's).

Rules this module keeps:
- One shape: ``{"error": {"message", "type", "param", "code"}}``, every field written even
  when null, so that the OpenAI SDKs raise the exception matching ``type``/status.
- Read leniently (``decode_error``): every field may be missing, and ``error`` may be a bare
  string as some OpenAI-compatible servers send it; an unreadable body is ``None``.
- A stream that fails after its headers ends with the error as an ``event: error`` SSE event.
"""

from __future__ import annotations

import msgspec


class ErrorDetail(msgspec.Struct):
    message: str | None = None
    type: str | None = None
    param: str | None = None
    code: str | None = None


class ErrorBody(msgspec.Struct):
    error: ErrorDetail | str | None = None


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(ErrorBody).decode


def error_body(message: str, type: str, param: str | None = None, code: str | None = None) -> bytes:
    """The OpenAI error body: ``{"error": {"message", "type", "param", "code"}}``."""
    return _encode(ErrorBody(ErrorDetail(message, type, param, code)))


def error_event(body: bytes) -> bytes:
    """An error body as the SSE event that ends a failed stream (the SDKs raise ``APIError``)."""
    return b"event: error\ndata: " + body + b"\n\n"


def read_error(body: bytes) -> ErrorBody:
    """An upstream's error body; raises ``msgspec.DecodeError`` if it is not one."""
    return _decode(body)


def is_error_body(data: bytes) -> bool:
    """Whether ``data`` looks like an OpenAI error object (a cheap prefix check)."""
    return data.lstrip()[:1] == b"{" and b'"error"' in data[:64]
