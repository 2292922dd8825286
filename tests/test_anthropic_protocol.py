"""The Anthropic translation without I/O: OpenAI chat requests in, Messages bodies out;
Anthropic answers, streams (cut anywhere) and errors in, OpenAI's out. Byte literals only."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastgw.errors import InvalidRequest, UpstreamProtocolError
from fastgw.protocols.anthropic import MessagesStream, messages_request, translate_answer
from fastgw.protocols.openai.translate import decode_chat
from fastgw.protocols.sse import MAX_EVENT_BYTES

enc = msgspec.json.encode
dec = msgspec.json.decode


def req(**fields: Any) -> dict[str, Any]:
    """The Messages body for an OpenAI chat body made of ``fields``."""
    body = {"model": "claude", "messages": [{"role": "user", "content": "Hi"}], **fields}
    return dec(messages_request(decode_chat(enc(body)), "claude-up", 4096).body)  # type: ignore[no-any-return]


def refused(**fields: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        req(**fields)
    return caught.value


# -- requests -------------------------------------------------------------------------------


def test_plain_request_has_model_max_tokens_and_text_blocks() -> None:
    """The upstream model, the configured max_tokens default, user text as a text block."""
    assert req() == {
        "model": "claude-up",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        "max_tokens": 4096,
    }


def test_client_limits_and_sampling_map_and_seed_is_dropped() -> None:
    """max_completion_tokens wins over max_tokens; stop, temperature, top_p, user map; seed,
    penalties and logprobs are dropped."""
    body = req(
        max_tokens=50,
        max_completion_tokens=70,
        stop="END",
        temperature=0.3,
        top_p=0.9,
        seed=7,
        user="u-1",
        frequency_penalty=0.5,
        logprobs=True,
    )
    assert body["max_tokens"] == 70 and body["stop_sequences"] == ["END"]
    assert body["temperature"] == 0.3 and body["top_p"] == 0.9
    assert body["metadata"] == {"user_id": "u-1"}
    assert not {"seed", "frequency_penalty", "logprobs", "stop"} & body.keys()
    assert req(max_tokens=50, stop=["a", "b"])["stop_sequences"] == ["a", "b"]


def test_out_of_range_temperature_and_n_are_refused() -> None:
    """Anthropic takes temperature 0..1 and one choice: a 400 naming the param instead."""
    assert refused(temperature=1.5).param == "temperature"
    assert refused(n=2).param == "n"


def test_system_and_developer_become_top_level_system_with_cache_control() -> None:
    """System and developer messages (anywhere) join ``system``; cache_control stays."""
    body = req(
        messages=[
            {"role": "system", "content": "Be brief.", "cache_control": {"type": "ephemeral"}},
            {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
            {"role": "user", "content": "Hi"},
        ]
    )
    assert body["system"] == [
        {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Use French."},
    ]
    assert [m["role"] for m in body["messages"]] == ["user"]


def test_images_by_url_and_data_url() -> None:
    """An https image is a url source, a data URL a base64 source; part cache_control kept."""
    parts = [
        {"type": "text", "text": "What is this?", "cache_control": {"type": "ephemeral"}},
        {"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    body = req(messages=[{"role": "user", "content": parts}])
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?", "cache_control": {"type": "ephemeral"}},
        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        },
    ]
    bad = [{"type": "image_url", "image_url": {"url": "data:text/plain,hi"}}]
    assert refused(messages=[{"role": "user", "content": bad}]).param == "messages[0].content[0]"
    audio = [{"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}]
    assert "input_audio" in refused(messages=[{"role": "user", "content": audio}]).message


CALL = {"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
THOUGHT = {"type": "thinking", "thinking": "hmm", "signature": "sig=="}


def test_multi_turn_with_thinking_tools_and_merged_results() -> None:
    """Assistant: thinking blocks, text, tool_use (parsed input); consecutive tool results
    and a following user message merge into one user turn."""
    call2 = {**CALL, "id": "toolu_2"}
    body = req(
        messages=[
            {"role": "user", "content": "Go"},
            {
                "role": "assistant",
                "content": "Calling.",
                "tool_calls": [CALL, call2],
                "reasoning_content": "hmm",
                "thinking_blocks": [THOUGHT, {"type": "redacted_thinking", "data": "zz"}],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "one"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": [{"type": "text", "text": "2"}]},
            {"role": "user", "content": "And?"},
        ]
    )
    user, assistant, results = body["messages"]
    assert user["role"] == "user" and results["role"] == "user"
    assert assistant["content"] == [
        THOUGHT,
        {"type": "redacted_thinking", "data": "zz"},
        {"type": "text", "text": "Calling."},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
        {"type": "tool_use", "id": "toolu_2", "name": "f", "input": {"a": 1}},
    ]
    assert results["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "one"},
        {
            "type": "tool_result",
            "tool_use_id": "toolu_2",
            "content": [{"type": "text", "text": "2"}],
        },
        {"type": "text", "text": "And?"},
    ]


def test_tool_arguments_that_are_not_an_object_are_refused() -> None:
    """Anthropic's tool_use input is an object: other arguments are a 400 naming them."""
    bad = {**CALL, "function": {"name": "f", "arguments": "[1, 2"}}
    messages = [{"role": "user", "content": "Go"}, {"role": "assistant", "tool_calls": [bad]}]
    assert refused(messages=messages).param == "messages[1].tool_calls[0].function.arguments"


TOOL = {
    "type": "function",
    "function": {"name": "f", "description": "F.", "parameters": {"type": "object"}},
    "cache_control": {"type": "ephemeral"},
}


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("required", None, {"type": "any"}),
        ({"type": "function", "function": {"name": "f"}}, None, {"type": "tool", "name": "f"}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
    ],
)
def test_tools_and_tool_choice(choice: Any, parallel: bool | None, expected: Any) -> None:
    """Tools keep name, description, schema and cache_control; every tool_choice maps."""
    fields: dict[str, Any] = {"tools": [TOOL]}
    if choice is not None:
        fields["tool_choice"] = choice
    if parallel is not None:
        fields["parallel_tool_calls"] = parallel
    body = req(**fields)
    assert body["tools"] == [
        {
            "name": "f",
            "description": "F.",
            "input_schema": {"type": "object"},
            "cache_control": {"type": "ephemeral"},
        }
    ]
    assert body["tool_choice"] == expected


def test_reasoning_effort_is_a_thinking_budget_and_raises_max_tokens() -> None:
    """reasoning_effort sets thinking's budget; max_tokens grows past it; explicit thinking
    passes through."""
    body = req(reasoning_effort="medium", max_tokens=100)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert body["max_tokens"] == 4196
    assert req(reasoning_effort="low")["max_tokens"] == 4096  # already above 1024
    assert "thinking" not in req(reasoning_effort="none")
    explicit = {"type": "enabled", "budget_tokens": 2000}
    assert req(thinking=explicit)["thinking"] == explicit
    assert refused(reasoning_effort="extreme").param == "reasoning_effort"


def test_response_formats() -> None:
    """json_schema is native structured output; json_object a forced tool."""
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "r", "schema": schema}}
    body = req(response_format=fmt)
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    body = req(response_format={"type": "json_object"})
    assert body["tool_choice"] == {"type": "tool", "name": "json_response"}
    assert body["tools"][-1]["name"] == "json_response"
    assert "response_format" not in req(response_format={"type": "text"})


def test_stream_flag_is_passed() -> None:
    assert req(stream=True, stream_options={"include_usage": True})["stream"] is True


# -- answers --------------------------------------------------------------------------------

ANSWER = (
    b'{"id":"msg_1","type":"message","role":"assistant","model":"claude-x-2026",'
    b'"content":[{"type":"thinking","thinking":"Hm.","signature":"c2ln"},'
    b'{"type":"redacted_thinking","data":"ZW5j"},{"type":"text","text":"Let me check."},'
    b'{"type":"tool_use","id":"toolu_9","name":"get","input":{"city":"Paris"}}],'
    b'"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":10,'
    b'"cache_read_input_tokens":100,"cache_creation_input_tokens":20,"output_tokens":7,'
    b'"output_tokens_details":{"thinking_tokens":3},"service_tier":"standard"}}'
)


def test_answer_with_thinking_tools_and_usage() -> None:
    """Text, tool calls, reasoning and thinking blocks, finish and usage as OpenAI's."""
    status, body = translate_answer(200, ANSWER, 1700000000, None)
    out = dec(body)
    assert status == 200 and out["id"] == "chatcmpl-msg_1" and out["model"] == "claude-x-2026"
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] == "Let me check." and message["reasoning_content"] == "Hm."
    assert message["thinking_blocks"] == [
        {"type": "thinking", "thinking": "Hm.", "signature": "c2ln"},
        {"type": "redacted_thinking", "data": "ZW5j"},
    ]
    assert message["tool_calls"] == [
        {
            "id": "toolu_9",
            "type": "function",
            "function": {"name": "get", "arguments": '{"city":"Paris"}'},
        }
    ]
    assert out["usage"] == {
        "prompt_tokens": 130,
        "completion_tokens": 7,
        "total_tokens": 137,
        "prompt_tokens_details": {"cached_tokens": 100, "cache_creation_tokens": 20},
        "completion_tokens_details": {"reasoning_tokens": 3},
    }


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
    ],
)
def test_stop_reasons(stop: str, finish: str) -> None:
    body = b'{"id":"m","model":"c","content":[{"type":"text","text":"a"}],"stop_reason":"%s",' % (
        stop.encode()
    )
    body += b'"usage":{"input_tokens":1,"output_tokens":1}}'
    assert dec(translate_answer(200, body, 0, None)[1])["choices"][0]["finish_reason"] == finish


def test_json_object_tool_input_is_the_content() -> None:
    body = (
        b'{"id":"m","model":"c","content":[{"type":"tool_use","id":"t","name":"json_response",'
        b'"input":{"a": [1]}}],"stop_reason":"tool_use",'
        b'"usage":{"input_tokens":1,"output_tokens":1}}'
    )
    choice = dec(translate_answer(200, body, 0, "json_response")[1])["choices"][0]
    assert choice["message"]["content"] == '{"a": [1]}' and "tool_calls" not in choice["message"]
    assert choice["finish_reason"] == "stop"


def err(kind: str, message: str = "boom") -> bytes:
    return enc({"type": "error", "error": {"type": kind, "message": message}, "request_id": "r"})


@pytest.mark.parametrize(
    ("status", "body", "out_status", "code"),
    [
        (400, err("invalid_request_error"), 400, None),
        (
            400,
            err("invalid_request_error", "prompt is too long: 300000 tokens > 200000 maximum"),
            400,
            "context_length_exceeded",
        ),
        (401, err("authentication_error"), 401, "invalid_api_key"),
        (403, err("permission_error"), 403, None),
        (404, err("not_found_error"), 404, "model_not_found"),
        (413, err("request_too_large"), 413, None),
        (429, err("rate_limit_error"), 429, "rate_limit_exceeded"),
        (500, err("api_error"), 500, None),
        (529, err("overloaded_error"), 503, "overloaded"),
        (502, b"<html>bad gateway</html>", 500, None),
        (200, b'{"id": ', 502, "upstream_protocol_error"),
    ],
)
def test_errors(status: int, body: bytes, out_status: int, code: str | None) -> None:
    """Anthropic's error types (or the status) give OpenAI's status and code."""
    got_status, got = translate_answer(status, body, 0, None)
    assert got_status == out_status
    assert dec(got)["error"]["code"] == code


# -- streams --------------------------------------------------------------------------------


def sse(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + enc({"type": kind, **data}) + b"\n\n"


def delta(index: int, d: dict[str, Any]) -> bytes:
    return sse("content_block_delta", {"index": index, "delta": d})


START = sse(
    "message_start",
    {
        "message": {
            "id": "msg_s",
            "type": "message",
            "role": "assistant",
            "model": "claude-s",
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": 5, "cache_read_input_tokens": 2, "output_tokens": 1},
        }
    },
)
STREAM = b"".join(
    [
        START,
        sse("ping", {}),
        sse(
            "content_block_start",
            {"index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
        ),
        delta(0, {"type": "thinking_delta", "thinking": "Let me"}),
        delta(0, {"type": "thinking_delta", "thinking": " think."}),
        delta(0, {"type": "signature_delta", "signature": "U0lH"}),
        sse("content_block_stop", {"index": 0}),
        sse("content_block_start", {"index": 1, "content_block": {"type": "text", "text": ""}}),
        delta(1, {"type": "text_delta", "text": "Hello"}),
        delta(1, {"type": "text_delta", "text": " world"}),
        sse("content_block_stop", {"index": 1}),
        sse(
            "content_block_start",
            {
                "index": 2,
                "content_block": {"type": "tool_use", "id": "toolu_a", "name": "get", "input": {}},
            },
        ),
        delta(2, {"type": "input_json_delta", "partial_json": ""}),
        delta(2, {"type": "input_json_delta", "partial_json": '{"city": '}),
        delta(2, {"type": "input_json_delta", "partial_json": '"Paris"}'}),
        sse("content_block_stop", {"index": 2}),
        sse(
            "message_delta",
            {
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 42, "output_tokens_details": {"thinking_tokens": 9}},
            },
        ),
        sse("message_stop", {}),
    ]
)


def events(out: bytes) -> list[Any]:
    """The OpenAI SSE events of ``out``: decoded chunks, '[DONE]', or ('error', body)."""
    result: list[Any] = []
    for block in out.split(b"\n\n"):
        if not block:
            continue
        if block.startswith(b"event: error\n"):
            result.append(("error", dec(block.split(b"data: ", 1)[1])))
        elif block == b"data: [DONE]":
            result.append("[DONE]")
        else:
            result.append(dec(block.removeprefix(b"data: ")))
    return result


def run(chunks: list[bytes], include_usage: bool = True, json_tool: str | None = None) -> bytes:
    stream = MessagesStream(1700000000, include_usage, json_tool)
    return b"".join(stream.feed(c) for c in chunks) + stream.end()


def deltas(out: bytes) -> list[Any]:
    return [e["choices"][0]["delta"] for e in events(out) if isinstance(e, dict) and e["choices"]]


def test_stream_translates_every_event_kind() -> None:
    """Role, reasoning, the whole thinking block once signed, text, a tool call and its
    argument deltas at tool index 0, finish, usage, [DONE]."""
    out = run([STREAM])
    evs = events(out)
    assert evs[-1] == "[DONE]"
    assert all(e["id"] == "chatcmpl-msg_s" and e["model"] == "claude-s" for e in evs[:-1])
    assert deltas(out) == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": "Let me"},
        {"reasoning_content": " think."},
        {
            "thinking_blocks": [
                {"type": "thinking", "thinking": "Let me think.", "signature": "U0lH"}
            ]
        },
        {"content": "Hello"},
        {"content": " world"},
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "toolu_a",
                    "type": "function",
                    "function": {"name": "get", "arguments": ""},
                }
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]},
        {},
    ]
    finish, usage = evs[-3], evs[-2]
    assert finish["choices"][0]["finish_reason"] == "tool_calls"
    assert usage["choices"] == [] and usage["usage"]["prompt_tokens"] == 7
    assert usage["usage"]["completion_tokens"] == 42
    assert usage["usage"]["completion_tokens_details"]["reasoning_tokens"] == 9
    assert usage["usage"]["prompt_tokens_details"]["cached_tokens"] == 2


def test_stream_without_usage_asked_has_no_usage_chunk() -> None:
    evs = events(run([STREAM], include_usage=False))
    assert all("usage" not in e for e in evs if isinstance(e, dict))
    assert evs[-2]["choices"][0]["finish_reason"] == "tool_calls"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), max_size=12))
def test_stream_cut_anywhere_gives_the_same_events(cuts: list[int]) -> None:
    """Whatever the chunk boundaries (CRLF line endings too), the same events come out."""
    edges = [0, *sorted(set(cuts)), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in pairwise(edges)]
    expected = events(run([STREAM]))
    assert events(run(chunks)) == expected
    crlf = STREAM.replace(b"\n", b"\r\n")
    edges = [0, *sorted({c * 2 for c in cuts}), len(crlf)]
    assert events(run([crlf[a:b] for a, b in pairwise(edges)])) == expected


def test_stream_cut_at_every_single_offset() -> None:
    """Every two-chunk split of the stream translates to the same events."""
    expected = events(run([STREAM]))
    for i in range(1, len(STREAM)):
        assert events(run([STREAM[:i], STREAM[i:]])) == expected


def test_one_event_per_chunk_and_odd_framings_give_the_same_events() -> None:
    """One event a chunk (as Anthropic sends them), data without its space, a comment line,
    two events in one chunk: the same events as the stream read whole."""
    expected = events(run([STREAM]))
    blocks = [b + b"\n\n" for b in STREAM.split(b"\n\n") if b]
    assert events(run(blocks)) == expected
    odd = [b.replace(b"data: ", b"data:") for b in blocks]
    odd[1] = b": keep-alive\n" + odd[1]
    assert events(run([odd[0] + odd[1], *odd[2:]])) == expected


def test_json_object_stream_is_content() -> None:
    stream = b"".join(
        [
            START,
            sse(
                "content_block_start",
                {
                    "index": 0,
                    "content_block": {
                        "type": "tool_use",
                        "id": "t",
                        "name": "json_response",
                        "input": {},
                    },
                },
            ),
            delta(0, {"type": "input_json_delta", "partial_json": '{"a":'}),
            delta(0, {"type": "input_json_delta", "partial_json": "1}"}),
            sse("content_block_stop", {"index": 0}),
            sse(
                "message_delta",
                {"delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 3}},
            ),
            sse("message_stop", {}),
        ]
    )
    out = run([stream], include_usage=False, json_tool="json_response")
    assert deltas(out)[1:] == [{"content": '{"a":'}, {"content": "1}"}, {}]
    assert events(out)[-2]["choices"][0]["finish_reason"] == "stop"


def test_error_event_becomes_the_openai_error_event_and_ends_it() -> None:
    """An in-stream error is OpenAI's error event; nothing, [DONE] included, follows."""
    error = sse("error", {"error": {"type": "overloaded_error", "message": "Overloaded"}})
    out = run([START, error, STREAM[len(START) :]])
    evs = events(out)
    assert evs[-1] == (
        "error",
        {
            "error": {
                "message": "Overloaded",
                "type": "server_error",
                "param": None,
                "code": "overloaded",
            }
        },
    )
    assert "[DONE]" not in evs


@pytest.mark.parametrize(
    "chunks",
    [
        [START, b"event: content_block_delta\ndata: {not json}\n\n"],
        [b'event: message_start\ndata: {"type": 3}\n\n'],
        [b'data: {"type":"content_block_stop","index":0}\n\n'],  # before message_start
    ],
)
def test_unreadable_events_raise(chunks: list[bytes]) -> None:
    stream = MessagesStream(0, False, None)
    with pytest.raises(UpstreamProtocolError):
        for chunk in chunks:
            stream.feed(chunk)


def test_stream_that_ends_early_raises() -> None:
    """A stream cut before message_stop raises at its end (no [DONE])."""
    stream = MessagesStream(0, False, None)
    out = stream.feed(STREAM[: STREAM.index(b"event: message_stop")])
    assert b"[DONE]" not in out
    with pytest.raises(UpstreamProtocolError):
        stream.end()


def test_oversized_event_raises() -> None:
    stream = MessagesStream(0, False, None)
    stream.feed(START)
    with pytest.raises(UpstreamProtocolError):
        stream.feed(b"data: " + b"x" * (MAX_EVENT_BYTES + 1))
