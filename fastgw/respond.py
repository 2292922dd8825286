"""The one response seam: every answer of the gateway starts here.

Proxied, cached, refused and failed requests, the admin API, ``/health``, ``/ready`` and
``/metrics`` all start their response through ``send_bytes``, ``open_stream``, ``open_body``
(passthrough) or ``send_error``. Rules this module keeps:
- The exchange's ``status`` and ``responded`` are set here and nowhere else, right before
  the response starts: the usage row and the access line (written from the exchange by the
  account stage) say what the client received, by construction.
- Every response carries ``x-request-id``; a request the limiter admitted carries its
  ``x-ratelimit-*`` headers, whatever the answer (an upstream error, a cache hit).
- A request answers once: ``send_error`` after the response started only records the error
  (a stream that failed after its headers ends with an SSE error event, ``fastgw.relay``).
Cost: one list append (and an extend when admitted) per response, as the headers were built
before this seam existed.
"""

from __future__ import annotations

from typing import Any

from .errors import GatewayError
from .exchange import Exchange

JSON = ("content-type", "application/json")
SSE_HEADERS = (("content-type", "text/event-stream"), ("cache-control", "no-cache"))


def _start(ex: Exchange, status: int, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    ex.status, ex.responded = status, True
    headers.append(("x-request-id", ex.request_id))
    ticket = ex.ticket
    if ticket is not None:
        headers.extend(ticket.headers)
    return headers


def send_bytes(
    proto: Any, ex: Exchange, status: int, headers: list[tuple[str, str]], body: bytes
) -> None:
    """Answer whole: ``headers`` (a new list, which this extends) and ``body``."""
    # ``_start`` inline: this runs for every whole answer
    ex.status, ex.responded = status, True
    headers.append(("x-request-id", ex.request_id))
    ticket = ex.ticket
    if ticket is not None:
        headers.extend(ticket.headers)
    proto.response_bytes(status, headers, body)


def send_json(proto: Any, ex: Exchange, status: int, body: bytes) -> None:
    """Answer whole with a JSON ``body``."""
    send_bytes(proto, ex, status, [JSON], body)


def open_stream(proto: Any, ex: Exchange, status: int, headers: list[tuple[str, str]]) -> Any:
    """Start a streamed answer (SSE headers first, then ``headers``); the transport."""
    return proto.response_stream(status, _start(ex, status, [*SSE_HEADERS, *headers]))


def open_body(proto: Any, ex: Exchange, status: int, headers: list[tuple[str, str]]) -> Any:
    """Start an answer whose body is sent in chunks as it arrives (``headers``, a new list,
    name its content type: not SSE); the transport (``fastgw.passthrough``)."""
    return proto.response_stream(status, _start(ex, status, headers))


def send_error(proto: Any, ex: Exchange, exc: GatewayError) -> None:
    """Answer ``exc`` in OpenAI's error shape, unless the response already started."""
    ex.error = exc.code or exc.type
    if ex.responded:
        return
    headers = [JSON, *exc.headers]
    proto.response_bytes(exc.status, _start(ex, exc.status, headers), exc.body())


def client_gone(ex: Exchange) -> None:
    """No response: the client went away first. Recorded as 499 (nginx's "client closed
    request") for the usage row and the access line."""
    ex.status, ex.error = 499, "client_disconnected"
