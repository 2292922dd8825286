"""Server-Sent Events split into events, for stream filters (sans-IO).

The zero-copy relay never uses this: it forwards upstream bytes as received and watches them
with ``fastgw._core.SSEFramer``. This parser is for code that must see each event (stream
filters, translation from another protocol's stream).

Rules this module keeps:
- Events are split on blank lines across arbitrary chunk boundaries; CRLF and CR line
  endings count as LF. Fields per the SSE spec: ``event``, ``data`` (several lines joined
  with LF), comments (``:``) and other fields ignored; an event with no data is dropped.
- An incomplete event is held, bounded by ``MAX_EVENT_BYTES``; past it ``feed`` raises
  ``UpstreamProtocolError`` (an upstream cannot make the gateway buffer without end).
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import UpstreamProtocolError

MAX_EVENT_BYTES = 8 * 1024 * 1024


class Event(NamedTuple):
    """One SSE event: its type (``message`` unless named) and its data."""

    event: str
    data: bytes


class SSEParser:
    __slots__ = ("_buffer", "_cr")

    def __init__(self) -> None:
        self._buffer = b""
        self._cr = False  # the last chunk ended with CR: an LF opening the next one belongs to it

    def feed(self, chunk: bytes) -> list[Event]:
        """The events ``chunk`` completes, in order."""
        if self._cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._cr = chunk[-1:] == b"\r"
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        data = self._buffer + chunk if self._buffer else chunk
        blocks = data.split(b"\n\n")
        self._buffer = blocks.pop()
        if len(self._buffer) > MAX_EVENT_BYTES:
            raise UpstreamProtocolError(
                "An upstream stream event is larger than the gateway reads."
            )
        events = []
        for block in blocks:
            event = _parse(block)
            if event is not None:
                events.append(event)
        return events

    def held(self) -> bytes:
        """What is buffered of an incomplete event (line endings folded to LF)."""
        return self._buffer


def _parse(block: bytes) -> Event | None:
    name = "message"
    data: list[bytes] = []
    for line in block.split(b"\n"):
        field, colon, value = line.partition(b":")
        if not field:
            continue  # a comment, or an empty line
        if colon and value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            name = value.decode("utf-8", "replace")
    if not data:
        return None
    return Event(name, b"\n".join(data))
