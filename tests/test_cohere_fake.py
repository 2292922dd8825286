"""Cohere's official Python SDK (``cohere.ClientV2``) as the client of ``CohereUpstream``: if the
SDK reads the fake's answers, streams and errors as it reads Cohere's, the fake is faithful to
the protocol the gateway's translation is tested against."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import cohere
import cohere.errors
import httpx
import pytest
from cohere.core.request_options import RequestOptions

from fastgw.testing import Fault
from fastgw.testing.cohere_upstream import THOUGHT, CohereUpstream

KEY = "co-test-key"
HI: Any = [{"role": "user", "content": "Say hi"}]
NO_RETRY: RequestOptions = {"max_retries": 0}
WEATHER: Any = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "The weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {"name": "time", "parameters": {"type": "object", "properties": {}}},
    },
]


@pytest.fixture(scope="module")
def up() -> Iterator[CohereUpstream]:
    with CohereUpstream.in_thread(api_key=KEY) as upstream:
        yield upstream


@pytest.fixture
def co(up: CohereUpstream) -> Iterator[cohere.ClientV2]:
    up.reset()
    with httpx.Client(timeout=10) as http:
        yield cohere.ClientV2(api_key=KEY, base_url=up.base_url, httpx_client=http)


def test_plain_chat_reads_text_finish_and_usage(co: cohere.ClientV2, up: CohereUpstream) -> None:
    """A plain chat answer reads as Cohere's: text content, COMPLETE, both usages."""
    answer = co.chat(model="command-a-03-2025", messages=HI)
    assert answer.finish_reason == "COMPLETE"
    assert answer.message.content is not None
    assert answer.message.content[0].type == "text"
    assert answer.message.content[0].text == "The fake Cohere answers every"
    assert answer.usage is not None and answer.usage.tokens is not None
    assert answer.usage.tokens.output_tokens == 5
    assert answer.usage.billed_units is not None
    assert up.requests[-1].path == "/v2/chat"
    assert up.requests[-1].headers["authorization"] == f"Bearer {KEY}"


def test_thinking_comes_first_when_enabled(co: cohere.ClientV2) -> None:
    """``thinking: enabled`` gives a thinking item before the text."""
    answer = co.chat(model="command-a-reasoning", messages=HI, thinking={"type": "enabled"})
    assert answer.message.content is not None
    first = answer.message.content[0]
    assert first.type == "thinking" and first.thinking == "".join(THOUGHT)


def test_stream_events_in_cohere_order(co: cohere.ClientV2) -> None:
    """A stream is message-start, content-start/delta/end, message-end with usage."""
    events = list(co.chat_stream(model="command-a-03-2025", messages=HI))
    kinds = [e.type for e in events]
    assert kinds[0] == "message-start" and kinds[-1] == "message-end"
    assert kinds[1] == "content-start" and kinds[-2] == "content-end"
    text = "".join(
        e.delta.message.content.text or ""
        for e in events
        if e.type == "content-delta" and e.delta and e.delta.message and e.delta.message.content
    )
    assert text == "The fake Cohere answers every"
    end = events[-1]
    assert end.type == "message-end" and end.delta is not None
    assert end.delta.finish_reason == "COMPLETE"
    assert end.delta.usage is not None and end.delta.usage.tokens is not None


def test_tool_calls_plain_and_parallel(co: cohere.ClientV2) -> None:
    """Tools with a user turn last: a tool plan and calls with schema-shaped arguments;
    "parallel" calls every tool."""
    answer = co.chat(model="command-a", messages=HI, tools=WEATHER, tool_choice="REQUIRED")
    assert answer.finish_reason == "TOOL_CALL"
    calls = answer.message.tool_calls
    assert calls is not None and len(calls) == 1 and calls[0].function is not None
    assert calls[0].function.name == "weather"
    assert calls[0].function.arguments == '{"city":"Paris","days":7}'
    assert answer.message.tool_plan
    both = co.chat(
        model="command-a", messages=[{"role": "user", "content": "parallel"}], tools=WEATHER
    )
    assert [c.function.name for c in both.message.tool_calls or () if c.function] == [
        "weather",
        "time",
    ]


def test_streamed_tool_call_arguments_arrive_in_pieces(co: cohere.ClientV2) -> None:
    """A streamed tool call: tool-plan deltas, tool-call-start, several argument deltas."""
    events = list(co.chat_stream(model="command-a", messages=HI, tools=WEATHER))
    kinds = [e.type for e in events]
    assert "tool-plan-delta" in kinds and kinds.count("tool-call-start") == 1
    pieces = [
        e.delta.message.tool_calls.function.arguments
        for e in events
        if e.type == "tool-call-delta"
        and e.delta
        and e.delta.message
        and e.delta.message.tool_calls
        and e.delta.message.tool_calls.function
    ]
    assert len(pieces) >= 2 and "".join(p or "" for p in pieces) == '{"city":"Paris","days":7}'
    end = events[-1]
    assert end.type == "message-end" and end.delta and end.delta.finish_reason == "TOOL_CALL"


def test_tool_result_turn_answers_with_the_result(co: cohere.ClientV2) -> None:
    """After a tool result the fake answers in text quoting it."""
    messages: Any = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "tool_plan": "I will call weather.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]
    answer = co.chat(model="command-a", messages=messages, tools=WEATHER)
    assert answer.message.content and answer.message.content[0].text == "Tool said: sunny"


def test_embed_float(co: cohere.ClientV2) -> None:
    """/v2/embed answers float embeddings of the asked dimension, billed input tokens."""
    answer = co.embed(
        model="embed-v4.0",
        texts=["one", "two"],
        input_type="search_query",
        embedding_types=["float"],
        output_dimension=256,
    )
    assert answer.embeddings.float_ is not None
    assert [len(v) for v in answer.embeddings.float_] == [256, 256]
    assert answer.meta and answer.meta.billed_units and answer.meta.billed_units.input_tokens


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, cohere.errors.BadRequestError),
        (401, cohere.errors.UnauthorizedError),
        (403, cohere.errors.ForbiddenError),
        (404, cohere.errors.NotFoundError),
        (422, cohere.errors.UnprocessableEntityError),
        (429, cohere.errors.TooManyRequestsError),
        (498, cohere.errors.InvalidTokenError),
        (500, cohere.errors.InternalServerError),
        (503, cohere.errors.ServiceUnavailableError),
        (504, cohere.errors.GatewayTimeoutError),
    ],
)
def test_error_statuses_raise_the_sdks_exceptions(
    co: cohere.ClientV2, up: CohereUpstream, status: int, error: type[Exception]
) -> None:
    """Each error status, with Cohere's ``{"id", "message"}`` body, raises the SDK's class."""
    up.fail_next(Fault.error(status))
    with pytest.raises(error) as raised:
        co.chat(model="command-a", messages=HI, request_options=NO_RETRY)
    assert "message" in raised.value.body  # type: ignore[attr-defined]


def test_wrong_key_is_refused(up: CohereUpstream) -> None:
    """A wrong key gets Cohere's 401."""
    up.reset()
    with httpx.Client(timeout=10) as http:
        bad = cohere.ClientV2(api_key="wrong", base_url=up.base_url, httpx_client=http)
        with pytest.raises(cohere.errors.UnauthorizedError):
            bad.chat(model="command-a", messages=HI, request_options=NO_RETRY)


def test_in_stream_error_is_a_message_end_with_error(
    co: cohere.ClientV2, up: CohereUpstream
) -> None:
    """``error_event_after`` ends the stream with finish_reason ERROR and its message."""
    up.fail_next(Fault(error_event_after=2))
    events = list(co.chat_stream(model="command-a", messages=HI))
    assert len(events) == 3
    end = events[-1]
    assert end.type == "message-end" and end.delta and end.delta.finish_reason == "ERROR"
    assert end.delta.error
