"""Bedrock Converse answers as OpenAI chat completions (sans-IO).

Rules this module keeps:
- Only what is used is decoded (msgspec Structs; unknown fields ignored): the message's
  content blocks, ``stopReason`` and ``usage``.
- Text blocks join into ``content``; ``toolUse`` blocks become ``tool_calls`` (the input as
  JSON text, as Bedrock wrote it); ``reasoningContent`` becomes ``reasoning_content`` and
  ``thinking_blocks`` (signatures kept, redacted blocks as ``redacted_thinking``) so the
  client can send them back next turn.
- The tool standing for ``response_format`` is the answer: its input is the content, and the
  finish reason is ``stop``.
- Usage: every input token counts as a prompt token (``inputTokens`` + cache reads + cache
  writes), cache reads are ``cached_tokens``; Bedrock reports no reasoning tokens.
- A 200 whose body cannot be read is a protocol error (502), never a success.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..openai.translate import completion_body, error_answer, usage

#: Bedrock stopReason -> OpenAI finish_reason
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}


class ReasoningText(msgspec.Struct):
    text: str = ""
    signature: str | None = None


class Reasoning(msgspec.Struct):
    reasoningText: ReasoningText | None = None
    redactedContent: str | None = None


class ToolUse(msgspec.Struct):
    toolUseId: str = ""
    name: str = ""
    input: msgspec.Raw = msgspec.Raw(b"{}")


class Block(msgspec.Struct):
    text: str | None = None
    toolUse: ToolUse | None = None
    reasoningContent: Reasoning | None = None


class Message(msgspec.Struct):
    content: list[Block] = []


class Output(msgspec.Struct):
    message: Message | None = None


class Usage(msgspec.Struct):
    inputTokens: int = 0
    outputTokens: int = 0
    cacheReadInputTokens: int = 0
    cacheWriteInputTokens: int = 0


class ConverseAnswer(msgspec.Struct):
    output: Output
    stopReason: str = "end_turn"
    usage: Usage = msgspec.field(default_factory=Usage)


_decode_answer = msgspec.json.Decoder(ConverseAnswer).decode


def openai_usage(u: Usage) -> dict[str, Any]:
    prompt = u.inputTokens + u.cacheReadInputTokens + u.cacheWriteInputTokens
    return usage(prompt, u.outputTokens, u.cacheReadInputTokens, 0, u.cacheWriteInputTokens)


def finish_reason(stop_reason: str | None, response_tool_only: bool) -> str:
    reason = FINISH_REASONS.get(stop_reason or "", "stop")
    return "stop" if reason == "tool_calls" and response_tool_only else reason


def thinking_block(text: str, signature: str | None) -> dict[str, Any]:
    return {"type": "thinking", "thinking": text, "signature": signature or ""}


def redacted_block(data: str) -> dict[str, Any]:
    return {"type": "redacted_thinking", "data": data}


def translate_answer(
    body: bytes, id: str, model: str, created: int, response_tool: str | None
) -> tuple[int, bytes]:
    """A 200 Converse answer as OpenAI's status and body (502 if unreadable)."""
    try:
        answer = _decode_answer(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return error_answer("protocol", f"Bedrock sent an answer that cannot be read: {exc}")
    texts: list[str] = []
    reasoning: list[str] = []
    blocks: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    message = answer.output.message
    for block in message.content if message is not None else ():
        if block.text is not None:
            texts.append(block.text)
        elif block.toolUse is not None:
            use = block.toolUse
            arguments = bytes(use.input).decode()
            if use.name == response_tool:
                texts.append(arguments)
                continue
            function = {"name": use.name, "arguments": arguments}
            calls.append({"id": use.toolUseId, "type": "function", "function": function})
        elif block.reasoningContent is not None:
            content = block.reasoningContent
            text = content.reasoningText
            if text is not None:
                reasoning.append(text.text)
                if text.signature:  # without one it cannot be sent back: not a block
                    blocks.append(thinking_block(text.text, text.signature))
            elif content.redactedContent is not None:
                blocks.append(redacted_block(content.redactedContent))
    out: dict[str, Any] = {"content": "".join(texts) if texts or not calls else None}
    if reasoning:
        out["reasoning_content"] = "".join(reasoning)
    if blocks:
        out["thinking_blocks"] = blocks
    if calls:
        out["tool_calls"] = calls
    finish = finish_reason(answer.stopReason, not calls)
    return 200, completion_body(id, model, created, out, finish, openai_usage(answer.usage))


__all__ = [
    "FINISH_REASONS",
    "Usage",
    "finish_reason",
    "openai_usage",
    "redacted_block",
    "thinking_block",
    "translate_answer",
]
