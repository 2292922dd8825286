"""Stream filters: stages that see a stream's events, one at a time (sans-IO).

A model's pipeline may hold a tuple of stream filters (``Pipelines._stream_filters``); with
none, which is every config today, the relay forwards upstream bytes as received (zero copy
for chunks of whole, valid events: ``fastgw.relay``). With some, ``FilterChain`` splits the
upstream bytes into SSE events (``fastgw.protocols.sse.SSEParser``), hands each event to
every filter in order, and writes back what they return. Output guardrails, PII masking
and translation from another protocol's stream plug in here.

Rules this module keeps:
- A filter is an object with ``event(event) -> Event | None``: return the event (the same or
  a changed one) to pass it on, ``None`` to leave it out. It sees events after the secrets
  were scrubbed and before the gateway's own accounting (the relay's framer) sees them, so
  usage and finish reasons are read from what the client receives.
- A filter only ever sees events whose data is ``[DONE]`` or JSON (or empty). The first event
  whose data is not is passed on as it is, unfiltered, and the chain stops there (``feed``
  returns nothing more): the relay's framer, which validates what the client would receive,
  then ends the stream with an error event in its place.
- Events are written back in SSE form (``event:`` line unless it is a plain message, one
  ``data:`` line per line of data, a blank line): a filtered stream's bytes can differ from
  the upstream's in line endings and field order, never in the events' data.
- An incomplete last event when the upstream ends is handed back by ``rest`` as received;
  the relay's framer holds it and never sends it, as without filters. Each event is bounded
  by ``protocols.sse.MAX_EVENT_BYTES``.
- Cost, only when filters are configured: one parse of every chunk and one write per event.
"""

from __future__ import annotations

from typing import Protocol

from ._core import is_json
from .protocols.sse import Event, SSEParser

_DONE = b"[DONE]"


class StreamFilter(Protocol):
    """What a stage must be to see a stream's events."""

    def event(self, event: Event) -> Event | None: ...


def encode_event(event: Event) -> bytes:
    """One SSE event as bytes: ``event:`` unless a plain message, ``data:`` per line."""
    head = b"" if event.event == "message" else b"event: " + event.event.encode() + b"\n"
    lines = event.data.split(b"\n")
    return head + b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"


class FilterChain:
    """The filters of one stream, over its chunks."""

    __slots__ = ("_filters", "_parser", "stopped")

    def __init__(self, filters: tuple[StreamFilter, ...]) -> None:
        self._filters = filters
        self._parser = SSEParser()
        self.stopped = False  # an event that is not JSON went by: nothing more is filtered

    def feed(self, chunk: bytes) -> bytes:
        """The bytes to send for ``chunk``: its complete events, filtered (may be empty), up
        to and with an event that is not JSON (unfiltered; see the module rules)."""
        if self.stopped:
            return b""
        out = []
        for event in self._parser.feed(chunk):
            data = event.data
            if data and data != _DONE and not is_json(data):
                self.stopped = True
                out.append(encode_event(event))
                break
            kept: Event | None = event
            for stage in self._filters:
                kept = stage.event(event)
                if kept is None:
                    break
                event = kept
            if kept is not None:
                out.append(encode_event(kept))
        return b"".join(out)

    def rest(self) -> bytes:
        """An incomplete last event, as received (the upstream ended mid-event)."""
        return b"" if self.stopped else self._parser.held()
