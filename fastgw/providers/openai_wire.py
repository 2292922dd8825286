"""The upstream side of the OpenAI protocol, shared by every provider whose upstream answers
in it (``openai``: any OpenAI-compatible server; ``mock``: the embedded one).

Rules this module keeps:
- Protocol decisions are the sans-IO functions of ``fastgw.protocols.openai``; this mixin is
  the thin async shell around them (waiting for a stream's first event, iterating events).
- A stream's first event is complete once a chunk holding ``data:`` arrived; the chunks read
  until then are returned joined only when there are several (usually there is one).
- The complete events of that head are checked as the relay checks every event (data that
  is ``[DONE]`` or JSON): a broken first event is an ``UpstreamProtocolError`` here, while
  nothing was relayed, so routing retries or fails over instead of the client getting a
  stream that only ends in an error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence

from .._core import SSEFramer
from ..errors import UpstreamProtocolError, UpstreamTimeout
from ..protocols.failure import Failure
from ..protocols.openai.chunks import DATA_FIELD
from ..protocols.openai.failures import classify, retry_after
from ..protocols.openai.ratelimit import upstream_ratelimit_headers
from ..protocols.sse import Event, SSEParser
from .base import Response


def _check(head: bytes) -> None:
    framer = SSEFramer()
    framer.feed(head)
    if framer.invalid_payload is not None:
        raise UpstreamProtocolError("The upstream's first stream event is not valid JSON.")


class OpenAIWire:
    """``Provider`` methods for an upstream that answers in OpenAI's protocol."""

    protocol = "openai"
    #: the one secret this provider's upstream is sent (its key): never passed back in a header
    secret: bytes | None = None

    async def first_event(self, response: Response, timeout: float) -> bytes:
        parts: list[bytes] = []
        try:
            async with asyncio.timeout(max(timeout, 0.0)):
                while True:
                    chunk = await response.next_chunk()
                    if chunk is None:
                        raise UpstreamProtocolError(
                            "The upstream stream ended before its first event."
                        )
                    parts.append(chunk)
                    if DATA_FIELD in chunk or (len(parts) > 1 and DATA_FIELD in b"".join(parts)):
                        head = chunk if len(parts) == 1 else b"".join(parts)
                        _check(head)
                        return head
        except TimeoutError:
            raise UpstreamTimeout(
                f"The upstream did not answer in time (time to first token, {timeout:.3g}s)."
            ) from None

    def classify(self, response: Response, body: bytes) -> Failure:
        return classify(response.status, body)

    def cooldown(self, response: Response) -> float | None:
        return retry_after(
            response.header(b"retry-after"), response.header(b"retry-after-ms"), time.time()
        )

    def upstream_headers(self, response: Response) -> Sequence[tuple[str, str]]:
        return upstream_ratelimit_headers(response.headers, self.secret)

    async def stream_events(self, response: Response, head: bytes = b"") -> AsyncIterator[Event]:
        parser = SSEParser()
        for event in parser.feed(head):
            yield event
        while (chunk := await response.next_chunk()) is not None:
            for event in parser.feed(chunk):
                yield event
