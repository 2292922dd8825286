"""A client's Messages body, sent to an Anthropic upstream as written: only the top-level
``model`` value replaced (sans-IO).

Rules this module keeps:
- Every other byte is kept: whitespace, key order, escapes, numbers as written. The body is
  split once into its top-level values by msgspec (``dict[str, Raw]``: each value's exact
  bytes); the model's value is found by walking those values in order through the body with
  ``bytes.find`` (C), so the cost is a handful of calls whatever the body's size.
- A body this walk cannot follow (a key written with escapes, a doubled key) falls back to
  ``openai.rewrite.with_model``, which keeps every value's bytes but re-writes the top-level
  punctuation. Bodies given here were read by ``front_request.read_request`` (valid JSON).
"""

from __future__ import annotations

import msgspec

from ..openai.rewrite import with_model

_encode = msgspec.json.Encoder().encode
_raw_object = msgspec.json.Decoder(dict[str, msgspec.Raw])
_SPACE = b" \t\r\n"


def rename_model(body: bytes, model: str) -> bytes:
    """``body`` with its top-level ``model`` value replaced by ``model``; see the rules."""
    span = _model_span(body)
    if span is None:
        return with_model(body, model)
    start, end = span
    return body[:start] + _encode(model) + body[end:]


def _model_span(body: bytes) -> tuple[int, int] | None:
    """Where the top-level ``model`` value's bytes are, or None when the walk fails."""
    try:
        fields = _raw_object.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    at = body.find(b"{") + 1
    for key, raw in fields.items():
        written = _encode(key)
        key_at = body.find(written, at)
        if key_at < 0 or body[at:key_at].strip(_SPACE + b",") != b"":
            return None  # the key is not the next thing: escapes, or a doubled key
        colon = body.find(b":", key_at + len(written))
        if colon < 0 or body[key_at + len(written) : colon].strip(_SPACE) != b"":
            return None
        value = bytes(raw)
        start = colon + 1
        while body[start : start + 1] in (b" ", b"\t", b"\r", b"\n"):
            start += 1
        if not body.startswith(value, start):
            return None
        end = start + len(value)
        if key == "model":
            return start, end
        at = end
    return None


__all__ = ["rename_model"]
