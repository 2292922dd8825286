"""OpenAI chat requests as Bedrock Converse / ConverseStream bodies (sans-IO).

Rules this module keeps:
- Every system and developer message goes into ``system`` (Converse has no system turn), in
  order; a ``cache_control`` on a message or a content part becomes a ``cachePoint`` block
  after it (Bedrock's prompt caching), in ``system``, ``messages`` and ``tools`` alike.
- Turns alternate as Converse requires: ``tool`` messages become ``toolResult`` blocks of a
  user turn, and consecutive turns of one role are merged into one.
- An assistant turn carries its ``thinking_blocks`` first (as ``reasoningContent`` with their
  signatures), then its text, then its tool calls (``toolUse``; arguments must be a JSON
  object).
- Images are taken from ``data:`` URLs only: Bedrock wants the bytes, and the gateway does
  not fetch URLs a client gives it (that would let a client make it reach any host).
- What Converse cannot express is refused with a 400 naming the field (``n > 1``, ``logprobs``,
  a temperature above 1, an http(s) image) or dropped where OpenAI treats it as a hint (``seed``,
  penalties, ``user``, ``metadata``, ``parallel_tool_calls``); docs/readme-bedrock.md lists both.
- ``response_format`` json_schema / json_object becomes a forced tool whose input is the
  answer (Converse has no general JSON mode); the answer translation turns its input back
  into the message content. ``ConversePlan`` carries that tool's name to the answer side.
- ``tool_choice: none`` has no Converse equivalent: the tools are left out, unless the
  conversation already holds tool calls (Converse then requires ``toolConfig``).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, NamedTuple
from urllib.parse import quote

import msgspec

from ...errors import InvalidRequest
from ..openai.translate import Chat, ChatMessage, Tool, refuse_n

_encode = msgspec.json.Encoder().encode
_decode_args = msgspec.json.Decoder().decode

#: reasoning_effort -> Anthropic thinking budget in tokens (1024 is Anthropic's minimum)
THINKING_BUDGETS = {"low": 1024, "medium": 4096, "high": 16384}
MIN_THINKING_BUDGET = 1024
#: maxTokens sent with thinking when the client set no limit: the budget plus this much answer
THINKING_ANSWER_TOKENS = 4096
JSON_OBJECT_TOOL = "json_response"
_IMAGE_FORMATS = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg", "gif": "gif", "webp": "webp"}
_CACHE_POINT = {"cachePoint": {"type": "default"}}


class ConversePlan(NamedTuple):
    """What the answer translation needs to know about the request."""

    body: bytes
    response_tool: str | None  # the forced tool standing for response_format, if any


def model_path(model_id: str, action: str) -> str:
    """``/model/{modelId}/{action}`` with the id percent-encoded (ARNs and inference profile
    ids hold ``:`` and ``/``), exactly as the request is sent and signed."""
    return f"/model/{quote(model_id, safe='')}/{action}"


def is_anthropic(model_id: str) -> bool:
    return "anthropic." in model_id or "claude" in model_id


def converse_request(chat: Chat, model_id: str) -> ConversePlan:
    """The Converse body of ``chat`` for ``model_id``; raises ``InvalidRequest`` (400)."""
    refuse_n(chat, "bedrock")
    if chat.logprobs or chat.top_logprobs:
        raise InvalidRequest("Bedrock's Converse API returns no logprobs.", param="logprobs")
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for message in chat.messages:
        role = message.role
        if role in ("system", "developer"):
            system.extend(_text_blocks(message, "system"))
        elif role == "user":
            _add_turn(turns, "user", _user_blocks(message))
        elif role == "assistant":
            _add_turn(turns, "assistant", _assistant_blocks(message))
        elif role in ("tool", "function"):
            _add_turn(turns, "user", [_tool_result(message)])
        else:
            raise InvalidRequest(f"Unknown message role {role!r}.", param="messages")
    body: dict[str, Any] = {"messages": turns}
    if system:
        body["system"] = system
    inference = _inference(chat)
    thinking = _thinking(chat, model_id, inference)
    if thinking is not None:
        body["additionalModelRequestFields"] = {"thinking": thinking}
    if inference:
        body["inferenceConfig"] = inference
    tool_config, response_tool = _tool_config(chat, turns, thinking is not None)
    if tool_config is not None:
        body["toolConfig"] = tool_config
    return ConversePlan(_encode(body), response_tool)


def _add_turn(turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def _text_blocks(message: ChatMessage, where: str) -> list[dict[str, Any]]:
    """The text of a system message (or any message restricted to text) as blocks."""
    content = message.content
    blocks: list[dict[str, Any]] = []
    if isinstance(content, str):
        blocks.append({"text": content})
    elif content is not None:
        for part in content:
            if part.get("type") != "text":
                raise InvalidRequest(
                    f"Text parts only in {where} messages for this model's provider (bedrock).",
                    param="messages",
                )
            blocks.append({"text": part.get("text", "")})
            if part.get("cache_control") is not None:
                blocks.append(_CACHE_POINT)
    if message.cache_control is not None:
        blocks.append(_CACHE_POINT)
    return blocks


def _user_blocks(message: ChatMessage) -> list[dict[str, Any]]:
    content = message.content
    if not isinstance(content, list):
        return _text_blocks(message, "user")
    blocks: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            blocks.append({"text": part.get("text", "")})
        elif kind == "image_url":
            blocks.append(_image(part.get("image_url")))
        else:
            raise InvalidRequest(
                f"Content parts of type {kind!r} are not supported by this model's provider "
                "(bedrock); send text and image_url parts.",
                param="messages",
            )
        if part.get("cache_control") is not None:
            blocks.append(_CACHE_POINT)
    if message.cache_control is not None:
        blocks.append(_CACHE_POINT)
    return blocks


def _image(image: Any) -> dict[str, Any]:
    url = image.get("url", "") if isinstance(image, dict) else ""
    if not url.startswith("data:"):
        raise InvalidRequest(
            "Bedrock takes images as bytes and the gateway does not fetch URLs a client "
            "gives it; send the image as a data: URL (data:image/png;base64,...).",
            param="messages",
        )
    head, _, data = url[5:].partition(",")
    media, _, encoding = head.partition(";")
    fmt = _IMAGE_FORMATS.get(media.removeprefix("image/"))
    if not media.startswith("image/") or fmt is None or encoding != "base64":
        raise InvalidRequest(
            "Images must be base64 data: URLs of type image/png, image/jpeg, image/gif or "
            "image/webp.",
            param="messages",
        )
    try:
        base64.b64decode(data, validate=True)
    except binascii.Error:
        raise InvalidRequest("An image data: URL is not valid base64.", param="messages") from None
    return {"image": {"format": fmt, "source": {"bytes": data}}}


def _assistant_blocks(message: ChatMessage) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for block in message.thinking_blocks or ():
        if block.get("type") == "redacted_thinking":
            blocks.append({"reasoningContent": {"redactedContent": block.get("data", "")}})
        elif block.get("type") == "thinking":
            text = {"text": block.get("thinking", "")}
            if block.get("signature"):
                text["signature"] = block["signature"]
            blocks.append({"reasoningContent": {"reasoningText": text}})
    if message.content:
        blocks.extend(b for b in _text_blocks(message, "assistant") if b.get("text") != "")
    for call in message.tool_calls or ():
        blocks.append(
            {
                "toolUse": {
                    "toolUseId": call.id,
                    "name": call.function.name,
                    "input": _arguments(call.function.arguments),
                }
            }
        )
    return blocks


def _arguments(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = _decode_args(text)
    except msgspec.DecodeError:
        value = None
    if not isinstance(value, dict):
        raise InvalidRequest(
            "An assistant tool call's arguments must be a JSON object for this model's "
            "provider (bedrock).",
            param="messages",
        )
    return value


def _tool_result(message: ChatMessage) -> dict[str, Any]:
    content = message.content
    if isinstance(content, list):
        texts = [{"text": p.get("text", "")} for p in content if p.get("type") == "text"]
    else:
        texts = [{"text": content or ""}]
    return {"toolResult": {"toolUseId": message.tool_call_id or "", "content": texts}}


def _inference(chat: Chat) -> dict[str, Any]:
    inference: dict[str, Any] = {}
    limit = chat.output_limit
    if limit is not None:
        if limit < 1:
            raise InvalidRequest("max_tokens must be at least 1.", param="max_tokens")
        inference["maxTokens"] = limit
    if chat.temperature is not None:
        if not 0 <= chat.temperature <= 1:
            raise InvalidRequest(
                "Bedrock takes a temperature between 0 and 1.", param="temperature"
            )
        inference["temperature"] = chat.temperature
    if chat.top_p is not None:
        inference["topP"] = chat.top_p
    stops = [s for s in chat.stops if s]
    if stops:
        inference["stopSequences"] = stops
    return inference


def _thinking(chat: Chat, model_id: str, inference: dict[str, Any]) -> dict[str, Any] | None:
    """Anthropic's thinking parameter for a Claude model, from ``thinking`` as given or from
    ``reasoning_effort``; None for other models and when not asked."""
    if not is_anthropic(model_id):
        return None
    if chat.thinking is not None:
        if chat.thinking.get("type") != "enabled":
            return None
        budget = chat.thinking.get("budget_tokens")
        if not isinstance(budget, int):
            raise InvalidRequest("thinking.budget_tokens must be an integer.", param="thinking")
        thinking = dict(chat.thinking)
    elif chat.reasoning_effort in THINKING_BUDGETS:
        budget = THINKING_BUDGETS[chat.reasoning_effort]
        limit = inference.get("maxTokens")
        if limit is not None:
            budget = min(budget, limit - 1)
            if budget < MIN_THINKING_BUDGET:
                raise InvalidRequest(
                    f"Thinking needs max_tokens above {MIN_THINKING_BUDGET}.", param="max_tokens"
                )
        thinking = {"type": "enabled", "budget_tokens": budget}
    else:
        return None
    inference.setdefault("maxTokens", budget + THINKING_ANSWER_TOKENS)
    return thinking


def _tool_spec(tool: Tool) -> list[dict[str, Any]]:
    fn = tool.function
    spec: dict[str, Any] = {"name": fn.name}
    if fn.description:
        spec["description"] = fn.description
    spec["inputSchema"] = {"json": fn.parameters or {"type": "object", "properties": {}}}
    out: list[dict[str, Any]] = [{"toolSpec": spec}]
    if tool.cache_control is not None:
        out.append(_CACHE_POINT)
    return out


def _tool_config(
    chat: Chat, turns: list[dict[str, Any]], thinking: bool
) -> tuple[dict[str, Any] | None, str | None]:
    tools: list[dict[str, Any]] = []
    for tool in chat.tools or ():
        tools.extend(_tool_spec(tool))
    choice = _tool_choice(chat.tool_choice, chat.tools or [])
    if choice == "none":
        if not _has_tool_history(turns):
            tools = []
        choice = None
    response_tool = None
    fmt = chat.response_format
    if fmt is not None and fmt.type in ("json_schema", "json_object"):
        if fmt.type == "json_schema" and fmt.json_schema is not None:
            response_tool = fmt.json_schema.name or "response"
            schema = fmt.json_schema.schema or {"type": "object"}
            description = fmt.json_schema.description or "Answer with this tool's input."
        else:
            response_tool, schema = JSON_OBJECT_TOOL, {"type": "object"}
            description = "Answer with a JSON object as this tool's input."
        if any(t.function.name == response_tool for t in chat.tools or ()):
            raise InvalidRequest(
                f"A tool is named like the response_format schema ({response_tool!r}); "
                "rename one of them.",
                param="response_format",
            )
        spec = {"name": response_tool, "description": description, "inputSchema": {"json": schema}}
        tools.append({"toolSpec": spec})
        # Anthropic refuses a forced tool with thinking: the model then chooses
        if thinking:
            choice = {"auto": {}}
        elif chat.tools:
            choice = {"any": {}}
        else:
            choice = {"tool": {"name": response_tool}}
    if not tools:
        return None, None
    config: dict[str, Any] = {"tools": tools}
    if choice is not None:
        config["toolChoice"] = choice
    return config, response_tool


def _tool_choice(choice: str | dict[str, Any] | None, tools: list[Tool]) -> Any:
    if choice is None:
        return None
    if choice == "auto":
        return {"auto": {}}
    if choice == "required":
        return {"any": {}}
    if choice == "none":
        return "none"
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if isinstance(name, str) and any(t.function.name == name for t in tools):
            return {"tool": {"name": name}}
    raise InvalidRequest(
        "tool_choice must be 'auto', 'none', 'required' or a function named in tools.",
        param="tool_choice",
    )


def _has_tool_history(turns: list[dict[str, Any]]) -> bool:
    return any("toolUse" in b or "toolResult" in b for t in turns for b in t["content"])


__all__ = [
    "JSON_OBJECT_TOOL",
    "THINKING_BUDGETS",
    "ConversePlan",
    "converse_request",
    "is_anthropic",
    "model_path",
]
