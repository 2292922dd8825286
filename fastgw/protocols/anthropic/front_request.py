"""An Anthropic Messages request, sent by a client to fastgw, as an OpenAI chat body (sans-IO).

The inbound direction (``fastgw.inbound.anthropic``); ``request.py`` is the other way, for
the ``anthropic`` upstream. The two meet: what this writes (``thinking_blocks``,
``reasoning_content``, ``cache_control`` on parts, messages and tools, ``thinking``) is what
``request.py`` reads back, so an ``anthropic`` upstream receives signatures and cache markers
untouched.

Rules this module keeps:
- The body is read into Structs (no field read that is not used); a body that does not fit
  is a 400 naming the field, as Anthropic answers it. The body was bounded by the gateway's
  ``max_body_bytes`` before it got here, and the Structs have a fixed depth (a tool result's
  blocks hold no further blocks).
- ``max_tokens`` is required, as Anthropic requires it (``count_tokens`` alone omits it).
- Every field maps, is dropped on purpose (``top_k``: OpenAI has none; a tool result's
  ``is_error``) or is refused with a 400 naming the field: content blocks other than text,
  image, tool_use, tool_result, thinking, redacted_thinking and plain-text documents; server
  tools (a tool with a ``type`` other than ``custom``).
- A user turn's ``tool_result`` blocks become OpenAI ``tool`` messages, first (Anthropic puts
  them first too); the turn's other blocks, and a tool result's images (a ``tool`` message
  takes text only), follow as one user message.
- An assistant turn: thinking blocks as ``thinking_blocks`` (whole, signatures untouched)
  and ``reasoning_content`` (their text), text as ``content``, ``tool_use`` as
  ``tool_calls`` whose arguments are the input's JSON text as received.
- ``output_config``: ``format`` (json_schema) is ``response_format`` json_schema, ``effort``
  is ``reasoning_effort`` (``EFFORTS``); a top-level ``cache_control`` (automatic caching)
  marks the last message, which the ``anthropic`` provider puts on its last block.
- ``thinking`` is passed on as it is (the ``anthropic`` provider uses it) and as
  ``reasoning_effort`` for every other provider (``effort_of``); a stream asks for
  ``include_usage`` so the front always knows the final usage.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ...errors import InvalidRequest, MalformedJSON


class Source(msgspec.Struct):
    type: str = ""
    media_type: str = ""
    data: str = ""
    url: str = ""


class ResultBlock(msgspec.Struct):
    """A block inside a ``tool_result`` (text or image)."""

    type: str
    text: str = ""
    source: Source | None = None
    cache_control: dict[str, Any] | None = None


class Block(msgspec.Struct):
    type: str
    text: str = ""
    source: Source | None = None
    id: str = ""
    name: str = ""
    input: msgspec.Raw = msgspec.Raw(b"{}")
    tool_use_id: str = ""
    content: str | list[ResultBlock] | None = None
    thinking: str = ""
    signature: str = ""
    data: str = ""
    cache_control: dict[str, Any] | None = None


class InMessage(msgspec.Struct):
    role: str
    content: str | list[Block]


class SystemBlock(msgspec.Struct):
    type: str
    text: str = ""
    cache_control: dict[str, Any] | None = None


class InTool(msgspec.Struct):
    name: str
    type: str | None = None
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    cache_control: dict[str, Any] | None = None


class InToolChoice(msgspec.Struct):
    type: str
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class Metadata(msgspec.Struct):
    user_id: str | None = None


class OutputConfig(msgspec.Struct):
    effort: str | None = None
    format: dict[str, Any] | None = None


class MessagesRequest(msgspec.Struct):
    model: str
    messages: list[InMessage]
    max_tokens: int | None = None
    system: str | list[SystemBlock] | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None  # dropped: no OpenAI field
    metadata: Metadata | None = None
    tools: list[InTool] | None = None
    tool_choice: InToolChoice | None = None
    thinking: dict[str, Any] | None = None
    output_config: OutputConfig | None = None
    cache_control: dict[str, Any] | None = None  # automatic caching: the last block's marker
    stream: bool = False


#: output_config.effort -> reasoning_effort (OpenAI's scale stops at high)
EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}
_decoder = msgspec.json.Decoder(MessagesRequest)
_encode = msgspec.json.Encoder().encode
_decode_any = msgspec.json.decode


def read_request(body: bytes) -> MessagesRequest:
    """The client's body; ``MalformedJSON`` / ``InvalidRequest`` (400) when it does not fit."""
    try:
        return _decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(str(exc)) from None
    except msgspec.DecodeError:
        raise MalformedJSON("The request body is not valid JSON.") from None
    except RecursionError:
        raise MalformedJSON("The request body is nested too deeply.") from None


def effort_of(thinking: dict[str, Any] | None) -> str | None:
    """The OpenAI ``reasoning_effort`` of Anthropic's ``thinking``: a budget below 4096 is
    ``low``, below 16384 ``medium``, else ``high`` (the inverse of the ``anthropic``
    provider's ``THINKING_BUDGETS``); ``disabled`` (or none) is no effort."""
    if not thinking or thinking.get("type") == "disabled":
        return None
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int):
        return "medium"
    return "low" if budget < 4096 else "medium" if budget < 16384 else "high"


def chat_body(req: MessagesRequest, *, need_max_tokens: bool = True) -> dict[str, Any]:
    """``req`` as an OpenAI chat completions body (a dict, encoded by the caller)."""
    if req.max_tokens is None and need_max_tokens:
        raise InvalidRequest("max_tokens: Field required", param="max_tokens")
    if req.max_tokens is not None and req.max_tokens < 1:
        raise InvalidRequest("max_tokens: must be at least 1", param="max_tokens")
    messages: list[dict[str, Any]] = []
    system = _system(req.system)
    if system is not None:
        messages.append(system)
    for i, msg in enumerate(req.messages):
        if msg.role == "user":
            messages.extend(_user(msg.content, i))
        elif msg.role == "assistant":
            messages.append(_assistant(msg.content, i))
        else:
            raise InvalidRequest(
                f"messages.{i}.role: must be 'user' or 'assistant' (the system prompt goes "
                "in the top-level 'system').",
                param=f"messages.{i}.role",
            )
    if req.cache_control is not None and len(messages) > (system is not None):
        messages[-1]["cache_control"] = req.cache_control
    body: dict[str, Any] = {"model": req.model, "messages": messages}
    if req.max_tokens is not None:
        body["max_tokens"] = req.max_tokens
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.stop_sequences:
        body["stop"] = req.stop_sequences
    if req.metadata is not None and req.metadata.user_id:
        body["user"] = req.metadata.user_id
    if req.tools:
        body["tools"] = [_tool(t, i) for i, t in enumerate(req.tools)]
    if req.tool_choice is not None:
        _tool_choice(body, req.tool_choice)
    effort = effort_of(req.thinking)
    if effort is not None:
        body["thinking"] = req.thinking
    output = req.output_config
    if output is not None and output.effort:
        effort = EFFORTS.get(output.effort, "high")
    if effort is not None:
        body["reasoning_effort"] = effort
    if output is not None and output.format is not None:
        body["response_format"] = _response_format(output.format)
    if req.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def translate_request(body: bytes) -> tuple[MessagesRequest, bytes]:
    """The client's body read, and as OpenAI chat body bytes (see the module rules)."""
    req = read_request(body)
    return req, _encode(chat_body(req))


# -- parts --------------------------------------------------------------------------------------


def _system(system: str | list[SystemBlock] | None) -> dict[str, Any] | None:
    if system is None or system == "" or system == []:
        return None
    if isinstance(system, str):
        return {"role": "system", "content": system}
    parts = []
    for j, block in enumerate(system):
        if block.type != "text":
            raise InvalidRequest(
                f"system.{j}.type: only text blocks are allowed in the system prompt.",
                param=f"system.{j}.type",
            )
        parts.append(_text_part(block.text, block.cache_control))
    return {"role": "system", "content": parts}


def _text_part(text: str, cache: dict[str, Any] | None) -> dict[str, Any]:
    part: dict[str, Any] = {"type": "text", "text": text}
    if cache is not None:
        part["cache_control"] = cache
    return part


def _image_part(source: Source | None, cache: dict[str, Any] | None, where: str) -> dict[str, Any]:
    if source is not None and source.type == "base64" and source.data and source.media_type:
        url = f"data:{source.media_type};base64,{source.data}"
    elif source is not None and source.type == "url" and source.url:
        url = source.url
    else:
        raise InvalidRequest(
            f"{where}.source: an image needs a base64 source (media_type, data) or a url "
            "source (url); file sources are not served by this gateway.",
            param=f"{where}.source",
        )
    part: dict[str, Any] = {"type": "image_url", "image_url": {"url": url}}
    if cache is not None:
        part["cache_control"] = cache
    return part


def _document_part(block: Block, where: str) -> dict[str, Any]:
    source = block.source
    if source is None or source.type != "text":
        raise InvalidRequest(
            f"{where}: document blocks are served only with a plain-text source "
            "({'type': 'text', 'media_type': 'text/plain', 'data': ...}); send PDFs and "
            "other documents as text or images.",
            param=where,
        )
    return _text_part(source.data, block.cache_control)


def _refuse(kind: str, where: str, allowed: str) -> InvalidRequest:
    return InvalidRequest(
        f"{where}.type: content blocks of type {kind!r} are not served by this gateway "
        f"here; send {allowed}.",
        param=f"{where}.type",
    )


def _user(content: str | list[Block], i: int) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    tools: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        where = f"messages.{i}.content.{j}"
        kind = block.type
        if kind == "text":
            parts.append(_text_part(block.text, block.cache_control))
        elif kind == "image":
            parts.append(_image_part(block.source, block.cache_control, where))
        elif kind == "document":
            parts.append(_document_part(block, where))
        elif kind == "tool_result":
            message, images = _tool_result(block, where)
            tools.append(message)
            parts.extend(images)
        else:
            raise _refuse(kind, where, "text, image, document (text) or tool_result blocks")
    out = tools
    if parts:
        out.append({"role": "user", "content": parts})
    return out


def _tool_result(block: Block, where: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if not block.tool_use_id:
        raise InvalidRequest(f"{where}.tool_use_id: Field required", param=f"{where}.tool_use_id")
    message: dict[str, Any] = {"role": "tool", "tool_call_id": block.tool_use_id}
    images: list[dict[str, Any]] = []
    content = block.content
    if content is None or isinstance(content, str):
        message["content"] = content or ""
    else:
        texts = []
        for k, part in enumerate(content):
            if part.type == "text":
                texts.append(_text_part(part.text, part.cache_control))
            elif part.type == "image":
                images.append(_image_part(part.source, part.cache_control, f"{where}.content.{k}"))
            else:
                raise _refuse(part.type, f"{where}.content.{k}", "text or image blocks")
        message["content"] = texts if texts else ""
    if block.cache_control is not None:
        message["cache_control"] = block.cache_control
    return message, images


def _assistant(content: str | list[Block], i: int) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    thinking: list[dict[str, Any]] = []
    reasoning: list[str] = []
    last_cache = None
    for j, block in enumerate(content):
        where = f"messages.{i}.content.{j}"
        kind = block.type
        last_cache = block.cache_control
        if kind == "text":
            parts.append(_text_part(block.text, block.cache_control))
        elif kind == "tool_use":
            if not block.id or not block.name:
                raise InvalidRequest(
                    f"{where}: a tool_use block needs its 'id' and 'name'.", param=where
                )
            arguments = bytes(block.input).decode()
            function = {"name": block.name, "arguments": arguments}
            calls.append({"id": block.id, "type": "function", "function": function})
        elif kind == "thinking":
            reasoning.append(block.thinking)
            thinking.append(
                {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
            )
        elif kind == "redacted_thinking":
            thinking.append({"type": "redacted_thinking", "data": block.data})
        else:
            raise _refuse(kind, where, "text, tool_use, thinking or redacted_thinking blocks")
    message: dict[str, Any] = {"role": "assistant"}
    if not parts:
        message["content"] = None if calls else ""
    elif len(parts) == 1 and "cache_control" not in parts[0]:
        message["content"] = parts[0]["text"]
    else:
        message["content"] = parts
    if calls:
        message["tool_calls"] = calls
        if last_cache is not None and content[-1].type == "tool_use":
            message["cache_control"] = last_cache  # on the message: its last block's
    if thinking:
        message["reasoning_content"] = "".join(reasoning)
        message["thinking_blocks"] = thinking
    return message


def _tool(tool: InTool, i: int) -> dict[str, Any]:
    if tool.type not in (None, "custom"):
        raise InvalidRequest(
            f"tools.{i}.type: server tools ({tool.type!r}) are not served by this gateway; "
            "send custom tools ({name, description, input_schema}).",
            param=f"tools.{i}.type",
        )
    if tool.input_schema is None:
        raise InvalidRequest(f"tools.{i}.input_schema: Field required", param=f"tools.{i}")
    function: dict[str, Any] = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    function["parameters"] = tool.input_schema
    out: dict[str, Any] = {"type": "function", "function": function}
    if tool.cache_control is not None:
        out["cache_control"] = tool.cache_control
    return out


def _response_format(fmt: dict[str, Any]) -> dict[str, Any]:
    schema = fmt.get("schema")
    if fmt.get("type") != "json_schema" or not isinstance(schema, dict):
        raise InvalidRequest(
            "output_config.format: must be {'type': 'json_schema', 'schema': {...}}.",
            param="output_config.format",
        )
    return {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}


def _tool_choice(body: dict[str, Any], choice: InToolChoice) -> None:
    kind = choice.type
    if kind == "auto":
        body["tool_choice"] = "auto"
    elif kind == "any":
        body["tool_choice"] = "required"
    elif kind == "none":
        body["tool_choice"] = "none"
    elif kind == "tool" and choice.name:
        body["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
    else:
        raise InvalidRequest(
            "tool_choice.type: must be 'auto', 'any', 'none' or 'tool' (with its 'name').",
            param="tool_choice",
        )
    if choice.disable_parallel_tool_use and kind != "none":
        body["parallel_tool_calls"] = False


__all__ = ["MessagesRequest", "chat_body", "effort_of", "read_request", "translate_request"]
