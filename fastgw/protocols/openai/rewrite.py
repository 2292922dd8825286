"""Rewriting a client's request body for the upstream, keeping every other byte.

Rules this module keeps:
- ``with_model`` rewrites only the top-level ``model`` of a body; the other values are spliced
  back as the original raw bytes, in their original order. ``with_stream_usage`` sets
  ``stream_options.include_usage`` the same way (keeping any other stream option); when the
  body has no ``stream_options`` and keeps its model, the field is appended to the bytes.
- Bodies given here have passed ``decode_request`` (shape bounded, no key doubled: a doubled
  key would be kept once here).
"""

from __future__ import annotations

import msgspec

from .decode import too_deep

encode = msgspec.json.Encoder().encode
_raw_object = msgspec.json.Decoder(dict[str, msgspec.Raw])
_INCLUDE_USAGE = b',"stream_options":{"include_usage":true}'
_TRUE = msgspec.Raw(b"true")


def with_model(body: bytes, model: str) -> bytes:
    """``body`` with its top-level ``model`` replaced; other values keep their raw bytes."""
    try:
        fields = _raw_object.decode(body)
    except RecursionError:
        raise too_deep() from None
    fields["model"] = msgspec.Raw(encode(model))
    return encode(fields)


def with_stream_usage(body: bytes, model: str | None = None) -> bytes:
    """``body`` (a JSON object) asking for ``stream_options.include_usage``, and with
    ``model`` as its top-level model when given; other values keep their raw bytes."""
    if model is None and b'"stream_options"' not in body:  # the common case: no decoding
        end = body.rstrip().rfind(b"}")
        return body[:end] + _INCLUDE_USAGE + body[end:]
    fields = _raw_object.decode(body)
    options: dict[str, msgspec.Raw] = {}
    raw = fields.get("stream_options")
    if raw is not None and bytes(raw).lstrip()[:1] == b"{":
        options = _raw_object.decode(raw)
    options["include_usage"] = _TRUE
    fields["stream_options"] = msgspec.Raw(encode(options))
    if model is not None:
        fields["model"] = msgspec.Raw(encode(model))
    return encode(fields)
