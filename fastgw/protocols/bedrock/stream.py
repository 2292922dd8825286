"""Bedrock ConverseStream event streams as OpenAI chat completion chunks (sans-IO).

Rules this module keeps:
- Frames are read by ``eventstream.FrameReader`` (CRCs checked, bounded); each event's JSON
  payload is decoded by its ``:event-type`` into a Struct holding only what is used; a payload
  that is not valid JSON, an unknown message type or a tool delta for a block never started
  raises ``UpstreamProtocolError``.
- Events map one to one, as they arrive: ``messageStart`` -> the role chunk; a ``toolUse``
  ``contentBlockStart`` -> a tool call's id and name; ``contentBlockDelta`` text -> content,
  ``toolUse.input`` -> an arguments fragment (never buffered), ``reasoningContent.text`` ->
  ``reasoning_content``; ``contentBlockStop`` of a signed thinking block -> one
  ``thinking_blocks`` chunk (its text was streamed already; the signature arrives last).
- The tool standing for ``response_format`` streams its input as content.
- ``messageStop`` holds the stop reason; ``metadata`` (the last event) sends the finish chunk
  and, when asked, the usage chunk; ``[DONE]`` follows at the end of the body. A body that
  ends before ``metadata`` raises ``UpstreamProtocolError``.
- An exception frame (``:message-type`` exception or error) becomes OpenAI's SSE error event
  with the mapped kind and ends the translation: nothing after it, never ``[DONE]``.
"""

from __future__ import annotations

import msgspec

from ...errors import UpstreamProtocolError
from ..openai.translate import DONE, ChunkWriter, error_event
from .answer import Usage, finish_reason, openai_usage, redacted_block, thinking_block
from .errors import MAX_MESSAGE_CHARS, error_kind
from .eventstream import Frame, FrameReader

_RESPONSE_TOOL = -1  # the block index map's value for the response_format tool


class ToolStart(msgspec.Struct):
    toolUseId: str = ""
    name: str = ""


class Start(msgspec.Struct):
    toolUse: ToolStart | None = None


class StartEvent(msgspec.Struct):
    contentBlockIndex: int = 0
    start: Start | None = None


class ToolDelta(msgspec.Struct):
    input: str = ""


class ReasoningDelta(msgspec.Struct):
    text: str | None = None
    signature: str | None = None
    redactedContent: str | None = None


class Delta(msgspec.Struct):
    text: str | None = None
    toolUse: ToolDelta | None = None
    reasoningContent: ReasoningDelta | None = None


class DeltaEvent(msgspec.Struct):
    contentBlockIndex: int = 0
    delta: Delta = msgspec.field(default_factory=Delta)


class StopEvent(msgspec.Struct):
    contentBlockIndex: int = 0


class MessageStop(msgspec.Struct):
    stopReason: str = "end_turn"


class Metadata(msgspec.Struct):
    usage: Usage = msgspec.field(default_factory=Usage)


class ExceptionBody(msgspec.Struct):
    message: str | None = None
    Message: str | None = None


_start = msgspec.json.Decoder(StartEvent).decode
_delta = msgspec.json.Decoder(DeltaEvent).decode
_stop = msgspec.json.Decoder(StopEvent).decode
_message_stop = msgspec.json.Decoder(MessageStop).decode
_metadata = msgspec.json.Decoder(Metadata).decode
_exception = msgspec.json.Decoder(ExceptionBody).decode


class _Thinking:
    __slots__ = ("redacted", "signature", "text")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.signature: str | None = None
        self.redacted: str | None = None


class ConverseStreamTranslator:
    """One ConverseStream body as OpenAI SSE chunk events (a ``StreamTranslator``)."""

    __slots__ = (
        "_calls",
        "_closed",
        "_finished",
        "_reader",
        "_response_tool",
        "_role_sent",
        "_stop_reason",
        "_thinking",
        "_tools",
        "_writer",
    )

    def __init__(self, writer: ChunkWriter, response_tool: str | None) -> None:
        self._writer = writer
        self._response_tool = response_tool
        self._reader = FrameReader()
        self._role_sent = False
        self._tools: dict[int, int] = {}  # content block index -> OpenAI tool call index
        self._calls = 0  # tool calls sent (the response_format tool is not one)
        self._thinking: dict[int, _Thinking] = {}
        self._stop_reason: str | None = None
        self._finished = False
        self._closed = False  # an error event was sent: nothing more

    def feed(self, chunk: bytes) -> bytes:
        if self._closed:
            return b""
        out: list[bytes] = []
        for frame in self._reader.feed(chunk):
            if self._finished:
                continue  # nothing is expected after metadata; ignore it
            out.append(self._frame(frame))
            if self._closed:
                break
        return b"".join(out)

    def end(self) -> bytes:
        if self._closed:
            return b""
        if not self._finished:
            raise UpstreamProtocolError("The Bedrock stream ended before it finished.")
        return DONE

    def _frame(self, frame: Frame) -> bytes:
        headers = frame.headers
        kind = headers.get(":message-type")
        try:
            if kind == "event":
                return self._event(headers.get(":event-type", ""), frame.payload)
            if kind == "exception":
                body = _exception(frame.payload) if frame.payload else ExceptionBody()
                text = body.message or body.Message or "Bedrock failed mid-stream."
                return self._error(headers.get(":exception-type"), text)
            if kind == "error":
                text = headers.get(":error-message") or "Bedrock failed mid-stream."
                return self._error(headers.get(":error-code"), text)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise UpstreamProtocolError(
                f"Bedrock sent a stream event that cannot be read: {exc}"
            ) from None
        raise UpstreamProtocolError(f"Bedrock sent a stream frame of unknown type {kind!r}.")

    def _error(self, error_type: str | None, message: str) -> bytes:
        self._closed = True
        message = message[:MAX_MESSAGE_CHARS]
        return error_event(error_kind(error_type, 500, message), message)

    def _event(self, event: str, payload: bytes) -> bytes:
        writer = self._writer
        if event == "contentBlockDelta":
            d = _delta(payload)
            delta, index = d.delta, d.contentBlockIndex
            head = b"" if self._role_sent else self._role()
            if delta.text is not None:
                return head + writer.text(delta.text)
            if delta.toolUse is not None:
                call = self._tools.get(index)
                if call is None:
                    raise UpstreamProtocolError("Bedrock sent tool input for no tool block.")
                if call == _RESPONSE_TOOL:
                    return head + writer.text(delta.toolUse.input)
                return head + writer.arguments(call, delta.toolUse.input)
            if delta.reasoningContent is not None:
                return head + self._reasoning(index, delta.reasoningContent)
            return head
        if event == "contentBlockStart":
            start = _start(payload)
            head = b"" if self._role_sent else self._role()
            tool = start.start.toolUse if start.start is not None else None
            if tool is None:
                return head
            if tool.name == self._response_tool:
                self._tools[start.contentBlockIndex] = _RESPONSE_TOOL
                return head
            call = self._tools[start.contentBlockIndex] = self._calls
            self._calls += 1
            return head + writer.tool_call(call, tool.toolUseId, tool.name)
        if event == "contentBlockStop":
            thinking = self._thinking.pop(_stop(payload).contentBlockIndex, None)
            if thinking is None:
                return b""
            if thinking.redacted is not None:
                return writer.thinking_block(redacted_block(thinking.redacted))
            if thinking.signature:
                block = thinking_block("".join(thinking.text), thinking.signature)
                return writer.thinking_block(block)
            return b""
        if event == "messageStart":
            return b"" if self._role_sent else self._role()
        if event == "messageStop":
            self._stop_reason = _message_stop(payload).stopReason
            return b""
        if event == "metadata":
            if self._stop_reason is None:
                raise UpstreamProtocolError("Bedrock sent the stream's metadata before its stop.")
            metadata = _metadata(payload)
            self._finished = True
            out = writer.finish(finish_reason(self._stop_reason, self._calls == 0))
            if writer.include_usage:
                out += writer.usage(openai_usage(metadata.usage))
            return out
        return b""  # an event added to the protocol later: nothing to say

    def _role(self) -> bytes:
        self._role_sent = True
        return self._writer.role()

    def _reasoning(self, index: int, delta: ReasoningDelta) -> bytes:
        thinking = self._thinking.get(index)
        if thinking is None:
            thinking = self._thinking[index] = _Thinking()
        if delta.text is not None:
            thinking.text.append(delta.text)
            return self._writer.reasoning(delta.text)
        if delta.signature is not None:
            thinking.signature = delta.signature
        elif delta.redactedContent is not None:
            thinking.redacted = delta.redactedContent
        return b""


__all__ = ["ConverseStreamTranslator"]
