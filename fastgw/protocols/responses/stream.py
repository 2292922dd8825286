"""A chat completions stream written as the Responses API's stream events (sans-IO).

``EventStream.feed(chunk)`` takes OpenAI SSE bytes, cut anywhere, and returns the events they
complete, each ``event: <type>\\ndata: {"type": <type>, "sequence_number": n, ...}\\n\\n``;
``end()`` returns what the client still needs when the upstream stream is over. Rules:
- Order: ``response.created`` and ``response.in_progress`` first (before the first chunk's
  own events), then per output item ``response.output_item.added``, its deltas and
  ``response.output_item.done``; the items follow the chat deltas: reasoning (summary part
  and text events), a message (content part, ``response.output_text.delta`` with
  ``logprobs: []``, text and part done) and one ``function_call`` per tool call (added with
  empty ``arguments``, then ``response.function_call_arguments.delta`` for each fragment as
  it comes: nothing is held back). A new kind of delta closes the open item.
- The end: ``data: [DONE]`` closes the open item and sends ``response.completed`` (or
  ``response.incomplete`` with the reason of ``finish_reason``), carrying the whole response
  with its usage (the chat request asked for the usage chunk: it is read, never forwarded).
  An SSE ``event: error`` (the stream failed after its headers) sends ``response.failed``
  with ``error {code, message}``; a stream that stops with neither sends it from ``end()``.
  Nothing is sent after the terminal event.
- ``final`` is the last response object sent (completed, incomplete or failed): what the
  front stores.
- Malformed chunks are skipped (the relay validates upstream events already); the SSE
  parser bounds an event's size.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..openai.errors import read_error
from ..sse import SSEParser
from .answer import (
    Usage,
    function_item,
    message_item,
    new_id,
    reasoning_item,
    response_object,
    response_usage,
    status_of,
)

_encode = msgspec.json.Encoder().encode


class FunctionDelta(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(msgspec.Struct):
    index: int = 0
    id: str | None = None
    function: FunctionDelta | None = None


class Delta(msgspec.Struct):
    content: str | None = None
    refusal: str | None = None
    reasoning_content: str | None = None
    thinking_blocks: list[Any] | None = None
    tool_calls: list[ToolCallDelta] | None = None


class ChunkChoice(msgspec.Struct):
    delta: Delta | None = None
    finish_reason: str | None = None


class Chunk(msgspec.Struct):
    model: str = ""
    choices: list[ChunkChoice] = []
    usage: Usage | None = None


_chunk = msgspec.json.Decoder(Chunk).decode

#: OpenAI error codes a failed response may carry (the SDK's ``ResponseError.code``)
_RATE_LIMITED = frozenset({"rate_limit_exceeded", "rate_limit_error", "requests", "tokens"})


class EventStream:
    """One stream's translation (see the module rules)."""

    def __init__(self, id: str, created_at: int, model: str, echo: dict[str, Any]) -> None:
        self.id = id
        self.created_at = created_at
        self.model = model
        self.echo = echo
        self.final: dict[str, Any] | None = None
        self._parser = SSEParser()
        self._seq = 0
        self._started = False
        self._items: list[dict[str, Any]] = []  # output items, in output_index order
        self._open: str | None = None  # "reasoning" | "message" | "call"
        self._text: list[str] = []  # of the open item: text, summary or arguments
        self._call_index = -1  # the chat index of the open tool call
        self._blocks: list[Any] = []
        self._finish: str | None = None
        self._usage: Usage | None = None

    # -- the input -------------------------------------------------------------------------

    def feed(self, chunk: bytes) -> bytes:
        if self.final is not None:
            return b""
        out = bytearray(self._start())
        for event in self._parser.feed(chunk):
            if event.event == "error":
                out += self._failed(event.data)
            elif event.data.strip() == b"[DONE]":
                out += self._done()
            else:
                out += self._chunk(event.data)
            if self.final is not None:
                break
        return bytes(out)

    def end(self) -> bytes:
        if self.final is not None:
            return b""
        error = b'{"error": {"message": "The stream ended before it was complete."}}'
        return self._start() + self._failed(error)

    # -- events ----------------------------------------------------------------------------

    def _event(self, type: str, **fields: Any) -> bytes:
        data = _encode({"type": type, "sequence_number": self._seq, **fields})
        self._seq += 1
        return b"event: " + type.encode() + b"\ndata: " + data + b"\n\n"

    def _response(self, status: str, **extra: Any) -> dict[str, Any]:
        return response_object(
            self.id, self.created_at, self.model, self.echo, self._items, status, **extra
        )

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        snapshot = self._response("in_progress")
        return self._event("response.created", response=snapshot) + self._event(
            "response.in_progress", response=snapshot
        )

    def _chunk(self, data: bytes) -> bytes:
        try:
            chunk = _chunk(data)
        except (msgspec.DecodeError, RecursionError):
            return b""
        if chunk.model:
            self.model = chunk.model
        if chunk.usage is not None:
            self._usage = chunk.usage
        out = b""
        for choice in chunk.choices[:1]:
            delta = choice.delta
            if delta is not None:
                out += self._delta(delta)
            if choice.finish_reason is not None:
                self._finish = choice.finish_reason
        return out

    def _delta(self, delta: Delta) -> bytes:
        out = b""
        if delta.reasoning_content:
            if self._open != "reasoning":
                out += self._close() + self._open_reasoning()
            self._text.append(delta.reasoning_content)
            index = len(self._items) - 1
            item_id = self._items[index]["id"]
            out += self._event(
                "response.reasoning_summary_text.delta",
                item_id=item_id,
                output_index=index,
                summary_index=0,
                delta=delta.reasoning_content,
            )
        if delta.thinking_blocks:
            self._blocks.extend(delta.thinking_blocks)
        text = delta.content or delta.refusal
        if text:
            if self._open != "message":
                out += self._close() + self._open_message()
            self._text.append(text)
            index = len(self._items) - 1
            out += self._event(
                "response.output_text.delta",
                item_id=self._items[index]["id"],
                output_index=index,
                content_index=0,
                delta=text,
                logprobs=[],
            )
        for call in delta.tool_calls or ():
            function = call.function or FunctionDelta()
            if self._open != "call" or call.index != self._call_index:
                out += self._close()
                self._open, self._call_index, self._text = "call", call.index, []
                item = function_item(
                    new_id("fc_"), call.id or "", function.name or "", "", "in_progress"
                )
                self._items.append(item)
                out += self._event(
                    "response.output_item.added", output_index=len(self._items) - 1, item=item
                )
            if function.arguments:
                self._text.append(function.arguments)
                index = len(self._items) - 1
                out += self._event(
                    "response.function_call_arguments.delta",
                    item_id=self._items[index]["id"],
                    output_index=index,
                    delta=function.arguments,
                )
        return out

    def _open_reasoning(self) -> bytes:
        self._open, self._text = "reasoning", []
        item = {"id": new_id("rs_"), "type": "reasoning", "summary": []}
        self._items.append(item)
        index = len(self._items) - 1
        part = {"type": "summary_text", "text": ""}
        return self._event(
            "response.output_item.added", output_index=index, item=dict(item)
        ) + self._event(
            "response.reasoning_summary_part.added",
            item_id=item["id"],
            output_index=index,
            summary_index=0,
            part=part,
        )

    def _open_message(self) -> bytes:
        self._open, self._text = "message", []
        item = {
            "id": new_id("msg_"),
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        self._items.append(item)
        index = len(self._items) - 1
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        return self._event(
            "response.output_item.added", output_index=index, item=dict(item)
        ) + self._event(
            "response.content_part.added",
            item_id=item["id"],
            output_index=index,
            content_index=0,
            part=part,
        )

    def _close(self, status: str = "completed") -> bytes:
        """Close the open item: its done events; the item in ``_items`` becomes its final
        form."""
        kind, self._open = self._open, None
        if kind is None:
            return b""
        index = len(self._items) - 1
        item = self._items[index]
        text = "".join(self._text)
        item_id = item["id"]
        out = b""
        if kind == "reasoning":
            final = reasoning_item(item_id, text, self._blocks)
            part = {"type": "summary_text", "text": text}
            out += self._event(
                "response.reasoning_summary_text.done",
                item_id=item_id,
                output_index=index,
                summary_index=0,
                text=text,
            ) + self._event(
                "response.reasoning_summary_part.done",
                item_id=item_id,
                output_index=index,
                summary_index=0,
                part=part,
            )
        elif kind == "message":
            final = message_item(item_id, text, None, status)
            out += self._event(
                "response.output_text.done",
                item_id=item_id,
                output_index=index,
                content_index=0,
                text=text,
                logprobs=[],
            ) + self._event(
                "response.content_part.done",
                item_id=item_id,
                output_index=index,
                content_index=0,
                part=final["content"][0],
            )
        else:
            final = function_item(item_id, item["call_id"], item["name"], text, status)
            out += self._event(
                "response.function_call_arguments.done",
                item_id=item_id,
                output_index=index,
                arguments=text,
            )
        self._items[index] = final
        return out + self._event("response.output_item.done", output_index=index, item=final)

    def _done(self) -> bytes:
        status, incomplete = status_of(self._finish)
        item_status = "incomplete" if status == "incomplete" else "completed"
        out = self._close(item_status)
        if not self._items:  # an empty answer is an empty message, as a whole answer has
            out += self._open_message() + self._close(item_status)
        if self._blocks and self._items[0]["type"] == "reasoning":
            first = self._items[0]  # blocks whose signature came after the reasoning closed
            self._items[0] = reasoning_item(first["id"], _summary(first), self._blocks)
        usage = response_usage(self._usage)
        self.final = self._response(status, incomplete=incomplete, usage=usage)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return out + self._event(kind, response=self.final)

    def _failed(self, data: bytes) -> bytes:
        for item in self._items:
            if item.get("status") == "in_progress":
                item["status"] = "incomplete"
        self._open = None
        usage = response_usage(self._usage) if self._usage is not None else None
        self.final = self._response("failed", usage=usage, error=failure_of(data))
        return self._event("response.failed", response=self.final)


def failure_of(data: bytes) -> dict[str, str]:
    """A failed response's ``error`` (``code``, ``message``) from an OpenAI error event's
    data: ``rate_limit_exceeded`` when the upstream was rate limited, else ``server_error``."""
    message, code = "The upstream stream failed.", "server_error"
    try:
        error = read_error(data).error
    except msgspec.DecodeError:
        error = None
    if isinstance(error, str):
        message = error
    elif error is not None:
        message = error.message or message
        if error.code in _RATE_LIMITED or error.type in _RATE_LIMITED:
            code = "rate_limit_exceeded"
    return {"code": code, "message": message}


def _summary(item: dict[str, Any]) -> str:
    return "".join(part.get("text", "") for part in item.get("summary", ()))


__all__ = ["EventStream", "failure_of"]
