"""Cached answers and streams: one stored form, both ways.

The cache stores a completion in its plain (non-stream) JSON form, whichever way it was asked
for. ``assemble`` builds that form from the ``data`` payloads of a stream that ended cleanly;
``replay`` turns it back into SSE events for a streamed request that hits the cache.

Rules this module keeps:
- Pure functions, bytes in and bytes out; no I/O.
- ``assemble`` returns ``None`` for anything it cannot store faithfully (an error event,
  logprobs, a legacy ``function_call`` or ``audio`` delta, a choice without a finish_reason,
  a payload it cannot decode), so such an answer is simply not cached.
- The stored form is OpenAI's plain form: every tool call has its ``type`` and
  ``arguments``; ``content`` is null when a message has only tool calls or a refusal.
- ``replay`` emits what OpenAI's streams contain: a role chunk, the content (and tool calls),
  a finish chunk, the usage chunk when ``include_usage`` is asked for, then ``[DONE]``. The
  content goes in one chunk, so a stored plain answer's ``logprobs`` (which cover every token
  of it) ride on that chunk unchanged.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

from ..wire import Usage

# -- the stored form -----------------------------------------------------------------------------


# Not omit_defaults: "type" and an empty "arguments" are part of OpenAI's form (the SDK tells
# tool calls apart by "type"), and msgspec omits a str default only when it is the very same
# object, so whether a decoded "function" was kept would depend on string interning.
class Function(msgspec.Struct):
    name: str | None = None
    arguments: str = ""


class ToolCall(msgspec.Struct):
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


C = TypeVar("C", ChatChoice, TextChoice)


class Completion(msgspec.Struct, Generic[C]):
    """The stored form: a plain chat completion (``Completion[ChatChoice]``) or text
    completion (``Completion[TextChoice]``)."""

    id: str
    object: str
    created: int
    model: str
    choices: list[C]
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
    function_call: Any = None  # legacy functions API: not modelled, so not stored
    audio: Any = None  # audio output: not modelled, so not stored


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
_chat_decoder = msgspec.json.Decoder(Completion[ChatChoice])
_text_decoder = msgspec.json.Decoder(Completion[TextChoice])
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
            if head is None and chunk.choices:  # not Azure's leading prompt-filter chunk
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
                if delta.function_call is not None or delta.audio is not None:
                    return None
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
    fingerprint = head.system_fingerprint
    if chat:
        chat_choices = [
            ChatChoice(
                i,
                AssistantMessage(
                    content=_content(texts[i], i in tools or i in refusals),
                    refusal="".join(refusals[i]) if i in refusals else None,
                    tool_calls=(
                        [tools[i][k] for k in sorted(tools[i])] if i in tools else msgspec.UNSET
                    ),
                ),
                finish[i],
            )
            for i in sorted(finish)
        ]
        return _encode(
            Completion(
                head.id,
                "chat.completion",
                head.created,
                head.model,
                chat_choices,
                usage,
                fingerprint,
            )
        )
    text_choices = [TextChoice(i, "".join(texts[i]), finish[i]) for i in sorted(finish)]
    return _encode(
        Completion(
            head.id, "text_completion", head.created, head.model, text_choices, usage, fingerprint
        )
    )


def _content(pieces: list[str], other_parts: bool) -> str | None:
    """A message's content: null when it has no text but tool calls or a refusal."""
    text = "".join(pieces)
    return None if not text and other_parts else text


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
    logprobs: Any = None


class _OutTextChoice(msgspec.Struct):
    index: int
    text: str
    finish_reason: str | None = None
    logprobs: Any = None


class _OutChunk(msgspec.Struct):
    id: str
    object: str
    created: int
    model: str
    choices: list[_OutChatChoice] | list[_OutTextChoice]
    system_fingerprint: str | None = None
    usage: Usage | msgspec.UnsetType | None = msgspec.UNSET


DONE = b"data: [DONE]\n\n"


class _EmbeddingList(msgspec.Struct):
    data: list[msgspec.Raw]
    object: str = "list"


_embedding_decoder = msgspec.json.Decoder(_EmbeddingList)


def storable(body: bytes, embeddings: bool) -> bool:
    """Whether a 200 body is a whole answer worth storing: it decodes as an embedding list
    or as the completion its ``object`` names. An error object sent with a 200, or a body cut
    short by the connection closing, is not."""
    try:
        if embeddings:
            _embedding_decoder.decode(body)
        elif _kind(body) == "text_completion":
            _text_decoder.decode(body)
        else:
            _chat_decoder.decode(body)
    except msgspec.DecodeError:  # ValidationError is a DecodeError
        return False
    return True


def replay(body: bytes, include_usage: bool) -> list[bytes]:
    """SSE events equivalent to a stored completion, ending with ``[DONE]``."""
    kind = _kind(body)
    events: list[bytes] = []
    no_usage: msgspec.UnsetType | None = None if include_usage else msgspec.UNSET
    if kind == "text_completion":
        text = _text_decoder.decode(body)

        def emit_text(choices: list[_OutTextChoice]) -> None:
            chunk = _OutChunk(
                text.id,
                "text_completion",
                text.created,
                text.model,
                choices,
                text.system_fingerprint,
                no_usage,
            )
            events.append(b"data: " + _encode(chunk) + b"\n\n")

        emit_text([_OutTextChoice(c.index, c.text, None, c.logprobs) for c in text.choices])
        emit_text([_OutTextChoice(c.index, "", c.finish_reason) for c in text.choices])
        head_id, created, model = text.id, text.created, text.model
        fp, usage = text.system_fingerprint, text.usage
        obj = "text_completion"
    else:
        chat = _chat_decoder.decode(body)

        def emit(choices: list[_OutChatChoice]) -> None:
            chunk = _OutChunk(
                chat.id,
                "chat.completion.chunk",
                chat.created,
                chat.model,
                choices,
                chat.system_fingerprint,
                no_usage,
            )
            events.append(b"data: " + _encode(chunk) + b"\n\n")

        emit([_OutChatChoice(c.index, _role_delta(c.message)) for c in chat.choices])
        emit(
            [
                _OutChatChoice(c.index, _content_delta(c.message), None, c.logprobs)
                for c in chat.choices
            ]
        )
        emit([_OutChatChoice(c.index, _OutDelta(), c.finish_reason) for c in chat.choices])
        head_id, created, model = chat.id, chat.created, chat.model
        fp, usage = chat.system_fingerprint, chat.usage
        obj = "chat.completion.chunk"
    if include_usage and usage is not None:
        final = _OutChunk(head_id, obj, created, model, [], fp, usage)
        events.append(b"data: " + _encode(final) + b"\n\n")
    events.append(DONE)
    return events


def _role_delta(message: AssistantMessage) -> _OutDelta:
    """The first delta: the role, and empty content unless the message has none."""
    return _OutDelta(role="assistant", content=None if message.content is None else "")


def _content_delta(message: AssistantMessage) -> _OutDelta:
    calls = None
    if message.tool_calls:
        calls = [
            {
                "index": k,
                "id": c.id,
                "type": c.type,
                "function": {"name": c.function.name, "arguments": c.function.arguments},
            }
            for k, c in enumerate(message.tool_calls)
        ]
    return _OutDelta(content=message.content, refusal=message.refusal, tool_calls=calls)


class _Kind(msgspec.Struct):
    object: str = "chat.completion"


_kind_decoder = msgspec.json.Decoder(_Kind)


def _kind(body: bytes) -> str:
    return _kind_decoder.decode(body).object
