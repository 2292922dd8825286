"""An OpenAI chat or embeddings request as the body of Cohere's v2 ``/v2/chat`` or
``/v2/embed`` (sans-IO).

Rules this module keeps:
- Everything Cohere can express is mapped; what it cannot is either dropped (documented in
  docs/readme-cohere.md: ``user``, ``metadata``, ``parallel_tool_calls``, ``name`` on
  messages) or refused with a 400 naming the field, before any upstream call, where sending
  it on would give the client a confusing upstream error or a silently different answer
  (``n > 1``, ``logprobs``, ``top_p`` below 0.01, penalties outside 0..1, more than 5 stop
  sequences, content parts Cohere has no place for).
- Messages: system and developer become ``system``; an assistant message with tool calls
  carries its text as Cohere's ``tool_plan`` (what Cohere answers before its calls, which
  ``answer`` and ``stream`` give back as ``content``), and its ``reasoning_content`` as a
  ``thinking`` content item, so a multi-turn conversation with thinking and tools reads
  back to Cohere as Cohere wrote it.
- ``tool_choice``: ``required`` -> ``REQUIRED``, ``none`` -> ``NONE``, ``auto`` -> left out;
  a named function has no Cohere equivalent, so it is ``REQUIRED`` with ``tools`` cut down
  to that one function (same effect: the model must call it).
- ``top_p`` of 0.99 and above is sent as 0.99, Cohere's widest nucleus (OpenAI's 1.0, "no
  filtering", is the common default and must not fail).
"""

from __future__ import annotations

from typing import Any

import msgspec

from ...errors import InvalidRequest
from ..openai.translate import Chat, ChatMessage, Embeddings, Tool, refuse_n

MAX_STOP_SEQUENCES = 5  # Cohere's documented limit
MAX_EMBED_TEXTS = 96  # texts per /v2/embed call (Cohere's documented limit)
MIN_P, MAX_P = 0.01, 0.99  # Cohere's documented range of ``p``
DEFAULT_INPUT_TYPE = "search_document"
# reasoning_effort -> Cohere's thinking token budget
THINKING_BUDGETS = {"minimal": 512, "low": 1024, "medium": 4096, "high": 16384}

_encode = msgspec.json.Encoder().encode


def chat_body(chat: Chat, model: str) -> bytes:
    """The ``/v2/chat`` body for ``chat`` sent to ``model``; raises ``InvalidRequest``."""
    refuse_n(chat, "cohere")
    body: dict[str, Any] = {"model": model, "messages": [_message(m) for m in chat.messages]}
    if chat.stream:
        body["stream"] = True
    if chat.tools:
        tools = chat.tools
        choice = chat.tool_choice
        if isinstance(choice, dict):
            tools = _named(tools, choice)
            body["tool_choice"] = "REQUIRED"
        elif choice == "required":
            body["tool_choice"] = "REQUIRED"
        elif choice == "none":
            body["tool_choice"] = "NONE"
        elif choice not in (None, "auto"):
            raise InvalidRequest(f"Unknown tool_choice {choice!r}.", param="tool_choice")
        body["tools"] = [_tool(t) for t in tools]
        if any(t.function.strict for t in tools):
            body["strict_tools"] = True
    elif chat.tool_choice in ("required",) or isinstance(chat.tool_choice, dict):
        raise InvalidRequest("tool_choice needs tools.", param="tool_choice")
    _sampling(chat, body)
    fmt = chat.response_format
    if fmt is not None and fmt.type != "text":
        if fmt.type == "json_object":
            body["response_format"] = {"type": "json_object"}
        elif fmt.type == "json_schema" and fmt.json_schema is not None:
            schema = fmt.json_schema.schema or {"type": "object"}
            body["response_format"] = {"type": "json_object", "json_schema": schema}
        else:
            raise InvalidRequest(
                f"Unsupported response_format {fmt.type!r}.", param="response_format"
            )
    thinking = _thinking(chat)
    if thinking is not None:
        body["thinking"] = thinking
    return _encode(body)


def _sampling(chat: Chat, body: dict[str, Any]) -> None:
    limit = chat.output_limit
    if limit is not None:
        body["max_tokens"] = limit
    if chat.temperature is not None:
        body["temperature"] = chat.temperature  # Cohere: any non-negative value
    if chat.top_p is not None:
        if chat.top_p < MIN_P:
            raise InvalidRequest(
                f"This model's provider (cohere) takes top_p from {MIN_P} to {MAX_P}; "
                f"got {chat.top_p}.",
                param="top_p",
            )
        body["p"] = min(chat.top_p, MAX_P)
    if chat.seed is not None:
        body["seed"] = chat.seed
    stops = chat.stops
    if stops:
        if len(stops) > MAX_STOP_SEQUENCES:
            raise InvalidRequest(
                f"This model's provider (cohere) takes at most {MAX_STOP_SEQUENCES} stop "
                "sequences.",
                param="stop",
            )
        body["stop_sequences"] = stops
    for field in ("frequency_penalty", "presence_penalty"):
        value = getattr(chat, field)
        if value is None:
            continue
        if not 0.0 <= value <= 1.0:
            raise InvalidRequest(
                f"This model's provider (cohere) takes {field} from 0 to 1; got {value}.",
                param=field,
            )
        body[field] = value
    if chat.logprobs:
        raise InvalidRequest(
            "This model's provider (cohere) does not return logprobs in OpenAI's form; "
            "leave logprobs out.",
            param="logprobs",
        )


def _thinking(chat: Chat) -> dict[str, Any] | None:
    """Cohere's ``thinking`` from ``reasoning_effort`` or Anthropic's ``thinking``."""
    effort = chat.reasoning_effort
    if effort is not None:
        if effort == "none":
            return {"type": "disabled"}
        if effort not in THINKING_BUDGETS:
            raise InvalidRequest(
                f"Unknown reasoning_effort {effort!r}; use minimal, low, medium or high.",
                param="reasoning_effort",
            )
        return {"type": "enabled", "token_budget": THINKING_BUDGETS[effort]}
    given = chat.thinking
    if given is None:
        return None
    if given.get("type") == "disabled":
        return {"type": "disabled"}
    budget = given.get("budget_tokens", given.get("token_budget"))
    return {"type": "enabled", **({"token_budget": budget} if isinstance(budget, int) else {})}


def _named(tools: list[Tool], choice: dict[str, Any]) -> list[Tool]:
    name = (choice.get("function") or {}).get("name")
    chosen = [t for t in tools if t.function.name == name]
    if not chosen:
        raise InvalidRequest(
            f"tool_choice names the function {name!r}, which is not in tools.",
            param="tool_choice",
        )
    return chosen


def _tool(tool: Tool) -> dict[str, Any]:
    fn = tool.function
    function: dict[str, Any] = {"name": fn.name}
    if fn.description is not None:
        function["description"] = fn.description
    function["parameters"] = fn.parameters or {"type": "object", "properties": {}}
    return {"type": "function", "function": function}


def _message(m: ChatMessage) -> dict[str, Any]:
    role = m.role
    if role in ("system", "developer"):
        return {"role": "system", "content": _text_parts(m.content, role)}
    if role == "user":
        return {"role": "user", "content": _user_content(m.content)}
    if role == "assistant":
        return _assistant(m)
    if role == "tool":
        if m.tool_call_id is None:
            raise InvalidRequest("A tool message needs tool_call_id.", param="messages")
        return {"role": "tool", "tool_call_id": m.tool_call_id, "content": _tool_content(m)}
    raise InvalidRequest(
        f"This model's provider (cohere) does not take {role!r} messages; "
        "use tools and tool messages.",
        param="messages",
    )


def _assistant(m: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant"}
    text = m.content if isinstance(m.content, str) else _joined(m.content, "assistant")
    items: list[dict[str, Any]] = []
    if m.reasoning_content:
        items.append({"type": "thinking", "thinking": m.reasoning_content})
    if m.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.function.name, "arguments": call.function.arguments},
            }
            for call in m.tool_calls
        ]
        if text:
            out["tool_plan"] = text
    elif text:
        items.append({"type": "text", "text": text})
    if items:
        out["content"] = items
    elif not m.tool_calls:
        out["content"] = ""
    return out


def _user_content(content: str | list[dict[str, Any]] | None) -> str | list[dict[str, Any]]:
    if content is None or isinstance(content, str):
        return content or ""
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": part.get("text", "")})
        elif kind == "image_url":
            image = part.get("image_url") or {}
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str):
                raise InvalidRequest("An image_url part needs a url.", param="messages")
            out: dict[str, Any] = {"url": url}  # a web URL or a data: URL, both taken
            if isinstance(image, dict) and image.get("detail") in ("auto", "low", "high"):
                out["detail"] = image["detail"]
            parts.append({"type": "image_url", "image_url": out})
        else:
            raise _unsupported_part(kind, "user")
    return parts


def _text_parts(content: str | list[dict[str, Any]] | None, role: str) -> str:
    return content if isinstance(content, str) else _joined(content, role)


def _joined(content: list[dict[str, Any]] | None, role: str) -> str:
    if not content:
        return ""
    texts = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            texts.append(part.get("text", ""))
        elif kind != "refusal":
            raise _unsupported_part(kind, role)
    return "".join(texts)


def _tool_content(m: ChatMessage) -> str | list[dict[str, Any]]:
    if m.content is None or isinstance(m.content, str):
        return m.content or ""
    return [{"type": "text", "text": _joined(m.content, "tool")}]


def _unsupported_part(kind: object, role: str) -> InvalidRequest:
    return InvalidRequest(
        f"This model's provider (cohere) does not take {kind!r} content in {role} messages.",
        param="messages",
    )


def embed_body(request: Embeddings, model: str) -> bytes:
    """The ``/v2/embed`` body for ``request`` sent to ``model``; raises ``InvalidRequest``."""
    texts = request.texts
    if len(texts) > MAX_EMBED_TEXTS:
        raise InvalidRequest(
            f"This model's provider (cohere) embeds at most {MAX_EMBED_TEXTS} inputs per request.",
            param="input",
        )
    body: dict[str, Any] = {
        "model": model,
        "texts": texts,
        "input_type": request.input_type or DEFAULT_INPUT_TYPE,
        "embedding_types": ["float"],
    }
    if request.dimensions is not None:
        body["output_dimension"] = request.dimensions
    return _encode(body)


__all__ = ["DEFAULT_INPUT_TYPE", "chat_body", "embed_body"]
