"""Decoding a client's OpenAI request body: bounded shape first, then the request Struct.

Rules this module keeps:
- A body's shape is bounded before it is decoded (``fastgw._core.check_shape``): nesting at
  most ``MAX_JSON_DEPTH`` deep, at most ``MAX_TOP_LEVEL_KEYS`` top-level keys, and no
  top-level key twice (also when spelled with escapes: ``"mod\\u0065l"``). The decoder keeps
  the last of two equal keys while the original bytes go upstream, where the first may win:
  the gateway would check one model and the upstream serve another. Each is a 400.
- Decoders are built once, here. Validation errors become ``InvalidRequest`` naming the
  OpenAI ``param`` (``messages[0].role``); a value of the right type out of its bounds is
  ``invalid_value``; malformed JSON is ``MalformedJSON``; never a 500.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from ..._core import check_shape
from ..._core.jsonshape import (
    DUPLICATE_KEY,
    ESCAPED_KEY,
    MAX_TOP_LEVEL_KEYS,
    TOO_DEEP,
    TOO_MANY_KEYS,
    top_level_keys,
)
from ...errors import InvalidRequest, MalformedJSON
from .requests import ChatRequest, CompletionRequest, EmbeddingRequest

#: How deep arrays and objects may nest in a request body. OpenAI's deepest structures (JSON
#: schemas of tools and response formats) stay far below; the decoders' recursion does not.
MAX_JSON_DEPTH = 128

R = TypeVar("R", bound=msgspec.Struct)

DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {
    cls: msgspec.json.Decoder(cls) for cls in (ChatRequest, CompletionRequest, EmbeddingRequest)
}
_decode_str = msgspec.json.Decoder(str).decode

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
        raise too_deep() from None
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
        raise too_deep()
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


def too_deep() -> MalformedJSON:
    """The 400 for a body nested past ``MAX_JSON_DEPTH``."""
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
