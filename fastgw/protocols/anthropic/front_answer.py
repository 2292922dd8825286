"""An OpenAI answer (a completion or an error) as the Anthropic Messages API's, for a client
of fastgw's ``/v1/messages`` (sans-IO; ``answer.py`` is the other way).

Rules this module keeps:
- A completion becomes a ``message``: its thinking blocks first (from ``thinking_blocks``,
  signatures untouched; ``reasoning_content`` alone becomes one thinking block with an
  empty signature), then its text, then each tool call as ``tool_use`` whose ``input`` is
  the arguments' JSON object as received (arguments that are not a JSON object become
  ``{}``: Anthropic's input is always an object).
- ``finish_reason`` becomes ``stop_reason`` (``STOP_REASONS``); OpenAI does not say which
  stop sequence ended an answer, so ``stop_sequence`` stays null and a stop is ``end_turn``.
- Usage: ``input_tokens`` is the prompt less its cache reads and cache writes (Anthropic
  counts those apart), ``cache_read_input_tokens`` and ``cache_creation_input_tokens`` beside.
- Errors are Anthropic's ``{"type": "error", "error": {"type", "message"}}`` with the status
  Anthropic would answer (``anthropic_error``), so the Anthropic SDK raises its matching
  exception. The id is ``msg_``-prefixed (an Anthropic upstream's own id kept as it is).
- A 200 whose body cannot be read is an ``api_error`` 502: never a 500 of the gateway.
"""

from __future__ import annotations

from typing import Any

import msgspec

#: OpenAI finish_reason -> Anthropic stop_reason
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

#: status -> Anthropic error type (other 4xx: invalid_request_error, other 5xx: api_error)
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class Function(msgspec.Struct):
    name: str = ""
    arguments: str = ""


class ToolCall(msgspec.Struct):
    id: str = ""
    function: Function = msgspec.field(default_factory=Function)


class AnswerMessage(msgspec.Struct):
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[ToolCall] | None = None
    reasoning_content: str | None = None
    thinking_blocks: list[dict[str, Any]] | None = None


class Choice(msgspec.Struct):
    message: AnswerMessage = msgspec.field(default_factory=AnswerMessage)
    finish_reason: str | None = None


class PromptDetails(msgspec.Struct):
    cached_tokens: int | None = None
    cache_creation_tokens: int | None = None


class OpenAIUsage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_tokens_details: PromptDetails | None = None


class Completion(msgspec.Struct):
    id: str = ""
    model: str = ""
    choices: list[Choice] = []
    usage: OpenAIUsage | None = None


class OpenAIErrorDetail(msgspec.Struct):
    message: str = ""
    type: str | None = None
    code: str | None = None


class OpenAIError(msgspec.Struct):
    error: OpenAIErrorDetail


_completion = msgspec.json.Decoder(Completion).decode
_error = msgspec.json.Decoder(OpenAIError).decode
_object = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
_encode = msgspec.json.Encoder().encode


def message_id(openai_id: str) -> str:
    """An Anthropic message id for an OpenAI completion id (``chatcmpl-msg_x`` -> ``msg_x``)."""
    rest = openai_id.removeprefix("chatcmpl-")
    return rest if rest.startswith("msg_") else "msg_" + rest


def anthropic_usage(usage: OpenAIUsage | None) -> dict[str, int]:
    if usage is None:
        usage = OpenAIUsage()
    details = usage.prompt_tokens_details
    read = (details.cached_tokens or 0) if details is not None else 0
    write = (details.cache_creation_tokens or 0) if details is not None else 0
    return {
        "input_tokens": max(0, usage.prompt_tokens - read - write),
        "output_tokens": usage.completion_tokens,
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": write,
    }


def thinking_content(
    blocks: list[dict[str, Any]] | None, reasoning: str | None
) -> list[dict[str, Any]]:
    """The thinking blocks of an answer, as Anthropic content blocks."""
    out: list[dict[str, Any]] = []
    for block in blocks or ():
        if block.get("type") == "redacted_thinking":
            out.append({"type": "redacted_thinking", "data": str(block.get("data", ""))})
        else:
            thinking, signature = block.get("thinking", ""), block.get("signature", "")
            out.append({"type": "thinking", "thinking": thinking, "signature": signature})
    if not out and reasoning:
        out.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    return out


def tool_input(arguments: str) -> msgspec.Raw:
    """The arguments' JSON object as received (``{}`` when they are not one)."""
    raw = arguments.encode()
    try:
        _object(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return msgspec.Raw(b"{}")
    return msgspec.Raw(raw)


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(str(p.get("text", "")) for p in content if p.get("type") == "text")


def translate_answer(status: int, body: bytes) -> tuple[int, bytes]:
    """An OpenAI answer (any status) as the Anthropic API's status and body."""
    if status != 200:
        return anthropic_error(status, body)
    try:
        answer = _completion(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return 502, error_body("api_error", "The upstream's answer could not be read.")
    if not answer.choices:
        return 502, error_body("api_error", "The upstream's answer had no choice.")
    choice = answer.choices[0]
    msg = choice.message
    content: list[dict[str, Any]] = thinking_content(msg.thinking_blocks, msg.reasoning_content)
    text = _text(msg.content)
    if text:
        content.append({"type": "text", "text": text})
    for call in msg.tool_calls or ():
        block: dict[str, Any] = {"type": "tool_use", "id": call.id, "name": call.function.name}
        block["input"] = tool_input(call.function.arguments)
        content.append(block)
    stop = STOP_REASONS.get(choice.finish_reason or "stop", "end_turn")
    out = {
        "id": message_id(answer.id),
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": anthropic_usage(answer.usage),
    }
    return 200, _encode(out)


# -- errors -------------------------------------------------------------------------------------


def error_status(status: int) -> int:
    """The status Anthropic would answer: a gateway 503 (overloaded upstream, draining) is
    Anthropic's 529 ``overloaded_error``; the others are kept (``ERROR_TYPES`` names them)."""
    return 529 if status == 503 else status


def error_type(status: int) -> str:
    kind = ERROR_TYPES.get(status)
    if kind is not None:
        return kind
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(kind: str, message: str) -> bytes:
    return _encode({"type": "error", "error": {"type": kind, "message": message}})


def read_message(body: bytes) -> str:
    """The message of an OpenAI error body (the body's text when it is not one)."""
    try:
        return _error(body).error.message
    except (msgspec.DecodeError, msgspec.ValidationError):
        return body[:500].decode("utf-8", "replace").strip()


def anthropic_error(status: int, body: bytes) -> tuple[int, bytes]:
    """An OpenAI error answer as Anthropic's status and error body."""
    status = error_status(status)
    message = read_message(body) or f"The gateway answered with status {status}."
    return status, error_body(error_type(status), message)


__all__ = [
    "ERROR_TYPES",
    "STOP_REASONS",
    "anthropic_error",
    "anthropic_usage",
    "error_body",
    "error_status",
    "error_type",
    "message_id",
    "read_message",
    "thinking_content",
    "tool_input",
    "translate_answer",
]
