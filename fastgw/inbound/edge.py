"""The client edge of an inbound API other than OpenAI's: the request read and translated into a
chat completion, the answer translated back, at the one place bytes meet the client.

An inbound API (Anthropic's Messages, OpenAI's Responses) is served by the chat completions
pipeline as it is: keys, limits, caches, coalescing, routing, relay and accounting see a chat
completion and its OpenAI answer. What differs is the edge: ``Edge`` stands in for Granian's
protocol object. Reading the body returns the translated chat request; ``response_bytes``
translates a whole answer or error; ``response_stream`` returns an ``EdgeTransport`` whose
``send_bytes`` translates the OpenAI stream, chunk by chunk, into the client's events.

Rules this module keeps:
- Translation is the ``Front``'s (``fastgw.inbound.<api>``, its protocol work sans-IO):
  ``request(body)`` (the client's body to an OpenAI chat body; raises ``InvalidRequest`` for
  what it cannot serve; async, so a front may read stored state, as the Responses API's
  ``previous_response_id`` does), ``answer(status, body)`` (an OpenAI answer or error body to
  the client's), ``stream()`` (a ``FrontStream``: OpenAI SSE bytes in, the client's SSE bytes
  out, ``end()`` at the close) and ``finish(ex)`` (after the response: store what must be
  kept).
- The relay's accounting (usage, finish, ``[DONE]``, the cache's event payloads) reads the
  OpenAI bytes *before* the edge, so it is the same for every inbound API.
- ``EdgeTransport.send_bytes`` keeps Granian's contract that the relay relies on
  (``fastgw.relay.send_now``): it returns the awaitable Granian returned, already settled,
  or a settled one of its own when a chunk translated to nothing. It keeps no awaitable and
  no error: no reference cycle through a Granian object.
- The body is bounded as the proxied endpoints bound it (``max_body_bytes``), before any
  translation.
- An answer from an upstream that speaks the client's API natively (``ex.native``, set by
  the route) is the front's to relay as is: ``answer`` passes it on, ``stream()`` returns a
  watch that passes the bytes on and is also the relay's ``StreamEnd``
  (``EdgeTransport.ending``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from typing import Any, Protocol

from ..errors import PayloadTooLarge


class FrontStream(Protocol):
    """One stream's translation from OpenAI's chunks to the client's events."""

    def feed(self, chunk: bytes) -> bytes:
        """The client's bytes for what ``chunk`` (OpenAI SSE, cut anywhere) completes."""
        ...

    def end(self) -> bytes:
        """Whatever the client still needs once the stream is over (may be empty)."""
        ...


class Front(Protocol):
    """An inbound API's translation, for one request."""

    async def request(self, body: bytes) -> bytes:
        """The client's body as an OpenAI chat completions body."""
        ...

    def answer(self, status: int, body: bytes) -> tuple[int, bytes]:
        """A whole OpenAI answer or error (``status``) as the client's status and body."""
        ...

    def stream(self) -> FrontStream:
        """The translation of a 200 stream (for a native answer, its watch: a
        ``fastgw.relay.StreamEnd`` too)."""
        ...

    async def finish(self, ex: Any) -> None:
        """The response is over (``ex.status`` says how it went): keep what must be kept."""
        ...


class _Settled:
    """An awaitable that is already done (a chunk that translated to nothing)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # a generator that returns at once


SETTLED = _Settled()


class EdgeTransport:
    """Granian's stream transport, with each chunk translated on its way out."""

    __slots__ = ("_inner", "_stream")

    def __init__(self, inner: Any, stream: FrontStream) -> None:
        self._inner = inner
        self._stream = stream

    @property
    def ending(self) -> Any:
        """The front's stream, which for a native answer is the relay's ``StreamEnd``."""
        return self._stream

    def send_bytes(self, chunk: bytes) -> Any:
        out = self._stream.feed(chunk)
        return self._inner.send_bytes(out) if out else SETTLED

    def send_str(self, text: str) -> Any:
        return self.send_bytes(text.encode())

    def close(self) -> Any:
        """The stream is over: send what the front still owes the client."""
        out = self._stream.end()
        return self._inner.send_bytes(out) if out else SETTLED


class Edge:
    """Granian's protocol object for one request of an inbound API (see the module rules)."""

    __slots__ = ("_front", "_inner", "_limit", "stream")

    def __init__(self, inner: Any, front: Front, limit: int) -> None:
        self._inner = inner
        self._front = front
        self._limit = limit
        self.stream: EdgeTransport | None = None  # once a stream was opened

    async def __call__(self) -> bytes:
        return await self._front.request(await self._inner())

    async def __aiter__(self) -> AsyncIterator[bytes]:
        parts, size = [], 0
        async for chunk in self._inner:
            size += len(chunk)
            if size > self._limit:
                raise PayloadTooLarge(
                    f"The request body is larger than the gateway's limit of {self._limit} bytes."
                )
            parts.append(chunk)
        yield await self._front.request(b"".join(parts))

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        status, body = self._front.answer(status, body)
        self._inner.response_bytes(status, headers, body)

    def response_stream(self, status: int, headers: list[tuple[str, str]]) -> EdgeTransport:
        transport = self._inner.response_stream(status, headers)
        self.stream = EdgeTransport(transport, self._front.stream())
        return self.stream

    def __getattr__(self, name: str) -> Any:  # client_disconnect and the rest: Granian's own
        return getattr(self._inner, name)


__all__ = ["SETTLED", "Edge", "EdgeTransport", "Front", "FrontStream"]
