"""An Anthropic Messages stream as OpenAI chat completion chunks (sans-IO).

Rules this module keeps:
- Fed the upstream's bytes cut anywhere; events are split by ``SSEParser`` (bounded by
  ``MAX_EVENT_BYTES``; a chunk that is exactly one ordinary event skips it, see
  ``_events``) and read by their JSON ``type`` (the ``event:`` line says the same).
  Each event becomes its OpenAI chunk at once: text, reasoning and tool-call argument
  deltas go out as Anthropic sent them, never held.
- ``message_start`` gives the id, model and input usage (the role chunk goes out);
  ``content_block_start`` opens a tool call at the next OpenAI tool index; a thinking
  block's text streams as ``reasoning_content`` and the whole block (with its signature,
  which arrives last) goes out as ``thinking_blocks`` when the block stops;
  ``message_delta`` gives the stop reason and output usage; ``message_stop`` writes the
  finish chunk, the usage chunk when asked for, and ``[DONE]``. ``ping`` and event or block
  types this module does not know are ignored (Anthropic documents that new ones appear).
- An ``error`` event becomes OpenAI's SSE error event and ends the translation: nothing,
  ``[DONE]`` included, follows it. An event that is not valid JSON, or a stream that ends
  before ``message_stop``, raises ``UpstreamProtocolError``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ...errors import UpstreamProtocolError
from ..openai.translate import DONE, ChunkWriter, error_event
from ..sse import SSEParser
from .answer import FINISH, Block, Message, Usage, openai_usage
from .errors import ErrorDetail, error_kind


class Delta(msgspec.Struct):
    type: str = ""
    text: str = ""
    partial_json: str = ""
    thinking: str = ""
    signature: str = ""
    stop_reason: str | None = None


class StreamEvent(msgspec.Struct):
    type: str
    index: int = 0
    message: Message | None = None
    content_block: Block | None = None
    delta: Delta | None = None
    usage: Usage | None = None
    error: ErrorDetail | None = None


_read = msgspec.json.Decoder(StreamEvent).decode
_TOOL, _JSON, _THINKING, _REDACTED = 1, 2, 3, 4


class MessagesStream:
    """One stream's translation (a ``fastgw.providers.translated.StreamTranslator``)."""

    __slots__ = (
        "_blocks",
        "_created",
        "_ended",
        "_finish",
        "_include_usage",
        "_json",
        "_json_tool",
        "_parser",
        "_tools",
        "_usage",
        "_writer",
    )

    def __init__(self, created: int, include_usage: bool, json_tool: str | None) -> None:
        self._parser = SSEParser()
        self._created = created
        self._include_usage = include_usage
        self._json_tool = json_tool
        self._json = False  # the forced json_object tool answered: its input is the content
        self._writer: ChunkWriter | None = None
        # Anthropic block index -> (kind, OpenAI tool index | thinking parts)
        self._blocks: dict[int, tuple[int, Any]] = {}
        self._tools = 0
        self._usage = Usage()
        self._finish = "stop"
        self._ended = False  # message_stop or an error event seen: nothing more goes out

    def feed(self, chunk: bytes) -> bytes:
        if self._ended:
            return b""
        out = []
        for data in self._events(chunk):
            try:
                ev = _read(data)
            except (msgspec.DecodeError, msgspec.ValidationError):
                raise UpstreamProtocolError(
                    "The Anthropic upstream sent a stream event that could not be read."
                ) from None
            piece = self._event(ev)
            if piece:
                out.append(piece)
            if self._ended:
                break
        return b"".join(out)

    def _events(self, chunk: bytes) -> list[bytes]:
        """The data of the events ``chunk`` completes. Anthropic sends one event a chunk,
        ``event: NAME`` then one ``data:`` line; such a chunk, when nothing is held, is read
        here without the general parser (a third of a chunk's translation time); anything
        else goes through ``SSEParser``, which gives the same data."""
        if chunk[-2:] == b"\n\n" and not self._parser.held() and b"\r" not in chunk:
            i = chunk.find(b"data: ")
            at_line_start = i == 0 or (i > 0 and chunk[i - 1] == 10)  # 10: LF
            last_line = chunk.find(b"\n", i) == len(chunk) - 2
            if at_line_start and last_line and chunk.count(b"\n\n") == 1:
                return [chunk[i + 6 : -2]]
        return [event.data for event in self._parser.feed(chunk)]

    def end(self) -> bytes:
        if not self._ended:
            raise UpstreamProtocolError(
                "The Anthropic upstream's stream ended before the message was finished."
            )
        return b""

    def _event(self, ev: StreamEvent) -> bytes:
        kind = ev.type
        writer = self._writer
        if kind == "content_block_delta" and writer is not None and ev.delta is not None:
            return self._delta(writer, ev.index, ev.delta)
        if kind == "message_start":
            return self._start(ev.message)
        if kind == "error":
            self._ended = True
            detail = ev.error or ErrorDetail()
            message = detail.message or "The Anthropic upstream failed mid-stream."
            return error_event(error_kind(detail.type, message, 500), message)
        if kind == "ping":
            return b""
        if writer is None:
            raise UpstreamProtocolError(
                f"The Anthropic upstream sent {kind!r} before 'message_start'."
            )
        if kind == "content_block_start" and ev.content_block is not None:
            return self._block_start(writer, ev.index, ev.content_block)
        if kind == "content_block_stop":
            return self._block_stop(writer, ev.index)
        if kind == "message_delta":
            if ev.delta is not None and ev.delta.stop_reason is not None:
                finish = FINISH.get(ev.delta.stop_reason, "stop")
                self._finish = "stop" if self._json and finish == "tool_calls" else finish
            if ev.usage is not None:
                self._merge(ev.usage)
            return b""
        if kind == "message_stop":
            self._ended = True
            out = writer.finish(self._finish)
            if self._include_usage:
                out += writer.usage(openai_usage(self._usage))
            return out + DONE
        return b""

    def _start(self, message: Message | None) -> bytes:
        if message is None or self._writer is not None:
            raise UpstreamProtocolError("The Anthropic upstream sent a bad 'message_start'.")
        self._merge(message.usage)
        self._writer = ChunkWriter(
            "chatcmpl-" + message.id, message.model, self._created, self._include_usage
        )
        return self._writer.role()

    def _merge(self, usage: Usage) -> None:
        mine = self._usage
        for field in (
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
            "output_tokens_details",
        ):
            value = getattr(usage, field)
            if value is not None:
                setattr(mine, field, value)

    def _block_start(self, writer: ChunkWriter, index: int, block: Block) -> bytes:
        kind = block.type
        if kind == "text":
            return writer.text(block.text) if block.text else b""
        if kind == "tool_use":
            if block.name == self._json_tool:
                self._blocks[index] = (_JSON, None)
                self._json = True
                return b""
            tool = self._tools
            self._tools += 1
            self._blocks[index] = (_TOOL, tool)
            return writer.tool_call(tool, block.id, block.name)
        if kind == "thinking":
            self._blocks[index] = (_THINKING, [[block.thinking], block.signature])
            return writer.reasoning(block.thinking) if block.thinking else b""
        if kind == "redacted_thinking":
            self._blocks[index] = (_REDACTED, block.data)
        return b""

    def _delta(self, writer: ChunkWriter, index: int, delta: Delta) -> bytes:
        kind = delta.type
        if kind == "text_delta":
            return writer.text(delta.text)
        if kind == "input_json_delta":
            block = self._blocks.get(index)
            if block is None or not delta.partial_json:
                return b""
            if block[0] == _JSON:
                return writer.text(delta.partial_json)
            return writer.arguments(block[1], delta.partial_json)
        if kind == "thinking_delta":
            block = self._blocks.get(index)
            if block is not None and block[0] == _THINKING:
                block[1][0].append(delta.thinking)
            return writer.reasoning(delta.thinking)
        if kind == "signature_delta":
            block = self._blocks.get(index)
            if block is not None and block[0] == _THINKING:
                block[1][1] += delta.signature
        return b""

    def _block_stop(self, writer: ChunkWriter, index: int) -> bytes:
        block = self._blocks.pop(index, None)
        if block is None:
            return b""
        kind, state = block
        if kind == _THINKING:
            parts, signature = state
            whole = {"type": "thinking", "thinking": "".join(parts), "signature": signature}
            return writer.thinking_block(whole)
        if kind == _REDACTED:
            return writer.thinking_block({"type": "redacted_thinking", "data": state})
        return b""


__all__ = ["MessagesStream"]
