"""How the mock writes an answer decided by ``mock_answer``: the assistant message of a
completion and the SSE events of a stream, tool-call deltas and logprobs included.

Rules this module keeps:
- No I/O; events are built one at a time, when the stream asks for the next (a generator).
- Written as OpenAI writes them: a tool-call choice has ``content: null``; in a stream, its
  first delta carries the call's ``index``, ``id``, ``type`` and ``name`` with empty
  ``arguments`` and the later ones the ``index`` and a piece of ``arguments`` only (fields a
  delta does not carry are left out, never written null: the SDK's accumulator would take a
  null ``type`` as the call's type). A content delta carries its token's logprobs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import msgspec

from ..protocols.openai.chunks import DONE, Chunk, ChunkChoice, Delta, ToolCallDelta, chunk_event
from ..protocols.openai.responses import AssistantMessage, Function, ToolCall
from ..protocols.openai.usage import Usage
from .mock_answer import Answer, ChoiceLogprobs, TokenLogprob, argument_pieces


def assistant_message(answer: Answer) -> AssistantMessage:
    if not answer.calls:
        return AssistantMessage(content="".join(answer.tokens))
    calls = [ToolCall(c.id, "function", Function(c.name, c.arguments)) for c in answer.calls]
    return AssistantMessage(content=None, tool_calls=calls)


def choice_logprobs(answer: Answer, entries: list[TokenLogprob]) -> ChoiceLogprobs:
    return ChoiceLogprobs(None if answer.calls else entries)


def extras_stream(
    head: Chunk,
    chat: bool,
    answers: list[Answer],
    logprobs: list[list[TokenLogprob]] | None,
    usage: Usage | None,
) -> Iterator[bytes]:
    """The SSE events of an answer built by ``MockProvider._send_extras``, each built when
    asked for, as OpenAI streams them: the role; then, choice by choice in step, a content
    token (with its logprobs) or, for a tool call, its id, type and name with empty arguments
    followed by the arguments in a few pieces; the finish reasons; the usage (``usage``: asked
    by the client, whose chunks then carry ``usage: null``, or by the gateway alone);
    ``[DONE]``."""

    def event(choices: list[ChunkChoice]) -> bytes:
        return chunk_event(msgspec.structs.replace(head, choices=choices))

    if chat:
        yield event(
            [
                ChunkChoice(i, Delta(role="assistant", content=None if a.calls else ""))
                for i, a in enumerate(answers)
            ]
        )
    steps = [_steps(i, a, chat, logprobs[i] if logprobs else None) for i, a in enumerate(answers)]
    while True:
        choices = [c for c in (next(s, None) for s in steps) if c is not None]
        if not choices:
            break
        yield event(choices)
    if chat:
        yield event(
            [ChunkChoice(i, Delta(), finish_reason=a.finish) for i, a in enumerate(answers)]
        )
    else:
        yield event(
            [ChunkChoice(i, text="", finish_reason=a.finish) for i, a in enumerate(answers)]
        )
    if usage is not None:
        yield chunk_event(msgspec.structs.replace(head, usage=usage))
    yield DONE


def _steps(
    index: int, answer: Answer, chat: bool, logprobs: list[TokenLogprob] | None
) -> Iterator[ChunkChoice]:
    """One choice's deltas between its role and its finish."""
    if not chat:
        for token in answer.tokens:
            yield ChunkChoice(index, text=token)
        return
    for position, token in enumerate(answer.tokens):
        entry = None if logprobs is None else ChoiceLogprobs([logprobs[position]])
        yield ChunkChoice(index, Delta(content=token), logprobs=entry)
    for k, call in enumerate(answer.calls):
        # the shared ToolCallDelta writes null for the fields a delta does not carry (see the
        # module rules): these Structs write only what the delta carries
        head = _CallHead(k, call.id, _FunctionHead(call.name))
        yield ChunkChoice(index, Delta(tool_calls=cast("list[ToolCallDelta]", [head])))
        for piece in argument_pieces(call.arguments):
            part = _CallPart(k, _FunctionPart(piece))
            yield ChunkChoice(index, Delta(tool_calls=cast("list[ToolCallDelta]", [part])))


class _FunctionHead(msgspec.Struct):
    name: str
    arguments: str = ""


class _CallHead(msgspec.Struct):
    index: int
    id: str
    function: _FunctionHead
    type: str = "function"


class _FunctionPart(msgspec.Struct):
    arguments: str


class _CallPart(msgspec.Struct):
    index: int
    function: _FunctionPart
