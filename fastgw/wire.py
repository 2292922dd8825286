"""OpenAI wire formats: the few request fields the gateway reads, and its own responses.

Rules this module keeps:
- Request Structs hold only what fastgw routes, limits, caches or mocks on; every other field
  stays in the client's original bytes and is forwarded untouched.
- Every number a client sends that fastgw decodes is range-checked here, at decode (msgspec
  ``Meta`` bounds: C comparisons, no Python per field), to what OpenAI's API reference accepts
  (openapi.yaml: ``n`` 1..128, ``top_logprobs`` 0..20, ``temperature`` 0..2, ``top_p`` 0..1,
  penalties -2..2, ``logit_bias`` -100..100, ``best_of`` 0..20, ``logprobs`` 0..5, ``seed`` an
  int64, embeddings ``input`` 1..2048 items), whatever the provider; token counts are bounded by
  ``MAX_TOKENS``. So nothing downstream (admission arithmetic, Redis scripts, the mock) ever
  sees a number it could overflow on, and a value out of range is a 400 ``invalid_value``
  naming the param, never a 500. Fields decoded only for this check are marked so.
- Decoders and encoders are built once, here. Validation errors become ``InvalidRequest``
  naming the OpenAI ``param`` (``messages[0].role``), malformed JSON becomes ``MalformedJSON``.
- A body's shape is bounded before it is decoded (``fastgw._core.check_shape``): nesting at
  most ``MAX_JSON_DEPTH`` deep, at most ``MAX_TOP_LEVEL_KEYS`` top-level keys, and no
  top-level key twice (also when spelled with escapes: ``"mod\\u0065l"``). The decoder keeps
  the last of two equal keys while the original bytes go upstream, where the first may win:
  the gateway would check one model and the upstream serve another. Each is a 400.
- ``with_model`` rewrites only the top-level ``model`` of a body; the other values are spliced
  back as the original raw bytes, in their original order. ``with_stream_usage`` sets
  ``stream_options.include_usage`` the same way (keeping any other stream option); when the
  body has no ``stream_options`` and keeps its model, the field is appended to the bytes.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

import msgspec

from ._core import check_shape
from ._core.jsonshape import (
    DUPLICATE_KEY,
    ESCAPED_KEY,
    MAX_TOP_LEVEL_KEYS,
    TOO_DEEP,
    TOO_MANY_KEYS,
    top_level_keys,
)
from .errors import InvalidRequest, MalformedJSON

#: How deep arrays and objects may nest in a request body. OpenAI's deepest structures (JSON
#: schemas of tools and response formats) stay far below; the decoders' recursion does not.
MAX_JSON_DEPTH = 128


class StreamOptions(msgspec.Struct):
    include_usage: bool = False


class Message(msgspec.Struct):
    role: str
    content: str | list[Any] | None = None


# OpenAI's documented bounds (openapi.yaml, CreateChatCompletionRequest, CreateCompletionRequest,
# CreateEmbeddingRequest); refused here with a 400 naming the param, before any upstream is asked.
MAX_CHOICES = 128  # n
MAX_EMBEDDING_INPUTS = 2048  # items of an embeddings input array
MAX_TOP_LOGPROBS = 20
MAX_BEST_OF = 20
MAX_LOGPROBS = 5  # legacy completions
# max_tokens, max_completion_tokens: OpenAI documents no maximum (each model refuses past its
# own); 2^24 is above every model's context window (the largest, 10M tokens) and keeps
# n x max_tokens (at most 2^31) exact in a C integer, a double and a Redis (Lua) number.
MAX_TOKENS = 2**24
# embeddings dimensions: OpenAI documents no maximum (its largest model has 3072)
MAX_DIMENSIONS = 65_536
MAX_TOKEN_ID = 2**32 - 1  # a token of a prompt or an embeddings input given as integers
_INT64 = 2**63

Tokens = Annotated[int, msgspec.Meta(ge=1, le=MAX_TOKENS)]
Choices = Annotated[int, msgspec.Meta(ge=1, le=MAX_CHOICES)]
Dimensions = Annotated[int, msgspec.Meta(ge=1, le=MAX_DIMENSIONS)]
Seed = Annotated[int, msgspec.Meta(ge=-_INT64, le=_INT64 - 1)]
Temperature = Annotated[float, msgspec.Meta(ge=0, le=2)]
TopP = Annotated[float, msgspec.Meta(ge=0, le=1)]
Penalty = Annotated[float, msgspec.Meta(ge=-2, le=2)]
LogitBias = dict[str, Annotated[float, msgspec.Meta(ge=-100, le=100)]]
TopLogprobs = Annotated[int, msgspec.Meta(ge=0, le=MAX_TOP_LOGPROBS)]
Token = Annotated[int, msgspec.Meta(ge=0, le=MAX_TOKEN_ID)]
TokenList = Annotated[list[Token], msgspec.Meta(min_length=1)]
EmbeddingInputs = Annotated[
    list[str | Token | TokenList], msgspec.Meta(min_length=1, max_length=MAX_EMBEDDING_INPUTS)
]


class ChatRequest(msgspec.Struct):
    model: str
    messages: list[Message]
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: Tokens | None = None
    max_completion_tokens: Tokens | None = None
    n: Choices = 1
    temperature: Temperature | None = None
    seed: Seed | None = None
    metadata: dict[str, Any] | None = None  # routing reads metadata.tags
    # decoded only to be range-checked (the upstream gets the original bytes)
    top_p: TopP | None = None
    frequency_penalty: Penalty | None = None
    presence_penalty: Penalty | None = None
    logit_bias: LogitBias | None = None
    top_logprobs: TopLogprobs | None = None


class CompletionRequest(msgspec.Struct):
    model: str
    prompt: str | list[str | Token | TokenList]
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: Tokens | None = None
    n: Choices = 1
    temperature: Temperature | None = None
    seed: Seed | None = None
    metadata: dict[str, Any] | None = None
    # decoded only to be range-checked (the upstream gets the original bytes)
    top_p: TopP | None = None
    frequency_penalty: Penalty | None = None
    presence_penalty: Penalty | None = None
    logit_bias: LogitBias | None = None
    best_of: Annotated[int, msgspec.Meta(ge=0, le=MAX_BEST_OF)] | None = None
    logprobs: Annotated[int, msgspec.Meta(ge=0, le=MAX_LOGPROBS)] | None = None


class EmbeddingRequest(msgspec.Struct):
    model: str
    input: str | EmbeddingInputs
    encoding_format: str = "float"
    dimensions: Dimensions | None = None


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
_decode_str = msgspec.json.Decoder(str).decode
encode = msgspec.json.Encoder().encode

_PATH_RE = re.compile(r" - at `\$\.?(.*)`$")
_MISSING_RE = re.compile(r"Object missing required field `([^`]+)`")
# msgspec's words for a value of the right type out of its bounds: "Expected `int` <= 128",
# "Expected `array` of length <= 2048", "Number out of range" (past a double, or an int64
# for an int field)
_OUT_OF_RANGE_RE = re.compile(r"[`h] [<>]= |out of range")


def decode_request(cls: type[R], body: bytes) -> R:
    """Decode a request body into ``cls``; raises ``MalformedJSON`` or ``InvalidRequest``
    (also for a body too deep, with too many top-level keys, or one of them twice)."""
    shape = check_shape(body, MAX_JSON_DEPTH)
    if shape:
        check_shape_code(shape, body)
    try:
        decoded: R = DECODERS[cls].decode(body)
    except msgspec.ValidationError as exc:
        raise _invalid(str(exc)) from None
    except RecursionError:  # not past check_shape; kept so that no decoder can give a 500
        raise _too_deep() from None
    except msgspec.DecodeError as exc:
        raise MalformedJSON(
            f"We could not parse the JSON body of your request ({exc}). "
            "The body must be a JSON object."
        ) from None
    return decoded


def check_shape_code(shape: int, body: bytes) -> None:
    """Raise the 400 for a ``check_shape`` answer; return if the body is fine after all (an
    ``ESCAPED_KEY`` whose decoded keys are all distinct)."""
    if shape == TOO_DEEP:
        raise _too_deep()
    if shape == TOO_MANY_KEYS:
        raise InvalidRequest(
            f"The request body has more than {MAX_TOP_LEVEL_KEYS} top-level parameters.",
            code="too_many_parameters",
        )
    if shape in (DUPLICATE_KEY, ESCAPED_KEY):
        seen: set[str] = set()
        for raw in top_level_keys(body):
            try:
                name = _decode_str(b'"' + raw + b'"')
            except msgspec.DecodeError:
                return  # a broken escape: the decoder reports it
            if name in seen:
                shown = name if len(name) <= 64 else name[:64] + "..."
                raise InvalidRequest(
                    f"The parameter '{shown}' appears more than once in the request body; "
                    "send each parameter once.",
                    param=shown,
                    code="duplicate_parameter",
                )
            seen.add(name)
        if shape == DUPLICATE_KEY:  # equal bytes are equal names: not reached
            raise InvalidRequest("A parameter appears more than once in the request body.")


def _too_deep() -> MalformedJSON:
    return MalformedJSON(
        f"The JSON body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep."
    )


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
    where = where.replace("[...]", "")  # a value of a map (logit_bias): the map is the param
    if not where:
        return InvalidRequest(f"Invalid request body: {message}.", code="invalid_type")
    if _OUT_OF_RANGE_RE.search(message):  # the right type, out of range
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
    """``body`` with its top-level ``model`` replaced; other values keep their raw bytes.
    ``body`` has passed ``decode_request`` (so its shape is bounded and no key is doubled:
    a doubled key would be kept once here)."""
    try:
        fields = _raw_object.decode(body)
    except RecursionError:
        raise _too_deep() from None
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
