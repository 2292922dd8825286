"""The Responses API translation, sans-IO (requests, answers, stream events: checked against
the openai SDK's own models), its store, its config section, and its edge cases in process."""

from __future__ import annotations

import asyncio
import base64
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pydantic
import pytest
from openai.types.responses import Response, ResponseItem, ResponseStreamEvent

from fastgw import Gateway, parse_config
from fastgw.config import ConfigError, ResponsesConfig
from fastgw.errors import InvalidRequest
from fastgw.inbound.response_redis import RedisResponseStore
from fastgw.inbound.response_store import ResponseStore, Stored
from fastgw.keys import hash_key
from fastgw.protocols.responses.answer import from_completion
from fastgw.protocols.responses.items import input_item_list
from fastgw.protocols.responses.request import (
    THINKING_PREFIX,
    decode_items,
    encode_items,
    read_request,
    to_chat,
)
from fastgw.protocols.responses.stream import EventStream
from fastgw.testing.redis import RedisServer
from fastgw.testing.rsgi import RSGIClient
from tests.conftest import DEV_KEY, LIMITED_KEY, mock_config

encode = msgspec.json.encode
decode = msgspec.json.decode
STREAM_EVENT: Any = pydantic.TypeAdapter(ResponseStreamEvent)
RESPONSE_ITEM: Any = pydantic.TypeAdapter(ResponseItem)
TOOL = {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}


def chat_of(request: dict[str, Any], history: list[Any] | None = None) -> dict[str, Any]:
    translated = to_chat(read_request(encode(request)), history or [])
    result: dict[str, Any] = decode(translated.body)
    return result


# -- requests ---------------------------------------------------------------------------------


def test_every_field_maps_to_chat() -> None:
    """instructions first, roles (developer as system), parts, tools, tool_choice, formats,
    reasoning effort, token limit and sampling as chat completions writes them."""
    chat = chat_of(
        {
            "model": "m",
            "instructions": "Be brief.",
            "input": [
                {"role": "developer", "content": "dev"},
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "look"},
                        {
                            "type": "input_image",
                            "image_url": "data:image/png;base64,AA",
                            "detail": "low",
                        },
                    ],
                },
            ],
            "tools": [{**TOOL, "description": "d", "strict": True}],
            "tool_choice": {"type": "function", "name": "f"},
            "parallel_tool_calls": False,
            "text": {
                "format": {
                    "type": "json_schema",
                    "name": "s",
                    "schema": {"type": "object"},
                    "strict": True,
                }
            },
            "reasoning": {"effort": "low"},
            "max_output_tokens": 50,
            "temperature": 0.2,
            "top_p": 0.9,
            "user": "u1",
            "metadata": {"a": "b"},
            "stream": True,
            "store": False,
            "truncation": "auto",
        }
    )
    assert chat == {
        "model": "m",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "system", "content": "dev"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,AA", "detail": "low"},
                    },
                ],
            },
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "f",
                    "description": "d",
                    "parameters": {"type": "object", "properties": {}},
                    "strict": True,
                },
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "parallel_tool_calls": False,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "s", "schema": {"type": "object"}, "strict": True},
        },
        "reasoning_effort": "low",
        "max_completion_tokens": 50,
        "temperature": 0.2,
        "top_p": 0.9,
        "user": "u1",
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_function_calls_join_the_assistant_turn_and_outputs_are_tool_messages() -> None:
    """An assistant message followed by function_call items is one assistant message with
    tool calls; a function_call with no assistant text before it opens one; outputs (text or
    text parts) are tool messages."""
    chat = chat_of(
        {
            "model": "m",
            "input": [
                {"role": "user", "content": "q"},
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "let me"}],
                },
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call", "call_id": "c2", "name": "f", "arguments": '{"a":1}'},
                {"type": "function_call_output", "call_id": "c1", "output": "one"},
                {
                    "type": "function_call_output",
                    "call_id": "c2",
                    "output": [{"type": "input_text", "text": "two"}],
                },
                {"type": "function_call", "call_id": "c3", "name": "f", "arguments": ""},
                {"type": "function_call_output", "call_id": "c3", "output": "three"},
            ],
        }
    )
    assert chat["messages"] == [
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "content": "let me",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "c2", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "one"},
        {"role": "tool", "tool_call_id": "c2", "content": "two"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c3", "type": "function", "function": {"name": "f", "arguments": ""}}
            ],
        },
        {"role": "tool", "tool_call_id": "c3", "content": "three"},
    ]


def test_history_comes_first_and_reasoning_is_dropped_unless_fastgw_wrote_it() -> None:
    """previous_response_id's items precede the input; OpenAI's reasoning items are dropped,
    Anthropic thinking blocks fastgw wrote go back on the next assistant turn."""
    blocks = [{"type": "thinking", "thinking": "hmm", "signature": "sig"}]
    ours = THINKING_PREFIX + base64.b64encode(encode(blocks)).decode()
    history = decode_items(
        encode(
            [
                {"role": "user", "content": "q"},
                {
                    "type": "reasoning",
                    "id": "rs_1",
                    "summary": [],
                    "encrypted_content": "gAAA-openai",
                },
                {
                    "type": "reasoning",
                    "id": "rs_2",
                    "summary": [{"type": "summary_text", "text": "t"}],
                    "encrypted_content": ours,
                },
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            ]
        )
    )
    chat = chat_of(
        {"model": "m", "input": [{"type": "function_call_output", "call_id": "c1", "output": "r"}]},
        history,
    )
    assert chat["messages"] == [
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "content": None,
            "thinking_blocks": blocks,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "r"},
    ]


def test_a_continuation_may_leave_input_out() -> None:
    """previous_response_id with no input adds no empty message; nothing at all is a 400."""
    history = decode_items(b'[{"role": "user", "content": "q"}]')
    assert chat_of({"model": "m"}, history)["messages"] == [{"role": "user", "content": "q"}]
    with pytest.raises(InvalidRequest) as caught:
        chat_of({"model": "m"})
    assert caught.value.param == "input"


def test_the_stored_conversation_round_trips() -> None:
    """What to_chat returns as the conversation's items is stored and read back the same."""
    translated = to_chat(read_request(b'{"model": "m", "input": "hi"}'), [])
    again = decode_items(encode_items(translated.items))
    assert again == translated.items and again[0].role == "user" and again[0].content == "hi"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"tools": [{"type": "file_search", "vector_store_ids": ["v"]}]}, "tools[0].type"),
        ({"tools": [{"type": "function"}]}, "tools[0].name"),
        ({"tool_choice": {"type": "web_search_preview"}}, "tool_choice"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
            "input[0].content[0]",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
            "input[0].content[0]",
        ),
        ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
        ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"input": [{"role": "user"}]}, "input[0].content"),
        ({"input": [{"type": "function_call", "name": "f"}]}, "input[0]"),
        ({"input": [{"type": "function_call_output", "call_id": "c"}]}, "input[0]"),
        (
            {
                "input": [
                    {"role": "assistant", "content": [{"type": "input_image", "image_url": "u"}]}
                ]
            },
            "input[0].content[0]",
        ),
        ({"text": {"format": {"type": "json_schema"}}}, "text.format"),
        ({"text": {"format": {"type": "xml"}}}, "text.format.type"),
        ({"background": True}, "background"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"prompt": {"id": "p"}}, "prompt"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"max_output_tokens": "x"}, "max_output_tokens"),
        ({"truncation": "sometimes"}, "truncation"),
        ({"input": 3}, "input"),
    ],
)
def test_what_cannot_be_served_is_a_400_naming_the_field(body: dict[str, Any], param: str) -> None:
    """Hosted tools, file ids, unknown items and parts, bad fields: a 400 with the param."""
    with pytest.raises(InvalidRequest) as caught:
        to_chat(read_request(encode({"model": "m", "input": "hi", **body})), [])
    assert caught.value.status == 400 and caught.value.param == param


def test_malformed_bodies_are_400s() -> None:
    """Not JSON, not UTF-8, nested past msgspec's depth, not an object, no model, too many
    items: 400s, never a crash."""
    deep = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
    tool = b'{"model": "m", "tools": [{"type": "function", "name": "f", "parameters": %s}]}'
    for body in (
        b'{"model": "m", "input": "\xff"}',
        tool % deep,
        b"{",
        b"[]",
        b'{"input": "x"}',
        encode({"model": "m", "input": [{"role": "user", "content": "x"}] * 10_001}),
    ):
        with pytest.raises(InvalidRequest):
            read_request(body)


# -- answers ----------------------------------------------------------------------------------

ECHO = to_chat(read_request(b'{"model": "m", "input": "hi"}'), []).echo


def completion(message: dict[str, Any], finish: str = "stop", usage: Any = None) -> bytes:
    body: dict[str, Any] = {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "up-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}
        ],
    }
    if usage is not None:
        body["usage"] = usage
    return encode(body)


def test_a_whole_answer_is_the_sdks_response() -> None:
    """Reasoning, text and tool calls in that order, usage with every detail, validated by
    the SDK's Response model; output_text is the text."""
    usage = {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 4, "cache_creation_tokens": 2},
        "completion_tokens_details": {"reasoning_tokens": 3},
    }
    message = {
        "content": "Hello",
        "reasoning_content": "thinking",
        "thinking_blocks": [{"type": "thinking", "thinking": "thinking", "signature": "s"}],
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ],
    }
    obj = from_completion(completion(message, "tool_calls", usage), "resp_1", 5, "m", ECHO)
    response = Response.model_validate(obj)
    assert [item.type for item in response.output] == ["reasoning", "message", "function_call"]
    assert response.output_text == "Hello" and response.model == "up-model"
    reasoning = response.output[0]
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "thinking"
    assert reasoning.encrypted_content is not None and reasoning.encrypted_content.startswith(
        THINKING_PREFIX
    )
    call = response.output[2]
    assert (
        call.type == "function_call"
        and call.call_id == "call_1"
        and call.id
        and call.id.startswith("fc_")
    )
    assert response.usage is not None
    assert response.usage.model_dump() == {
        "input_tokens": 10,
        "input_tokens_details": {
            "cached_tokens": 4,
            "cache_write_tokens": 2,
            "cache_write_tokens_details": None,
        },
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 3},
        "total_tokens": 15,
    }


@pytest.mark.parametrize(
    ("finish", "status", "reason"),
    [
        ("stop", "completed", None),
        ("length", "incomplete", "max_output_tokens"),
        ("content_filter", "incomplete", "content_filter"),
    ],
)
def test_finish_reasons_set_the_status(finish: str, status: str, reason: str | None) -> None:
    obj = from_completion(completion({"content": "x"}, finish), "resp_1", 5, "m", ECHO)
    response = Response.model_validate(obj)
    assert response.status == status
    assert (response.incomplete_details.reason if response.incomplete_details else None) == reason


def test_refusals_and_empty_answers_are_messages() -> None:
    """A refusal is a refusal part; no text and no tool call is an empty output_text."""
    refused = Response.model_validate(
        from_completion(completion({"content": None, "refusal": "no"}), "r", 1, "m", ECHO)
    )
    assert refused.output[0].type == "message" and refused.output[0].content[0].type == "refusal"
    empty = Response.model_validate(
        from_completion(completion({"content": None}), "r", 1, "m", ECHO)
    )
    assert empty.output_text == "" and empty.usage is not None and empty.usage.total_tokens == 0


# -- streams ----------------------------------------------------------------------------------


def chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, usage: Any = None
) -> bytes:
    body: dict[str, Any] = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "up",
    }
    body["choices"] = (
        [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    )
    if usage is not None:
        body["usage"] = usage
    return b"data: " + encode(body) + b"\n\n"


USAGE = {"prompt_tokens": 7, "completion_tokens": 9, "total_tokens": 16}
FULL_STREAM = b"".join(
    [
        chunk({"role": "assistant", "content": ""}),
        chunk({"reasoning_content": "think"}),
        chunk({"reasoning_content": "ing"}),
        chunk(
            {"thinking_blocks": [{"type": "thinking", "thinking": "thinking", "signature": "s"}]}
        ),
        chunk({"content": "Hel"}),
        chunk({"content": "lo"}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "f", "arguments": ""},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x":'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "g", "arguments": "{}"},
                    }
                ]
            }
        ),
        chunk({}, "tool_calls"),
        chunk(None, usage=USAGE),
        b"data: [DONE]\n\n",
    ]
)


def events_of(data: bytes) -> list[dict[str, Any]]:
    out = []
    for block in data.split(b"\n\n"):
        if not block:
            continue
        head, _, body = block.partition(b"\ndata: ")
        event = decode(body)
        assert head == b"event: " + event["type"].encode()
        STREAM_EVENT.validate_python(event)  # the SDK's model of the event
        out.append(event)
    return out


def run(data: bytes, cut: int = 0, end: bool = True) -> tuple[list[dict[str, Any]], EventStream]:
    stream = EventStream("resp_1", 5, "m", ECHO)
    pieces = [data] if not cut else [data[i : i + cut] for i in range(0, len(data), cut)]
    out = b"".join(stream.feed(piece) for piece in pieces)
    if end:
        out += stream.end()
    return events_of(out), stream


def test_a_stream_is_the_sdks_event_sequence() -> None:
    """Reasoning, text and two tool calls: every event in order, sequence numbers 0..n-1,
    arguments deltas as they came, the completed response with usage and the same items."""
    events, stream = run(FULL_STREAM)
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    final = Response.model_validate(events[-1]["response"])
    assert final.output_text == "Hello" and final.status == "completed"
    assert final.usage is not None and (final.usage.input_tokens, final.usage.output_tokens) == (
        7,
        9,
    )
    calls = [item for item in final.output if item.type == "function_call"]
    assert [(c.call_id, c.name, c.arguments) for c in calls] == [
        ("call_a", "f", '{"x":1}'),
        ("call_b", "g", "{}"),
    ]
    assert final.output[0].type == "reasoning" and final.output[0].encrypted_content
    assert stream.final == events[-1]["response"]
    added = [e["item"]["id"] for e in events if e["type"] == "response.output_item.added"]
    assert added == [item.id for item in final.output]


def test_chunks_cut_anywhere_give_the_same_events() -> None:
    """Byte-at-a-time and odd cuts give the events a whole feed gives (ids aside)."""
    whole, _ = run(FULL_STREAM)

    def shape(events: list[dict[str, Any]]) -> list[Any]:
        return [(e["type"], e.get("delta"), e.get("text"), e.get("arguments")) for e in events]

    for cut in (1, 7, 64):
        assert shape(run(FULL_STREAM, cut)[0]) == shape(whole)


def test_a_cut_answer_is_response_incomplete() -> None:
    events, stream = run(chunk({"content": "a"}) + chunk({}, "length") + b"data: [DONE]\n\n")
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert stream.final is not None and stream.final["output"][0]["status"] == "incomplete"


def test_an_error_event_is_response_failed_and_nothing_follows() -> None:
    """The relay's error event after the headers: response.failed with the error's code and
    message, nothing after it (not even at the end)."""
    error = (
        b'event: error\ndata: {"error": {"message": "slow down", "type": "rate_limit_error", '
        b'"code": "rate_limit_exceeded"}}\n\n'
    )
    stream = EventStream("resp_1", 5, "m", ECHO)
    out = stream.feed(chunk({"content": "a"}) + error + chunk({"content": "late"}))
    out += stream.feed(b"data: [DONE]\n\n") + stream.end()
    events = events_of(out)
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["error"] == {
        "code": "rate_limit_exceeded",
        "message": "slow down",
    }
    assert events[-1]["response"]["output"][0]["status"] == "incomplete"
    assert not any(e["type"] == "response.completed" for e in events)


def test_a_stream_without_its_end_fails_at_the_close() -> None:
    events, _ = run(chunk({"content": "a"}))
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["error"]["code"] == "server_error"
    assert run(b"")[0][-1]["type"] == "response.failed"  # nothing at all: created, then failed


def test_an_empty_stream_is_an_empty_message() -> None:
    events, _ = run(
        chunk({"role": "assistant", "content": ""}) + chunk({}, "stop") + b"data: [DONE]\n\n"
    )
    final = Response.model_validate(events[-1]["response"])
    assert final.output_text == "" and final.output[0].type == "message"


def test_input_items_are_the_sdks_items_in_pages() -> None:
    """Every kind of stored item listed as the SDK's ResponseItem, with stable ids, paged by
    limit and after, in either order."""
    items = decode_items(
        encode(
            [
                {"role": "user", "content": "q"},
                {"type": "message", "role": "assistant", "content": "a"},
                {
                    "type": "reasoning",
                    "id": "rs_1",
                    "summary": [{"type": "summary_text", "text": "t"}],
                },
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "r"},
            ]
        )
    )
    page = input_item_list("resp_1", items, {"order": "asc", "limit": "100"})
    listed = [RESPONSE_ITEM.validate_python(item) for item in page["data"]]
    assert [item.type for item in listed] == [
        "message",
        "message",
        "reasoning",
        "function_call",
        "function_call_output",
    ]
    assert page["data"] == input_item_list("resp_1", items, {"order": "asc"})["data"]
    first = input_item_list("resp_1", items, {"limit": "2"})
    assert first["has_more"] and [i["type"] for i in first["data"]] == [
        "function_call_output",
        "function_call",
    ]
    rest = input_item_list("resp_1", items, {"limit": "5", "after": first["last_id"]})
    assert not rest["has_more"] and len(rest["data"]) == 3
    for bad in ({"order": "up"}, {"limit": "101"}, {"limit": "x"}, {"after": "nope"}):
        with pytest.raises(InvalidRequest):
            input_item_list("resp_1", items, bad)


# -- the store --------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ResponseStore]:
    s = ResponseStore(str(tmp_path / "r.sqlite"))
    yield s
    s.close()


def test_the_store_is_per_key_bounded_and_expires(store: ResponseStore) -> None:
    """A key reads and deletes its own rows only; its oldest go past max_per_key; an expired
    row is never returned."""

    async def scenario() -> None:
        row = Stored(b'{"id": "a"}', b"[]")
        await store.put("a", "k1", row, 60, 2)
        assert await store.get("a", "k1") == row
        assert await store.get("a", "k2") is None and not await store.delete("a", "k2")
        await store.put("b", "k1", row, 60, 2)
        await store.put("x", "k2", row, 60, 2)
        await store.put("c", "k1", row, 60, 2)
        assert await store.get("a", "k1") is None  # the oldest of k1's three
        assert (
            await store.get("b", "k1") and await store.get("c", "k1") and await store.get("x", "k2")
        )
        assert await store.delete("b", "k1") and await store.get("b", "k1") is None
        await store.put("gone", "k1", row, -1, 2)
        assert await store.get("gone", "k1") is None and not await store.delete("gone", "k1")

    asyncio.run(scenario())


def test_concurrent_puts_share_transactions_and_are_read_at_once(store: ResponseStore) -> None:
    """Puts made together are written together, bounds still hold; a put not yet written is
    already read (and deleted) by the worker that made it."""

    async def scenario() -> None:
        row = Stored(b"{}", b"[]")
        await asyncio.gather(*(store.put(f"r{i}", "k", row, 60, 30) for i in range(50)))
        found = await asyncio.gather(*(store.get(f"r{i}", "k") for i in range(50)))
        assert [f is not None for f in found] == [False] * 20 + [True] * 30
        pending = asyncio.ensure_future(store.put("fresh", "k", row, 60, 30))
        await asyncio.sleep(0)  # the put is queued, not yet written
        assert await store.get("fresh", "k") == row and await store.get("fresh", "j") is None
        assert await store.delete("fresh", "k")
        await pending
        assert await store.get("fresh", "k") is None

    asyncio.run(scenario())


# -- the config -------------------------------------------------------------------------------


def test_the_responses_section() -> None:
    """Defaults as OpenAI's (stored 30 days); unknown keys and bad bounds fail with paths."""
    assert parse_config(mock_config()).responses == ResponsesConfig()
    assert ResponsesConfig().store_ttl_s == 2592000
    custom = parse_config(mock_config(extra="[responses]\nstore = false\nstore_ttl_s = 60\n"))
    assert custom.responses.store is False and custom.responses.store_ttl_s == 60
    with pytest.raises(ConfigError) as caught:
        parse_config(
            mock_config(
                extra="[responses]\nstore_tll_s = 60\nmax_per_key = 0\nmax_stored_bytes = 1\n"
            )
        )
    text = str(caught.value)
    assert "responses.store_tll_s" in text
    caught_bounds = pytest.raises(ConfigError)
    with caught_bounds as bounds:
        parse_config(
            mock_config(
                extra="[responses]\nstore_ttl_s = 0\nmax_per_key = 0\nmax_stored_bytes = 1\n"
            )
        )
    assert [e.split(":")[0] for e in bounds.value.errors] == [
        "responses.store_ttl_s",
        "responses.max_per_key",
        "responses.max_stored_bytes",
    ]


# -- in process -------------------------------------------------------------------------------

AUTH = {"authorization": f"Bearer {DEV_KEY}"}


def gateway(tmp_path: Path, responses: str = "") -> Gateway:
    extra = f'[storage]\nsqlite_path = "{tmp_path}/gw.sqlite"\n[responses]\n{responses}\n'
    return Gateway(parse_config(mock_config(extra=extra), "m.toml", {}))


def test_paths_methods_and_keys_of_stored_responses(tmp_path: Path) -> None:
    """GET/DELETE need a key (401), other methods are 405, a path past the id other than
    input_items 404, a bad page 400; the limited key cannot see the dev key's response."""
    with RSGIClient(gateway(tmp_path)) as c:
        rid = c.post(
            "/v1/responses", headers=AUTH, json={"model": "gpt-test", "input": "hi"}
        ).json()["id"]
        assert c.get(f"/v1/responses/{rid}", headers=AUTH).status == 200
        assert c.get(f"/responses/{rid}", headers=AUTH).status == 200  # the bare path too
        assert c.get(f"/v1/responses/{rid}").status == 401
        assert c.post(f"/v1/responses/{rid}", headers=AUTH, json={}).status == 405
        assert c.get(f"/v1/responses/{rid}/input_items", headers=AUTH).status == 200
        assert c.get(f"/v1/responses/{rid}/input_items?limit=0", headers=AUTH).status == 400
        assert c.get(f"/v1/responses/{rid}/other", headers=AUTH).status == 404
        assert c.request("DELETE", f"/v1/responses/{rid}/input_items", headers=AUTH).status == 405
        limited = {"authorization": f"Bearer {LIMITED_KEY}"}
        assert c.get(f"/v1/responses/{rid}", headers=limited).status == 404
        body = c.request("DELETE", f"/v1/responses/{rid}", headers=AUTH)
        assert body.status == 200 and body.json() == {
            "id": rid,
            "object": "response",
            "deleted": True,
        }


def test_processes_on_one_sqlite_file_share_stored_responses(tmp_path: Path) -> None:
    """Two gateways on the same SQLite file (as the workers of one host are) read, continue
    and delete what the other stored."""
    with RSGIClient(gateway(tmp_path)) as one, RSGIClient(gateway(tmp_path)) as two:
        rid = one.post(
            "/v1/responses", headers=AUTH, json={"model": "gpt-test", "input": "hi"}
        ).json()["id"]
        assert two.get(f"/v1/responses/{rid}", headers=AUTH).json()["id"] == rid
        follow = {"model": "gpt-test", "input": "more", "previous_response_id": rid}
        assert two.post("/v1/responses", headers=AUTH, json=follow).status == 200
        assert two.request("DELETE", f"/v1/responses/{rid}", headers=AUTH).status == 200
        assert one.get(f"/v1/responses/{rid}", headers=AUTH).status == 404


def test_limits_apply_to_responses(tmp_path: Path) -> None:
    """A key's rpm counts Responses requests as chat ones: past it, a 429 in OpenAI's shape
    (the SDK's RateLimitError) with Retry-After, and nothing stored."""
    key = "sk-test-rpm-key-0123456789"
    extra = (
        f'[storage]\nsqlite_path = "{tmp_path}/gw.sqlite"\n'
        f'[[keys]]\nid = "rpm"\nhash = "{hash_key(key)}"\nrpm = 1\n'
    )
    with RSGIClient(Gateway(parse_config(mock_config(extra=extra), "m.toml", {}))) as c:
        auth = {"authorization": f"Bearer {key}"}
        body = {"model": "gpt-test", "input": "hi"}
        assert c.post("/v1/responses", headers=auth, json=body).status == 200
        refused = c.post("/v1/responses", headers=auth, json={**body, "stream": True})
        assert refused.status == 429 and dict(refused.headers).get("retry-after")
        assert refused.json()["error"]["code"] == "rate_limit_exceeded"


def test_storage_off_answers_without_keeping(tmp_path: Path) -> None:
    """[responses] store = false: answered with store false, nothing to read or continue."""
    with RSGIClient(gateway(tmp_path, "store = false")) as c:
        answer = c.post(
            "/v1/responses", headers=AUTH, json={"model": "gpt-test", "input": "hi"}
        ).json()
        assert answer["store"] is False and answer["output"][0]["content"][0]["text"]
        assert c.get(f"/v1/responses/{answer['id']}", headers=AUTH).status == 404
        follow = c.post(
            "/v1/responses",
            headers=AUTH,
            json={"model": "gpt-test", "input": "hi", "previous_response_id": answer["id"]},
        )
        assert (
            follow.status == 404 and follow.json()["error"]["code"] == "previous_response_not_found"
        )


def test_a_conversation_past_the_size_bound_is_answered_not_kept(tmp_path: Path) -> None:
    with RSGIClient(gateway(tmp_path, "max_stored_bytes = 1024")) as c:
        answer = c.post(
            "/v1/responses", headers=AUTH, json={"model": "gpt-test", "input": "x" * 2000}
        )
        assert answer.status == 200
        assert c.get(f"/v1/responses/{answer.json()['id']}", headers=AUTH).status == 404


def test_a_cached_stream_replays_as_response_events(tmp_path: Path) -> None:
    """With the exact cache on, the second identical stream is served from the cache and
    still reaches the client as Responses events ending in response.completed."""
    extra = f'[storage]\nsqlite_path = "{tmp_path}/gw.sqlite"\n'
    config = mock_config(extra=extra).replace(
        'deployments = [{ provider = "mock", model = "mock-gpt" }]',
        'deployments = [{ provider = "mock", model = "mock-gpt" }]\ncache = { enabled = true }',
        1,
    )
    with RSGIClient(Gateway(parse_config(config, "m.toml", {}))) as c:
        body = {"model": "gpt-test", "input": "hi", "stream": True, "temperature": 0}
        first = c.post("/v1/responses", headers=AUTH, json=body)
        second = c.post("/v1/responses", headers=AUTH, json=body)
        assert dict(second.headers).get("x-fastgw-cache") == "hit"
        for response in (first, second):
            events = events_of(response.body)
            assert events[-1]["type"] == "response.completed"
            assert Response.model_validate(events[-1]["response"]).output_text


# -- the Redis store --------------------------------------------------------------------------

needs_redis = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not installed"
)


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@needs_redis
def test_the_redis_store_is_per_key_and_bounded(redis: RedisServer) -> None:
    """The same contract on Redis: own rows only, the oldest past max_per_key go, a TTL on
    every row."""

    async def scenario() -> None:
        store = RedisResponseStore(redis.url, "t1:", 1.0)
        row = Stored(b'{"id": "a"}', b"[]")
        await store.put("a", "k1", row, 60, 2)
        assert await store.get("a", "k1") == row
        assert await store.get("a", "k2") is None and not await store.delete("a", "k2")
        await store.put("b", "k1", row, 60, 2)
        await store.put("x", "k2", row, 60, 2)
        await store.put("c", "k1", row, 60, 2)
        assert await store.get("a", "k1") is None
        assert (
            await store.get("b", "k1") and await store.get("c", "k1") and await store.get("x", "k2")
        )
        assert await store.delete("b", "k1") and await store.get("b", "k1") is None
        store.close()

    asyncio.run(scenario())
    ttl = redis.command("TTL", "t1:resp:" + b"k1".hex() + ":c")
    assert ttl.startswith(b":") and 0 < int(ttl[1:]) <= 60


@needs_redis
def test_instances_share_stored_responses_through_redis(redis: RedisServer, tmp_path: Path) -> None:
    """[state] backend = "redis": a response stored by one gateway is read, continued and
    deleted through another (its own SQLite file), and still per key; Redis down is a 503."""
    state = f'[state]\nbackend = "redis"\nredis_url = "{redis.url}"\nprefix = "t2:"\n'
    apps = [
        Gateway(
            parse_config(
                mock_config(extra=f'[storage]\nsqlite_path = "{tmp_path}/{n}.sqlite"\n{state}'),
                "m.toml",
                {},
            )
        )
        for n in ("a", "b")
    ]
    with RSGIClient(apps[0]) as one, RSGIClient(apps[1]) as two:
        rid = one.post(
            "/v1/responses", headers=AUTH, json={"model": "gpt-test", "input": "hi"}
        ).json()["id"]
        assert two.get(f"/v1/responses/{rid}", headers=AUTH).json()["id"] == rid
        limited = {"authorization": f"Bearer {LIMITED_KEY}"}
        assert two.get(f"/v1/responses/{rid}", headers=limited).status == 404
        follow = two.post(
            "/v1/responses",
            headers=AUTH,
            json={"model": "gpt-test", "input": "more", "previous_response_id": rid},
        )
        assert follow.status == 200
        assert two.request("DELETE", f"/v1/responses/{rid}", headers=AUTH).status == 200
        assert one.get(f"/v1/responses/{rid}", headers=AUTH).status == 404
        redis.stop()
        try:
            down = one.get(f"/v1/responses/{rid}", headers=AUTH)
            assert down.status == 503 and down.json()["error"]["type"] == "server_error"
        finally:
            redis.start()
