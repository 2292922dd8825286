"""Providers whose upstream speaks another protocol (Anthropic, Gemini, Bedrock, Cohere): the
request translated on the way out, the answer translated back into OpenAI's protocol before
anything else in the gateway sees it.

A translating provider says, per call, where the request goes and how its answer reads
(``Outbound``: path, headers, body and a ``Translation``); this module sends it and wraps the
upstream's response in a ``TranslatedResponse`` that *is* an OpenAI answer: its status, its
body read whole, its stream chunk by chunk. So routing, the relay, limits, cost, caches and
the usage log work on every provider unchanged, and ``OpenAIWire`` (first event, failure
classes, Retry-After, stream events) applies as it is.

Rules this module keeps:
- The protocol work is sans-IO in ``fastgw.protocols.<name>``: a ``Translation`` turns a whole
  answer (any status) into OpenAI's status and body, and makes a ``StreamTranslator`` that
  turns the upstream's stream bytes, in chunks cut anywhere, into OpenAI's SSE events.
- A stream is translated as it arrives, chunk by chunk: tool-call arguments go out as the
  deltas the upstream sent, never buffered.
- An upstream stream that cannot be read (an event that is not valid JSON, a bad frame or
  checksum) raises ``UpstreamProtocolError`` from the translator; an in-stream error event
  becomes OpenAI's SSE error event; a stream that ends before the upstream said it finished
  raises ``UpstreamProtocolError``. The relay turns each into the SSE error event that ends
  the client's stream, never ``[DONE]``.
- The status is the translated one once the body is read (``read``): a 529 is a 503 to
  routing, an unreadable 200 a 502.
- A stream whose first event is the upstream's error (a Bedrock exception frame before any
  output, an Anthropic ``error`` event) has relayed nothing: ``first_event`` raises
  ``UpstreamStreamError`` with its message, so routing retries or falls over as for an error
  status, instead of committing to a stream that only says it failed.
- Only the headers routing reads pass from the upstream (``retry-after``, ``retry-after-ms``
  and OpenAI-style ``x-ratelimit-*``); the content type is OpenAI's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

import msgspec

from ..config import PoolConfig, Timeouts
from ..errors import UpstreamStreamError
from ..protocols.openai.errors import ErrorDetail, read_error
from ..protocols.openai.ratelimit import upstream_ratelimit_headers
from ..upstream import Pool
from .base import Call, Response
from .openai_wire import OpenAIWire

_JSON = b"application/json"
_SSE = b"text/event-stream"


class StreamTranslator(Protocol):
    """One stream's translation, fed the upstream's bytes as they arrive."""

    def feed(self, chunk: bytes) -> bytes:
        """OpenAI SSE events for what ``chunk`` completes (may be empty); raises
        ``UpstreamProtocolError`` for what cannot be read."""
        ...

    def end(self) -> bytes:
        """The last events once the upstream's body ended (``[DONE]`` after a finished
        answer); raises ``UpstreamProtocolError`` if it ended before it finished."""
        ...


class Translation(Protocol):
    """One call's way back to OpenAI's protocol."""

    def answer(self, status: int, body: bytes) -> tuple[int, bytes]:
        """A whole answer (success or error) as OpenAI's status and body."""
        ...

    def stream(self) -> StreamTranslator:
        """The translator of a 200 stream."""
        ...


class Outbound(NamedTuple):
    """Where one call goes and how its answer reads."""

    path: str  # after the base URL's path, query included
    headers: list[tuple[str, str]]
    body: bytes
    translation: Translation


class TranslatedResponse:
    """An upstream answer in another protocol, read as an OpenAI answer (``Response``)."""

    __slots__ = ("_ended", "_stream", "_translation", "_upstream", "status")

    def __init__(self, upstream: Response, translation: Translation, stream: bool) -> None:
        self._upstream = upstream
        self._translation = translation
        self.status = upstream.status
        self._stream = translation.stream() if stream and upstream.status == 200 else None
        self._ended = False

    @property
    def headers(self) -> Sequence[tuple[bytes, bytes]]:
        kind = _SSE if self._stream is not None else _JSON
        passed = [(k, v) for k, v in self._upstream.headers if _passes(k)]
        return [(b"content-type", kind), *passed]

    def header(self, name: bytes) -> bytes | None:
        if name == b"content-type":
            return _SSE if self._stream is not None else _JSON
        return self._upstream.header(name) if _passes(name) else None

    async def read(self) -> bytes:
        body = await self._upstream.read()
        self.status, out = self._translation.answer(self._upstream.status, body)
        return out

    async def next_chunk(self) -> bytes | None:
        translator = self._stream
        if translator is None:
            return await self._upstream.next_chunk()
        while not self._ended:
            chunk = await self._upstream.next_chunk()
            if chunk is None:
                self._ended = True
                out = translator.end()
            else:
                out = translator.feed(chunk)
            if out:
                return out
        return None

    async def pump(self, sink: Callable[[bytes], bool]) -> bool:
        while (chunk := await self.next_chunk()) is not None:
            if not sink(chunk):
                return False
        return True

    def close(self) -> None:
        self._upstream.close()


def _stream_error_message(event: bytes) -> str:
    """The message of a translated SSE error event (``translate.error_event``)."""
    data = event.partition(b"data: ")[2].partition(b"\n")[0]
    try:
        error = read_error(data).error
    except msgspec.DecodeError:
        error = None
    message = error.message if isinstance(error, ErrorDetail) else None
    return f"The upstream stream failed before its first token: {message or 'no message'}"


def _passes(name: bytes) -> bool:
    return name in (b"retry-after", b"retry-after-ms") or name.startswith(b"x-ratelimit-")


class TranslatingProvider(OpenAIWire):
    """The I/O shell of a provider whose upstream speaks another protocol: subclasses say
    where a call goes (``outbound``), this class sends it and translates what comes back."""

    protocol = "translated"  # subclasses name theirs

    def __init__(
        self,
        name: str,
        base_url: str,
        pool: PoolConfig,
        timeouts: Timeouts,
        loop: asyncio.AbstractEventLoop,
        secret: str | None,
    ) -> None:
        self.name = name
        self.pool = Pool(base_url, pool, loop)
        self.timeouts = timeouts
        if secret:
            self.secret = secret.encode()

    def upstream_headers(self, response: Response) -> Sequence[tuple[str, str]]:
        # read from the upstream's own headers: the same x-ratelimit-* ones, without
        # building the translated header list on every answer (3-4 µs a request)
        raw = response._upstream if isinstance(response, TranslatedResponse) else response
        return upstream_ratelimit_headers(raw.headers, self.secret)

    async def first_event(self, response: Response, timeout: float) -> bytes:
        head = await super().first_event(response, timeout)
        if head.startswith(b"event: error\n"):
            raise UpstreamStreamError(_stream_error_message(head))
        return head

    def outbound(self, call: Call) -> Outbound:
        """Where ``call`` goes and how its answer reads; raises ``InvalidRequest`` (a 400 to
        the client) for what this provider cannot serve."""
        raise NotImplementedError

    async def send(self, call: Call) -> TranslatedResponse:
        out = self.outbound(call)
        upstream = await self.pool.request(
            "POST", out.path, out.headers, out.body, call.timeouts or self.timeouts
        )
        stream = bool(getattr(call.request, "stream", False))
        return TranslatedResponse(upstream, out.translation, stream)

    async def close(self) -> None:
        await self.pool.close()


__all__ = [
    "Outbound",
    "StreamTranslator",
    "TranslatedResponse",
    "TranslatingProvider",
    "Translation",
]
