"""A whole Anthropic Messages answer as an OpenAI chat completion (sans-IO).

Rules this module keeps:
- Text blocks join into ``content``; ``tool_use`` blocks become ``tool_calls`` (the id is
  Anthropic's, the arguments the input's JSON text as received); thinking blocks become
  ``reasoning_content`` (their text) and ``thinking_blocks`` (whole, signatures and
  ``redacted_thinking`` included) so a client can send them back on the next turn.
- The forced ``json_object`` tool's input is the answer's ``content``, finish ``stop``.
- Usage: prompt tokens count cache reads and writes too, as OpenAI counts them; cached
  tokens are the cache reads, cache writes go beside them; reasoning tokens are
  ``output_tokens_details.thinking_tokens`` where Anthropic reports them (0 otherwise).
- A 200 whose body cannot be read is a ``protocol`` error (502); an error answer is mapped
  by ``errors.read_error``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..openai.translate import completion_body, error_answer, usage
from .errors import read_error

#: Anthropic stop_reason -> OpenAI finish_reason
FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


class OutputDetails(msgspec.Struct):
    thinking_tokens: int = 0


class Usage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    output_tokens_details: OutputDetails | None = None  # thinking tokens, where reported


class Block(msgspec.Struct):
    type: str
    text: str = ""
    id: str = ""
    name: str = ""
    input: msgspec.Raw = msgspec.Raw(b"{}")
    thinking: str = ""
    signature: str = ""
    data: str = ""


class Message(msgspec.Struct):
    id: str = ""
    model: str = ""
    content: list[Block] = []
    stop_reason: str | None = None
    usage: Usage = msgspec.field(default_factory=Usage)


_read = msgspec.json.Decoder(Message).decode


def openai_usage(u: Usage) -> dict[str, Any]:
    read = u.cache_read_input_tokens or 0
    write = u.cache_creation_input_tokens or 0
    prompt = (u.input_tokens or 0) + read + write
    details = u.output_tokens_details
    reasoning = details.thinking_tokens if details is not None else 0
    return usage(prompt, u.output_tokens or 0, read, reasoning, write)


def thinking_block(block: Block) -> dict[str, Any]:
    if block.type == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.data}
    return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}


def translate_answer(
    status: int, body: bytes, created: int, json_tool: str | None
) -> tuple[int, bytes]:
    """An Anthropic answer (any status) as OpenAI's status and body."""
    if status != 200:
        kind, text = read_error(status, body)
        return error_answer(kind, text)
    try:
        msg = _read(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return error_answer("protocol", "The Anthropic upstream's answer could not be read.")
    texts: list[str] = []
    reasoning: list[str] = []
    blocks: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    finish = FINISH.get(msg.stop_reason or "end_turn", "stop")
    for block in msg.content:
        kind = block.type
        if kind == "text":
            texts.append(block.text)
        elif kind == "tool_use" and block.name == json_tool:
            texts.append(bytes(block.input).decode())
            finish = "stop"
        elif kind == "tool_use":
            function = {"name": block.name, "arguments": bytes(block.input).decode()}
            calls.append({"id": block.id, "type": "function", "function": function})
        elif kind in ("thinking", "redacted_thinking"):
            if kind == "thinking":
                reasoning.append(block.thinking)
            blocks.append(thinking_block(block))
    message: dict[str, Any] = {"content": "".join(texts) if texts or not calls else None}
    if calls:
        message["tool_calls"] = calls
    if blocks:
        message["reasoning_content"] = "".join(reasoning)
        message["thinking_blocks"] = blocks
    message["refusal"] = None
    out = completion_body(
        "chatcmpl-" + msg.id, msg.model, created, message, finish, openai_usage(msg.usage)
    )
    return 200, out


__all__ = ["FINISH", "openai_usage", "translate_answer"]
