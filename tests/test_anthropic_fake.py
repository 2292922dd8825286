"""Anthropic's official Python SDK as the client of ``AnthropicUpstream``: what the SDK
accepts and raises proves the fake speaks Anthropic's protocol, so tests of the gateway
against it say something about the real API."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from fastgw.testing import Fault
from fastgw.testing.anthropic_upstream import AnthropicUpstream, signature_of

KEY = "sk-ant-fake-key"
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
}


@pytest.fixture(scope="module")
def up() -> Iterator[AnthropicUpstream]:
    with AnthropicUpstream.in_thread(api_key=KEY) as up:
        yield up


@pytest.fixture
def client(up: AnthropicUpstream) -> Iterator[anthropic.Anthropic]:
    up.reset()
    with anthropic.Anthropic(api_key=KEY, base_url=up.base_url, max_retries=0) as client:
        yield client


def test_plain_message_reads_as_an_sdk_message(client: anthropic.Anthropic) -> None:
    """A plain answer parses into the SDK's Message with text, stop reason and usage."""
    msg = client.messages.create(
        model="claude-x", max_tokens=100, messages=[{"role": "user", "content": "Hi"}]
    )
    assert msg.type == "message" and msg.model == "claude-x"
    assert msg.content[0].type == "text" and msg.content[0].text.startswith("Claude answers")
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0


def test_stream_accumulates_in_the_sdk(client: anthropic.Anthropic) -> None:
    """The SDK's stream helper rebuilds the same message from the fake's events."""
    with client.messages.stream(
        model="claude-x", max_tokens=100, messages=[{"role": "user", "content": "Hi"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Claude answers every request in"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


def test_streamed_tool_use_with_thinking(client: anthropic.Anthropic) -> None:
    """Thinking (signed) then a tool call whose JSON input arrives in fragments."""
    with client.messages.stream(
        model="claude-x",
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 1024},
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    ) as stream:
        final = stream.get_final_message()
    thinking, use = final.content
    assert thinking.type == "thinking" and thinking.signature == signature_of(thinking.thinking)
    assert use.type == "tool_use" and use.name == "get_weather"
    assert use.input == {"city": "Paris", "days": 3}
    assert final.stop_reason == "tool_use"


def test_signature_is_checked_on_the_next_turn(client: anthropic.Anthropic) -> None:
    """The thinking block sent back intact is accepted; a changed signature is a 400."""
    first = client.messages.create(
        model="claude-x",
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 1024},
        tools=[WEATHER],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    )
    use = first.content[1]
    assert use.type == "tool_use"
    result = {"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}
    turns = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [result]},
    ]
    second = client.messages.create(
        model="claude-x",
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 1024},
        tools=[WEATHER],  # type: ignore[list-item]
        messages=turns,  # type: ignore[arg-type]
    )
    assert second.content[-1].type == "text"
    bad = first.content[0].model_copy(update={"signature": "forged"})
    turns[1] = {"role": "assistant", "content": [bad, use]}
    with pytest.raises(anthropic.BadRequestError, match="signature"):
        client.messages.create(
            model="claude-x",
            max_tokens=4000,
            thinking={"type": "enabled", "budget_tokens": 1024},
            tools=[WEATHER],  # type: ignore[list-item]
            messages=turns,  # type: ignore[arg-type]
        )


def test_structured_output_is_json_of_the_schema(client: anthropic.Anthropic) -> None:
    """``output_config.format`` answers text that is JSON made from the schema."""
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    msg = client.messages.create(
        model="claude-x",
        max_tokens=100,
        output_config={"format": {"type": "json_schema", "schema": schema}},
        messages=[{"role": "user", "content": "A name"}],
    )
    assert msg.content[0].type == "text" and msg.content[0].text == '{"name":"Paris"}'


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, anthropic.BadRequestError),
        (401, anthropic.AuthenticationError),
        (403, anthropic.PermissionDeniedError),
        (404, anthropic.NotFoundError),
        (429, anthropic.RateLimitError),
        (500, anthropic.InternalServerError),
        (529, anthropic.InternalServerError),
    ],
)
def test_error_statuses_raise_the_sdk_exceptions(
    up: AnthropicUpstream, client: anthropic.Anthropic, status: int, error: type[Exception]
) -> None:
    """Each fault status answers Anthropic's error body; the SDK raises its class for it."""
    up.fail_next(Fault.error(status))
    with pytest.raises(error) as caught:
        client.messages.create(
            model="claude-x", max_tokens=10, messages=[{"role": "user", "content": "Hi"}]
        )
    body = caught.value.body  # type: ignore[attr-defined]
    assert body["type"] == "error" and body["error"]["type"]


def test_wrong_key_and_missing_max_tokens_are_refused(up: AnthropicUpstream) -> None:
    """The fake refuses what the API refuses: a wrong key (401), no max_tokens (400)."""
    wrong = anthropic.Anthropic(api_key="nope", base_url=up.base_url, max_retries=0)
    with wrong, pytest.raises(anthropic.AuthenticationError):
        wrong.messages.create(
            model="claude-x", max_tokens=10, messages=[{"role": "user", "content": "Hi"}]
        )
    client = anthropic.Anthropic(api_key=KEY, base_url=up.base_url, max_retries=0)
    with client, pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        client.post(
            "/v1/messages",
            body={"model": "m", "messages": [{"role": "user", "content": "Hi"}]},
            cast_to=object,
        )


def test_in_stream_error_event_raises_in_the_sdk(
    up: AnthropicUpstream, client: anthropic.Anthropic
) -> None:
    """An ``error`` event mid-stream makes the SDK raise (Anthropic's overloaded error)."""
    up.fail_next(Fault(error_event_after=4))
    with (
        pytest.raises(anthropic.APIStatusError, match="Overloaded"),
        client.messages.stream(
            model="claude-x", max_tokens=100, messages=[{"role": "user", "content": "Hi"}]
        ) as stream,
    ):
        for _ in stream:
            pass
