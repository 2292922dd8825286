"""Cached answers and streams: one stored form, both ways.

The cache stores a completion in its plain (non-stream) JSON form, whichever way it was asked
for. ``assemble`` builds that form from the ``data`` payloads of a stream that ended cleanly;
``replay`` turns it back into SSE events for a streamed request that hits the cache.

Rules this module keeps:
- Pure functions, bytes in and bytes out; no I/O. The wire Structs are the protocol's
  (``fastgw.protocols.openai``): this module defines none.
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

import msgspec

from ..protocols.openai.chunks import (
    DONE,
    Chunk,
    ChunkChoice,
    Delta,
    FunctionDelta,
    ToolCallDelta,
    chunk_event,
    decode_chunk,
)
from ..protocols.openai.responses import (
    AssistantMessage,
    ChatChoice,
    Completion,
    TextChoice,
    ToolCall,
    chat_decoder,
    completion_kind,
    embeddings_decoder,
    text_decoder,
)
from ..protocols.openai.usage import Usage

_encode = msgspec.json.Encoder().encode


def assemble(payloads: list[bytes]) -> bytes | None:
    """The plain completion equivalent to a stream's ``data`` payloads (``[DONE]`` excluded),
    or ``None`` if the stream cannot be stored faithfully."""
    head: Chunk | None = None
    chat = True
    texts: dict[int, list[str]] = {}
    refusals: dict[int, list[str]] = {}
    tools: dict[int, dict[int, ToolCall]] = {}
    finish: dict[int, str | None] = {}
    usage: Usage | None = None
    try:
        for payload in payloads:
            chunk = decode_chunk(payload)
            if head is None and chunk.choices:  # not Azure's leading prompt-filter chunk
                head = chunk
                chat = chunk.object != "text_completion"
            if isinstance(chunk.usage, Usage):
                usage = chunk.usage
            for choice in chunk.choices:
                if choice.logprobs is not None:
                    return None
                i = choice.index
                texts.setdefault(i, [])
                finish.setdefault(i, None)
                if choice.finish_reason is not None:
                    finish[i] = choice.finish_reason
                if isinstance(choice.text, str):
                    texts[i].append(choice.text)
                delta = choice.delta
                if not isinstance(delta, Delta):
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
                system_fingerprint=fingerprint,
                usage=usage,
            )
        )
    text_choices = [TextChoice(i, "".join(texts[i]), finish[i]) for i in sorted(finish)]
    return _encode(
        Completion(
            head.id,
            "text_completion",
            head.created,
            head.model,
            text_choices,
            system_fingerprint=fingerprint,
            usage=usage,
        )
    )


def _content(pieces: list[str], other_parts: bool) -> str | None:
    """A message's content: null when it has no text but tool calls or a refusal."""
    text = "".join(pieces)
    return None if not text and other_parts else text


# -- replay --------------------------------------------------------------------------------------


def storable(body: bytes, embeddings: bool) -> bool:
    """Whether a 200 body is a whole answer worth storing: it decodes as an embedding list
    or as the completion its ``object`` names. An error object sent with a 200, or a body cut
    short by the connection closing, is not."""
    try:
        if embeddings:
            embeddings_decoder.decode(body)
        elif completion_kind(body) == "text_completion":
            text_decoder.decode(body)
        else:
            chat_decoder.decode(body)
    except msgspec.DecodeError:  # ValidationError is a DecodeError
        return False
    return True


def replay(body: bytes, include_usage: bool) -> list[bytes]:
    """SSE events equivalent to a stored completion, ending with ``[DONE]``."""
    no_usage: msgspec.UnsetType | None = None if include_usage else msgspec.UNSET
    completion: Completion[ChatChoice] | Completion[TextChoice]
    if completion_kind(body) == "text_completion":
        completion = text = text_decoder.decode(body)
        obj = "text_completion"
        steps = [
            [ChunkChoice(c.index, text=c.text, logprobs=c.logprobs) for c in text.choices],
            [ChunkChoice(c.index, text="", finish_reason=c.finish_reason) for c in text.choices],
        ]
    else:
        completion = chat = chat_decoder.decode(body)
        obj = "chat.completion.chunk"
        steps = [
            [ChunkChoice(c.index, _role_delta(c.message)) for c in chat.choices],
            [
                ChunkChoice(c.index, _content_delta(c.message), logprobs=c.logprobs)
                for c in chat.choices
            ],
            [ChunkChoice(c.index, Delta(), finish_reason=c.finish_reason) for c in chat.choices],
        ]
    head_id, created, model = completion.id, completion.created, completion.model
    fp = completion.system_fingerprint
    events = [
        chunk_event(Chunk(head_id, obj, created, model, choices, fp, no_usage)) for choices in steps
    ]
    if include_usage and completion.usage is not None:
        events.append(chunk_event(Chunk(head_id, obj, created, model, [], fp, completion.usage)))
    events.append(DONE)
    return events


def _role_delta(message: AssistantMessage) -> Delta:
    """The first delta: the role, and empty content unless the message has none."""
    return Delta(role="assistant", content=None if message.content is None else "")


def _content_delta(message: AssistantMessage) -> Delta:
    calls = None
    if message.tool_calls:
        calls = [
            ToolCallDelta(k, c.id, c.type, FunctionDelta(c.function.name, c.function.arguments))
            for k, c in enumerate(message.tool_calls)
        ]
    return Delta(content=message.content, refusal=message.refusal, tool_calls=calls)


__all__ = ["DONE", "assemble", "replay", "storable"]
