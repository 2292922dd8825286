"""What the mock reads of a request beyond the gateway's ``ChatRequest``: tools, tool choice,
response format, stop, logprobs and the mock's own ``mock_response`` / ``mock_error``.

Rules this module keeps:
- Plain chat pays nothing: ``read_extras`` first asks whether any of the keys it reads occurs
  in the body (one ``memmem`` per key, compiled core); only then is the body decoded again,
  into Structs holding just those keys. The gateway refuses bodies whose top-level keys are
  spelled with escapes or repeated (``decode.check_shape_code``), so a key the test misses is
  a key the request does not have.
- Whatever the client sent is checked here as OpenAI checks it, and a mistake is a
  ``RequestError`` (the mock answers it with a 400 in OpenAI's error shape, naming the
  ``param``), never an exception past the provider: tools are at most 128 function tools with
  names OpenAI accepts, ``tool_choice`` and ``parallel_tool_calls`` need tools, a named
  choice names one of them, ``stop`` is a string or up to 4, ``top_logprobs`` needs
  ``logprobs``, ``mock_error`` is one of ``MOCK_ERRORS``.
- No I/O: bytes in, Structs or a ``RequestError`` out.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec

from .._core import contains_any
from ..protocols.openai.requests import MAX_TOP_LOGPROBS

MAX_TOOLS = 128  # OpenAI's limit on a request's tools
MAX_STOP = 4  # OpenAI's limit on stop sequences
#: The statuses ``mock_error`` may ask for, with the OpenAI error ``type`` and ``code`` of each.
MOCK_ERRORS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    408: ("timeout_error", None),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", None),
    504: ("server_error", None),
}

_NAME = Annotated[str, msgspec.Meta(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
# Six memmem calls, about 0.3 us on a 200-byte body (the nine exact keys cost a third more):
# '"tool' finds "tools" and "tool_choice" (and a tool result's "role":"tool", whose request
# then takes the extras path to the same answer), 'logprobs"' finds "logprobs" and
# "top_logprobs", '"mock_' both of the mock's own keys.
_CHAT_KEYS = (
    b'"tool',
    b'"parallel_tool_calls"',
    b'"response_format"',
    b'"stop"',
    b'logprobs"',
    b'"mock_',
)
_TEXT_KEYS = (b'"stop"', b'"mock_')
_PATH_RE = re.compile(r" - at `\$\.?(.*)`$")


class FunctionDef(msgspec.Struct):
    name: _NAME
    description: str | None = None
    parameters: dict[str, Any] | None = None  # a JSON schema; none: no arguments
    strict: bool | None = None


class Tool(msgspec.Struct):
    type: Literal["function"]
    function: FunctionDef


class _Named(msgspec.Struct):
    name: str


class NamedToolChoice(msgspec.Struct):
    type: Literal["function"]
    function: _Named


class JSONSchemaFormat(msgspec.Struct):
    name: _NAME
    schema: dict[str, Any] | None = None
    strict: bool | None = None
    description: str | None = None


class ResponseFormat(msgspec.Struct):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None


class Extras(msgspec.Struct):
    """The fields the mock reads beyond ``ChatRequest`` (all optional)."""

    tools: Annotated[list[Tool], msgspec.Meta(min_length=1, max_length=MAX_TOOLS)] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    stop: str | Annotated[list[str], msgspec.Meta(max_length=MAX_STOP)] | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, msgspec.Meta(ge=0, le=MAX_TOP_LOGPROBS)] | None = None
    mock_response: str | None = None
    mock_error: int | None = None

    @property
    def stops(self) -> list[str]:
        """The stop sequences, empty ones left out (they would cut every answer at 0)."""
        stop = [self.stop] if isinstance(self.stop, str) else self.stop or []
        return [s for s in stop if s]


class _TextExtras(msgspec.Struct):
    stop: str | Annotated[list[str], msgspec.Meta(max_length=MAX_STOP)] | None = None
    mock_response: str | None = None
    mock_error: int | None = None


_decode_chat = msgspec.json.Decoder(Extras).decode
_decode_text = msgspec.json.Decoder(_TextExtras).decode


class RequestError(Exception):
    """A request OpenAI would refuse: answered with a 400 naming ``param``."""

    def __init__(self, message: str, param: str | None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


def read_extras(body: bytes, chat: bool) -> Extras | None:
    """The extra fields of a chat (``chat``) or text completion request body, checked; None
    when it has none of them (the plain path). Raises ``RequestError``."""
    if not contains_any(body, _CHAT_KEYS if chat else _TEXT_KEYS):
        return None
    try:
        if chat:
            extras = _decode_chat(body)
        else:
            text = _decode_text(body)
            extras = Extras(
                stop=text.stop, mock_response=text.mock_response, mock_error=text.mock_error
            )
    except msgspec.ValidationError as exc:
        raise _invalid(str(exc)) from None
    except (msgspec.DecodeError, RecursionError):  # the gateway decoded it: not reached
        raise RequestError("The request body could not be read.", None) from None
    _check(extras)
    return extras


def _check(extras: Extras) -> None:
    if extras.mock_error is not None and extras.mock_error not in MOCK_ERRORS:
        statuses = ", ".join(map(str, MOCK_ERRORS))
        raise RequestError(
            f"Invalid value for 'mock_error': {extras.mock_error}; the mock answers {statuses}.",
            "mock_error",
            "invalid_value",
        )
    if extras.top_logprobs is not None and extras.logprobs is not True:
        raise RequestError(
            "Invalid value for 'top_logprobs': 'logprobs' must be set to true when "
            "'top_logprobs' is used.",
            "top_logprobs",
            "invalid_value",
        )
    fmt = extras.response_format
    if fmt is not None and fmt.type == "json_schema" and fmt.json_schema is None:
        raise RequestError(
            "Missing required parameter: 'response_format.json_schema'.",
            "response_format.json_schema",
            "missing_required_parameter",
        )
    if extras.tools is None:
        for name in ("tool_choice", "parallel_tool_calls"):
            value = getattr(extras, name)
            if value is not None and value != "none":
                raise RequestError(
                    f"Invalid value for '{name}': '{name}' is only allowed when 'tools' are "
                    "specified.",
                    name,
                )
        return
    names = [tool.function.name for tool in extras.tools]
    choice = extras.tool_choice
    if isinstance(choice, NamedToolChoice) and choice.function.name not in names:
        raise RequestError(
            f"Invalid value for 'tool_choice': no function named '{choice.function.name[:64]}' "
            "is among the tools.",
            "tool_choice",
            "invalid_value",
        )


def _invalid(text: str) -> RequestError:
    """A msgspec validation message as OpenAI words it, naming the param (``tools[0].type``)."""
    match = _PATH_RE.search(text)
    where = (match.group(1) if match else "").lstrip(".")
    message = _PATH_RE.sub("", text)
    if not where:
        return RequestError(f"Invalid request body: {message}.", None, "invalid_type")
    return RequestError(
        f"Invalid value for '{where}': {message[0].lower()}{message[1:]}.",
        where,
        "invalid_value",
    )
