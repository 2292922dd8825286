"""An OpenAI chat request as an Anthropic Messages request (sans-IO).

Rules this module keeps:
- Every chat field either maps to a Messages field, is dropped on purpose (``seed``,
  ``frequency_penalty``, ``presence_penalty``, ``logprobs``, a message's ``name``, an image's
  ``detail``: Anthropic has none of them), or is refused with a 400 naming the param before
  any upstream is called (``n > 1``, ``temperature`` above Anthropic's 1, tool arguments
  that are not a JSON object, content parts Anthropic cannot take).
- ``system`` and ``developer`` messages become the top-level ``system`` text blocks; the
  rest alternate user / assistant as Anthropic requires: consecutive messages of one role
  (tool results included) are merged into one turn.
- An assistant turn is written in the order Anthropic expects it back: its
  ``thinking_blocks`` (signatures untouched), its text, its tool calls as ``tool_use``.
- ``cache_control`` is carried untouched: on a content part to its block, on a message or a
  tool to its last block / its tool definition.
- ``max_tokens`` is required by Anthropic: the client's ``max_completion_tokens`` or
  ``max_tokens``, else the provider's configured default. With thinking it is raised past
  the thinking budget so the client's limit stays the limit of the visible answer.
- ``response_format`` ``json_schema`` uses Anthropic's native structured outputs
  (``output_config.format``, generally available); ``json_object``, which has no schema
  to give it, is a forced tool (``JSON_TOOL``) whose input becomes the message content.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import msgspec

from ...errors import InvalidRequest
from ..openai.translate import Chat, ChatMessage, refuse_n

#: reasoning_effort -> thinking budget_tokens (Anthropic's minimum budget is 1024)
THINKING_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384}
JSON_TOOL = "json_response"  # the forced tool of response_format json_object
MAX_TEMPERATURE = 1.0

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode


class Request(NamedTuple):
    """A translated request: the body, and what its answer's translation must know."""

    body: bytes
    json_tool: str | None  # the forced tool whose input is the answer's content
    include_usage: bool


def messages_request(chat: Chat, model: str, default_max_tokens: int) -> Request:
    """``chat`` as a Messages body for ``model``; ``InvalidRequest`` for what cannot map."""
    refuse_n(chat, "anthropic")
    system, turns = _turns(chat.messages)
    body: dict[str, Any] = {"model": model, "messages": turns}
    if system:
        body["system"] = system
    max_tokens = chat.output_limit or default_max_tokens
    if chat.temperature is not None:
        if chat.temperature > MAX_TEMPERATURE:
            raise InvalidRequest(
                f"temperature {chat.temperature} is above what Anthropic accepts "
                "(0 to 1); send a value between 0 and 1.",
                param="temperature",
            )
        body["temperature"] = chat.temperature
    if chat.top_p is not None:
        body["top_p"] = chat.top_p
    if chat.stops:
        body["stop_sequences"] = chat.stops
    if chat.user:
        body["metadata"] = {"user_id": chat.user}
    thinking = chat.thinking or _thinking(chat.reasoning_effort)
    if thinking is not None:
        body["thinking"] = thinking
        budget = thinking.get("budget_tokens")
        if isinstance(budget, int) and max_tokens <= budget:
            max_tokens += budget
    body["max_tokens"] = max_tokens
    json_tool = None
    if chat.tools:
        body["tools"] = [_tool(t) for t in chat.tools]
    choice = _tool_choice(chat)
    fmt = chat.response_format
    if fmt is not None and fmt.type == "json_schema":
        if fmt.json_schema is None or fmt.json_schema.schema is None:
            raise InvalidRequest(
                "response_format json_schema needs a 'schema'.", param="response_format"
            )
        body["output_config"] = {
            "format": {"type": "json_schema", "schema": fmt.json_schema.schema}
        }
    elif fmt is not None and fmt.type == "json_object":
        json_tool = JSON_TOOL
        tool = {
            "name": JSON_TOOL,
            "description": "Answer with one JSON object: this tool's input is the answer.",
            "input_schema": {"type": "object"},
        }
        body["tools"] = [*body.get("tools", ()), tool]
        choice = {"type": "tool", "name": JSON_TOOL}
    elif fmt is not None and fmt.type != "text":
        raise InvalidRequest(
            f"response_format type {fmt.type!r} is not one Anthropic can follow; "
            "use 'text', 'json_object' or 'json_schema'.",
            param="response_format",
        )
    if choice is not None:
        body["tool_choice"] = choice
    stream = chat.stream
    if stream:
        body["stream"] = True
    return Request(_encode(body), json_tool, chat.include_usage)


def _thinking(effort: str | None) -> dict[str, Any] | None:
    if effort is None or effort == "none":
        return None
    budget = THINKING_BUDGETS.get(effort)
    if budget is None:
        raise InvalidRequest(
            f"reasoning_effort {effort!r} is not one of none, minimal, low, medium, high.",
            param="reasoning_effort",
        )
    return {"type": "enabled", "budget_tokens": budget}


def _tool(tool: Any) -> dict[str, Any]:
    fn = tool.function
    out: dict[str, Any] = {"name": fn.name}
    if fn.description:
        out["description"] = fn.description
    out["input_schema"] = fn.parameters or {"type": "object", "properties": {}}
    if tool.cache_control is not None:
        out["cache_control"] = tool.cache_control
    return out


def _tool_choice(chat: Chat) -> dict[str, Any] | None:
    choice = chat.tool_choice
    out: dict[str, Any]
    if choice is None:
        if chat.parallel_tool_calls is False and chat.tools:
            return {"type": "auto", "disable_parallel_tool_use": True}
        return None
    if choice == "auto":
        out = {"type": "auto"}
    elif choice == "none":
        return {"type": "none"}
    elif choice == "required":
        out = {"type": "any"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        out = {"type": "tool", "name": choice["function"].get("name", "")}
    else:
        raise InvalidRequest(
            "tool_choice must be 'auto', 'none', 'required' or "
            '{"type": "function", "function": {"name": ...}}.',
            param="tool_choice",
        )
    if chat.parallel_tool_calls is False:
        out["disable_parallel_tool_use"] = True
    return out


# -- messages -------------------------------------------------------------------------------


def _turns(messages: list[ChatMessage]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, msg in enumerate(messages):
        role = msg.role
        if role in ("system", "developer"):
            system.extend(_with_cache(_text_blocks(msg.content, i), msg.cache_control))
            continue
        if role == "user":
            blocks = _user_blocks(msg.content, i)
        elif role == "assistant":
            blocks = _assistant_blocks(msg, i)
        elif role == "tool":
            blocks = [_tool_result(msg, i)]
            role = "user"
        else:
            raise InvalidRequest(
                f"messages[{i}].role {msg.role!r} is not one Anthropic can take.",
                param=f"messages[{i}].role",
            )
        blocks = _with_cache(blocks, msg.cache_control)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def _with_cache(blocks: list[dict[str, Any]], cache: dict[str, Any] | None) -> list[dict[str, Any]]:
    if cache is not None and blocks:
        blocks[-1] = {**blocks[-1], "cache_control": cache}
    return blocks


def _text_blocks(content: str | list[dict[str, Any]] | None, i: int) -> list[dict[str, Any]]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    out = []
    for j, part in enumerate(content):
        if part.get("type") == "text":
            if part.get("text"):
                out.append(_text_part(part))
        elif part.get("type") != "refusal":
            raise InvalidRequest(
                f"messages[{i}].content[{j}]: only text parts are allowed in this message.",
                param=f"messages[{i}].content",
            )
    return out


def _text_part(part: dict[str, Any]) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": part.get("text", "")}
    if "cache_control" in part:
        block["cache_control"] = part["cache_control"]
    return block


def _user_blocks(content: str | list[dict[str, Any]] | None, i: int) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return _text_blocks(content, i)
    out = []
    for j, part in enumerate(content):
        kind = part.get("type")
        if kind == "text":
            out.append(_text_part(part))
        elif kind == "image_url":
            out.append(_image(part, f"messages[{i}].content[{j}]"))
        else:
            raise InvalidRequest(
                f"messages[{i}].content[{j}]: content parts of type {kind!r} are not "
                "translated to Anthropic; send text and image_url parts.",
                param=f"messages[{i}].content",
            )
    return out


def _image(part: dict[str, Any], where: str) -> dict[str, Any]:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str):
        raise InvalidRequest(f"{where}.image_url needs a 'url'.", param=where)
    source: dict[str, Any]
    if url.startswith("data:"):
        head, _, data = url[5:].partition(",")
        media, _, encoding = head.partition(";")
        if encoding != "base64" or not media.startswith("image/") or not data:
            raise InvalidRequest(
                f"{where}: a data URL image must be 'data:image/<type>;base64,<data>'.",
                param=where,
            )
        source = {"type": "base64", "media_type": media, "data": data}
    elif url.startswith(("https://", "http://")):
        source = {"type": "url", "url": url}
    else:
        raise InvalidRequest(f"{where}: an image URL must be https:// or data:.", param=where)
    block: dict[str, Any] = {"type": "image", "source": source}
    if "cache_control" in part:
        block["cache_control"] = part["cache_control"]
    return block


def _assistant_blocks(msg: ChatMessage, i: int) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [dict(b) for b in msg.thinking_blocks or ()]
    blocks += _text_blocks(msg.content, i)
    for j, call in enumerate(msg.tool_calls or ()):
        where = f"messages[{i}].tool_calls[{j}].function.arguments"
        try:
            args = _decode(call.function.arguments or "{}")
        except msgspec.DecodeError:
            args = None
        if not isinstance(args, dict):
            raise InvalidRequest(f"{where} must be a JSON object.", param=where)
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": call.function.name, "input": args}
        )
    return blocks


def _tool_result(msg: ChatMessage, i: int) -> dict[str, Any]:
    if not msg.tool_call_id:
        raise InvalidRequest(
            f"messages[{i}] (a tool result) needs its 'tool_call_id'.",
            param=f"messages[{i}].tool_call_id",
        )
    content = msg.content or ""
    if isinstance(content, list):
        content = _text_blocks(content, i)
    return {"type": "tool_result", "tool_use_id": msg.tool_call_id, "content": content}


__all__ = ["JSON_TOOL", "THINKING_BUDGETS", "Request", "messages_request"]
