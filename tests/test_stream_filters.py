"""Stream filters: the events of a stream pass through a model's filters in order.

- ``FilterChain`` (byte literals): the same events out whatever the chunking; a filter can
  change an event or leave it out; an incomplete last event is passed on as received; a
  filter never sees an event whose data is not JSON: the chain passes it on unfiltered and
  stops (the relay's framer ends the stream there).
- The pipeline: no config builds a filter today, so every route keeps the zero-copy relay;
  a filter put on a model's route sees a real stream's events (the mock provider, in
  process): the client gets what the filter wrote, and the stream is still accounted
  (usage, [DONE]).
"""

from __future__ import annotations

import msgspec
import pytest

from fastgw import Gateway, parse_config
from fastgw.protocols.sse import Event
from fastgw.stream_filters import FilterChain, encode_event
from fastgw.testing import RSGIClient
from tests.conftest import DEV_KEY, mock_config

STREAM = (
    b'data: {"choices":[{"index":0,"delta":{"content":"hello"}}]}\r\n\r\n'
    b"event: ping\ndata: {}\n\n"
    b'data: {"choices":[{"index":0,"delta":{"content":"world"}}]}\n\n'
    b"data: [DONE]\n\n"
)


class Upper:
    """Upper-cases a message event's bytes (byte-literal tests)."""

    def event(self, event: Event) -> Event | None:
        return Event(event.event, event.data.upper()) if event.event == "message" else event


class ShoutContent:
    """Upper-cases the answer text of chat chunks, as an output guard would rewrite it."""

    def event(self, event: Event) -> Event | None:
        if event.data == b"[DONE]":
            return event
        chunk = msgspec.json.decode(event.data)
        for choice in chunk.get("choices") or ():
            content = choice.get("delta", {}).get("content")
            if content:
                choice["delta"]["content"] = content.upper()
        return Event(event.event, msgspec.json.encode(chunk))


class DropPings:
    def event(self, event: Event) -> Event | None:
        return None if event.event == "ping" else event


def _run(chain: FilterChain, chunks: list[bytes]) -> bytes:
    return b"".join(chain.feed(c) for c in chunks) + chain.rest()


def test_every_chunking_gives_the_same_events() -> None:
    whole = _run(FilterChain((Upper(),)), [STREAM])
    assert whole.count(b"\n\n") == 4
    assert b'"CONTENT":"HELLO"' in whole and b"event: ping\ndata: {}\n\n" in whole
    for size in (1, 2, 3, 7, 16):
        chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
        assert _run(FilterChain((Upper(),)), chunks) == whole


def test_filters_run_in_order_and_can_leave_an_event_out() -> None:
    out = _run(FilterChain((DropPings(), Upper())), [STREAM])
    assert b"ping" not in out
    assert out.endswith(b"data: [DONE]\n\n")


def test_an_incomplete_last_event_is_passed_on() -> None:
    chain = FilterChain((Upper(),))
    assert chain.feed(b'data: [DONE]\n\ndata: {"cut') == b"data: [DONE]\n\n"
    assert chain.rest() == b'data: {"cut'


NOT_JSON = b'data: {"choices":[{"index":0,"delta":{"content":"half\n\n'


@pytest.mark.parametrize("size", [1, 5, len(STREAM) + len(NOT_JSON) + 20])
def test_an_event_that_is_not_json_is_not_filtered_and_stops_the_chain(size: int) -> None:
    """Filters (here one that decodes the data) see the events before an invalid one only;
    the invalid event is written back as it came, and nothing after it, whatever the
    chunking."""
    data = STREAM.replace(b"event: ping", NOT_JSON + b"event: ping")
    chain = FilterChain((ShoutContent(),))
    out = _run(chain, [data[i : i + size] for i in range(0, len(data), size)])
    assert out == b'data: {"choices":[{"index":0,"delta":{"content":"HELLO"}}]}\n\n' + NOT_JSON
    assert chain.stopped and chain.feed(b"data: [DONE]\n\n") == b"" and chain.rest() == b""


class Seen:
    """Records the events it is shown and passes them on."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def event(self, event: Event) -> Event | None:
        self.events.append(event)
        return event


@pytest.mark.parametrize(
    ("event", "seen"),
    [
        (b"data: [DONE]\n\n", Event("message", b"[DONE]")),
        (b"data:\n\n", Event("message", b"")),
        (b'event: error\ndata: {"error":{}}\n\n', Event("error", b'{"error":{}}')),
    ],
    ids=["done", "empty", "error-event"],
)
def test_done_and_empty_and_json_data_are_filtered(event: bytes, seen: Event) -> None:
    """[DONE], an empty data line and JSON error events go to the filters as before."""
    stage = Seen()
    chain = FilterChain((stage,))
    assert chain.feed(event) == encode_event(seen)
    assert stage.events == [seen] and not chain.stopped


def test_encode_event_writes_one_data_line_per_line() -> None:
    assert encode_event(Event("message", b"a\nb")) == b"data: a\ndata: b\n\n"
    assert encode_event(Event("error", b"{}")) == b"event: error\ndata: {}\n\n"


def test_no_config_builds_a_filter() -> None:
    with RSGIClient(Gateway(parse_config(mock_config(), "mock.toml", {}))) as client:
        pipes = client.app.pipelines
        assert pipes is not None
        for endpoint in pipes.endpoints.values():
            for model in endpoint.models.values():
                assert model.route.stream_filters == ()


def test_a_filter_on_a_route_sees_a_real_stream(capfd: pytest.CaptureFixture[str]) -> None:
    with RSGIClient(Gateway(parse_config(mock_config(), "mock.toml", {}))) as client:
        pipes = client.app.pipelines
        assert pipes is not None
        route = pipes.endpoints["/chat/completions"].models["gpt-test"].route
        route.stream_filters = (ShoutContent(),)
        body = {
            "model": "gpt-test",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        response = client.post(
            "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {DEV_KEY}"}
        )
        assert response.status == 200
        events = [e for e in response.body.split(b"\n\n") if e]
        assert events[-1] == b"data: [DONE]"
        chunks = [msgspec.json.decode(e.removeprefix(b"data: ")) for e in events[:-1]]
        text = "".join(
            c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
        )
        assert text.strip() and text == text.upper()
        usage = chunks[-1]["usage"]  # the usage event passed the filter and was accounted
        assert usage["completion_tokens"] > 0
    lines = [line for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    access = msgspec.json.decode(lines[-1])
    assert access["stream"] and access["completion_tokens"] == usage["completion_tokens"]
