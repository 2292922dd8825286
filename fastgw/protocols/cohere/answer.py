"""Cohere's whole answers (chat, embed, errors) read as OpenAI's (sans-IO).

Rules this module keeps:
- Answers are read with Structs holding only the fields used; unknown fields are ignored,
  and a 200 whose body does not decode is a ``protocol`` error (a 502 to routing).
- The message: text items joined as ``content``, thinking items as ``reasoning_content``,
  ``tool_plan`` as ``content`` when no text came with the tool calls, tool calls as OpenAI's
  (Cohere's arguments are already JSON text).
- Finish reasons: ``COMPLETE`` / ``STOP_SEQUENCE`` -> ``stop``, ``MAX_TOKENS`` -> ``length``,
  ``TOOL_CALL`` -> ``tool_calls``; ``ERROR`` is a ``server`` error (a 500: the answer is
  unusable, routing retries it or fails over) and ``TIMEOUT`` a ``timeout`` error (a 504).
- Usage from ``usage.tokens`` (what the model read and wrote), ``usage.billed_units`` where
  tokens are missing; ``usage.cached_tokens`` as OpenAI's cached prompt tokens.
- Errors: Cohere's ``{"message": ...}`` with its status, as an ``error_answer`` kind: 400 with
  a context message -> ``context_length``, with a safety message -> ``content_policy``;
  401 and 498 (invalid token) -> ``auth``; 402 (billing) -> ``rate_limited``, as OpenAI
  answers an exhausted quota (429 ``insufficient_quota``); 422 -> ``invalid``; 499 and other
  5xx -> ``server``; 503 -> ``overloaded``; 504 -> ``timeout``.
"""

from __future__ import annotations

import contextlib

import msgspec

from ..openai.translate import completion_body, embedding_body, error_answer, status_kind, usage

FINISH = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
}
_CONTEXT_WORDS = ("too many tokens", "context length", "context window", "prompt is too long")
_POLICY_WORDS = ("blocked", "safety", "usage guidelines", "content policy")


class Tokens(msgspec.Struct):
    input_tokens: float | None = None
    output_tokens: float | None = None


class Usage(msgspec.Struct):
    billed_units: Tokens | None = None
    tokens: Tokens | None = None
    cached_tokens: float | None = None


class Function(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class ToolCall(msgspec.Struct):
    id: str | None = None
    function: Function | None = None


class Item(msgspec.Struct):
    type: str | None = None
    text: str | None = None
    thinking: str | None = None


class Message(msgspec.Struct):
    content: list[Item] | None = None
    tool_calls: list[ToolCall] | None = None
    tool_plan: str | None = None


class Answer(msgspec.Struct):
    id: str = ""
    finish_reason: str | None = None
    message: Message | None = None
    usage: Usage | None = None


class Meta(msgspec.Struct):
    billed_units: Tokens | None = None
    tokens: Tokens | None = None


class Vectors(msgspec.Struct):
    floats: list[list[float]] | None = msgspec.field(default=None, name="float")


class EmbedAnswer(msgspec.Struct):
    embeddings: Vectors
    meta: Meta | None = None


class ErrorBody(msgspec.Struct):
    message: str | None = None


_answer = msgspec.json.Decoder(Answer).decode
_embed = msgspec.json.Decoder(EmbedAnswer).decode
_error = msgspec.json.Decoder(ErrorBody).decode


def openai_usage(u: Usage | None) -> dict[str, object]:
    """OpenAI's usage object for Cohere's (zeros when Cohere sent none)."""
    if u is None:
        return usage(0, 0)
    tokens, billed = u.tokens, u.billed_units
    prompt = (tokens and tokens.input_tokens) or (billed and billed.input_tokens) or 0
    completion = (tokens and tokens.output_tokens) or (billed and billed.output_tokens) or 0
    return usage(int(prompt), int(completion), cached=int(u.cached_tokens or 0))


def chat_answer(status: int, body: bytes, model: str, created: int) -> tuple[int, bytes]:
    """A ``/v2/chat`` answer (any status) as OpenAI's status and chat.completion body."""
    if status != 200:
        return error(status, body)
    try:
        answer = _answer(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return error_answer("protocol", "The upstream (cohere) answer could not be read.")
    reason = answer.finish_reason or "COMPLETE"
    if reason == "ERROR":
        return error_answer("server", "The upstream (cohere) failed to generate an answer.")
    if reason == "TIMEOUT":
        return error_answer("timeout", "The upstream (cohere) timed out generating an answer.")
    message: dict[str, object] = {}
    m = answer.message or Message()
    texts = [i.text for i in m.content or () if i.type == "text" and i.text is not None]
    thoughts = [i.thinking for i in m.content or () if i.type == "thinking" and i.thinking]
    text = "".join(texts) if texts else None
    if not text and m.tool_calls and m.tool_plan:
        text = m.tool_plan
    message["content"] = text
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    if m.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id or f"call_{i}",
                "type": "function",
                "function": {
                    "name": (call.function and call.function.name) or "",
                    "arguments": (call.function and call.function.arguments) or "{}",
                },
            }
            for i, call in enumerate(m.tool_calls)
        ]
    finish = FINISH.get(reason, "stop")
    out = completion_body(answer.id, model, created, message, finish, openai_usage(answer.usage))
    return 200, out


def embed_answer(status: int, body: bytes, model: str, encoding_format: str) -> tuple[int, bytes]:
    """A ``/v2/embed`` answer (any status) as OpenAI's status and embedding list."""
    if status != 200:
        return error(status, body)
    try:
        answer = _embed(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return error_answer("protocol", "The upstream (cohere) answer could not be read.")
    vectors = answer.embeddings.floats
    if vectors is None:
        return error_answer("protocol", "The upstream (cohere) answer has no float embeddings.")
    meta = answer.meta or Meta()
    tokens = (meta.billed_units and meta.billed_units.input_tokens) or (
        meta.tokens and meta.tokens.input_tokens
    )
    return 200, embedding_body(vectors, model, int(tokens or 0), encoding_format)


def error_kind(status: int, message: str) -> str:
    """The ``ERROR_KINDS`` kind of a Cohere error answer."""
    if status == 400:
        text = message.lower()
        if any(word in text for word in _CONTEXT_WORDS):
            return "context_length"
        if any(word in text for word in _POLICY_WORDS):
            return "content_policy"
        return "invalid"
    if status == 498:
        return "auth"
    if status == 402:
        return "rate_limited"
    if status == 499:
        return "server"
    if status == 422:
        return "invalid"
    return status_kind(status)


def error(status: int, body: bytes) -> tuple[int, bytes]:
    """A Cohere error answer as OpenAI's status and error body."""
    message = None
    with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
        message = _error(body).message
    if not message:
        text = body[:500].decode("utf-8", "replace").strip()
        message = text or f"The upstream (cohere) answered with status {status}."
    return error_answer(error_kind(status, message), f"cohere: {message}")


__all__ = ["FINISH", "chat_answer", "embed_answer", "error", "error_kind", "openai_usage"]
