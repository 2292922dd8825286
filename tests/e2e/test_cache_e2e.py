"""The exact cache through a real fastgw server and the official ``openai`` SDK: the
``x-fastgw-cache`` header as the SDK's raw responses show it, hits byte for byte, and stored
answers replayed as streams the SDK accumulates into the same completion."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from fastgw.testing import GatewayProcess
from tests.conftest import DEV_KEY, mock_config

pytestmark = pytest.mark.e2e

HEADER = "x-fastgw-cache"
EXTRA = """
[[models]]
name = "gpt-cached"
deployments = [{ provider = "mock", model = "mock-cached" }]
[models.cache]

[[models]]
name = "embed-cached"
deployments = [{ provider = "mock", model = "mock-embed" }]
[models.cache]
"""


def prompt(text: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "user", "content": text}]


@pytest.fixture
def gw(gateway_factory: Callable[..., GatewayProcess]) -> GatewayProcess:
    """A fresh server (so a fresh cache) for each test."""
    return gateway_factory(mock_config(extra=EXTRA))


@pytest.fixture
def sdk(gw: GatewayProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=gw.base_url + "/v1", api_key=DEV_KEY, max_retries=0, timeout=10
    ) as client:
        yield client


def chat(sdk: openai.OpenAI, **kwargs: Any) -> tuple[str | None, bytes, ChatCompletion]:
    """(cache header, raw body, parsed completion) of one plain chat request."""
    fields: dict[str, Any] = {"model": "gpt-cached", "temperature": 0, **kwargs}
    raw = sdk.chat.completions.with_raw_response.create(**fields)
    return raw.headers.get(HEADER), raw.http_response.content, raw.parse()


def stream(sdk: openai.OpenAI, **kwargs: Any) -> tuple[str | None, ChatCompletion, Any]:
    """(cache header, the SDK's accumulated completion, the usage chunk's usage) of one
    streamed chat request with include_usage."""
    fields: dict[str, Any] = {
        "model": "gpt-cached",
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        **kwargs,
    }
    raw = sdk.chat.completions.with_raw_response.create(**fields)
    state: ChatCompletionStreamState[None] = ChatCompletionStreamState()
    usage = None
    for chunk in raw.parse():
        if chunk.usage is not None:
            assert chunk.choices == []
            usage = chunk.usage
        state.handle_chunk(chunk)
    return raw.headers.get(HEADER), state.get_final_completion(), usage


def test_second_identical_request_is_a_byte_identical_hit(sdk: openai.OpenAI) -> None:
    """A temperature-0 request is a miss, then a hit with the same bytes; a sampled request
    is a bypass and an uncached model has no header."""
    first = chat(sdk, messages=prompt("Hello"))
    second = chat(sdk, messages=prompt("Hello"))
    assert (first[0], second[0]) == ("miss", "hit")
    assert second[1] == first[1]
    assert second[2].choices[0].message.content == first[2].choices[0].message.content
    assert [chat(sdk, messages=prompt("Hello"), temperature=0.7)[0] for _ in range(2)] == [
        "bypass",
        "bypass",
    ]
    assert chat(sdk, messages=prompt("Hello"), model="gpt-test")[0] is None


def test_plain_answer_is_replayed_as_a_stream(sdk: openai.OpenAI, gw: GatewayProcess) -> None:
    """A stored plain answer is replayed to a streamed request as SSE that the SDK
    accumulates into the same message, with the usage chunk, ending with [DONE]."""
    header, _, plain = chat(sdk, messages=prompt("Replay me"))
    assert header == "miss"
    header, final, usage = stream(sdk, messages=prompt("Replay me"))
    assert header == "hit"
    assert final.id == plain.id
    assert final.choices[0].message.content == plain.choices[0].message.content
    assert final.choices[0].finish_reason == plain.choices[0].finish_reason == "stop"
    assert usage == plain.usage
    body = {
        "model": "gpt-cached",
        "temperature": 0,
        "stream": True,
        "messages": prompt("Replay me"),
    }
    raw = httpx.post(
        gw.base_url + "/v1/chat/completions",
        json=body,
        timeout=10,
        headers={"authorization": f"Bearer {DEV_KEY}"},
    )
    assert raw.headers[HEADER] == "hit"
    assert raw.headers["content-type"] == "text/event-stream"
    assert raw.content.endswith(b"data: [DONE]\n\n")
    assert b'"usage"' not in raw.content  # include_usage was not asked for


def test_streamed_answer_answers_a_later_plain_request(sdk: openai.OpenAI) -> None:
    """A streamed answer is stored and a later plain request hits it with the same
    content and usage."""
    header, final, usage = stream(sdk, messages=prompt("Stream first"))
    assert header == "miss"
    header, _, plain = chat(sdk, messages=prompt("Stream first"))
    assert header == "hit"
    assert plain.choices[0].message.content == final.choices[0].message.content
    assert plain.usage == usage


def test_n2_round_trips(sdk: openai.OpenAI) -> None:
    """Both choices of an ``n = 2`` answer survive plain → stored → streamed replay."""
    header, _, plain = chat(sdk, messages=prompt("Two answers"), n=2)
    assert header == "miss"
    header, final, _ = stream(sdk, messages=prompt("Two answers"), n=2)
    assert header == "hit"
    assert [c.message.content for c in final.choices] == [c.message.content for c in plain.choices]
    assert len(final.choices) == 2


def test_legacy_completion_is_replayed_as_a_stream(sdk: openai.OpenAI) -> None:
    """A stored legacy completion is replayed as a text_completion stream with the same
    text."""
    raw = sdk.completions.with_raw_response.create(model="gpt-cached", prompt="Once", temperature=0)
    assert raw.headers.get(HEADER) == "miss"
    plain = raw.parse()
    raw_stream = sdk.completions.with_raw_response.create(
        model="gpt-cached", prompt="Once", temperature=0, stream=True
    )
    assert raw_stream.headers.get(HEADER) == "hit"
    chunks = list(raw_stream.parse())
    assert "".join(c.choices[0].text for c in chunks if c.choices) == plain.choices[0].text
    assert chunks[-1].choices[0].finish_reason == plain.choices[0].finish_reason


def test_embeddings_are_cached(sdk: openai.OpenAI) -> None:
    """Embeddings are cached: the second request is a hit with the same bytes."""
    raws = [
        sdk.embeddings.with_raw_response.create(model="embed-cached", input=["a", "b"])
        for _ in range(2)
    ]
    assert [r.headers.get(HEADER) for r in raws] == ["miss", "hit"]
    assert raws[1].http_response.content == raws[0].http_response.content
    assert len(raws[1].parse().data) == 2


def test_cache_control_reaches_the_cache(sdk: openai.OpenAI) -> None:
    """``Cache-Control`` sent through the SDK's extra headers: ``no-store`` keeps the answer
    out, ``no-cache`` skips the lookup."""
    messages = prompt("Headers")
    no_store = chat(sdk, messages=messages, extra_headers={"cache-control": "no-store"})
    assert no_store[0] == "miss"
    assert chat(sdk, messages=messages)[0] == "miss"
    assert chat(sdk, messages=messages, extra_headers={"cache-control": "no-cache"})[0] == "bypass"
    assert chat(sdk, messages=messages)[0] == "hit"
