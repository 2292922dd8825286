"""Relaying an upstream SSE stream to the client.

Rules this module keeps:
- Every upstream event is validated before it is sent on (``SSEFramer.relay``): its data must
  be ``[DONE]`` or JSON. An event that is not never reaches the client: the events before it
  go out, the upstream is let go, and the stream ends with an SSE ``error`` event
  (``UpstreamProtocolError``) and no ``[DONE]``; nothing is cached.
- Upstream chunks that hold whole, valid events are sent on as received, never joined or
  re-encoded (the framer hands the same bytes object back); the framer watches them for
  ``[DONE]``, ``finish_reason``, usage and error events. Only an incomplete last event is held
  until it completes (the chunk's complete events go out without it), and CR line endings
  are folded to LF.
- The client never sees half an event: an incomplete event still held when the stream ends
  (a cut, a stall, an upstream that ended mid-event) is dropped, so the error event that
  follows starts on an event boundary.
- A stream never ends looking complete when it is not: an upstream failure after the headers
  went out (a cut, a stall past the idle timeout, a protocol error, an event that is not
  JSON) ends it with an SSE ``error`` event and no ``[DONE]``. A single-choice stream that
  ended cleanly after a ``finish_reason`` but without ``[DONE]`` is finalised with
  ``[DONE]``; one that ended before any ``finish_reason``, mid-event, or a several-choice
  stream without ``[DONE]``, gets an error event.
- Chunks are pushed from the upstream protocol's callback (``Response.pump``): Granian's
  ``send_bytes`` is synchronous (it queues to the connection and returns an awaitable that
  is already settled), so a chunk goes out without a loop iteration, a future or a timer
  per chunk. ``send_now`` settles that awaitable on the spot.
- A client that goes away makes ``send_now`` say so; the relay raises ``RSGIProtocolClosed``
  and the caller aborts the upstream.
- No Granian awaitable or error is kept in a local or an attribute past its use: Granian's
  objects are invisible to the garbage collector, so a cycle through one is never freed
  (``send_now`` says how that leaked every dropped stream).
- The usage is known however the stream ends: the upstream's usage event if it sent one,
  else the prompt estimate and the completion counted from the text relayed
  (``fastgw.tokens.estimate_streamed``), set even when the client went away mid-answer.
- With ``strip_usage`` (the gateway asked the upstream for usage the client did not ask
  for) the framer also leaves the usage-only event out.
- With a ``redactor`` every chunk is scrubbed of the configured secrets before anything else
  sees it (``fastgw.redact``: an upstream error event may quote the request's headers).
  Stream filters come next (``fastgw.stream_filters``, which validate before a filter sees an
  event), the framer last: it validates and accounts for what the client receives.
- A stream in the client's own protocol rather than OpenAI's chunks (an upstream that speaks
  the client's inbound API, ``Exchange.native``) comes with its ``StreamEnd``: the watch the
  inbound edge feeds with what the client receives. Its ``complete`` and ``failed`` replace
  ``[DONE]``, ``finish_reason`` and the error event in the rules above (no ``[DONE]`` is ever
  added to it), and its ``usage()`` and measured text replace the framer's. Validation, the
  cut and stall handling and the failure event are the same: the edge writes that event in
  the client's protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Protocol

from granian._granian import RSGIProtocolClosed

from ._core import SSEFramer
from .drain import SHUTTING_DOWN
from .errors import GatewayError, ServiceUnavailable, UpstreamProtocolError, sse_error_event
from .exchange import Exchange
from .providers import Response
from .redact import Redactor, StreamScrubber
from .stream_filters import FilterChain, StreamFilter
from .tokens import estimate_request, estimate_streamed
from .wire import ChatRequest, CompletionRequest, Usage, decode_usage

DONE_EVENT = b"data: [DONE]\n\n"
INVALID_EVENT = "The upstream sent a stream event whose data is not JSON."


class StreamEnd(Protocol):
    """How a stream in the client's own protocol ended and what it used (see the rules)."""

    complete: bool  # its protocol's end event went by: the answer is whole
    failed: bool  # the upstream said, in its protocol, that it failed
    text_bytes: int  # answer text relayed, for a stream that reports no usage
    text_events: int

    def usage(self) -> Usage | None: ...


def send_now(transport: Any, chunk: bytes) -> bool:
    """Send ``chunk``; False if the client is gone. Granian's ``send_bytes`` returns an
    awaitable that is already settled (done, or failed with the transport closed).

    The awaitable is never bound to a name here. A failed one keeps the error it raised; the
    error's traceback keeps this frame, and through ``f_back`` every frame of the request up
    to its task (the transport, the exchange, the upstream response). Had this frame kept the
    awaitable, that would be a cycle through a Granian object the garbage collector cannot
    traverse: never freed, ~60 KB per stream the client dropped. As a temporary it is
    released when the error is caught, so a dropped stream is freed by reference counting."""
    try:
        next(transport.send_bytes(chunk).__await__())
    except StopIteration:
        return True
    except RuntimeError:  # RSGIProtocolClosed / RSGIProtocolError: the client went away
        return False
    raise RuntimeError("send_bytes did not settle at once; the relay needs Granian's semantics")


async def relay_stream(
    transport: Any,
    upstream: Response,
    ex: Exchange,
    collect: bool = False,
    choices: int = 1,
    head: bytes = b"",
    strip_usage: bool = False,
    request: ChatRequest | CompletionRequest | None = None,
    redactor: Redactor | None = None,
    filters: tuple[StreamFilter, ...] = (),
    ending: StreamEnd | None = None,
) -> list[bytes] | None:
    """Relay the stream; with ``collect``, return its event payloads if it ended cleanly
    (``[DONE]`` seen, no error), else ``None``. ``choices`` is the ``n`` asked for: a stream
    of several choices that ends without ``[DONE]`` is not finalised (the framer cannot tell
    that every choice finished), it ends with an error event. ``head`` is what routing
    already read of the stream (up to its first event); it goes out first. ``strip_usage``:
    leave the usage-only event out (see the module docstring). ``request``: what the prompt
    is estimated from when the upstream reports no usage. ``redactor``: scrub the configured
    secrets from every chunk (see the module docstring). ``filters``: stream filters that see
    each event after the scrubbing (``fastgw.stream_filters``); none keeps the zero-copy
    path. ``ending``: the watch of a stream in the client's own protocol (see the module
    docstring)."""
    framer = SSEFramer(collect, strip_usage)
    start = ex.start
    scrubber = StreamScrubber(redactor) if redactor is not None else None

    def forward(chunk: bytes) -> bool:
        """Send what of ``chunk`` may go; False to stop the upstream (the client went away,
        or an event was not JSON: ``framer.invalid_payload`` says which)."""
        if ex.ttft is None:
            ex.ttft = time.perf_counter() - start
        out = framer.relay(chunk)
        if out and not send_now(transport, out):
            return False
        return framer.invalid_payload is None

    send = forward
    chain = FilterChain(filters) if filters else None
    if chain is not None:

        def send(chunk: bytes) -> bool:
            out = chain.feed(chunk)
            return forward(out) if out else True  # nothing whole yet, or left out

    def forward_scrubbed(chunk: bytes) -> bool:
        chunk = scrubber.feed(chunk)  # type: ignore[union-attr]
        return send(chunk) if chunk else True  # all of it held back: it may open a secret

    def tail() -> bytes:
        """What is left to send once the upstream ended: the complete, valid events among
        the scrubber's and the filters' held bytes. An incomplete last event stays held in
        the framer (``pending``) and is never sent."""
        rest = scrubber.end() if scrubber is not None else b""
        if chain is not None:
            rest = chain.feed(rest) + chain.rest()
        return framer.relay(rest) if rest else b""

    try:
        return await _relay(
            transport,
            upstream,
            ex,
            framer,
            send if scrubber is None else forward_scrubbed,
            tail,
            choices,
            head,
            ending,
        )
    finally:
        if ending is None:
            usage = decode_usage(framer.usage_payload)
            text: Any = framer
        else:
            usage, text = ending.usage(), ending
        if usage is not None:
            ex.set_usage(usage)
        elif request is not None and ex.ttft is not None:  # relayed, unreported: counted
            ex.prompt_tokens = estimate_request(request)
            ex.completion_tokens = estimate_streamed(text.text_bytes, text.text_events)


async def _relay(
    transport: Any,
    upstream: Response,
    ex: Exchange,
    framer: SSEFramer,
    forward: Any,
    tail: Any,
    choices: int,
    head: bytes,
    ending: StreamEnd | None,
) -> list[bytes] | None:
    failure: GatewayError | None = None
    try:
        relayed = (not head or forward(head)) and await upstream.pump(forward)
        if not relayed and framer.invalid_payload is None:  # else: an event was not JSON
            raise RSGIProtocolClosed("the client went away mid-stream")
    except GatewayError as exc:
        # Granian ends a stream response only when its transport is freed. A kept traceback
        # would hold this frame (and the transport) in a reference cycle until the garbage
        # collector ran, leaving the client's stream open after the error event.
        failure = exc.with_traceback(None)
    except asyncio.CancelledError:
        if ex.error == SHUTTING_DOWN:  # cut at the drain timeout: say so, never end silently
            cut = ServiceUnavailable(
                "The gateway is shutting down; the stream was cut.", code=SHUTTING_DOWN
            )
            with contextlib.suppress(RSGIProtocolClosed):  # never after half an event: none sent
                await transport.send_bytes(sse_error_event(cut))
        raise
    rest = tail()
    if rest:
        await transport.send_bytes(rest)
    if failure is None and framer.invalid_payload is not None:
        failure = UpstreamProtocolError(INVALID_EVENT)
    if ending is not None:
        await _end_native(transport, ex, ending, failure)
        return None  # nothing of a stream in the client's own protocol is cached
    clean = framer.done  # only an upstream [DONE] proves the stream complete enough to store
    if failure is None and not framer.done and framer.error_payload is None:
        if choices == 1 and framer.finish_reason is not None and not framer.pending:
            await transport.send_bytes(DONE_EVENT)
        else:
            failure = UpstreamProtocolError(
                "The upstream stream ended before the answer was complete."
            )
    if failure is not None:
        ex.error = failure.code
        await transport.send_bytes(sse_error_event(failure))  # an incomplete event was held
    elif framer.error_payload is not None:
        ex.error = "upstream_stream_error"
    if clean and failure is None and framer.error_payload is None:
        return framer.payloads
    return None


async def _end_native(
    transport: Any, ex: Exchange, ending: StreamEnd, failure: GatewayError | None
) -> None:
    """The end of a stream in the client's own protocol (``ending``): complete, failed as its
    upstream said, or failed here (the edge writes the error event in that protocol). Once
    its end event went by the answer is whole, whatever the connection did after it."""
    if ending.complete:
        return
    if failure is None:
        if ending.failed:
            ex.error = "upstream_stream_error"
            return
        failure = UpstreamProtocolError("The upstream stream ended before the answer was complete.")
    if failure is not None:
        ex.error = failure.code
        await transport.send_bytes(sse_error_event(failure))
