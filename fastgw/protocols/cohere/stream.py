"""Cohere's v2 chat stream (SSE, one JSON object with a ``type`` per event) translated, event
by event, into OpenAI's ``chat.completion.chunk`` events (sans-IO).

Rules this module keeps:
- Bytes are fed in chunks cut anywhere; events are split by ``SSEParser`` (bounded by
  ``MAX_EVENT_BYTES``) and each is translated as soon as it is complete: text and thinking
  deltas, tool-plan deltas (as ``content``, as ``answer`` reads ``tool_plan``), tool-call
  starts and argument deltas go out as they arrive, never buffered.
- The tool call index counts ``tool-call-start`` events; an argument delta before any start
  cannot be placed and is a protocol error.
- ``message-end`` finishes: the finish event, the usage chunk when asked for (client's
  ``include_usage`` or the gateway's ``stream_usage``), ``[DONE]``. A ``message-end`` whose
  finish reason is ``ERROR`` (or ``TIMEOUT``), or an ``error`` event, becomes OpenAI's SSE
  error event and nothing follows it (no ``[DONE]``).
- An event whose data is not valid JSON, or not an object of the expected shape, raises
  ``UpstreamProtocolError``; so does a body that ends before ``message-end``. Citation,
  debug and unknown event types are skipped; a ``[DONE]`` data line is ignored.
"""

from __future__ import annotations

import msgspec

from ...errors import UpstreamProtocolError
from ..openai.translate import DONE, ChunkWriter, error_event
from ..sse import SSEParser
from .answer import FINISH, Usage, openai_usage


class _Function(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class _Call(msgspec.Struct):
    id: str | None = None
    function: _Function | None = None


class _Content(msgspec.Struct):
    text: str | None = None
    thinking: str | None = None


class _Message(msgspec.Struct):
    # message-start sends lists (empty); content-* and tool-call-* events send one object
    content: _Content | list[object] | None = None
    tool_calls: _Call | list[object] | None = None
    tool_plan: str | None = None


class _Delta(msgspec.Struct):
    message: _Message | None = None
    finish_reason: str | None = None
    usage: Usage | None = None
    error: str | None = None


class _Event(msgspec.Struct):
    type: str = ""
    id: str | None = None
    delta: _Delta | None = None
    message: str | None = None  # an error event's


_decode = msgspec.json.Decoder(_Event).decode
_EMPTY = _Message()


class CohereStream:
    """One Cohere chat stream's translation (a ``StreamTranslator``)."""

    __slots__ = (
        "_calls",
        "_created",
        "_done",
        "_failed",
        "_include_usage",
        "_model",
        "_parser",
        "_w",
    )

    def __init__(self, id: str, model: str, created: int, include_usage: bool) -> None:
        self._w = ChunkWriter(id, model, created, include_usage)
        self._model = model
        self._created = created
        self._include_usage = include_usage
        self._parser = SSEParser()
        self._calls = 0
        self._done = False
        self._failed = False

    def feed(self, chunk: bytes) -> bytes:
        out = b""
        for event in self._parser.feed(chunk):
            if self._done or self._failed:
                break
            data = event.data
            if data == b"[DONE]":
                continue
            try:
                e = _decode(data)
            except (msgspec.DecodeError, msgspec.ValidationError):
                raise UpstreamProtocolError(
                    "The upstream (cohere) sent a stream event that is not valid JSON."
                ) from None
            out += self._event(e, event.event)
        return out

    def _event(self, e: _Event, name: str) -> bytes:
        kind = e.type or name
        w = self._w
        delta = e.delta
        m = (delta.message if delta is not None else None) or _EMPTY
        if kind == "content-delta" or kind == "content-start":
            c = m.content
            if isinstance(c, _Content):
                if c.text:
                    return w.text(c.text)
                if c.thinking:
                    return w.reasoning(c.thinking)
            return b""
        if kind == "tool-call-delta":
            call = m.tool_calls
            if not isinstance(call, _Call) or call.function is None:
                return b""
            if self._calls == 0:
                raise UpstreamProtocolError(
                    "The upstream (cohere) sent tool-call arguments before a tool call."
                )
            args = call.function.arguments
            return w.arguments(self._calls - 1, args) if args else b""
        if kind == "tool-call-start":
            call = m.tool_calls
            if not isinstance(call, _Call):
                raise UpstreamProtocolError("The upstream (cohere) sent an empty tool-call-start.")
            index = self._calls
            self._calls += 1
            fn = call.function or _Function()
            out = w.tool_call(index, call.id or f"call_{index}", fn.name or "")
            if fn.arguments:
                out += w.arguments(index, fn.arguments)
            return out
        if kind == "tool-plan-delta":
            return w.text(m.tool_plan) if m.tool_plan else b""
        if kind == "message-start":
            if e.id:
                self._w = ChunkWriter(e.id, self._model, self._created, self._include_usage)
            return self._w.role()
        if kind == "message-end":
            return self._end(delta)
        if kind == "error":
            self._failed = True
            text = (delta and delta.error) or e.message or "The upstream (cohere) failed."
            return error_event("server", f"cohere: {text}")
        return b""  # content-end, tool-call-end, citations, debug, what comes next

    def _end(self, delta: _Delta | None) -> bytes:
        reason = (delta and delta.finish_reason) or "COMPLETE"
        if reason in ("ERROR", "TIMEOUT"):
            self._failed = True
            text = (delta and delta.error) or f"the generation ended with {reason}"
            return error_event("server" if reason == "ERROR" else "timeout", f"cohere: {text}")
        self._done = True
        w = self._w
        out = w.finish(FINISH.get(reason, "stop"))
        if self._include_usage:
            out += w.usage(openai_usage(delta.usage if delta is not None else None))
        return out + DONE

    def end(self) -> bytes:
        if self._done or self._failed:
            return b""
        raise UpstreamProtocolError("The upstream (cohere) stream ended before message-end.")


__all__ = ["CohereStream"]
