"""A Responses API stream from an upstream that speaks it, watched on its way to the client
(sans-IO): the bytes go out as received; the watch knows how the stream ended, what it used
and the final response object to store.

``NativeStream.feed(chunk)`` takes the events the relay lets through (whole, validated: the
relay's framer ran first) and returns what the client gets; ``end()`` what the client still
needs once the stream is over. It is also the relay's ``StreamEnd`` (``fastgw.relay``):
``complete``, ``failed``, ``usage()``, ``text_bytes``/``text_events``. Rules:
- A chunk goes out as the same bytes object, unless it holds an error event in OpenAI's shape
  (``{"error": {...}}``: the gateway's own, when the stream failed after its headers, or an
  upstream's): that event becomes ``response.failed`` (the last response object seen, with
  status ``failed`` and ``error {code, message}``); the chunk's other events are written back
  unchanged in their data. A Responses ``error`` event (``{"type": "error", ...}``) is the
  API's own and goes out as received.
- ``complete``: a ``response.completed`` or ``response.incomplete`` event went by (``final``
  is its response object, raw). ``failed``: the upstream said it failed (``response.failed``
  or an ``error`` event). Nothing is sent after a terminal event.
- A stream that ended with no terminal event (cut, stalled, an upstream that stopped after
  its ``error`` event) ends with ``response.failed`` from ``end()``, so a client never waits
  for an end that will not come.
- Every event the watch writes carries the next ``sequence_number`` after the last one seen.
- Usage is the terminal event's ``response.usage`` (``native.usage_of``); the text of the
  deltas is measured (``text_bytes``, ``text_events``) for a stream that ends without one.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ...errors import UpstreamProtocolError
from ..openai.errors import read_error
from ..openai.usage import Usage
from ..sse import Event, SSEParser
from .answer import response_object
from .native import usage_of
from .stream import failure_of

_encode = msgspec.json.Encoder().encode
_COMPLETE = frozenset({"response.completed", "response.incomplete"})
_CUT = b'{"error": {"message": "The stream ended before it was complete."}}'


_NONE = msgspec.Raw(b"")


class _Event(msgspec.Struct):
    type: str = ""
    sequence_number: int | None = None
    response: msgspec.Raw = _NONE  # empty when left out (msgspec takes no ``Raw | None``)
    delta: msgspec.Raw = _NONE


_event = msgspec.json.Decoder(_Event).decode


class NativeStream:
    """One native stream's watch (see the module rules). ``id``, ``created_at``, ``model``
    and ``echo`` make the response object of a failure that comes before the upstream sent
    one."""

    def __init__(self, id: str, created_at: int, model: str, echo: dict[str, Any]) -> None:
        self._fallback = (id, created_at, model, echo)
        self._parser = SSEParser()
        self._next = 0  # the sequence number of the next event the watch writes
        self._snapshot: msgspec.Raw | None = None  # the last response object seen
        self._terminal: msgspec.Raw | None = None  # the response of a terminal event
        self._error: bytes | None = None  # an upstream error event's data
        self.final: bytes | None = None
        self.complete = False
        self.failed = False
        self.ended = False  # a terminal event went out
        self.text_bytes = 0
        self.text_events = 0

    def feed(self, chunk: bytes) -> bytes:
        if self.ended:
            return b""
        try:
            events = self._parser.feed(chunk)
        except UpstreamProtocolError:  # never: the relay's framer bounds events first
            return b""
        last = len(events) - 1
        for i, event in enumerate(events):
            if _openai_error(event):
                before = b"".join(_written(e) for e in events[:i])
                return before + self._failed(failure_of(event.data))
            self._see(event)
            if self.ended and i < last:  # what follows a terminal event is left out
                return b"".join(_written(e) for e in events[: i + 1])
        return chunk

    def end(self) -> bytes:
        if self.ended:
            return b""
        data = self._error or _CUT
        return self._failed(_upstream_failure(data) if self._error else failure_of(data))

    def usage(self) -> Usage | None:
        return None if self._terminal is None else usage_of(self._terminal)

    # -- events ----------------------------------------------------------------------------

    def _see(self, event: Event) -> None:
        try:
            seen = _event(event.data)
        except (msgspec.DecodeError, RecursionError):
            return
        if seen.sequence_number is not None:
            self._next = max(self._next, seen.sequence_number + 1)
        else:
            self._next += 1
        kind = seen.type
        delta = bytes(seen.delta)
        if delta[:1] == b'"':
            self.text_bytes += len(delta) - 2  # a JSON string, quotes and all
            self.text_events += 1
        response = bytes(seen.response)
        if response[:1] == b"{":
            self._snapshot = seen.response
        else:
            response = b""
        if kind in _COMPLETE:
            self.complete = self.ended = True
            self._terminal = seen.response if response else None
            self.final = response or None
        elif kind == "response.failed":
            self.failed = self.ended = True
            self._terminal = seen.response if response else None
        elif kind == "error" or event.event == "error":
            self.failed = True
            self._error = event.data

    def _failed(self, error: dict[str, Any]) -> bytes:
        """``response.failed`` with ``error``, from the last response object seen."""
        self.ended = self.failed = True
        response: Any = None
        if self._snapshot is not None:
            try:
                response = msgspec.json.decode(self._snapshot)
            except (msgspec.DecodeError, RecursionError):
                response = None
        if not isinstance(response, dict):
            id, created_at, model, echo = self._fallback
            response = response_object(id, created_at, model, echo, [], "failed")
        response["status"] = "failed"
        response["error"] = error
        self._terminal = msgspec.Raw(_encode(response))
        data = {"type": "response.failed", "sequence_number": self._next, "response": response}
        self._next += 1
        return b"event: response.failed\ndata: " + _encode(data) + b"\n\n"


def _openai_error(event: Event) -> bool:
    """Whether ``event`` is an error in OpenAI's shape (``{"error": ...}``), not the Responses
    API's own ``error`` event."""
    if event.data.lstrip()[:1] != b"{" or b'"error"' not in event.data:
        return False
    try:
        return read_error(event.data).error is not None
    except (msgspec.DecodeError, RecursionError):
        return False


def _upstream_failure(data: bytes) -> dict[str, str]:
    """A Responses ``error`` event's ``code`` and ``message``, for the failure that ends it."""
    try:
        error = msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError):
        error = None
    if not isinstance(error, dict):
        return failure_of(b"")
    code, message = error.get("code"), error.get("message")
    return {
        "code": code if isinstance(code, str) else "server_error",
        "message": message if isinstance(message, str) else "The upstream stream failed.",
    }


def _written(event: Event) -> bytes:
    """One event as SSE bytes: ``event:`` unless a plain message, ``data:`` per line."""
    head = b"" if event.event == "message" else b"event: " + event.event.encode() + b"\n"
    return head + b"".join(b"data: " + line + b"\n" for line in event.data.split(b"\n")) + b"\n"


__all__ = ["NativeStream"]
