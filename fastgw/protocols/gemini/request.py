"""An OpenAI chat request as Gemini's ``generateContent`` body (sans-IO).

Rules this module keeps:
- system and developer messages, wherever they stand, go to ``systemInstruction`` in order;
  user is ``user``, assistant is ``model``; a tool result is a ``functionResponse`` part in a
  user turn, named after the earlier assistant tool call with its id; consecutive turns of
  one role are merged (Gemini wants user and model turns in turn).
- An assistant tool call carries its ``extra_content.google.thought_signature`` back as the
  part's ``thoughtSignature`` (Gemini 3 validates it on the first function call of each
  step). When a message's first tool call has none (the client dropped ``extra_content``,
  or an earlier turn was answered by another provider after a failover), it gets
  ``SKIP_SIGNATURE``, the value Google documents for traces it did not sign, rather than
  Gemini's 400. ``reasoning_content``
  is not sent back: Gemini reads thoughts from the signatures only.
- Images: a data: URL becomes ``inlineData``; an http(s) or gs:// URL becomes ``fileData``
  with a mime type guessed from the extension. The gateway never fetches a client's URL
  (that would let a client reach the gateway's network); Gemini itself takes file URIs only
  for uploaded files (Files API, gs://), and refuses others with its own 400.
- Tool parameters and json_schema go as JSON Schema (``parametersJsonSchema``,
  ``responseJsonSchema``), which Google recommends over its OpenAPI subset.
- What Gemini refuses with a confusing error, or cannot do, is a 400 here that names the
  param: ``n`` > 1, more than 5 stop sequences, ``logprobs``, unknown reasoning efforts and
  content part types. ``user``, ``metadata`` and ``parallel_tool_calls`` have no Gemini
  counterpart and are dropped.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ...errors import InvalidRequest
from ..openai.translate import Chat, ChatMessage, ToolCall, refuse_n

MAX_STOP_SEQUENCES = 5
SKIP_SIGNATURE = "skip_thought_signature_validator"  # Google's thought-signatures FAQ
# reasoning_effort -> thinkingBudget (tokens), the budgets Google's OpenAI-compatible endpoint
# documents for Gemini 2.5 (none turns thinking off where the model allows it)
THINKING_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576}
_MIME = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "heic": "image/heic",
    "heif": "image/heif",
    "pdf": "application/pdf",
}
_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode


def model_path(model: str, stream: bool) -> str:
    """The path after the base URL of a chat call (``model``: ``x`` or ``models/x``)."""
    name = model.removeprefix("models/")
    if stream:
        return f"/models/{name}:streamGenerateContent?alt=sse"
    return f"/models/{name}:generateContent"


def chat_body(chat: Chat) -> bytes:
    """The generateContent body of ``chat``; ``InvalidRequest`` for what Gemini cannot do."""
    refuse_n(chat, "gemini")
    if chat.logprobs:
        raise InvalidRequest(
            "This model's provider (gemini) does not return logprobs through the gateway; "
            "leave logprobs out.",
            param="logprobs",
        )
    body: dict[str, Any] = {}
    system, contents = _contents(chat.messages)
    body["contents"] = contents
    if system:
        body["systemInstruction"] = {"parts": system}
    if chat.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(t.function) for t in chat.tools]}]
        if chat.tool_choice is not None:
            body["toolConfig"] = {"functionCallingConfig": _tool_choice(chat.tool_choice)}
    config = _generation_config(chat)
    if config:
        body["generationConfig"] = config
    return _encode(body)


def _contents(messages: list[ChatMessage]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id -> function name
    for message in messages:
        role = message.role
        if role in ("system", "developer"):
            system.extend({"text": text} for text in _texts(message.content, role))
        elif role == "user":
            _add(contents, "user", _user_parts(message.content))
        elif role == "assistant":
            parts: list[dict[str, Any]] = [
                {"text": text} for text in _texts(message.content, role) if text
            ]
            for i, call in enumerate(message.tool_calls or ()):
                names[call.id] = call.function.name
                part = _function_call(call)
                if i == 0 and "thoughtSignature" not in part:
                    part["thoughtSignature"] = SKIP_SIGNATURE
                parts.append(part)
            if parts:
                _add(contents, "model", parts)
        elif role in ("tool", "function"):
            if role == "tool":
                name = names.get(message.tool_call_id or "") or message.name
            else:
                name = message.name
            if not name:
                raise InvalidRequest(
                    f"A tool message's tool_call_id {message.tool_call_id!r} matches no "
                    "earlier assistant tool call; Gemini needs the function's name.",
                    param="messages",
                )
            text = "".join(_texts(message.content, role))
            response = {"name": name, "response": _tool_response(text)}
            _add(contents, "user", [{"functionResponse": response}])
        else:
            raise InvalidRequest(f"Unknown message role {role!r}.", param="messages")
    return system, contents


def _add(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _texts(content: str | list[dict[str, Any]] | None, role: str) -> list[str]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    texts = []
    for part in content:
        kind = part.get("type")
        if kind == "text" or kind == "refusal":
            texts.append(str(part.get(kind, "")))
        else:
            raise InvalidRequest(
                f"A {role} message's content part of type {kind!r} cannot be sent to Gemini; "
                "only text parts can.",
                param="messages",
            )
    return texts


def _user_parts(content: str | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}]
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            parts.append({"text": str(part.get("text", ""))})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            parts.append(_media(url if isinstance(url, str) else ""))
        elif kind == "input_audio":
            audio = part.get("input_audio") or {}
            mime = f"audio/{audio.get('format', 'wav')}"
            parts.append({"inlineData": {"mimeType": mime, "data": audio.get("data", "")}})
        elif (
            kind == "file" and isinstance(part.get("file"), dict) and part["file"].get("file_data")
        ):
            parts.append(_media(str(part["file"]["file_data"])))
        else:
            raise InvalidRequest(
                f"A user message's content part of type {kind!r} cannot be sent to Gemini; "
                "send text, image_url, input_audio or file (with file_data) parts.",
                param="messages",
            )
    return parts


def _media(url: str) -> dict[str, Any]:
    if url.startswith("data:"):
        head, comma, data = url[5:].partition(",")
        mime, _, encoding = head.partition(";")
        if comma and encoding == "base64" and mime:
            return {"inlineData": {"mimeType": mime, "data": data}}
        raise InvalidRequest(
            "An image data: URL must be base64 with a mime type (data:image/png;base64,...).",
            param="messages",
        )
    if url.startswith(("https://", "http://", "gs://")):
        ext = url.split("?", 1)[0].rsplit(".", 1)[-1].lower()
        return {"fileData": {"mimeType": _MIME.get(ext, "image/jpeg"), "fileUri": url}}
    raise InvalidRequest(
        "An image URL must be a data: URL or an http(s)/gs:// URL.", param="messages"
    )


def _function_call(call: ToolCall) -> dict[str, Any]:
    arguments = call.function.arguments.strip() or "{}"
    try:
        args = _decode(arguments)
    except msgspec.DecodeError:
        args = None
    if not isinstance(args, dict):
        raise InvalidRequest(
            f"The arguments of tool call {call.id!r} are not a JSON object.", param="messages"
        )
    part: dict[str, Any] = {"functionCall": {"name": call.function.name, "args": args}}
    google = (call.extra_content or {}).get("google")
    if isinstance(google, dict) and isinstance(google.get("thought_signature"), str):
        part["thoughtSignature"] = google["thought_signature"]
    return part


def _tool_response(text: str) -> dict[str, Any]:
    if text[:1] == "{":
        try:
            value = _decode(text)
        except msgspec.DecodeError:
            value = None
        if isinstance(value, dict):
            return value
    return {"result": text}


def _declaration(function: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": function.name}
    if function.description:
        out["description"] = function.description
    if function.parameters is not None:
        out["parametersJsonSchema"] = function.parameters
    return out


def _tool_choice(choice: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(choice, str):
        if choice in _MODES:
            return {"mode": _MODES[choice]}
    elif choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        if isinstance(name, str) and name:
            return {"mode": "ANY", "allowedFunctionNames": [name]}
    raise InvalidRequest(
        "tool_choice must be 'auto', 'none', 'required' or a named function.",
        param="tool_choice",
    )


def _generation_config(chat: Chat) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if chat.temperature is not None:
        config["temperature"] = chat.temperature
    if chat.top_p is not None:
        config["topP"] = chat.top_p
    if chat.output_limit is not None:
        config["maxOutputTokens"] = chat.output_limit
    stops = chat.stops
    if len(stops) > MAX_STOP_SEQUENCES:
        raise InvalidRequest(
            f"Gemini takes at most {MAX_STOP_SEQUENCES} stop sequences; {len(stops)} were sent.",
            param="stop",
        )
    if stops:
        config["stopSequences"] = stops
    if chat.seed is not None:
        config["seed"] = chat.seed
    if chat.presence_penalty is not None:
        config["presencePenalty"] = chat.presence_penalty
    if chat.frequency_penalty is not None:
        config["frequencyPenalty"] = chat.frequency_penalty
    fmt = chat.response_format
    if fmt is not None and fmt.type != "text":
        if fmt.type not in ("json_object", "json_schema"):
            raise InvalidRequest(
                f"Unknown response_format type {fmt.type!r}.", param="response_format"
            )
        config["responseMimeType"] = "application/json"
        if fmt.type == "json_schema" and fmt.json_schema and fmt.json_schema.schema is not None:
            config["responseJsonSchema"] = fmt.json_schema.schema
    thinking = _thinking(chat)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    return config


def _thinking(chat: Chat) -> dict[str, Any] | None:
    effort = chat.reasoning_effort
    if effort is not None:
        if effort not in THINKING_BUDGETS:
            raise InvalidRequest(
                f"reasoning_effort must be one of {', '.join(THINKING_BUDGETS)}.",
                param="reasoning_effort",
            )
        budget = THINKING_BUDGETS[effort]
        return (
            {"thinkingBudget": budget, "includeThoughts": True} if budget else {"thinkingBudget": 0}
        )
    thinking = chat.thinking  # Anthropic's parameter, as some clients send it
    if thinking is not None:
        if thinking.get("type") == "disabled":
            return {"thinkingBudget": 0}
        tokens = thinking.get("budget_tokens")
        if thinking.get("type") == "enabled" and isinstance(tokens, int) and tokens > 0:
            return {"thinkingBudget": tokens, "includeThoughts": True}
        raise InvalidRequest(
            "thinking must be {'type': 'enabled', 'budget_tokens': N} or {'type': 'disabled'}.",
            param="thinking",
        )
    return None
