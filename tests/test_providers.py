"""Providers behind one interface: the mock and the OpenAI provider satisfy ``Provider``;
each recognises its stream's first event, classifies failures, reports the upstream's
rate-limit headers and yields stream events; and routing acts on what a provider says, so a
provider for another protocol changes nothing in the router."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec
import pytest

from fastgw.config import parse_config
from fastgw.errors import UpstreamTimeout
from fastgw.exchange import Exchange
from fastgw.protocols.failure import Failure
from fastgw.protocols.openai.chunks import Delta, decode_chunk
from fastgw.protocols.openai.requests import ChatRequest, Message
from fastgw.protocols.sse import Event
from fastgw.providers import Call, Provider, build_provider
from fastgw.providers.base import Response
from fastgw.providers.mock import MockProvider, MockResponse
from fastgw.providers.openai_wire import OpenAIWire
from fastgw.routing import Router
from fastgw.testing import FakeUpstream, Fault, openai_error

HI = [Message("user", "hi")]


def call(stream: bool = False) -> Call:
    request = ChatRequest("m", HI, stream=stream)
    return Call("/chat/completions", msgspec.json.encode(request), request, "m", "req-1")


def providers_config(base_url: str) -> Any:
    return parse_config(
        f"""
[providers.mock]
type = "mock"
tokens = 4
[providers.up]
type = "openai"
base_url = "{base_url}"
api_key_env = "UP_KEY"
timeouts = {{ connect_s = 1, first_byte_s = 1, total_s = 5 }}
[[models]]
name = "m"
deployments = [{{ provider = "up", model = "m" }}]
""",
        env={"UP_KEY": "sk-up-key-000111"},
    )


@pytest.fixture
async def built() -> AsyncIterator[tuple[FakeUpstream, dict[str, Any]]]:
    async with FakeUpstream(chunks=3) as up:
        config = providers_config(up.base_url)
        loop = asyncio.get_running_loop()
        providers = {n: build_provider(n, p, loop) for n, p in config.providers.items()}
        try:
            yield up, providers
        finally:
            for provider in providers.values():
                await provider.close()


async def test_every_provider_satisfies_the_interface(
    built: tuple[FakeUpstream, dict[str, Any]],
) -> None:
    """Each built provider is a ``Provider``: every member of the interface is there, async
    where the interface awaits it, an async generator for stream events."""
    _, providers = built
    members = [m for m in Provider.__dict__ if not m.startswith("_")]
    assert {"send", "first_event", "classify", "cooldown", "upstream_headers"} <= set(members)
    for provider in providers.values():
        assert isinstance(provider, Provider)
        assert provider.protocol == "openai"
        for name in members:
            expected = getattr(Provider, name)
            actual = getattr(type(provider), name)
            assert inspect.iscoroutinefunction(actual) == inspect.iscoroutinefunction(expected)
            assert inspect.isasyncgenfunction(actual) == (name == "stream_events"), name


async def test_mock_stream_first_event_then_events(
    built: tuple[FakeUpstream, dict[str, Any]],
) -> None:
    """The mock's stream: ``first_event`` is its role chunk, ``stream_events`` the rest in
    order up to ``[DONE]``; the text equals the plain answer's."""
    _, providers = built
    mock = providers["mock"]
    response = await mock.send(call(stream=True))
    head = await mock.first_event(response, 1.0)
    events = [e async for e in mock.stream_events(response, head)]
    assert events[-1] == Event("message", b"[DONE]")
    first = decode_chunk(events[0].data).choices[0].delta
    assert isinstance(first, Delta) and first.role == "assistant"
    text = ""
    for event in events[1:-1]:
        for choice in decode_chunk(event.data).choices:
            if isinstance(choice.delta, Delta):
                text += choice.delta.content or ""
    plain = msgspec.json.decode(await (await mock.send(call())).read())
    assert text == plain["choices"][0]["message"]["content"]
    assert mock.upstream_headers(response) == ()


async def test_openai_provider_classifies_and_reports_upstream_limits(
    built: tuple[FakeUpstream, dict[str, Any]],
) -> None:
    """Against a real HTTP upstream: a 429 is RATE_LIMITED with the wait it asked for, a
    context-length 400 is CONTEXT_LENGTH, the x-ratelimit-* headers come out renamed."""
    up, providers = built
    provider = providers["up"]
    headers = {"retry-after-ms": "1500", "x-ratelimit-remaining-tokens": "0"}
    up.fail_next(Fault.error(429, headers=headers))
    response = await provider.send(call())
    try:
        body = await response.read()
        assert provider.classify(response, body) is Failure.RATE_LIMITED
        assert provider.cooldown(response) == 1.5
        assert list(provider.upstream_headers(response)) == [
            ("x-upstream-ratelimit-remaining-tokens", "0")
        ]
    finally:
        response.close()
    too_long = openai_error(400, "This model's maximum context length is 8192 tokens")
    up.fail_next(Fault.error(400, too_long))
    response = await provider.send(call())
    try:
        assert provider.classify(response, await response.read()) is Failure.CONTEXT_LENGTH
    finally:
        response.close()


async def test_openai_provider_first_event_in_time_or_timeout(
    built: tuple[FakeUpstream, dict[str, Any]],
) -> None:
    """``first_event`` returns the bytes through the first data event, and raises
    UpstreamTimeout when the first event is later than the time given."""
    up, providers = built
    provider = providers["up"]
    response = await provider.send(call(stream=True))
    try:
        head = await provider.first_event(response, 1.0)
        assert head.startswith(b"data: {") and b'"role":"assistant"' in head
    finally:
        response.close()
    up.fail_next(Fault(first_event_delay=0.5))
    response = await provider.send(call(stream=True))
    try:
        with pytest.raises(UpstreamTimeout):
            await provider.first_event(response, 0.05)
    finally:
        response.close()


# -- routing acts on what the provider says ------------------------------------------------------


class OverloadedProvider(OpenAIWire):
    """A provider for a made-up protocol whose overloaded upstream answers 529 (as
    Anthropic's does), which only it knows to be transient."""

    protocol = "other"

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent = 0

    async def send(self, call: Call) -> MockResponse:
        self.sent += 1
        return MockResponse([b'{"type":"overloaded_error"}'], 0, 0, False, status=529)

    def classify(self, response: Response, body: bytes) -> Failure:
        return Failure.TRANSIENT if response.status == 529 else Failure.INVALID

    def upstream_headers(self, response: Response) -> Sequence[tuple[str, str]]:
        return (("x-upstream-ratelimit-other", "1"),)

    async def close(self) -> None:
        return None


ROUTED = """
[providers.other]
type = "mock"
[providers.mock]
type = "mock"
[[models]]
name = "m"
strategy = "ordered"
deployments = [{ provider = "other", model = "o" }, { provider = "mock", model = "k" }]
[[models]]
name = "solo"
deployments = [{ provider = "other", model = "o" }]
"""


async def test_router_fails_over_on_the_providers_word() -> None:
    """The router asks the provider what a 529 means: transient, so it fails over to the next
    deployment, and the attempts header shows both; a model with only that deployment
    relays the 529 as it is, with that provider's upstream headers."""
    config = parse_config(ROUTED, env={})
    other = OverloadedProvider("other")
    mock = MockProvider("mock", config.providers["mock"])
    router = Router(config, {"other": other, "mock": mock})
    ex = Exchange("req-1", "POST", "/v1/chat/completions", None)
    answer = await router.answer(ex, router.groups["m"], call(), False, None)
    try:
        assert answer.response.status == 200 and answer.deployment.provider is mock
        assert ex.attempts == "m/other:529, m/mock:200"
        assert other.sent == 1 and router.groups["m"].deployments[0].failures == 1
    finally:
        answer.complete(ex)
    ex = Exchange("req-2", "POST", "/v1/chat/completions", None)
    answer = await router.answer(ex, router.groups["solo"], call(), False, None)
    assert answer.response.status == 529 and ex.attempts == "solo/other:529"
    assert list(answer.upstream_headers()) == [("x-upstream-ratelimit-other", "1")]
    answer.complete(ex)
    assert router.groups["solo"].deployments[0].in_flight == 0


async def test_openai_provider_stream_events_include_an_error_event(
    built: tuple[FakeUpstream, dict[str, Any]],
) -> None:
    """Over HTTP, ``stream_events`` gives the events after ``first_event``'s head in order,
    a mid-stream error as an ``error`` event carrying OpenAI's error body."""
    up, providers = built
    provider = providers["up"]
    up.fail_next(Fault(error_event_after=3))
    response = await provider.send(call(stream=True))
    try:
        head = await provider.first_event(response, 1.0)
        events = [e async for e in provider.stream_events(response, head)]
    finally:
        response.close()
    assert [e.event for e in events] == ["message", "message", "message", "error"]
    assert decode_chunk(events[0].data).choices[0].delta == Delta(role="assistant", content="")
    assert msgspec.json.decode(events[-1].data)["error"]["type"] == "server_error"
