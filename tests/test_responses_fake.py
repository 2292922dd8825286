"""The official openai SDK's ``responses`` as the client of ``ResponsesUpstream``: what the SDK
accepts and raises proves the fake speaks the Responses API, so tests of the gateway's native
passthrough against it say something about the real API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from fastgw.testing import Fault, ResponsesUpstream

KEY = "sk-upstream-fake-key"
WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
    },
}
TEXT = "The native upstream answers every"  # chunks=5


@pytest.fixture(scope="module")
def up() -> Iterator[ResponsesUpstream]:
    with ResponsesUpstream.in_thread(api_key=KEY, chunks=5, cached_tokens=2) as up:
        yield up


@pytest.fixture
def client(up: ResponsesUpstream) -> Iterator[openai.OpenAI]:
    up.reset()
    with openai.OpenAI(api_key=KEY, base_url=up.base_url, max_retries=0) as client:
        yield client


def test_plain_response_reads_as_an_sdk_response(client: openai.OpenAI) -> None:
    """A plain answer parses into the SDK's Response: output_text, status, usage with its
    details."""
    response = client.responses.create(model="gpt-x", input="Say hi", instructions="Be brief.")
    assert response.object == "response" and response.status == "completed"
    assert response.output_text == TEXT and response.instructions == "Be brief."
    usage = response.usage
    assert usage is not None and usage.output_tokens == 5 and usage.input_tokens > 2
    assert usage.input_tokens_details.cached_tokens == 2
    assert usage.output_tokens_details.reasoning_tokens == 0


def test_stream_helper_rebuilds_the_response(client: openai.OpenAI) -> None:
    """The SDK's stream helper accumulates the fake's events into the same response."""
    with client.responses.stream(model="gpt-x", input="Say hi") as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == TEXT == final.output_text and final.usage is not None


def test_function_call_round_trip(client: openai.OpenAI) -> None:
    """A streamed function call, then its output sent back as items: a text answer."""
    with client.responses.stream(
        model="gpt-x", input="Weather in Paris?", tools=[WEATHER], tool_choice="required"
    ) as stream:
        first = stream.get_final_response()
    call = first.output[0]
    assert call.type == "function_call" and json.loads(call.arguments) == {
        "city": "Paris",
        "days": 3,
    }
    items: Any = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "type": "function_call",
            "call_id": call.call_id,
            "name": call.name,
            "arguments": call.arguments,
        },
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
    ]
    second = client.responses.create(model="gpt-x", input=items, tools=[WEATHER], store=False)
    assert second.output_text == TEXT


def test_incomplete_and_errors_are_the_sdks(client: openai.OpenAI, up: ResponsesUpstream) -> None:
    """max_output_tokens cuts the answer (incomplete); the fake keeps nothing (404 on
    previous_response_id), checks the key (401), and its faults are the SDK's exceptions."""
    cut = client.responses.create(model="gpt-x", input="Say hi", max_output_tokens=2)
    assert cut.status == "incomplete" and cut.incomplete_details is not None
    assert cut.incomplete_details.reason == "max_output_tokens"
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.create(model="gpt-x", input="more", previous_response_id="resp_x")
    assert missing.value.code == "previous_response_not_found"
    stateless: Any = [{"type": "reasoning", "id": "rs_1", "summary": []}]
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="gpt-x", input=stateless, store=False)
    wrong = openai.OpenAI(api_key="sk-wrong", base_url=up.base_url, max_retries=0)
    with wrong, pytest.raises(openai.AuthenticationError):
        wrong.responses.create(model="gpt-x", input="hi")
    up.fail_next(Fault.error(429))
    with pytest.raises(openai.RateLimitError):
        client.responses.create(model="gpt-x", input="hi")


def test_an_error_event_reaches_the_sdk_as_an_event(
    client: openai.OpenAI, up: ResponsesUpstream
) -> None:
    """error_event_after: the API's own error event, then the stream ends with no terminal
    event (the SDK's helper then has no final response)."""
    up.fail_next(Fault(error_event_after=3))
    events = list(client.responses.create(model="gpt-x", input="hi", stream=True))
    assert events[-1].type == "error" and events[-1].sequence_number == 3
    assert "response.completed" not in [e.type for e in events]


def test_chat_completions_are_still_answered(client: openai.OpenAI) -> None:
    """The same fake serves chat completions (a translated deployment on the same upstream)."""
    chat = client.chat.completions.create(
        model="gpt-x", messages=[{"role": "user", "content": "hi"}]
    )
    assert chat.choices[0].message.content == "The fake upstream answers every"
