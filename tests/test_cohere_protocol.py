"""The Cohere translation without I/O: OpenAI requests in, Cohere v2 bodies out; Cohere answers,
errors and streams (in chunks cut anywhere) in, OpenAI's out."""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastgw.errors import InvalidRequest, UpstreamProtocolError
from fastgw.protocols.cohere import (
    CohereStream,
    chat_answer,
    chat_body,
    embed_answer,
    embed_body,
    error,
)
from fastgw.protocols.openai.translate import decode_chat, decode_embeddings
from fastgw.protocols.sse import MAX_EVENT_BYTES

HI = [{"role": "user", "content": "hi"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
TIME = {"type": "function", "function": {"name": "time"}}


def cohere(**chat: Any) -> dict[str, Any]:
    """The Cohere body for an OpenAI chat request with ``chat``'s fields."""
    body = {"model": "public", "messages": HI, **chat}
    out: dict[str, Any] = msgspec.json.decode(
        chat_body(decode_chat(msgspec.json.encode(body)), "command-a")
    )
    return out


def refused(**chat: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as raised:
        cohere(**chat)
    return raised.value


def openai(status: int, body: bytes) -> tuple[int, dict[str, Any]]:
    code, out = chat_answer(status, body, "command-a", 1700000000)
    return code, msgspec.json.decode(out)


# -- requests --------------------------------------------------------------------------------


def test_plain_request_is_model_and_messages_only() -> None:
    """Nothing the client did not ask for is sent."""
    assert cohere() == {"model": "command-a", "messages": [{"role": "user", "content": "hi"}]}
    assert cohere(stream=True)["stream"] is True


def test_system_developer_and_multi_turn_messages() -> None:
    """system and developer become Cohere's system; turns keep their order and roles."""
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "No jokes."}]},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "again", "name": "ann"},
    ]
    assert cohere(messages=messages)["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "No jokes."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "hello"}]},
        {"role": "user", "content": "again"},
    ]


def test_images_by_url_and_data_url() -> None:
    """image_url parts pass as Cohere's image_url items: web URLs and data: URLs alike."""
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://x.test/cat.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    assert cohere(messages=[{"role": "user", "content": content}])["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://x.test/cat.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]


def test_unsupported_content_parts_are_refused() -> None:
    """Audio or file parts have no Cohere equivalent: a 400 naming messages."""
    audio = {"type": "input_audio", "input_audio": {"data": "AAA", "format": "wav"}}
    assert refused(messages=[{"role": "user", "content": [audio]}]).param == "messages"
    assert refused(messages=[{"role": "function", "name": "f", "content": "x"}])


def test_assistant_tool_calls_reasoning_and_tool_results() -> None:
    """An assistant turn with calls carries its text as tool_plan and its reasoning as a
    thinking item; a tool result keeps its call id."""
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
    }
    messages = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": "I will look it up.",
            "reasoning_content": "The user wants weather.",
            "tool_calls": [call],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "rain"}]},
    ]
    out = cohere(messages=messages, tools=[WEATHER])["messages"]
    assert out[1] == {
        "role": "assistant",
        "tool_calls": [call],
        "tool_plan": "I will look it up.",
        "content": [{"type": "thinking", "thinking": "The user wants weather."}],
    }
    assert out[2] == {"role": "tool", "tool_call_id": "c1", "content": "sunny"}
    assert out[3] == {
        "role": "tool",
        "tool_call_id": "c2",
        "content": [{"type": "text", "text": "rain"}],
    }


def test_tools_and_tool_choice() -> None:
    """auto is left out, none/required are Cohere's NONE/REQUIRED, a named function is
    REQUIRED with only that tool; strict tools ask for strict_tools."""
    tools = [WEATHER, TIME]
    auto = cohere(tools=tools, tool_choice="auto")
    assert "tool_choice" not in auto and [t["function"]["name"] for t in auto["tools"]] == [
        "weather",
        "time",
    ]
    assert auto["tools"][1]["function"]["parameters"] == {"type": "object", "properties": {}}
    assert auto["tools"][0] == WEATHER
    assert cohere(tools=tools, tool_choice="none")["tool_choice"] == "NONE"
    assert cohere(tools=tools, tool_choice="required")["tool_choice"] == "REQUIRED"
    named = cohere(tools=tools, tool_choice={"type": "function", "function": {"name": "time"}})
    assert named["tool_choice"] == "REQUIRED"
    assert [t["function"]["name"] for t in named["tools"]] == ["time"]
    assert refused(tools=tools, tool_choice={"type": "function", "function": {"name": "x"}})
    strict = {"type": "function", "function": {**WEATHER["function"], "strict": True}}  # type: ignore[dict-item]
    assert cohere(tools=[strict])["strict_tools"] is True
    assert "parallel_tool_calls" not in cohere(tools=tools, parallel_tool_calls=False)


def test_response_format() -> None:
    """json_object and json_schema are Cohere's json_object (with the schema)."""
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    assert cohere(response_format={"type": "json_object"})["response_format"] == {
        "type": "json_object"
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "A", "schema": schema, "strict": True}}
    assert cohere(response_format=fmt)["response_format"] == {
        "type": "json_object",
        "json_schema": schema,
    }
    assert "response_format" not in cohere(response_format={"type": "text"})


def test_sampling_fields() -> None:
    """max_completion_tokens wins over max_tokens; temperature, seed, stop, penalties pass;
    top_p is Cohere's p, 1.0 sent as its widest 0.99."""
    out = cohere(
        max_tokens=10,
        max_completion_tokens=20,
        temperature=0.2,
        top_p=0.5,
        seed=3,
        stop=["END", "STOP"],
        frequency_penalty=0.1,
        presence_penalty=0.2,
    )
    assert out["max_tokens"] == 20 and out["temperature"] == 0.2 and out["p"] == 0.5
    assert out["seed"] == 3 and out["stop_sequences"] == ["END", "STOP"]
    assert out["frequency_penalty"] == 0.1 and out["presence_penalty"] == 0.2
    assert cohere(max_tokens=7)["max_tokens"] == 7
    assert cohere(stop="END")["stop_sequences"] == ["END"]
    assert cohere(top_p=1.0)["p"] == 0.99


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": 2}, "n"),
        ({"top_p": 0.0}, "top_p"),
        ({"frequency_penalty": -0.5}, "frequency_penalty"),
        ({"presence_penalty": 1.5}, "presence_penalty"),
        ({"logprobs": True}, "logprobs"),
        ({"stop": ["a", "b", "c", "d", "e", "f"]}, "stop"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"tool_choice": "required"}, "tool_choice"),
    ],
)
def test_values_cohere_refuses_are_a_clear_400(fields: dict[str, Any], param: str) -> None:
    """What Cohere cannot take is refused before any upstream call, naming the field."""
    assert refused(**fields).param == param


def test_reasoning_effort_and_thinking() -> None:
    """reasoning_effort becomes a thinking token budget (none: thinking off); Anthropic's
    thinking parameter maps to Cohere's."""
    assert cohere(reasoning_effort="low")["thinking"] == {"type": "enabled", "token_budget": 1024}
    assert cohere(reasoning_effort="high")["thinking"] == {"type": "enabled", "token_budget": 16384}
    assert cohere(reasoning_effort="none")["thinking"] == {"type": "disabled"}
    given = {"type": "enabled", "budget_tokens": 2000}
    assert cohere(thinking=given)["thinking"] == {"type": "enabled", "token_budget": 2000}
    assert cohere(thinking={"type": "disabled"})["thinking"] == {"type": "disabled"}


def test_embed_body() -> None:
    """Texts, the input_type extension (default search_document), float, dimensions."""
    request = decode_embeddings(b'{"model":"e","input":"one","dimensions":256}')
    assert msgspec.json.decode(embed_body(request, "embed-v4.0")) == {
        "model": "embed-v4.0",
        "texts": ["one"],
        "input_type": "search_document",
        "embedding_types": ["float"],
        "output_dimension": 256,
    }
    query = decode_embeddings(b'{"model":"e","input":["a","b"],"input_type":"search_query"}')
    assert msgspec.json.decode(embed_body(query, "m"))["input_type"] == "search_query"
    with pytest.raises(InvalidRequest):
        embed_body(decode_embeddings(msgspec.json.encode({"model": "e", "input": ["x"] * 97})), "m")
    with pytest.raises(InvalidRequest):
        embed_body(decode_embeddings(b'{"model":"e","input":[1,2,3]}'), "m")


# -- answers ---------------------------------------------------------------------------------

TEXT_ANSWER = (
    b'{"id":"c0ffee","finish_reason":"COMPLETE","message":{"role":"assistant","content":'
    b'[{"type":"thinking","thinking":"Hmm."},{"type":"text","text":"Hello"},'
    b'{"type":"text","text":" there"}],"citations":[]},"usage":{"billed_units":'
    b'{"input_tokens":5,"output_tokens":2},"tokens":{"input_tokens":70,"output_tokens":2},'
    b'"cached_tokens":64},"extra":1}'
)
TOOL_ANSWER = (
    b'{"id":"t1","finish_reason":"TOOL_CALL","message":{"role":"assistant","tool_plan":'
    b'"I will check.","tool_calls":[{"id":"weather_0","type":"function","function":'
    b'{"name":"weather","arguments":"{\\"city\\":\\"Oslo\\"}"}},{"id":"time_1","type":'
    b'"function","function":{"name":"time","arguments":"{}"}}]},"usage":{"billed_units":'
    b'{"input_tokens":9,"output_tokens":12}}}'
)


def test_text_answer_with_thinking_and_cached_usage() -> None:
    """Text items joined, thinking as reasoning_content, usage from tokens, cached tokens."""
    status, out = openai(200, TEXT_ANSWER)
    assert status == 200 and out["id"] == "c0ffee" and out["object"] == "chat.completion"
    choice = out["choices"][0]
    assert choice["message"] == {
        "role": "assistant",
        "content": "Hello there",
        "reasoning_content": "Hmm.",
    }
    assert choice["finish_reason"] == "stop"
    assert out["usage"]["prompt_tokens"] == 70 and out["usage"]["completion_tokens"] == 2
    assert out["usage"]["prompt_tokens_details"]["cached_tokens"] == 64


def test_tool_call_answer_with_plan_and_billed_usage() -> None:
    """Tool calls as OpenAI's, the plan as content, usage from billed_units when no tokens."""
    _status, out = openai(200, TOOL_ANSWER)
    message = out["choices"][0]["message"]
    assert message["content"] == "I will check."
    assert message["tool_calls"] == [
        {
            "id": "weather_0",
            "type": "function",
            "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
        },
        {"id": "time_1", "type": "function", "function": {"name": "time", "arguments": "{}"}},
    ]
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert out["usage"]["prompt_tokens"] == 9 and out["usage"]["total_tokens"] == 21


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("COMPLETE", "stop"),
        ("STOP_SEQUENCE", "stop"),
        ("MAX_TOKENS", "length"),
        ("TOOL_CALL", "tool_calls"),
    ],
)
def test_finish_reasons(reason: str, finish: str) -> None:
    body = b'{"id":"x","finish_reason":"%s","message":{"content":[]}}' % reason.encode()
    _status, out = openai(200, body)
    assert out["choices"][0]["finish_reason"] == finish
    assert out["choices"][0]["message"]["content"] is None
    assert out["usage"]["total_tokens"] == 0


def test_error_and_timeout_finishes_are_errors() -> None:
    """finish_reason ERROR is a retryable 500, TIMEOUT a 504."""
    assert openai(200, b'{"id":"x","finish_reason":"ERROR","message":{}}')[0] == 500
    status, out = openai(200, b'{"id":"x","finish_reason":"TIMEOUT","message":{}}')
    assert status == 504 and out["error"]["code"] == "timeout"


def test_unreadable_answer_is_a_protocol_error() -> None:
    for body in (b"not json", b'{"id":3}', b"[]"):
        status, out = openai(200, body)
        assert status == 502 and out["error"]["code"] == "upstream_protocol_error"


@pytest.mark.parametrize(
    ("status", "message", "code", "kind"),
    [
        (400, "invalid request: message must not be empty", 400, None),
        (400, "too many tokens: size limit exceeded", 400, "context_length_exceeded"),
        (
            400,
            "blocked output: the request violates our usage guidelines",
            400,
            "content_policy_violation",
        ),
        (401, "invalid api token", 401, "invalid_api_key"),
        (402, "Please add a payment method", 429, "rate_limit_exceeded"),
        (403, "forbidden", 403, None),
        (404, "model not found", 404, "model_not_found"),
        (422, "unprocessable", 400, None),
        (429, "trial key limit", 429, "rate_limit_exceeded"),
        (498, "invalid api token", 401, "invalid_api_key"),
        (499, "request cancelled", 500, None),
        (500, "internal server error", 500, None),
        (503, "service unavailable", 503, "overloaded"),
        (504, "gateway timeout", 504, "timeout"),
    ],
)
def test_errors_keep_cohere_message_with_openai_status(
    status: int, message: str, code: int, kind: str | None
) -> None:
    """Cohere's {"id", "message"} errors become OpenAI's with the status routing expects."""
    got, body = error(status, msgspec.json.encode({"id": "e1", "message": message}))
    out = msgspec.json.decode(body)
    assert got == code and out["error"]["code"] == kind
    assert message in out["error"]["message"]
    assert chat_answer(status, msgspec.json.encode({"message": message}), "m", 1)[0] == code


def test_error_body_that_is_not_json_is_quoted() -> None:
    got, body = error(502, b"<html>Bad Gateway</html>")
    assert got == 500 and b"Bad Gateway" in body
    assert error(503, b"")[0] == 503


def test_embeddings_answer_float_and_base64() -> None:
    """Cohere's float embeddings as OpenAI's list; base64 packs float32; billed tokens."""
    body = (
        b'{"id":"e","embeddings":{"float":[[0.5,-1.0],[0.25,2.0]]},"texts":["a","b"],'
        b'"meta":{"api_version":{"version":"2"},"billed_units":{"input_tokens":4}},'
        b'"response_type":"embeddings_by_type"}'
    )
    status, out = embed_answer(200, body, "embed-v4.0", "float")
    decoded = msgspec.json.decode(out)
    assert status == 200 and [d["embedding"] for d in decoded["data"]] == [[0.5, -1.0], [0.25, 2.0]]
    assert decoded["usage"] == {"prompt_tokens": 4, "total_tokens": 4}
    _, packed = embed_answer(200, body, "embed-v4.0", "base64")
    assert msgspec.json.decode(packed)["data"][0]["embedding"] == "AAAAPwAAgL8="
    assert embed_answer(200, b'{"embeddings":{}}', "m", "float")[0] == 502
    assert embed_answer(429, b'{"message":"slow"}', "m", "float")[0] == 429


# -- streams ---------------------------------------------------------------------------------


def ev(data: bytes) -> bytes:
    kind = msgspec.json.decode(data)["type"].encode()
    return b"event: " + kind + b"\ndata: " + data + b"\n\n"


START = ev(
    b'{"id":"s1","type":"message-start","delta":{"message":{"role":"assistant","content":[],'
    b'"tool_plan":"","tool_calls":[],"citations":[]}}}'
)
TEXT_STREAM = [
    START,
    ev(
        b'{"type":"content-start","index":0,"delta":{"message":{"content":{"type":"thinking","thinking":""}}}}'
    ),
    ev(b'{"type":"content-delta","index":0,"delta":{"message":{"content":{"thinking":"Hmm"}}}}'),
    ev(b'{"type":"content-end","index":0}'),
    ev(
        b'{"type":"content-start","index":1,"delta":{"message":{"content":{"type":"text","text":""}}}}'
    ),
    ev(
        b'{"type":"content-delta","index":1,"delta":{"message":{"content":{"text":"Hel"}}},"logprobs":null}'
    ),
    ev(b'{"type":"content-delta","index":1,"delta":{"message":{"content":{"text":"lo \\u00e9"}}}}'),
    ev(
        b'{"type":"citation-start","index":0,"delta":{"message":{"citations":{"start":0,"end":2}}}}'
    ),
    ev(b'{"type":"citation-end","index":0}'),
    ev(b'{"type":"content-end","index":1}'),
    ev(
        b'{"type":"message-end","delta":{"finish_reason":"COMPLETE","usage":{"billed_units":'
        b'{"input_tokens":3,"output_tokens":3},"tokens":{"input_tokens":50,"output_tokens":3}}}}'
    ),
]
TOOL_STREAM = [
    START,
    ev(b'{"type":"tool-plan-delta","delta":{"message":{"tool_plan":"I will"}}}'),
    ev(b'{"type":"tool-plan-delta","delta":{"message":{"tool_plan":" check."}}}'),
    ev(
        b'{"type":"tool-call-start","index":0,"delta":{"message":{"tool_calls":{"id":"w0",'
        b'"type":"function","function":{"name":"weather","arguments":""}}}}}'
    ),
    ev(
        b'{"type":"tool-call-delta","index":0,"delta":{"message":{"tool_calls":{"function":{"arguments":"{\\"ci"}}}}}'
    ),
    ev(
        b'{"type":"tool-call-delta","index":0,"delta":{"message":{"tool_calls":{"function":{"arguments":"ty\\":\\"Oslo\\"}"}}}}}'
    ),
    ev(b'{"type":"tool-call-end","index":0}'),
    ev(
        b'{"type":"tool-call-start","index":1,"delta":{"message":{"tool_calls":{"id":"t1",'
        b'"type":"function","function":{"name":"time","arguments":"{}"}}}}}'
    ),
    ev(b'{"type":"tool-call-end","index":1}'),
    ev(
        b'{"type":"message-end","delta":{"finish_reason":"TOOL_CALL","usage":{"tokens":{"input_tokens":9,"output_tokens":20}}}}'
    ),
]


def run(chunks: list[bytes], include_usage: bool = False) -> bytes:
    stream = CohereStream("chatcmpl-x", "command-a", 1700000000, include_usage)
    out = b"".join(stream.feed(chunk) for chunk in chunks)
    return out + stream.end()


def events(out: bytes) -> list[Any]:
    """The JSON of each ``data:`` event (``[DONE]`` as the string)."""
    parts = [block.removeprefix(b"data: ") for block in out.split(b"\n\n") if block]
    return [p.decode() if p == b"[DONE]" else msgspec.json.decode(p) for p in parts]


def deltas(out: bytes) -> list[dict[str, Any]]:
    return [
        e["choices"][0]["delta"] for e in events(out)[:-1] if isinstance(e, dict) and e["choices"]
    ]


def test_text_stream_with_thinking() -> None:
    """Role, reasoning, text deltas as they came, finish stop, [DONE]; citations skipped."""
    out = run(TEXT_STREAM)
    got = events(out)
    assert got[-1] == "[DONE]"
    assert all(e["id"] == "s1" and e["model"] == "command-a" for e in got[:-1])
    assert deltas(out) == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": "Hmm"},
        {"content": "Hel"},
        {"content": "lo é"},
        {},
    ]
    assert got[-2]["choices"][0]["finish_reason"] == "stop"
    assert "usage" not in got[-2]


def test_usage_chunk_only_when_asked() -> None:
    """include_usage: every chunk has usage null, then a choice-less usage chunk."""
    got = events(run(TEXT_STREAM, include_usage=True))
    assert got[-1] == "[DONE]"
    assert got[-2]["choices"] == [] and got[-2]["usage"]["prompt_tokens"] == 50
    assert got[-2]["usage"]["completion_tokens"] == 3
    assert all(e["usage"] is None for e in got[:-2])


def test_tool_call_stream_indexes_and_argument_deltas() -> None:
    """Plan as content, each tool-call-start a new index, arguments forwarded piece by piece."""
    assert deltas(run(TOOL_STREAM)) == [
        {"role": "assistant", "content": ""},
        {"content": "I will"},
        {"content": " check."},
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "w0",
                    "type": "function",
                    "function": {"name": "weather", "arguments": ""},
                }
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": 'ty":"Oslo"}'}}]},
        {
            "tool_calls": [
                {
                    "index": 1,
                    "id": "t1",
                    "type": "function",
                    "function": {"name": "time", "arguments": ""},
                }
            ]
        },
        {"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]},
        {},
    ]
    assert events(run(TOOL_STREAM))[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_error_finish_is_an_error_event_without_done() -> None:
    """message-end with ERROR: OpenAI's SSE error event, nothing after it, end() quiet."""
    end = ev(b'{"type":"message-end","delta":{"finish_reason":"ERROR","error":"model crashed"}}')
    out = run([*TEXT_STREAM[:3], end, TEXT_STREAM[5]])
    assert out.endswith(b"\n\n") and b"[DONE]" not in out
    last = out.split(b"\n\n")[-2]
    assert last.startswith(b"event: error\ndata: ")
    assert b"model crashed" in last and b"server_error" in last
    timeout = ev(b'{"type":"message-end","delta":{"finish_reason":"TIMEOUT"}}')
    assert b'"code":"timeout"' in run([START, timeout])


def test_stream_ending_before_message_end_raises() -> None:
    stream = CohereStream("x", "m", 1, False)
    stream.feed(b"".join(TEXT_STREAM[:-1]))
    with pytest.raises(UpstreamProtocolError):
        stream.end()


@pytest.mark.parametrize(
    "bad",
    [
        b"event: content-delta\ndata: {not json\n\n",
        ev(b'{"type":"content-delta","delta":{"message":{"content":7}}}'),
        ev(
            b'{"type":"tool-call-delta","delta":{"message":{"tool_calls":'
            b'{"function":{"arguments":"x"}}}}}'
        ),
    ],
)
def test_unreadable_events_raise(bad: bytes) -> None:
    """Invalid JSON, a wrong shape, arguments with no call started: a protocol error."""
    stream = CohereStream("x", "m", 1, False)
    stream.feed(START)
    with pytest.raises(UpstreamProtocolError):
        stream.feed(bad)


def test_oversized_event_raises() -> None:
    stream = CohereStream("x", "m", 1, False)
    with pytest.raises(UpstreamProtocolError):
        stream.feed(b"data: " + b"x" * (MAX_EVENT_BYTES + 10))


def test_done_crlf_and_events_after_finish_are_ignored() -> None:
    """A [DONE] line is skipped; CRLF framing reads the same; nothing follows [DONE]."""
    crlf = [e.replace(b"\n", b"\r\n") for e in TEXT_STREAM]
    assert run([*crlf, b"data: [DONE]\r\n\r\n", TEXT_STREAM[5]]) == run(TEXT_STREAM)


WHOLE = b"".join(TOOL_STREAM)


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
def test_every_single_cut_gives_the_same_events(newline: bytes) -> None:
    """The stream, with any line ending, cut in two at every byte offset translates to the
    same bytes."""
    whole = WHOLE.replace(b"\n", newline)
    expected = run([WHOLE], include_usage=True)
    for i in range(len(whole) + 1):
        assert run([whole[:i], whole[i:]], include_usage=True) == expected


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(WHOLE)), max_size=12))
def test_any_cuts_give_the_same_events(cuts: list[int]) -> None:
    """The stream cut anywhere, many times, translates to the same bytes."""
    points = [0, *sorted(cuts), len(WHOLE)]
    chunks = [WHOLE[a:b] for a, b in itertools.pairwise(points)]
    assert run(chunks) == run([WHOLE])


def test_unusual_sse_framing_reads_the_same() -> None:
    """Data split over several data lines, other fields after it, no space after the colon,
    comments and events without data: all read per the SSE spec."""
    delta = b'{"type":"content-delta","index":0,"delta":{"message":{"content":{"text":"Hel"}}}}'
    split = delta.replace(b'"index":0,', b'"index":0,\ndata: ')
    framings = [
        b"event: content-delta\ndata: " + split + b"\n\n",
        b"event: content-delta\ndata: " + delta + b"\nid: 7\nretry: 10\n\n",
        b"data:" + delta + b"\n\n",
        b": keep-alive\n\nevent: ping\n\n" + b"data: " + delta + b"\n\n",
    ]
    expected = run([START, ev(delta), TEXT_STREAM[-1]])
    for framing in framings:
        assert run([START, framing, TEXT_STREAM[-1]]) == expected
