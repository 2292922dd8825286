"""OpenAI wire formats: the few request fields the gateway reads, and its own responses.

Rules this module keeps:
- Request Structs hold only what fastgw routes, limits, caches or mocks on; every other field
  stays in the client's original bytes and is forwarded untouched.
- Decoders and encoders are built once, here. Validation errors become ``InvalidRequest``
  naming the OpenAI ``param`` (``messages[0].role``), malformed JSON becomes ``MalformedJSON``.
- ``with_model`` rewrites only the top-level ``model`` of a body; the other values are spliced
  back as the original raw bytes, in their original order. ``with_stream_usage`` sets
  ``stream_options.include_usage`` the same way (keeping any other stream option); when the
  body has no ``stream_options`` and keeps its model, the field is appended to the bytes.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

import msgspec

from .errors import InvalidRequest, MalformedJSON

# Counts OpenAI rejects below 1 (max_tokens, n, dimensions): refused here with a 400 naming
# the param, before any upstream is asked.
Positive = Annotated[int, msgspec.Meta(ge=1)]


class StreamOptions(msgspec.Struct):
    include_usage: bool = False


class Message(msgspec.Struct):
    role: str
    content: str | list[Any] | None = None


class ChatRequest(msgspec.Struct):
    model: str
    messages: list[Message]
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: Positive | None = None
    max_completion_tokens: Positive | None = None
    n: Positive = 1
    temperature: float | None = None
    seed: int | None = None
    metadata: dict[str, Any] | None = None  # routing reads metadata.tags


class CompletionRequest(msgspec.Struct):
    model: str
    prompt: str | list[str | int | list[int]]
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: Positive | None = None
    n: Positive = 1
    temperature: float | None = None
    seed: int | None = None
    metadata: dict[str, Any] | None = None


class EmbeddingRequest(msgspec.Struct):
    model: str
    input: str | list[str | int | list[int]]
    encoding_format: str = "float"
    dimensions: Positive | None = None


# Token counts an upstream reports: a negative count would refund a budget, and one past
# any real answer would overflow the settlement; either makes the usage unreadable (None),
# so a stream is then charged the tokens counted from what was relayed.
MAX_USAGE_TOKENS = 1 << 40
TokenCount = Annotated[int, msgspec.Meta(ge=0, le=MAX_USAGE_TOKENS)]


class PromptTokensDetails(msgspec.Struct):
    cached_tokens: TokenCount = 0


class Usage(msgspec.Struct, omit_defaults=True):
    prompt_tokens: TokenCount = 0
    completion_tokens: TokenCount = 0
    total_tokens: TokenCount = 0
    prompt_tokens_details: PromptTokensDetails | None = None


class _UsageCarrier(msgspec.Struct):
    usage: Usage | None = None


class ModelCard(msgspec.Struct):
    id: str
    created: int
    owned_by: str
    object: str = "model"


class ModelList(msgspec.Struct):
    data: list[ModelCard]
    object: str = "list"


R = TypeVar("R", bound=msgspec.Struct)

DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {
    cls: msgspec.json.Decoder(cls) for cls in (ChatRequest, CompletionRequest, EmbeddingRequest)
}
_usage_decoder = msgspec.json.Decoder(_UsageCarrier)
_raw_object = msgspec.json.Decoder(dict[str, msgspec.Raw])
encode = msgspec.json.Encoder().encode

_PATH_RE = re.compile(r" - at `\$\.?(.*)`$")
_MISSING_RE = re.compile(r"Object missing required field `([^`]+)`")


def decode_request(cls: type[R], body: bytes) -> R:
    """Decode a request body into ``cls``; raises ``MalformedJSON`` or ``InvalidRequest``."""
    try:
        decoded: R = DECODERS[cls].decode(body)
    except msgspec.ValidationError as exc:
        raise _invalid(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise MalformedJSON(
            f"We could not parse the JSON body of your request ({exc}). "
            "The body must be a JSON object."
        ) from None
    return decoded


def _invalid(text: str) -> InvalidRequest:
    match = _PATH_RE.search(text)
    where = match.group(1) if match else ""
    message = _PATH_RE.sub("", text)
    missing = _MISSING_RE.match(message)
    if missing:
        param = f"{where}.{missing.group(1)}" if where else missing.group(1)
        return InvalidRequest(
            f"Missing required parameter: '{param}'.",
            param=param,
            code="missing_required_parameter",
        )
    if where.startswith("."):
        where = where[1:]
    if not where:
        return InvalidRequest(f"Invalid request body: {message}.", code="invalid_type")
    if "` >= " in message or "` <= " in message:  # the right type, out of range
        return InvalidRequest(
            f"Invalid value for '{where}': {message[0].lower()}{message[1:]}.",
            param=where,
            code="invalid_value",
        )
    return InvalidRequest(
        f"Invalid type for '{where}': {message[0].lower()}{message[1:]}.",
        param=where,
        code="invalid_type",
    )


def with_model(body: bytes, model: str) -> bytes:
    """``body`` with its top-level ``model`` replaced; other values keep their raw bytes."""
    fields = _raw_object.decode(body)
    fields["model"] = msgspec.Raw(encode(model))
    return encode(fields)


_INCLUDE_USAGE = b',"stream_options":{"include_usage":true}'
_TRUE = msgspec.Raw(b"true")


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


def decode_usage(payload: bytes | None) -> Usage | None:
    """The ``usage`` object of a response body or stream event, if it has one."""
    if not payload:
        return None
    try:
        return _usage_decoder.decode(payload).usage
    except msgspec.DecodeError:
        return None
