"""``relay_stream`` validates every upstream event before it goes out, in every relay mode
(as received, usage stripped, secrets scrubbed, stream filters, all of them): an event whose
data is not JSON never reaches the client, the events before it do, the stream ends with the
gateway's error event and no ``[DONE]``, ``ex.error`` says so and nothing is returned to
cache. An upstream that ends mid-event: the partial event is never sent.

The upstream is the mock provider's ``MockResponse`` (its ``pump`` hands chunks on as the
HTTP client's does); the transport settles every send at once, as Granian's does. The
framer is the selector's: run the file with ``FASTGW_NO_EXTENSIONS=1`` for the pure twin.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from fastgw.exchange import Exchange
from fastgw.protocols.sse import Event
from fastgw.providers.mock import MockResponse
from fastgw.redact import Redactor
from fastgw.relay import relay_stream
from tests.test_sse import BAD, DONE, FINISH, KEEPALIVE, ROLE, USAGE, WORDS

SECRET = "sk-upstream-secret-0001"
SCRUBBED_ERROR = b'event: error\ndata: {"error":{"message":"key ' + SECRET.encode() + b'"}}\n\n'
VALID = [ROLE, WORDS[0], KEEPALIVE, WORDS[1], FINISH, USAGE, DONE]
BROKEN = [ROLE, WORDS[0], KEEPALIVE, BAD, WORDS[1], FINISH, USAGE, DONE]


class Sent:
    """An awaitable already settled (what Granian's ``send_bytes`` returns)."""

    def __await__(self) -> Iterator[None]:
        return iter(())


class Transport:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send_bytes(self, chunk: bytes) -> Sent:
        self.sent.append(chunk)
        return Sent()


class PassThrough:
    """A filter that decodes every event's data, as an output guard would: it would raise on
    an event that is not JSON, so it must never see one."""

    def __init__(self) -> None:
        self.seen = 0

    def event(self, event: Event) -> Event | None:
        if event.data != b"[DONE]":
            msgspec.json.decode(event.data)
        self.seen += 1
        return event


MODES = {
    "as-received": {},
    "strip-usage": {"strip_usage": True},
    "scrubbed": {"redactor": Redactor([SECRET])},
    "filtered": {"filters": (PassThrough(),)},
    "all": {"strip_usage": True, "redactor": Redactor([SECRET]), "filters": (PassThrough(),)},
}


def relay(chunks: list[bytes], mode: str) -> tuple[bytes, Exchange, list[bytes] | None, int]:
    """Relay ``chunks`` in ``mode`` with collect on: what the client got, the exchange, what
    the relay returned to cache, and how many chunks the upstream was asked for."""
    taken = 0

    def upstream() -> Iterator[bytes]:
        nonlocal taken
        for chunk in chunks:
            taken += 1
            yield chunk

    transport = Transport()
    ex = Exchange("req_test", "POST", "/v1/chat/completions", None)
    response = MockResponse(upstream(), 0, 0, True)
    kwargs: dict[str, Any] = MODES[mode]
    payloads = asyncio.run(relay_stream(transport, response, ex, True, **kwargs))
    return b"".join(transport.sent), ex, payloads, taken


def expected(events: list[bytes], mode: str) -> bytes:
    """What the client gets of valid ``events`` in ``mode``: stream filters write events
    only (a comment carries no data), stripping leaves the usage event out."""
    kwargs = MODES[mode]
    left_out = [USAGE] if kwargs.get("strip_usage") else []
    if kwargs.get("filters"):
        left_out.append(KEEPALIVE)
    return b"".join(e for e in events if e not in left_out)


def error_code(tail: bytes) -> str:
    assert tail.startswith(b"event: error\ndata: {") and tail.endswith(b"\n\n")
    code: str = msgspec.json.decode(tail.split(b"data: ", 1)[1])["error"]["code"]
    return code


def chunkings(events: list[bytes]) -> dict[str, list[bytes]]:
    data = b"".join(events)
    return {
        "per-event": events,
        "one-chunk": [data],
        "byte-at-a-time": [data[i : i + 1] for i in range(len(data))],
        "crlf-7-bytes": [
            data.replace(b"\n", b"\r\n")[i : i + 7] for i in range(0, 2 * len(data), 7)
        ],
    }


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("chunking", list(chunkings(VALID)))
def test_an_event_that_is_not_json_ends_the_stream_with_an_error(mode: str, chunking: str) -> None:
    """The events before go out, then the gateway's error event; never the broken event,
    nothing after it, no [DONE]; ``ex.error`` records it and nothing is cached."""
    received, ex, payloads, _ = relay(chunkings(BROKEN)[chunking], mode)
    before = expected(BROKEN[: BROKEN.index(BAD)], mode)
    assert received.startswith(before)
    assert error_code(received[len(before) :]) == "upstream_protocol_error"
    assert b"half" not in received and b"[DONE]" not in received
    assert ex.error == "upstream_protocol_error"
    assert payloads is None


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("chunking", list(chunkings(VALID)))
def test_a_valid_stream_goes_through_whole(mode: str, chunking: str) -> None:
    """Validation changes nothing for a valid stream: every event (less the usage one when
    stripped), line endings folded to LF, [DONE], the payloads to cache."""
    received, ex, payloads, _ = relay(chunkings(VALID)[chunking], mode)
    assert received == expected(VALID, mode)
    assert ex.error is None and payloads is not None and len(payloads) == 5


def test_the_upstream_is_let_go_at_the_invalid_event() -> None:
    """The relay stops pumping at the invalid event: the chunks after it are not read."""
    _, _, _, taken = relay(BROKEN, "as-received")
    assert taken == BROKEN.index(BAD) + 1


@pytest.mark.parametrize("mode", list(MODES))
def test_every_two_way_split_sends_the_same(mode: str) -> None:
    """Wherever the upstream splits the broken stream in two, the client gets the same."""
    data = b"".join(BROKEN)
    expected = relay([data], mode)[0]
    for cut in range(len(data) + 1):
        assert relay([data[:cut], data[cut:]], mode)[0] == expected, cut


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("cut", [1, 20, len(FINISH) - 1], ids=["first-byte", "mid", "last-byte"])
def test_a_stream_cut_mid_event_never_sends_half_of_it(mode: str, cut: int) -> None:
    """An upstream that ends mid-event: the half event is dropped (it could not be validated)
    and the error event starts on an event boundary, with nothing in front of it."""
    received, ex, payloads, _ = relay([ROLE, WORDS[0], FINISH[:cut]], mode)
    assert received.startswith(ROLE + WORDS[0])
    assert error_code(received[len(ROLE + WORDS[0]) :]) == "upstream_protocol_error"
    assert ex.error == "upstream_protocol_error" and payloads is None


def test_an_invalid_head_sends_only_the_error() -> None:
    """The head (what routing read of the stream, up to its first event) is validated too:
    an invalid first event is all the upstream is asked for, and never sent."""
    transport = Transport()
    ex = Exchange("req_test", "POST", "/v1/chat/completions", None)
    rest = iter([WORDS[0], DONE])
    response = MockResponse(rest, 0, 0, True)
    assert asyncio.run(relay_stream(transport, response, ex, True, head=BAD)) is None
    assert error_code(b"".join(transport.sent)) == "upstream_protocol_error"
    assert ex.error == "upstream_protocol_error"
    assert next(rest) is WORDS[0]  # the upstream was not read past the head


@pytest.mark.parametrize("mode", ["scrubbed", "all"])
def test_an_upstream_error_event_is_scrubbed_and_relayed(mode: str) -> None:
    """A valid upstream error event still goes out (scrubbed), as before: it ends the stream
    with the upstream's error, not the gateway's."""
    received, ex, payloads, _ = relay([ROLE, SCRUBBED_ERROR], mode)
    assert received == ROLE + SCRUBBED_ERROR.replace(SECRET.encode(), b"***")
    assert ex.error == "upstream_stream_error" and payloads is None


def test_filters_never_see_an_event_that_is_not_json() -> None:
    """The filter chain validates before its filters: the decoding filter sees the events
    before the broken one and nothing from it on."""
    guard = PassThrough()
    transport = Transport()
    ex = Exchange("req_test", "POST", "/v1/chat/completions", None)
    response = MockResponse(iter([b"".join(BROKEN)]), 0, 0, True)
    asyncio.run(relay_stream(transport, response, ex, filters=(guard,)))
    assert guard.seen == 2  # ROLE and WORDS[0]; the keep-alive carries no data
    assert ex.error == "upstream_protocol_error"
