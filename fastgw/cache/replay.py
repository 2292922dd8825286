"""Cached answers and streams: one stored form, both ways.

The cache stores a completion in its plain (non-stream) JSON form, whichever way it was asked
for. ``assemble`` builds that form from the ``data`` payloads of a stream that ended cleanly;
``replay`` turns it back into SSE events for a streamed request that hits the cache.

Rules this module keeps:
- Pure functions, bytes in and bytes out; no I/O.
- ``assemble`` returns ``None`` for anything it cannot store faithfully (an error event,
  logprobs, a choice without a finish_reason, a payload it cannot decode), so such an answer
  is simply not cached.
- ``replay`` emits what OpenAI's streams contain: a role chunk, the content (and tool calls),
  a finish chunk, the usage chunk when ``include_usage`` is asked for, then ``[DONE]``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..wire import Usage

# -- the stored form -----------------------------------------------------------------------------


class Function(msgspec.Struct, omit_defaults=True):
    name: str | None = None
    arguments: str = ""


class ToolCall(msgspec.Struct, omit_defaults=True):
    id: str | None = None
    type: str = "function"
    function: Function = msgspec.field(default_factory=Function)


class AssistantMessage(msgspec.Struct):
    role: str = "assistant"
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCall] | msgspec.UnsetType = msgspec.UNSET


class ChatChoice(msgspec.Struct):
    index: int
    message: AssistantMessage
    finish_reason: str | None = None
    logprobs: Any = None


class TextChoice(msgspec.Struct):
    index: int
    text: str = ""
    finish_reason: str | None = None
    logprobs: Any = None


class Completion(msgspec.Struct):
    id: str
    object: str
    created: int
    model: str
    choices: list[ChatChoice] | list[TextChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None


class _ChatCompletion(msgspec.Struct):
    id: str
    object: str
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None


class _TextCompletion(msgspec.Struct):
    id: str
    object: str
    created: int
    model: str
    choices: list[TextChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None


# -- stream chunks as they arrive ------------------------------------------------------------


class _FunctionDelta(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class _ToolCallDelta(msgspec.Struct):
    index: int = 0
    id: str | None = None
    type: str | None = None
    function: _FunctionDelta | None = None


class _Delta(msgspec.Struct):
    role: str | None = None
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[_ToolCallDelta] | None = None


class _ChunkChoice(msgspec.Struct):
    index: int = 0
    delta: _Delta | None = None
    text: str | None = None
    finish_reason: str | None = None
    logprobs: Any = None


class _Chunk(msgspec.Struct):
    id: str = ""
    object: str = ""
    created: int = 0
    model: str = ""
    choices: list[_ChunkChoice] = []
    usage: Usage | None = None
    system_fingerprint: str | None = None


_chunk_decoder = msgspec.json.Decoder(_Chunk)
_chat_decoder = msgspec.json.Decoder(_ChatCompletion)
_text_decoder = msgspec.json.Decoder(_TextCompletion)
_encode = msgspec.json.Encoder().encode


def assemble(payloads: list[bytes]) -> bytes | None:
    """The plain completion equivalent to a stream's ``data`` payloads (``[DONE]`` excluded),
    or ``None`` if the stream cannot be stored faithfully."""
    head: _Chunk | None = None
    chat = True
    texts: dict[int, list[str]] = {}
    refusals: dict[int, list[str]] = {}
    tools: dict[int, dict[int, ToolCall]] = {}
    finish: dict[int, str | None] = {}
    usage: Usage | None = None
    try:
        for payload in payloads:
            chunk = _chunk_decoder.decode(payload)
            if head is None:
                head = chunk
                chat = chunk.object != "text_completion"
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                if choice.logprobs is not None:
                    return None
                i = choice.index
                texts.setdefault(i, [])
                finish.setdefault(i, None)
                if choice.finish_reason is not None:
                    finish[i] = choice.finish_reason
                if choice.text is not None:
                    texts[i].append(choice.text)
                delta = choice.delta
                if delta is None:
                    continue
                if delta.content is not None:
                    texts[i].append(delta.content)
                if delta.refusal is not None:
                    refusals.setdefault(i, []).append(delta.refusal)
                for call in delta.tool_calls or ():
                    slot = tools.setdefault(i, {}).setdefault(call.index, ToolCall())
                    if call.id is not None:
                        slot.id = call.id
                    if call.type is not None:
                        slot.type = call.type
                    if call.function is not None:
                        if call.function.name is not None:
                            slot.function.name = call.function.name
                        slot.function.arguments += call.function.arguments or ""
    except msgspec.DecodeError:
        return None
    if head is None or not finish or any(reason is None for reason in finish.values()):
        return None
    choices: list[ChatChoice] | list[TextChoice]
    if chat:
        choices = [
            ChatChoice(
                i,
                AssistantMessage(
                    content="".join(texts[i]) if texts[i] or i not in tools else None,
                    refusal="".join(refusals[i]) if i in refusals else None,
                    tool_calls=[tools[i][k] for k in sorted(tools[i])] if i in tools else msgspec.UNSET,
                ),
                finish[i],
            )
            for i in sorted(finish)
        ]
        kind = "chat.completion"
    else:
        choices = [TextChoice(i, "".join(texts[i]), finish[i]) for i in sorted(finish)]
        kind = "text_completion"
    completion = Completion(
        head.id, kind, head.created, head.model, choices, usage, head.system_fingerprint
    )
    return _encode(completion)


# -- replay --------------------------------------------------------------------------------------


class _OutDelta(msgspec.Struct, omit_defaults=True):
    role: str | None = None
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class _OutChatChoice(msgspec.Struct):
    index: int
    delta: _OutDelta
    finish_reason: str | None = None
    logprobs: None = None


class _OutTextChoice(msgspec.Struct):
    index: int
    text: str
    finish_reason: str | None = None
    logprobs: None = None


class _OutChunk(msgspec.Struct):
    id: str
    object: str
    created: int
    model: str
    choices: list[_OutChatChoice] | list[_OutTextChoice]
    system_fingerprint: str | None = None
    usage: Usage | None | msgspec.UnsetType = msgspec.UNSET


DONE = b"data: [DONE]\n\n"


def replay(body: bytes, include_usage: bool) -> list[bytes]:
    """SSE events equivalent to a stored completion, ending with ``[DONE]``."""
    kind = _kind(body)
    events: list[bytes] = []
    no_usage: None | msgspec.UnsetType = None if include_usage else msgspec.UNSET
    if kind == "text_completion":
        text = _text_decoder.decode(body)

        def emit_text(choices: list[_OutTextChoice]) -> None:
            chunk = _OutChunk(text.id, "text_completion", text.created, text.model, choices,
                              text.system_fingerprint, no_usage)
            events.append(b"data: " + _encode(chunk) + b"\n\n")

        emit_text([_OutTextChoice(c.index, c.text) for c in text.choices])
        emit_text([_OutTextChoice(c.index, "", c.finish_reason) for c in text.choices])
        head_id, created, model, fp, usage = text.id, text.created, text.model, text.system_fingerprint, text.usage
        obj = "text_completion"
    else:
        chat = _chat_decoder.decode(body)

        def emit(choices: list[_OutChatChoice]) -> None:
            chunk = _OutChunk(chat.id, "chat.completion.chunk", chat.created, chat.model, choices,
                              chat.system_fingerprint, no_usage)
            events.append(b"data: " + _encode(chunk) + b"\n\n")

        emit([_OutChatChoice(c.index, _OutDelta(role="assistant", content="")) for c in chat.choices])
        emit([_OutChatChoice(c.index, _content_delta(c.message)) for c in chat.choices])
        emit([_OutChatChoice(c.index, _OutDelta(), c.finish_reason) for c in chat.choices])
        head_id, created, model, fp, usage = chat.id, chat.created, chat.model, chat.system_fingerprint, chat.usage
        obj = "chat.completion.chunk"
    if include_usage and usage is not None:
        final = _OutChunk(head_id, obj, created, model, [], fp, usage)
        events.append(b"data: " + _encode(final) + b"\n\n")
    events.append(DONE)
    return events


def _content_delta(message: AssistantMessage) -> _OutDelta:
    calls = None
    if message.tool_calls:
        calls = [
            {"index": k, "id": c.id, "type": c.type,
             "function": {"name": c.function.name, "arguments": c.function.arguments}}
            for k, c in enumerate(message.tool_calls)
        ]
    return _OutDelta(content=message.content, refusal=message.refusal, tool_calls=calls)


class _Kind(msgspec.Struct):
    object: str = "chat.completion"


_kind_decoder = msgspec.json.Decoder(_Kind)


def _kind(body: bytes) -> str:
    return _kind_decoder.decode(body).object
