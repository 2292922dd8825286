"""An OpenAI chat completion stream as the Anthropic Messages API's event stream, for a client
of fastgw's ``/v1/messages`` (sans-IO; ``stream.py`` is the other way).

Rules this module keeps:
- Fed the relay's bytes cut anywhere (``SSEParser``, bounded); each OpenAI chunk becomes its
  Anthropic events at once, nothing held: text as ``text_delta``, ``reasoning_content`` as
  ``thinking_delta``, tool-call argument fragments as ``input_json_delta``.
- The first chunk opens the message: ``message_start`` (empty content, the input tokens as
  estimated, output 0) then one ``ping``, as Anthropic does.
- Blocks open as their kind changes (``content_block_start``), numbered from 0 in order, and
  close (``content_block_stop``) when the next opens or the choice finishes. A
  ``thinking_blocks`` delta (an ``anthropic`` upstream sends it when its thinking block
  ended) gives the open thinking block its ``signature_delta`` and closes it; a redacted one
  is a block of its own. A tool call's fragments go to its own block's index.
- The usage chunk (the front asked for it) is read, never forwarded. ``[DONE]`` writes
  ``message_delta`` (stop reason, the usage: output, input less cache reads and writes, cache
  reads and writes) and ``message_stop``.
- An OpenAI error event becomes Anthropic's ``event: error`` and nothing follows it; a
  stream that ends without ``[DONE]`` or an error (``end``) ends with an error event too,
  never with ``message_stop``. Chunks that cannot be read are skipped (the relay validated
  them already).
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..sse import SSEParser
from .front_answer import (
    STOP_REASONS,
    OpenAIErrorDetail,
    OpenAIUsage,
    anthropic_usage,
    message_id,
)

_encode = msgspec.json.Encoder().encode


class DeltaFunction(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class DeltaCall(msgspec.Struct):
    index: int = 0
    id: str | None = None
    function: DeltaFunction | None = None


class Delta(msgspec.Struct):
    content: str | None = None
    reasoning_content: str | None = None
    thinking_blocks: list[dict[str, Any]] | None = None
    tool_calls: list[DeltaCall] | None = None


class ChunkChoice(msgspec.Struct):
    delta: Delta = msgspec.field(default_factory=Delta)
    finish_reason: str | None = None


class Chunk(msgspec.Struct):
    id: str = ""
    model: str = ""
    choices: list[ChunkChoice] = []
    usage: OpenAIUsage | None = None


class ErrorEvent(msgspec.Struct):
    error: OpenAIErrorDetail = msgspec.field(default_factory=OpenAIErrorDetail)


_chunk = msgspec.json.Decoder(Chunk).decode
_error = msgspec.json.Decoder(ErrorEvent).decode
_TEXT, _THINKING, _TOOL = 1, 2, 3


def event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _encode(data) + b"\n\n"


def stream_error_type(detail: OpenAIErrorDetail) -> str:
    """The Anthropic error type of an OpenAI in-stream error."""
    code, kind = detail.code or "", detail.type or ""
    if code == "overloaded" or code == "service_unavailable":
        return "overloaded_error"
    if kind == "rate_limit_error" or code == "rate_limit_exceeded":
        return "rate_limit_error"
    if "timeout" in code or kind == "timeout":
        return "timeout_error"
    if kind == "invalid_request_error":
        return "invalid_request_error"
    return "api_error"


def error_event(kind: str, message: str) -> bytes:
    return event("error", {"type": "error", "error": {"type": kind, "message": message}})


class MessagesFrontStream:
    """One stream's translation (a ``fastgw.inbound.edge.FrontStream``)."""

    __slots__ = (
        "_block",
        "_ended",
        "_finish",
        "_input_estimate",
        "_kind",
        "_next",
        "_parser",
        "_started",
        "_tools",
        "_usage",
    )

    def __init__(self, input_estimate: int = 0) -> None:
        self._parser = SSEParser()
        self._input_estimate = input_estimate
        self._started = False
        self._ended = False  # [DONE] or an error: nothing more goes out
        self._block: int | None = None  # the open block's index
        self._kind = 0
        self._next = 0  # the next block's index
        self._tools: dict[int, int] = {}  # OpenAI tool index -> block index
        self._finish: str | None = None
        self._usage: OpenAIUsage | None = None

    def feed(self, chunk: bytes) -> bytes:
        if self._ended:
            return b""
        out: list[bytes] = []
        for ev in self._parser.feed(chunk):
            if ev.event == "error":
                out.append(self._fail(ev.data))
            elif ev.data == b"[DONE]":
                out.append(self._done())
            else:
                try:
                    data = _chunk(ev.data)
                except (msgspec.DecodeError, msgspec.ValidationError):
                    continue
                self._chunk(data, out)
            if self._ended:
                break
        return b"".join(out)

    def end(self) -> bytes:
        if self._ended:
            return b""
        self._ended = True
        return error_event("api_error", "The upstream's stream ended before the message did.")

    # -- events ---------------------------------------------------------------------------------

    def _fail(self, data: bytes) -> bytes:
        self._ended = True
        try:
            detail = _error(data).error
        except (msgspec.DecodeError, msgspec.ValidationError):
            detail = OpenAIErrorDetail()
        message = detail.message or "The upstream failed mid-stream."
        return error_event(stream_error_type(detail), message)

    def _start(self, chunk: Chunk, out: list[bytes]) -> None:
        self._started = True
        usage = {"input_tokens": self._input_estimate, "output_tokens": 0}
        message: dict[str, Any] = {
            "id": message_id(chunk.id),
            "type": "message",
            "role": "assistant",
            "model": chunk.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        out.append(event("message_start", {"type": "message_start", "message": message}))
        out.append(b'event: ping\ndata: {"type":"ping"}\n\n')

    def _chunk(self, chunk: Chunk, out: list[bytes]) -> None:
        if chunk.usage is not None:
            self._usage = chunk.usage
        if not chunk.choices:
            return
        if not self._started:
            self._start(chunk, out)
        choice = chunk.choices[0]
        delta = choice.delta
        if delta.reasoning_content:
            self._open(_THINKING, {"type": "thinking", "thinking": "", "signature": ""}, out)
            text_delta = {"type": "thinking_delta", "thinking": delta.reasoning_content}
            out.append(self._delta(text_delta))
        if delta.thinking_blocks:
            for block in delta.thinking_blocks:
                self._thinking_block(block, out)
        if delta.content:
            self._open(_TEXT, {"type": "text", "text": ""}, out)
            out.append(self._delta({"type": "text_delta", "text": delta.content}))
        for call in delta.tool_calls or ():
            self._tool_call(call, out)
        if choice.finish_reason is not None:
            self._finish = choice.finish_reason
            self._close(out)

    def _thinking_block(self, block: dict[str, Any], out: list[bytes]) -> None:
        if block.get("type") == "redacted_thinking":
            self._close(out)
            self._open(_THINKING, {"type": "redacted_thinking", "data": block.get("data", "")}, out)
        else:
            if self._kind != _THINKING:  # a whole block whose text did not stream before
                start = {"type": "thinking", "thinking": "", "signature": ""}
                self._open(_THINKING, start, out)
                text = block.get("thinking")
                if text:
                    out.append(self._delta({"type": "thinking_delta", "thinking": text}))
            signature = block.get("signature")
            if signature:
                out.append(self._delta({"type": "signature_delta", "signature": signature}))
        self._close(out)

    def _tool_call(self, call: DeltaCall, out: list[bytes]) -> None:
        index = self._tools.get(call.index)
        if index is None:
            fn = call.function
            name = (fn.name if fn is not None else None) or ""
            block = {"type": "tool_use", "id": call.id or "", "name": name, "input": {}}
            self._close(out)
            index = self._open(_TOOL, block, out)
            self._tools[call.index] = index
        fragment = call.function.arguments if call.function is not None else None
        if fragment:
            delta = {"type": "input_json_delta", "partial_json": fragment}
            data = {"type": "content_block_delta", "index": index, "delta": delta}
            out.append(event("content_block_delta", data))

    def _open(self, kind: int, block: dict[str, Any], out: list[bytes]) -> int:
        """Open a block of ``kind`` unless one is open already (tool calls always open)."""
        if self._block is not None and self._kind == kind and kind != _TOOL:
            return self._block
        self._close(out)
        index = self._next
        self._next += 1
        self._block, self._kind = index, kind
        data = {"type": "content_block_start", "index": index, "content_block": block}
        out.append(event("content_block_start", data))
        return index

    def _close(self, out: list[bytes]) -> None:
        if self._block is not None:
            data = {"type": "content_block_stop", "index": self._block}
            out.append(event("content_block_stop", data))
            self._block, self._kind = None, 0

    def _delta(self, delta: dict[str, Any]) -> bytes:
        data = {"type": "content_block_delta", "index": self._block, "delta": delta}
        return event("content_block_delta", data)

    def _done(self) -> bytes:
        self._ended = True
        out: list[bytes] = []
        if not self._started:
            self._start(Chunk(), out)
        self._close(out)
        stop = STOP_REASONS.get(self._finish or "stop", "end_turn")
        usage: dict[str, int] = anthropic_usage(self._usage)
        if self._usage is None:
            usage["input_tokens"] = self._input_estimate
        delta = {"stop_reason": stop, "stop_sequence": None}
        out.append(
            event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        )
        out.append(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
        return b"".join(out)


__all__ = ["MessagesFrontStream", "error_event", "event", "stream_error_type"]
