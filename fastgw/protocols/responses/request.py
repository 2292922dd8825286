"""A Responses API request read, and written as the chat completions request that serves it
(sans-IO).

``read_request(body)`` decodes the client's body (a 400 naming the field when it does not
fit); ``to_chat(request, history)`` returns the chat body, the fields the response object
echoes and the conversation's items as they will be stored for ``previous_response_id``.

Rules this module keeps:
- Decoded: only the fields translated or echoed. The body was bounded by the edge
  (``server.max_body_bytes``); items are bounded by count (``MAX_ITEMS``) on top of that.
- What chat completions cannot carry is a 400 naming the field (``param``), never dropped in
  silence: tools other than functions (web_search, file_search, ...), images by ``file_id``
  and files, item references, background mode, prompt templates, conversations.
- Mapped: ``instructions`` -> a system message first (not part of the stored conversation,
  as OpenAI does not carry instructions over); messages of every role (``developer`` ->
  ``system``, which every upstream reads); ``input_text``/``output_text``/``input_image`` by
  URL; ``function_call`` items -> tool calls of the assistant message they follow;
  ``function_call_output`` -> tool messages; ``text.format`` -> ``response_format``;
  ``reasoning.effort`` -> ``reasoning_effort``; ``max_output_tokens`` ->
  ``max_completion_tokens``; ``tool_choice`` and ``parallel_tool_calls`` as chat writes them.
- Reasoning items are dropped on the way in (chat completions has no place for an OpenAI
  summary or its encrypted content), except those fastgw wrote itself: Anthropic thinking
  blocks (with their signatures) carried in ``encrypted_content`` under ``THINKING_PREFIX``,
  which go back as the next assistant message's ``thinking_blocks``.
- ``truncation`` is accepted (``disabled`` or ``auto``) and echoed; the gateway never
  truncates (an input too long for the model is the upstream's 400).
- A stream's chat request asks for usage (``stream_options.include_usage``): the response
  always carries it, and the usage chunk is never forwarded as such.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

import msgspec

from ...errors import InvalidRequest

MAX_ITEMS = 10_000
#: ``encrypted_content`` of a reasoning item fastgw wrote: base64 of Anthropic thinking blocks
THINKING_PREFIX = "fastgw.thinking."

_encode = msgspec.json.Encoder().encode


class Part(msgspec.Struct, omit_defaults=True):
    type: str
    text: str | None = None
    image_url: str | None = None
    file_id: str | None = None
    detail: str | None = None
    refusal: str | None = None
    annotations: list[Any] | None = None


class SummaryText(msgspec.Struct):
    text: str = ""
    type: str = "summary_text"


class Item(msgspec.Struct, omit_defaults=True):
    """Any input item: a message (``type`` "message" or left out), ``function_call``,
    ``function_call_output``, ``reasoning``; other types are refused."""

    type: str | None = None
    id: str | None = None
    role: str | None = None
    content: str | list[Part] | None = None
    status: str | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | list[Part] | None = None
    summary: list[SummaryText] | None = None
    encrypted_content: str | None = None


class FunctionTool(msgspec.Struct, omit_defaults=True):
    type: str
    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class TextFormat(msgspec.Struct, omit_defaults=True):
    type: Literal["text", "json_object", "json_schema"] = "text"
    name: str | None = None
    schema: dict[str, Any] | None = None
    description: str | None = None
    strict: bool | None = None


class TextConfig(msgspec.Struct, omit_defaults=True):
    format: TextFormat | None = None
    verbosity: str | None = None


class ReasoningConfig(msgspec.Struct):
    effort: str | None = None
    summary: str | None = None


class Request(msgspec.Struct):
    model: str
    input: str | list[Item] | None = None
    instructions: str | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    text: TextConfig | None = None
    reasoning: ReasoningConfig | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    metadata: dict[str, str] | None = None
    user: str | None = None
    stream: bool = False
    store: bool = True
    previous_response_id: str | None = None
    truncation: Literal["auto", "disabled"] | None = None
    background: bool | None = None
    conversation: Any = None
    prompt: Any = None


_decode = msgspec.json.Decoder(Request).decode
_items = msgspec.json.Decoder(list[Item]).decode


def read_request(body: bytes) -> Request:
    """The client's body; a 400 (``InvalidRequest``) naming what does not fit."""
    try:
        request = _decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"Invalid request: {exc}", param=_param(str(exc))) from None
    except msgspec.DecodeError:
        raise InvalidRequest("The request body is not valid JSON.", code="invalid_json") from None
    except RecursionError:  # msgspec's guard against a nesting that would crash the process
        raise InvalidRequest(
            "The request body is nested too deeply.", code="invalid_json"
        ) from None
    if request.background:
        raise InvalidRequest(
            "Background responses are not supported by this gateway; leave 'background' out.",
            param="background",
        )
    if request.conversation is not None or request.prompt is not None:
        name = "conversation" if request.conversation is not None else "prompt"
        raise InvalidRequest(
            f"'{name}' is not supported by this gateway; send the input items "
            "(or previous_response_id) instead.",
            param=name,
        )
    if request.max_output_tokens is not None and request.max_output_tokens < 1:
        raise InvalidRequest("'max_output_tokens' must be at least 1.", param="max_output_tokens")
    if isinstance(request.input, list) and len(request.input) > MAX_ITEMS:
        raise InvalidRequest(f"'input' has more than {MAX_ITEMS} items.", param="input")
    return request


def decode_items(data: bytes) -> list[Item]:
    """Items stored by ``encode_items`` (a conversation's); raises ``msgspec.DecodeError``."""
    return _items(data)


def encode_items(items: list[Item]) -> bytes:
    return _encode(items)


def input_items(request: Request) -> list[Item]:
    """The request's input as items (a string is one user message)."""
    if request.input is None:
        return []
    if isinstance(request.input, str):
        return [Item(type="message", role="user", content=request.input)]
    return request.input


class Chat(msgspec.Struct):
    """What ``to_chat`` returns: the chat body, the response's echoed fields, and the
    conversation's items (``history`` and this request's input) to store with the answer."""

    body: bytes
    echo: dict[str, Any]
    items: list[Item]


def to_chat(request: Request, history: list[Item]) -> Chat:
    """The chat completions request serving ``request``, continuing ``history`` (the
    previous response's stored input and output items)."""
    items = [*history, *input_items(request)]
    if len(items) > MAX_ITEMS:
        raise InvalidRequest(
            f"The conversation has more than {MAX_ITEMS} items.", param="previous_response_id"
        )
    messages: list[dict[str, Any]] = []
    if request.instructions:
        messages.append({"role": "system", "content": request.instructions})
    _messages(items, messages, len(history))
    if not messages:
        raise InvalidRequest("'input' is required (or 'instructions').", param="input")
    chat: dict[str, Any] = {"model": request.model, "messages": messages}
    tools = _tools(request.tools)
    if tools:
        chat["tools"] = tools
    if request.tool_choice is not None:
        chat["tool_choice"] = _tool_choice(request.tool_choice)
    if request.parallel_tool_calls is not None and tools:
        chat["parallel_tool_calls"] = request.parallel_tool_calls
    fmt = request.text.format if request.text is not None else None
    if fmt is not None and fmt.type != "text":
        chat["response_format"] = _response_format(fmt)
    if request.reasoning is not None and request.reasoning.effort is not None:
        chat["reasoning_effort"] = request.reasoning.effort
    if request.max_output_tokens is not None:
        chat["max_completion_tokens"] = request.max_output_tokens
    for name in ("temperature", "top_p", "user"):
        value = getattr(request, name)
        if value is not None:
            chat[name] = value
    if request.stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return Chat(_encode(chat), _echo(request), items)


def _echo(request: Request) -> dict[str, Any]:
    """The request's fields as the response object repeats them (OpenAI's defaults filled)."""
    fmt = request.text.format if request.text is not None else None
    reasoning = request.reasoning or ReasoningConfig()
    return {
        "instructions": request.instructions,
        "tools": msgspec.to_builtins(request.tools or []),
        "tool_choice": request.tool_choice if request.tool_choice is not None else "auto",
        "parallel_tool_calls": (
            True if request.parallel_tool_calls is None else request.parallel_tool_calls
        ),
        "temperature": 1.0 if request.temperature is None else request.temperature,
        "top_p": 1.0 if request.top_p is None else request.top_p,
        "text": {"format": {"type": "text", **msgspec.to_builtins(fmt or TextFormat())}},
        "reasoning": {"effort": reasoning.effort, "summary": reasoning.summary},
        "max_output_tokens": request.max_output_tokens,
        "metadata": request.metadata or {},
        "store": request.store,
        "previous_response_id": request.previous_response_id,
        "truncation": request.truncation or "disabled",
        "user": request.user,
    }


def _messages(items: list[Item], out: list[dict[str, Any]], first_new: int) -> None:
    thinking: list[Any] | None = None  # blocks of a reasoning item, for the next assistant turn
    for i, item in enumerate(items):
        param = f"input[{i - first_new}]" if i >= first_new else "previous_response_id"
        kind = item.type or ("message" if item.role is not None else None)
        if kind == "message":
            message = _message(item, param)
            if message["role"] == "assistant" and thinking is not None:
                message["thinking_blocks"], thinking = thinking, None
            out.append(message)
        elif kind == "function_call":
            if item.call_id is None or item.name is None:
                raise InvalidRequest(
                    "A function_call item needs 'call_id' and 'name'.", param=param
                )
            call = {
                "id": item.call_id,
                "type": "function",
                "function": {"name": item.name, "arguments": item.arguments or ""},
            }
            last = out[-1] if out else None
            if last is None or last["role"] != "assistant" or "tool_call_id" in last:
                last = {"role": "assistant", "content": None}
                out.append(last)
            if thinking is not None and "thinking_blocks" not in last:
                last["thinking_blocks"], thinking = thinking, None
            last.setdefault("tool_calls", []).append(call)
        elif kind == "function_call_output":
            if item.call_id is None or item.output is None:
                raise InvalidRequest(
                    "A function_call_output item needs 'call_id' and 'output'.", param=param
                )
            out.append(
                {"role": "tool", "tool_call_id": item.call_id, "content": _text(item.output, param)}
            )
        elif kind == "reasoning":
            thinking = _thinking(item.encrypted_content) or thinking
        else:
            raise InvalidRequest(
                f"Input items of type {kind!r} are not supported by this gateway; send "
                "messages, function_call, function_call_output and reasoning items.",
                param=f"{param}.type",
            )


def _message(item: Item, param: str) -> dict[str, Any]:
    role = item.role
    if role not in ("user", "assistant", "system", "developer"):
        raise InvalidRequest(
            "A message's role must be user, assistant, system or developer.", param=f"{param}.role"
        )
    content = item.content
    if content is None:
        raise InvalidRequest("A message needs 'content'.", param=f"{param}.content")
    if role == "assistant" or role in ("system", "developer"):
        text = _text(content, f"{param}.content")
        return {"role": "system" if role == "developer" else role, "content": text}
    if isinstance(content, str):
        return {"role": role, "content": content}
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        where = f"{param}.content[{j}]"
        if part.type in ("input_text", "output_text"):
            parts.append({"type": "text", "text": part.text or ""})
        elif part.type == "input_image":
            if part.image_url is None:
                raise InvalidRequest(
                    "Images by file_id are not supported by this gateway (it has no Files "
                    "API); send the image as 'image_url' (a URL or a data: URL).",
                    param=where,
                )
            image: dict[str, Any] = {"url": part.image_url}
            if part.detail is not None:
                image["detail"] = part.detail
            parts.append({"type": "image_url", "image_url": image})
        else:
            raise InvalidRequest(
                f"Content parts of type {part.type!r} are not supported by this gateway; "
                "send input_text or input_image (by URL).",
                param=where,
            )
    return {"role": role, "content": parts}


def _text(content: str | list[Part], param: str) -> str:
    """Text-only content (assistant, system and tool messages) as one string."""
    if isinstance(content, str):
        return content
    texts = []
    for j, part in enumerate(content):
        if part.type in ("input_text", "output_text", "text"):
            texts.append(part.text or "")
        elif part.type == "refusal":
            texts.append(part.refusal or "")
        else:
            raise InvalidRequest(
                f"Content parts of type {part.type!r} cannot be sent here through this "
                "gateway; send text.",
                param=f"{param}[{j}]",
            )
    return "".join(texts)


def _thinking(encrypted: str | None) -> list[Any] | None:
    if encrypted is None or not encrypted.startswith(THINKING_PREFIX):
        return None
    try:
        blocks = msgspec.json.decode(base64.b64decode(encrypted[len(THINKING_PREFIX) :]))
    except (binascii.Error, ValueError, msgspec.DecodeError):
        return None
    return blocks if isinstance(blocks, list) else None


def thinking_content(blocks: list[Any]) -> str:
    """Thinking blocks as a reasoning item's ``encrypted_content`` (read back by ``to_chat``)."""
    return THINKING_PREFIX + base64.b64encode(_encode(blocks)).decode()


def _tools(tools: list[FunctionTool] | None) -> list[dict[str, Any]]:
    out = []
    for i, tool in enumerate(tools or ()):
        if tool.type != "function":
            raise InvalidRequest(
                f"Tools of type {tool.type!r} are not supported by this gateway (it runs no "
                "hosted tools); send function tools.",
                param=f"tools[{i}].type",
            )
        if not tool.name:
            raise InvalidRequest("A function tool needs a 'name'.", param=f"tools[{i}].name")
        function: dict[str, Any] = {"name": tool.name}
        if tool.description is not None:
            function["description"] = tool.description
        function["parameters"] = tool.parameters or {"type": "object", "properties": {}}
        if tool.strict is not None:
            function["strict"] = tool.strict
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: str | dict[str, Any]) -> Any:
    if isinstance(choice, str):
        if choice in ("auto", "none", "required"):
            return choice
    elif choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise InvalidRequest(
        "tool_choice must be auto, none, required or {type: function, name}; hosted tools "
        "are not supported by this gateway.",
        param="tool_choice",
    )


def _response_format(fmt: TextFormat) -> dict[str, Any]:
    if fmt.type == "json_object":
        return {"type": "json_object"}
    if fmt.schema is None or not fmt.name:
        raise InvalidRequest(
            "text.format of type json_schema needs 'name' and 'schema'.", param="text.format"
        )
    schema: dict[str, Any] = {"name": fmt.name, "schema": fmt.schema}
    if fmt.description is not None:
        schema["description"] = fmt.description
    if fmt.strict is not None:
        schema["strict"] = fmt.strict
    return {"type": "json_schema", "json_schema": schema}


def _param(message: str) -> str | None:
    """The field a msgspec error names (``at `$.tools[0].type``` -> ``tools[0].type``)."""
    marker = "at `$."
    start = message.find(marker)
    if start < 0:
        return None
    return message[start + len(marker) :].rstrip("`")


__all__ = [
    "MAX_ITEMS",
    "THINKING_PREFIX",
    "Chat",
    "Item",
    "Request",
    "decode_items",
    "encode_items",
    "input_items",
    "read_request",
    "thinking_content",
    "to_chat",
]
