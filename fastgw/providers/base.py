"""What a provider is: what it is given (``Call``), what it gives back (``Response``), and the
interface routing and the relay use (``Provider``).

Rules this module keeps:
- Routing, limits, caching and accounting talk to an upstream only through ``Provider``:
  ``send`` a call, ``first_event`` of a stream (read before the gateway commits to the
  attempt), ``classify`` a failed answer into a routing ``Failure``, ``cooldown`` (the wait a
  rate-limited upstream asked for), ``upstream_headers`` (its rate-limit headers, renamed for
  the client) and ``stream_events`` (a stream as events, for stream filters). So an upstream
  speaking another protocol (Anthropic, Gemini, Bedrock, Cohere) is one new provider module.
- ``protocol`` names the wire protocol a provider's answers are in. When it is the client's
  (``openai`` today), a stream is relayed as the buffers received (``Response.pump``), never
  parsed into events: ``stream_events`` is for filters and translation only.
- A provider may speak an inbound API other than chat completions natively (``native``, a
  set of inbound protocol names; ``answers_natively``): it is then sent the client's own
  body (``Call.inbound``) and answers in that protocol, which the inbound edge relays as is.
- An answer with status 200 is a success for every provider; ``classify`` is asked about the
  others only, so the success path costs one integer comparison.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import msgspec

from ..config import Timeouts
from ..protocols.failure import Failure
from ..protocols.openai.requests import Request
from ..protocols.sse import Event


def key_headers(key: str | None, key_header: str, extra: dict[str, str]) -> list[tuple[str, str]]:
    """The headers every request to an upstream carries: ``accept-encoding: identity``
    (compressed bytes would be relayed labelled as JSON), the key in its header (``Bearer``
    when that header is ``authorization``), then the provider's extra ``headers``."""
    headers = [("accept-encoding", "identity")]
    if key:
        header = key_header.lower()
        headers.append((header, f"Bearer {key}" if header == "authorization" else key))
    headers.extend((name.lower(), value) for name, value in extra.items())
    return headers


class Call(msgspec.Struct):
    """One upstream call: the endpoint (``/chat/completions``), the client's original body,
    what the gateway decoded from it, the upstream model name, the request id, the
    deployment's timeouts (``None``: the provider's own), and ``stream_usage``: the gateway
    wants the stream's usage event though the client did not ask for it (the relay leaves it
    out of what the client receives), and ``inbound``: the client's (protocol, body) when
    it called an inbound API other than chat completions (``fastgw.inbound``), so a provider
    speaking that protocol may send it as written (the ``anthropic`` provider does)."""

    endpoint: str
    body: bytes
    request: Request
    upstream_model: str
    request_id: str
    timeouts: Timeouts | None = None
    stream_usage: bool = False
    inbound: tuple[str, bytes] | None = None


def answers_natively(provider: Any, call: Call) -> bool:
    """Whether ``provider`` is sent ``call`` in the client's own inbound API and answers in it
    (its ``native``: the inbound APIs it speaks; an ``openai`` upstream with ``responses =
    true`` speaks the Responses API). Routing and the relay stay the same; the inbound edge
    then relays the answer untranslated."""
    inbound = call.inbound
    return (
        inbound is not None
        and call.endpoint == "/chat/completions"
        and inbound[0] in getattr(provider, "native", ())
    )


class Response(Protocol):
    """An upstream answer: ``status``, ``headers`` (lower-case names), the body whole
    (``read``), chunk by chunk (``next_chunk``) or pushed to a sink as received (``pump``);
    ``close`` when done."""

    status: int

    @property
    def headers(self) -> Sequence[tuple[bytes, bytes]]: ...

    def header(self, name: bytes) -> bytes | None: ...

    async def next_chunk(self) -> bytes | None: ...

    async def read(self) -> bytes: ...

    async def pump(self, sink: Callable[[bytes], bool]) -> bool: ...

    def close(self) -> None: ...


@runtime_checkable
class Provider(Protocol):
    """Where a deployment's requests go; see the module rules."""

    name: str
    protocol: str

    async def send(self, call: Call) -> Response:
        """Send ``call``; the response once its head arrived. Raises ``UpstreamError``."""
        ...

    async def first_event(self, response: Response, timeout: float) -> bytes:
        """A 200 stream's bytes up to and including its first complete event, read within
        ``timeout`` seconds; raises ``UpstreamTimeout`` / ``UpstreamProtocolError``."""
        ...

    def classify(self, response: Response, body: bytes) -> Failure:
        """What a non-200 answer (``body`` read whole) means for routing."""
        ...

    def cooldown(self, response: Response) -> float | None:
        """Seconds a rate-limited upstream asked to be left alone, if it said."""
        ...

    def upstream_headers(self, response: Response) -> Sequence[tuple[str, str]]:
        """Headers of the upstream's answer to pass to the client (``x-upstream-ratelimit-*``);
        empty, without allocating, when it sent none."""
        ...

    def stream_events(self, response: Response, head: bytes = b"") -> AsyncIterator[Event]:
        """A 200 stream as events in the gateway's internal (OpenAI chunk) form, ``head``
        (what ``first_event`` read) first; for stream filters."""
        ...

    async def close(self) -> None: ...
