"""The inbound edge: an API other than chat completions served by the chat pipeline, its
request, answer, stream and errors translated at the edge (a toy API here: ``{"q": ...}``
in, ``{"a": ...}`` out, stream events upper-cased), in process with the mock provider."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from fastgw import Gateway, parse_config
from fastgw.errors import InvalidRequest
from fastgw.exchange import Exchange
from fastgw.inbound.endpoint import InboundEndpoint
from fastgw.testing.rsgi import RSGIClient
from tests.conftest import DEV_KEY, mock_config


class ToyStream:
    def feed(self, chunk: bytes) -> bytes:
        return chunk.upper()

    def end(self) -> bytes:
        return b"event: bye\ndata: {}\n\n"


class ToyFront:
    finished: list[int | None] = []

    async def request(self, body: bytes) -> bytes:
        toy = msgspec.json.decode(body)
        if not isinstance(toy, dict) or not isinstance(toy.get("q"), str):
            raise InvalidRequest("q must be a string", param="q")
        chat = {"model": "gpt-test", "messages": [{"role": "user", "content": toy["q"]}]}
        if toy.get("stream"):
            chat["stream"] = True
        return msgspec.json.encode(chat)

    def answer(self, status: int, body: bytes) -> tuple[int, bytes]:
        data = msgspec.json.decode(body)
        if status != 200:
            return status, msgspec.json.encode({"toy_error": data["error"]["message"]})
        return 200, msgspec.json.encode({"a": data["choices"][0]["message"]["content"]})

    def stream(self) -> ToyStream:
        return ToyStream()

    async def finish(self, ex: Exchange) -> None:
        self.finished.append(ex.status)


def make_front(scope: Any, ex: Exchange) -> ToyFront:
    return ToyFront()


@pytest.fixture
def client() -> Iterator[RSGIClient]:
    app = Gateway(parse_config(mock_config(), "mock.toml", {}))
    with RSGIClient(app) as c:
        pipes = app.pipelines
        assert pipes is not None
        chat = pipes.endpoints["/chat/completions"]
        toy = InboundEndpoint(make_front, chat, {"api-key": "x-toy-key"}, 65536)
        pipes.routes["/v1/toy"] = ("POST", toy)
        ToyFront.finished = []
        yield c


def test_a_whole_answer_is_translated_both_ways(client: RSGIClient) -> None:
    """The toy request becomes a chat completion; its answer comes back in the toy shape."""
    response = client.post("/v1/toy", headers={"x-toy-key": DEV_KEY}, json={"q": "hello"})
    assert response.status == 200
    answer = response.json()
    assert set(answer) == {"a"} and isinstance(answer["a"], str) and answer["a"]
    assert ToyFront.finished == [200]


def test_errors_come_back_in_the_toy_shape(client: RSGIClient) -> None:
    """The gateway's errors (auth, the front's own 400) are rendered by the front."""
    response = client.post("/v1/toy", headers={"x-toy-key": "sk-wrong"}, json={"q": "hello"})
    assert response.status == 401 and "toy_error" in response.json()
    response = client.post("/v1/toy", headers={"x-toy-key": DEV_KEY}, json={"q": 3})
    assert response.status == 400
    assert response.json() == {"toy_error": "q must be a string"}


def test_a_stream_goes_through_the_front_then_its_end(client: RSGIClient) -> None:
    """Every chunk is the front's translation; its end follows the upstream's [DONE]."""
    response = client.post(
        "/v1/toy", headers={"x-toy-key": DEV_KEY}, json={"q": "hello", "stream": True}
    )
    assert response.status == 200
    assert b"DATA: [DONE]" in response.body and b"data: [DONE]" not in response.body
    assert response.body.endswith(b"event: bye\ndata: {}\n\n")
