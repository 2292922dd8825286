"""The Anthropic Messages API inbound, sans-IO: a client's Messages body as an OpenAI chat body,
an OpenAI answer, error and stream as Anthropic's, with byte literals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from fastgw import Gateway, parse_config
from fastgw.errors import InvalidRequest, MalformedJSON
from fastgw.protocols.anthropic import messages_request
from fastgw.protocols.anthropic.front_answer import anthropic_error, translate_answer
from fastgw.protocols.anthropic.front_passthrough import rename_model
from fastgw.protocols.anthropic.front_request import effort_of, translate_request
from fastgw.protocols.anthropic.front_stream import MessagesFrontStream
from fastgw.protocols.openai.translate import decode_chat
from fastgw.protocols.sse import SSEParser
from fastgw.testing.rsgi import RSGIClient
from tests.conftest import DEV_KEY, mock_config

CACHE = {"type": "ephemeral"}
SIG = "c2lnbmF0dXJl"

FULL = (
    b'{"model":"claude","max_tokens":300,"stream":true,'
    b'"system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],'
    b'"messages":['
    b'{"role":"user","content":[{"type":"text","text":"Weather?"},'
    b'{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBO"}},'
    b'{"type":"image","source":{"type":"url","url":"https://img.test/a.png"}}]},'
    b'{"role":"assistant","content":[{"type":"thinking","thinking":"Use the tool.",'
    b'"signature":"c2lnbmF0dXJl"},{"type":"redacted_thinking","data":"ZW5j"},'
    b'{"type":"text","text":"Checking."},'
    b'{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city": "Paris"}}]},'
    b'{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1",'
    b'"content":[{"type":"text","text":"Sunny"},'
    b'{"type":"image","source":{"type":"url","url":"https://img.test/map.png"}}],'
    b'"cache_control":{"type":"ephemeral"}},{"type":"text","text":"And tomorrow?"}]}],'
    b'"tools":[{"name":"get_weather","description":"The weather.",'
    b'"input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}],'
    b'"tool_choice":{"type":"any","disable_parallel_tool_use":true},'
    b'"stop_sequences":["END"],"temperature":0.5,"top_p":0.9,"top_k":5,'
    b'"metadata":{"user_id":"u-1"},"thinking":{"type":"enabled","budget_tokens":2048}}'
)


def chat_of(body: bytes) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.json.decode(translate_request(body)[1])
    return result


def test_a_full_request_translates_field_by_field() -> None:
    """System blocks with cache_control, images, thinking, tool_use, tool_result (its image
    after it), tools, tool_choice, stop, user, thinking and effort, the stream's usage."""
    chat = chat_of(FULL)
    assert chat["messages"] == [
        {
            "role": "system",
            "content": [{"type": "text", "text": "Be brief.", "cache_control": CACHE}],
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
                {"type": "image_url", "image_url": {"url": "https://img.test/a.png"}},
            ],
        },
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
            "reasoning_content": "Use the tool.",
            "thinking_blocks": [
                {"type": "thinking", "thinking": "Use the tool.", "signature": SIG},
                {"type": "redacted_thinking", "data": "ZW5j"},
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "toolu_1",
            "content": [{"type": "text", "text": "Sunny"}],
            "cache_control": CACHE,
        },
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "https://img.test/map.png"}},
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ]
    assert chat["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather.",
                "parameters": {"type": "object"},
            },
            "cache_control": CACHE,
        }
    ]
    assert chat["tool_choice"] == "required" and chat["parallel_tool_calls"] is False
    assert chat["stop"] == ["END"] and chat["user"] == "u-1" and "top_k" not in chat
    assert (chat["temperature"], chat["top_p"], chat["max_tokens"]) == (0.5, 0.9, 300)
    assert chat["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert chat["reasoning_effort"] == "low"
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}


def test_an_anthropic_upstream_gets_signatures_and_cache_markers_back() -> None:
    """The translated body, read by the anthropic provider, gives Anthropic the client's
    thinking blocks (signature untouched), cache markers and thinking budget again."""
    sent = msgspec.json.decode(
        messages_request(decode_chat(translate_request(FULL)[1]), "m", 9).body
    )
    assert sent["system"] == [{"type": "text", "text": "Be brief.", "cache_control": CACHE}]
    assistant = sent["messages"][1]["content"]
    assert assistant[0] == {"type": "thinking", "thinking": "Use the tool.", "signature": SIG}
    assert assistant[1] == {"type": "redacted_thinking", "data": "ZW5j"}
    assert assistant[-1] == {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "get_weather",
        "input": {"city": "Paris"},
    }
    result = sent["messages"][2]["content"][0]
    assert result["tool_use_id"] == "toolu_1" and result["cache_control"] == CACHE
    assert sent["tools"][0]["cache_control"] == CACHE
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert sent["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}


def test_plain_strings_and_choices() -> None:
    chat = chat_of(
        b'{"model":"m","max_tokens":5,"system":"Hi.","messages":[{"role":"user","content":"a"},'
        b'{"role":"assistant","content":"b"}],"tool_choice":{"type":"tool","name":"f"}}'
    )
    assert chat["messages"] == [
        {"role": "system", "content": "Hi."},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
    ]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert "stream" not in chat and "thinking" not in chat


@pytest.mark.parametrize(
    ("thinking", "effort"),
    [
        (None, None),
        ({"type": "disabled"}, None),
        ({"type": "enabled", "budget_tokens": 1024}, "low"),
        ({"type": "enabled", "budget_tokens": 4096}, "medium"),
        ({"type": "enabled", "budget_tokens": 32000}, "high"),
    ],
)
def test_thinking_budget_maps_to_effort(thinking: Any, effort: str | None) -> None:
    assert effort_of(thinking) == effort


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"model":"m","messages":[{"role":"user","content":"a"}]}', "max_tokens: Field required"),
        (b'{"model":"m","max_tokens":0,"messages":[]}', "max_tokens"),
        (b'{"model":"m","max_tokens":5}', "messages"),
        (b'{"model":"m","max_tokens":5,"messages":[{"role":"system","content":"a"}]}', "role"),
        (
            b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"document",'
            b'"source":{"type":"base64","media_type":"application/pdf","data":"JVBE"}}]}]}',
            "document",
        ),
        (
            b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image",'
            b'"source":{"type":"file","file_id":"f"}}]}]}',
            "source",
        ),
        (
            b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"}],'
            b'"tools":[{"type":"web_search_20250305","name":"web_search"}]}',
            "server tools",
        ),
        (
            b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"}],'
            b'"tool_choice":{"type":"tool"}}',
            "tool_choice",
        ),
        (
            b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_use",'
            b'"id":"x","name":"f","input":{}}]}]}',
            "tool_use",
        ),
    ],
)
def test_what_cannot_be_served_is_a_400_naming_it(body: bytes, words: str) -> None:
    with pytest.raises(InvalidRequest, match=words):
        translate_request(body)


def test_malformed_json_is_a_400() -> None:
    with pytest.raises(MalformedJSON):
        translate_request(b'{"model": ')


def test_a_plain_text_document_is_text() -> None:
    chat = chat_of(
        b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"document",'
        b'"source":{"type":"text","media_type":"text/plain","data":"The doc."}}]}]}'
    )
    assert chat["messages"][0]["content"] == [{"type": "text", "text": "The doc."}]


# -- answers --------------------------------------------------------------------------------------

COMPLETION = (
    b'{"id":"chatcmpl-msg_01AB","object":"chat.completion","created":1,"model":"claude-x",'
    b'"choices":[{"index":0,"message":{"role":"assistant","content":"Let me check.",'
    b'"reasoning_content":"Think.","thinking_blocks":[{"type":"thinking","thinking":"Think.",'
    b'"signature":"c2ln"}],"tool_calls":[{"id":"toolu_9","type":"function","function":'
    b'{"name":"get_weather","arguments":"{\\"city\\":\\"Paris\\"}"}}]},'
    b'"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":100,"completion_tokens":20,'
    b'"total_tokens":120,"prompt_tokens_details":{"cached_tokens":60,'
    b'"cache_creation_tokens":30}}}'
)


def test_a_completion_becomes_a_message() -> None:
    """Thinking (signature kept), text, tool_use with the parsed input, stop reason and the
    usage split as Anthropic counts it."""
    status, body = translate_answer(200, COMPLETION)
    assert status == 200
    assert body == (
        b'{"id":"msg_01AB","type":"message","role":"assistant","model":"claude-x","content":['
        b'{"type":"thinking","thinking":"Think.","signature":"c2ln"},'
        b'{"type":"text","text":"Let me check."},'
        b'{"type":"tool_use","id":"toolu_9","name":"get_weather","input":{"city":"Paris"}}],'
        b'"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":10,'
        b'"output_tokens":20,"cache_read_input_tokens":60,"cache_creation_input_tokens":30}}'
    )


@pytest.mark.parametrize(
    ("finish", "stop"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("content_filter", "refusal"),
        (None, "end_turn"),
    ],
)
def test_finish_reasons(finish: str | None, stop: str) -> None:
    body = msgspec.json.encode(
        {
            "id": "chatcmpl-1",
            "model": "m",
            "choices": [{"message": {"content": "x"}, "finish_reason": finish}],
        }
    )
    message = msgspec.json.decode(translate_answer(200, body)[1])
    assert message["stop_reason"] == stop and message["id"] == "msg_1"


def test_bad_arguments_and_unreadable_answers() -> None:
    body = (
        b'{"id":"x","model":"m","choices":[{"message":{"content":null,"tool_calls":[{"id":"t",'
        b'"function":{"name":"f","arguments":"not json"}}]},"finish_reason":"tool_calls"}]}'
    )
    message = msgspec.json.decode(translate_answer(200, body)[1])
    assert message["content"] == [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]
    assert translate_answer(200, b"<html>")[0] == 502
    assert translate_answer(200, b'{"choices":[]}')[0] == 502


@pytest.mark.parametrize(
    ("status", "want", "kind"),
    [
        (400, 400, "invalid_request_error"),
        (401, 401, "authentication_error"),
        (403, 403, "permission_error"),
        (404, 404, "not_found_error"),
        (405, 405, "invalid_request_error"),
        (413, 413, "request_too_large"),
        (429, 429, "rate_limit_error"),
        (500, 500, "api_error"),
        (502, 502, "api_error"),
        (503, 529, "overloaded_error"),
        (504, 504, "timeout_error"),
    ],
)
def test_errors_take_anthropics_shape_and_status(status: int, want: int, kind: str) -> None:
    openai = b'{"error":{"message":"Nope.","type":"x","param":null,"code":null}}'
    got, body = anthropic_error(status, openai)
    assert got == want
    assert body == b'{"type":"error","error":{"type":"%s","message":"Nope."}}' % kind.encode()
    assert translate_answer(status, openai) == (got, body)


def test_an_unreadable_error_keeps_its_text() -> None:
    assert anthropic_error(502, b"Bad gateway") == (
        502,
        b'{"type":"error","error":{"type":"api_error","message":"Bad gateway"}}',
    )


# -- streams --------------------------------------------------------------------------------------


def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-msg_7",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "claude-x",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + msgspec.json.encode(body) + b"\n\n"


USAGE_CHUNK = (
    b'data: {"id":"chatcmpl-msg_7","object":"chat.completion.chunk","created":1,"model":'
    b'"claude-x","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":12,'
    b'"total_tokens":62,"prompt_tokens_details":{"cached_tokens":40}}}\n\n'
)
OPENAI_STREAM = b"".join(
    [
        chunk({"role": "assistant", "content": ""}),
        chunk({"reasoning_content": "Hmm"}),
        chunk({"reasoning_content": ", tools."}),
        chunk(
            {"thinking_blocks": [{"type": "thinking", "thinking": "Hmm, tools.", "signature": SIG}]}
        ),
        chunk({"content": "Checking"}),
        chunk({"content": "."}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "f", "arguments": ""},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
        chunk({}, "tool_calls"),
        USAGE_CHUNK,
        b"data: [DONE]\n\n",
    ]
)


def events(raw: bytes) -> list[tuple[str, Any]]:
    return [(e.event, msgspec.json.decode(e.data)) for e in SSEParser().feed(raw)]


def block_delta(index: int, delta: dict[str, Any]) -> tuple[str, Any]:
    return ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})


def start(index: int, block: dict[str, Any]) -> tuple[str, Any]:
    return (
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": block},
    )


def stop(index: int) -> tuple[str, Any]:
    return ("content_block_stop", {"type": "content_block_stop", "index": index})


EXPECTED: list[tuple[str, Any]] = [
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_7",
                "type": "message",
                "role": "assistant",
                "model": "claude-x",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 42, "output_tokens": 0},
            },
        },
    ),
    ("ping", {"type": "ping"}),
    start(0, {"type": "thinking", "thinking": "", "signature": ""}),
    block_delta(0, {"type": "thinking_delta", "thinking": "Hmm"}),
    block_delta(0, {"type": "thinking_delta", "thinking": ", tools."}),
    block_delta(0, {"type": "signature_delta", "signature": SIG}),
    stop(0),
    start(1, {"type": "text", "text": ""}),
    block_delta(1, {"type": "text_delta", "text": "Checking"}),
    block_delta(1, {"type": "text_delta", "text": "."}),
    stop(1),
    start(2, {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}),
    block_delta(2, {"type": "input_json_delta", "partial_json": '{"a":'}),
    block_delta(2, {"type": "input_json_delta", "partial_json": "1}"}),
    stop(2),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {
                "input_tokens": 10,
                "output_tokens": 12,
                "cache_read_input_tokens": 40,
                "cache_creation_input_tokens": 0,
            },
        },
    ),
    ("message_stop", {"type": "message_stop"}),
]


def test_a_stream_becomes_anthropics_event_sequence() -> None:
    """message_start and ping, thinking then its signature, text, a tool call's argument
    fragments as they came, message_delta with the usage chunk's numbers, message_stop."""
    front = MessagesFrontStream(42)
    out = front.feed(OPENAI_STREAM)
    assert events(out) == EXPECTED
    assert front.end() == b""
    assert front.feed(chunk({"content": "late"})) == b""


def test_a_stream_cut_at_every_byte_gives_the_same_events() -> None:
    whole = MessagesFrontStream(42).feed(OPENAI_STREAM)
    for cut in range(1, len(OPENAI_STREAM)):
        front = MessagesFrontStream(42)
        assert front.feed(OPENAI_STREAM[:cut]) + front.feed(OPENAI_STREAM[cut:]) == whole, cut


def test_each_delta_goes_out_with_its_chunk() -> None:
    """Nothing is held: the chunk that carries a text delta returns it."""
    front = MessagesFrontStream()
    front.feed(chunk({"role": "assistant", "content": ""}))
    assert b'"text_delta","text":"Hi"' in front.feed(chunk({"content": "Hi"}))
    call = {"index": 0, "id": "t", "function": {"name": "f", "arguments": '{"x'}}
    assert b'"partial_json":"{\\"x"' in front.feed(chunk({"tool_calls": [call]}))


def test_an_error_event_ends_the_stream_with_anthropics_error() -> None:
    front = MessagesFrontStream()
    head = front.feed(chunk({"role": "assistant", "content": "Hel"}))
    error = (
        b'event: error\ndata: {"error":{"message":"Overloaded","type":"server_error",'
        b'"param":null,"code":"overloaded"}}\n\n'
    )
    out = front.feed(error + b"data: [DONE]\n\n")
    assert events(head)[-1][0] == "content_block_delta"
    assert (
        out == b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
        b'"message":"Overloaded"}}\n\n'
    )
    assert front.feed(chunk({"content": "more"})) == b"" and front.end() == b""


def test_a_stream_that_just_ends_ends_with_an_error() -> None:
    front = MessagesFrontStream()
    front.feed(chunk({"content": "Hel"}))
    assert events(front.end()) == [
        (
            "error",
            {
                "type": "error",
                "error": {
                    "type": "api_error",
                    "message": "The upstream's stream ended before the message did.",
                },
            },
        )
    ]


def test_a_redacted_block_and_an_unstreamed_thinking_block() -> None:
    front = MessagesFrontStream()
    blocks = [
        {"type": "redacted_thinking", "data": "ZW5j"},
        {"type": "thinking", "thinking": "Whole.", "signature": "c2ln"},
    ]
    got = events(
        front.feed(chunk({"thinking_blocks": blocks}) + chunk({}, "stop") + b"data: [DONE]\n\n")
    )
    kinds = [
        (name, data.get("index"), data.get("delta", data.get("content_block")))
        for name, data in got
    ]
    assert kinds[2:8] == [
        ("content_block_start", 0, {"type": "redacted_thinking", "data": "ZW5j"}),
        ("content_block_stop", 0, None),
        ("content_block_start", 1, {"type": "thinking", "thinking": "", "signature": ""}),
        ("content_block_delta", 1, {"type": "thinking_delta", "thinking": "Whole."}),
        ("content_block_delta", 1, {"type": "signature_delta", "signature": "c2ln"}),
        ("content_block_stop", 1, None),
    ]


def test_output_config_and_top_level_cache_control() -> None:
    """output_config.format is a json_schema response_format, its effort a reasoning effort;
    the top-level cache_control marks the last message (its last block, for Anthropic)."""
    body = (
        b'{"model":"m","max_tokens":5,"cache_control":{"type":"ephemeral"},'
        b'"messages":[{"role":"user","content":"a"}],"output_config":{"effort":"max",'
        b'"format":{"type":"json_schema","schema":{"type":"object"}}}}'
    )
    chat = chat_of(body)
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": {"type": "object"}},
    }
    assert chat["reasoning_effort"] == "high"
    assert chat["messages"][-1]["cache_control"] == CACHE
    sent = msgspec.json.decode(
        messages_request(decode_chat(translate_request(body)[1]), "m", 9).body
    )
    assert sent["messages"][0]["content"][-1]["cache_control"] == CACHE
    assert sent["output_config"] == {
        "format": {"type": "json_schema", "schema": {"type": "object"}}
    }


# -- byte for byte to an Anthropic upstream ---------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"model":"claude","max_tokens":5,"messages":[]}',
        b'{ "max_tokens" : 5 ,\n  "messages": [{"role": "user", "content": "model"}],\n'
        b'  "tools": [{"name": "f", "input_schema": {"model": "x"}}],  "model" :\t"claude" }',
        b'{"metadata":{"model":"claude"},"model":"claude","top_k":5,"x":1.50}',
    ],
)
def test_only_the_top_level_model_changes(body: bytes) -> None:
    out = rename_model(body, "claude-haiku-4-5")
    assert msgspec.json.decode(out)["model"] == "claude-haiku-4-5"
    assert len(out) - len(body) == len("claude-haiku-4-5") - len("claude")
    i = out.find(b'"claude-haiku-4-5"')
    assert out[:i] + b'"claude"' + out[i + 18 :] == body


def test_a_body_the_walk_cannot_follow_keeps_its_values() -> None:
    """A key written with an escape: the values keep their bytes, the model is renamed."""
    body = b'{"\\u006dodel": "claude", "top_k": 5}'
    assert msgspec.json.decode(rename_model(body, "m2")) == {"model": "m2", "top_k": 5}


# -- hostile bodies, in process -------------------------------------------------------------------

HOSTILE = [
    b"[]",
    b"null",
    b'{"model": 5, "max_tokens": 5, "messages": []}',
    b'{"model": "gpt-test", "max_tokens": 5, "messages": "hi"}',
    b'{"model": "gpt-test", "max_tokens": 5, "messages": [{"role": "user", "content": [5]}]}',
    b'{"model": "gpt-test", "max_tokens": 5, "messages": [{"role": "user", "content": [{}]}]}',
    b'{"model": "gpt-test", "max_tokens": -1, "messages": [{"role": "user", "content": "a"}]}',
    b'{"model": "gpt-test", "max_tokens": 1e400, "messages": []}',
    b'{"model": "gpt-test", "max_tokens": 5, "messages": [{"role": "assistant", "content": '
    b'[{"type": "tool_use", "id": "t", "name": "f", "input": '
    + b"[" * 5000
    + b"]" * 5000
    + b"}]}]}",
    b'{"model": "gpt-test", "max_tokens": 5, "system": [{"type": "image"}], "messages": []}',
    b'{"model": "gpt-test", "max_tokens": 5, "thinking": "yes", "messages": []}',
    b"\xff\xfe not json",
    b"",
]


@pytest.fixture(scope="module")
def gateway() -> Iterator[RSGIClient]:
    app = Gateway(parse_config(mock_config(), "mock.toml", {}))
    with RSGIClient(app) as client:
        yield client


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
@pytest.mark.parametrize("body", HOSTILE)
def test_hostile_bodies_are_anthropic_400s(gateway: RSGIClient, path: str, body: bytes) -> None:
    """Whatever the body, a 400 in Anthropic's shape: never a 500, never OpenAI's shape."""
    headers = {"x-api-key": DEV_KEY, "content-type": "application/json"}
    response = gateway.post(path, headers=headers, body=body)
    assert response.status == 400, response.body
    error = response.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"


def test_anthropic_version_and_beta_headers_are_accepted(gateway: RSGIClient) -> None:
    headers = {"x-api-key": DEV_KEY, "anthropic-version": "1999-01-01", "anthropic-beta": "any"}
    body = {"model": "gpt-test", "max_tokens": 8, "messages": [{"role": "user", "content": "a"}]}
    response = gateway.post("/v1/messages", headers=headers, json=body)
    assert response.status == 200 and response.json()["type"] == "message"
