"""The mock provider's work per request is bounded and never holds the event loop: the largest
requests the wire lets through are built in slices, with the loop yielded to between them."""

from __future__ import annotations

import asyncio
import base64
import math
import struct
from collections.abc import Callable, Coroutine
from typing import Any

import msgspec
import pytest

from fastgw.config import MockProvider as MockConfig
from fastgw.providers import Call
from fastgw.providers.mock import MockProvider, MockResponse
from fastgw.wire import MAX_CHOICES, MAX_EMBEDDING_INPUTS, ChatRequest, EmbeddingRequest, Message


def _embeddings(count: int, dims: int | None = None) -> Call:
    request = EmbeddingRequest(
        model="e", input=[f"text number {i}" for i in range(count)], dimensions=dims
    )
    return Call("/embeddings", b"", request, "mock-embed", "rid")


async def _with_ticker(work: Callable[[], Coroutine[Any, Any, Any]]) -> tuple[Any, int]:
    """``work()``'s result and how many times another task got the loop meanwhile."""
    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.get_running_loop().create_task(ticker())
    await asyncio.sleep(0)
    ticks = 0
    try:
        result = await work()
    finally:
        done = True
        await task
    return result, ticks


async def test_the_largest_embeddings_request_yields_to_the_loop() -> None:
    """2,048 inputs of 512 dimensions: every vector is there (unit length, in order), and
    other tasks ran many times while they were built (at least once per ~32k floats)."""
    mock = MockProvider("mock", MockConfig(embedding_dims=512))

    async def work() -> bytes:
        response = await mock.send(_embeddings(MAX_EMBEDDING_INPUTS))
        return await response.read()

    body, ticks = await _with_ticker(work)
    data = msgspec.json.decode(body)["data"]
    assert [item["index"] for item in data] == list(range(MAX_EMBEDDING_INPUTS))
    assert all(len(item["embedding"]) == 512 for item in data)
    assert math.isclose(math.fsum(v * v for v in data[7]["embedding"]), 1.0, rel_tol=1e-9)
    assert ticks >= MAX_EMBEDDING_INPUTS * 512 // 32_768 - 1, ticks


async def test_embeddings_are_deterministic_and_the_same_in_both_formats() -> None:
    """The same input always has the same vector; base64 carries the same floats."""
    mock = MockProvider("mock", MockConfig(embedding_dims=64))
    first = await (await mock.send(_embeddings(3))).read()
    assert first == await (await mock.send(_embeddings(3))).read()
    parsed = msgspec.json.decode(first)
    assert parsed["usage"] == {"prompt_tokens": 12, "total_tokens": 12}
    request = EmbeddingRequest(model="e", input="text number 1", encoding_format="base64")
    call = Call("/embeddings", b"", request, "mock-embed", "rid")
    packed = msgspec.json.decode(await (await mock.send(call)).read())["data"][0]["embedding"]
    floats = struct.unpack("<64f", base64.b64decode(packed))
    assert floats == pytest.approx(parsed["data"][1]["embedding"], rel=1e-6)


async def test_dimensions_past_the_model_size_are_a_400() -> None:
    """As OpenAI refuses dimensions past a model's size: a 400 naming dimensions, built
    without computing anything (20,000 dimensions x 2,048 inputs would be 41M floats)."""
    mock = MockProvider("mock", MockConfig(embedding_dims=1536))
    response = await mock.send(_embeddings(MAX_EMBEDDING_INPUTS, 20_000))
    assert response.status == 400
    error = msgspec.json.decode(await response.read())["error"]
    assert (error["param"], error["code"]) == ("dimensions", "invalid_value")
    assert (await (await mock.send(_embeddings(1, 1536))).read()).count(b"embedding") == 2


async def test_many_choices_of_long_answers_yield_to_the_loop() -> None:
    """128 choices of 4,096 tokens: the answers are built in slices, and so are the stream's
    events (built as they are sent, each yielding the loop past a slice of bytes)."""
    mock = MockProvider("mock", MockConfig(tokens=4096))
    messages = [Message("user", "hello")]
    plain = ChatRequest(model="m", messages=messages, n=MAX_CHOICES)
    stream = ChatRequest(model="m", messages=messages, n=MAX_CHOICES, stream=True)

    async def whole() -> bytes:
        response = await mock.send(Call("/chat/completions", b"", plain, "mock-gpt", "rid"))
        return await response.read()

    body, ticks = await _with_ticker(whole)
    assert len(msgspec.json.decode(body)["choices"]) == MAX_CHOICES
    assert ticks >= MAX_CHOICES * 4096 // 32_768 - 1, ticks

    sent: list[bytes] = []

    async def streamed() -> bool:
        response = await mock.send(Call("/chat/completions", b"", stream, "mock-gpt", "rid"))
        return await response.pump(lambda chunk: sent.append(chunk) is None)

    finished, ticks = await _with_ticker(streamed)
    assert finished and sent[-1] == b"data: [DONE]\n\n" and len(sent) == 4096 + 3
    assert ticks >= sum(map(len, sent)) // (8 * 32_768) - 1, ticks


async def test_a_lazy_response_builds_a_chunk_only_when_asked() -> None:
    """A stream's events are built as they are sent: closing it early builds no more."""
    built: list[int] = []

    def chunks() -> Any:
        for i in range(1000):
            built.append(i)
            yield b"data: x\n\n"

    response = MockResponse(chunks(), 0, 0, True)
    assert await response.next_chunk() == b"data: x\n\n"
    response.close()
    assert await response.next_chunk() is None
    assert built == [0]


async def test_the_extras_path_yields_to_the_loop_too() -> None:
    """With stop and logprobs (the path that reads the body's extra fields), 128 choices of
    4,096 tokens are built in slices as well."""
    mock = MockProvider("mock", MockConfig(tokens=4096))
    raw = msgspec.json.encode(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stop": ["zzz"]}
        | {"n": MAX_CHOICES}
    )
    request = ChatRequest(model="m", messages=[Message("user", "hi")], n=MAX_CHOICES)

    async def whole() -> bytes:
        response = await mock.send(Call("/chat/completions", raw, request, "mock-gpt", "rid"))
        return await response.read()

    body, ticks = await _with_ticker(whole)
    assert len(msgspec.json.decode(body)["choices"]) == MAX_CHOICES
    assert ticks >= MAX_CHOICES * 4096 // 32_768 - 1, ticks
