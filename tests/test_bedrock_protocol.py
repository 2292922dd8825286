"""Bedrock's protocol, sans-IO: OpenAI chat requests as Converse bodies, Converse answers and
ConverseStream event streams (binary frames cut anywhere) as OpenAI's answers and chunks,
Bedrock's errors as OpenAI's, embeddings through InvokeModel, and Bedrock model ids priced."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from typing import Any

import msgspec
import pytest
from botocore.eventstream import EventStreamBuffer
from hypothesis import given, settings
from hypothesis import strategies as st

from fastgw.errors import InvalidRequest, UpstreamProtocolError
from fastgw.pricing import PriceTable
from fastgw.protocols.bedrock import ChatTranslation, EmbeddingTranslation, model_path
from fastgw.protocols.bedrock.embeddings import embeddings_request
from fastgw.protocols.bedrock.errors import error_kind
from fastgw.protocols.bedrock.eventstream import FrameReader
from fastgw.protocols.bedrock.request import converse_request
from fastgw.protocols.openai.translate import decode_chat, decode_embeddings
from fastgw.protocols.sse import MAX_EVENT_BYTES
from fastgw.testing.bedrock_upstream import event, exception_frame, frame

CLAUDE = "us.anthropic.claude-sonnet-4-20250514-v1:0"
NOVA = "amazon.nova-pro-v1:0"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
#: a messageStart frame as Bedrock sends it (prelude, three string headers, payload, CRC)
MESSAGE_START = (
    b"\x00\x00\x00v\x00\x00\x00R\x96\xd5\xfa\xde\x0b:event-type\x07\x00\x0cmessageStart"
    b"\r:content-type\x07\x00\x10application/json\r:message-type\x07\x00\x05event"
    b'{"role":"assistant"}o\xa8\xc5\x99'
)


def body(chat: dict[str, Any], model: str = CLAUDE) -> dict[str, Any]:
    plan = converse_request(decode_chat(msgspec.json.encode({"model": "m", **chat})), model)
    out: dict[str, Any] = msgspec.json.decode(plan.body)
    return out


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


# -- event stream framing --------------------------------------------------------------------


def test_a_frame_literal_reads_as_its_headers_and_payload() -> None:
    (frame_,) = FrameReader().feed(MESSAGE_START)
    assert frame_.headers == {
        ":event-type": "messageStart",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert frame_.payload == b'{"role":"assistant"}'


def test_the_fake_frames_are_what_botocore_reads() -> None:
    """Cross-check of the test frames with botocore's own parser (CRCs included)."""
    parser = EventStreamBuffer()
    parser.add_data(event("contentBlockDelta", {"delta": {"text": "hi"}}) + MESSAGE_START)
    messages = list(parser)
    assert [m.headers[":event-type"] for m in messages] == ["contentBlockDelta", "messageStart"]


def test_non_string_headers_are_skipped() -> None:
    head = b"\x01a\x00" + b"\x01b\x04\x00\x00\x00\x07" + b"\x01c\x07\x00\x02hi"
    head += b"\x01d\x09" + bytes(16) + b"\x01e\x06\x00\x01z"
    total = 16 + len(head)
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    data = prelude + head
    (frame_,) = FrameReader().feed(data + struct.pack(">I", zlib.crc32(data)))
    assert frame_.headers == {"c": "hi"} and frame_.payload == b""


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x01" + MESSAGE_START[1:], "CRC"),  # prelude checksum
        (MESSAGE_START[:-1] + b"\x00", "CRC"),  # message checksum
        (MESSAGE_START[:30] + b"X" + MESSAGE_START[31:], "CRC"),  # a flipped header byte
    ],
)
def test_bad_checksums_are_protocol_errors(data: bytes, match: str) -> None:
    with pytest.raises(UpstreamProtocolError, match=match):
        FrameReader().feed(data)


def _prelude(total: int, headers: int) -> bytes:
    head = struct.pack(">II", total, headers)
    return head + struct.pack(">I", zlib.crc32(head))


def test_a_frame_claiming_a_huge_length_is_refused_before_it_is_buffered() -> None:
    with pytest.raises(UpstreamProtocolError, match="above the limit"):
        FrameReader().feed(_prelude(MAX_EVENT_BYTES + 1, 0))


@pytest.mark.parametrize(("total", "headers"), [(15, 0), (20, 5)])
def test_impossible_lengths_are_protocol_errors(total: int, headers: int) -> None:
    with pytest.raises(UpstreamProtocolError, match="bad length"):
        FrameReader().feed(_prelude(total, headers))


def test_headers_running_past_their_block_are_protocol_errors() -> None:
    head = b"\x05ab\x07\x00\x10x"  # a name length and a string length past the block
    data = _prelude(16 + len(head), len(head)) + head
    with pytest.raises(UpstreamProtocolError, match="bad headers"):
        FrameReader().feed(data + struct.pack(">I", zlib.crc32(data)))


# -- requests --------------------------------------------------------------------------------


def test_system_and_developer_messages_go_to_system_with_cache_points() -> None:
    out = body(
        {
            "messages": [
                {"role": "system", "content": "Be brief.", "cache_control": {"type": "ephemeral"}},
                {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
                user("hi"),
            ]
        }
    )
    assert out["system"] == [
        {"text": "Be brief."},
        {"cachePoint": {"type": "default"}},
        {"text": "Use French."},
    ]
    assert out["messages"] == [{"role": "user", "content": [{"text": "hi"}]}]


def test_multi_turn_with_tool_calls_results_and_thinking_alternates() -> None:
    """Thinking first, text, toolUse; tool messages merge into one user turn with the next
    user text; the tools stay (Converse needs toolConfig when history holds tool blocks)."""
    out = body(
        {
            "messages": [
                user("weather in Paris and Rome?"),
                {
                    "role": "assistant",
                    "content": "Checking.",
                    "thinking_blocks": [
                        {"type": "thinking", "thinking": "Two calls.", "signature": "c2ln"},
                        {"type": "redacted_thinking", "data": "cmVk"},
                    ],
                    "tool_calls": [
                        {
                            "id": "t1",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                        },
                        {
                            "id": "t2",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city":"Rome"}'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "t1", "content": "sunny"},
                {
                    "role": "tool",
                    "tool_call_id": "t2",
                    "content": [{"type": "text", "text": "rain"}],
                },
                user("and tomorrow?"),
            ],
            "tools": [
                {
                    "type": "function",
                    "function": {"name": "weather", "parameters": {"type": "object"}},
                }
            ],
            "tool_choice": "none",
        }
    )
    assistant, results = out["messages"][1], out["messages"][2]
    assert assistant["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "Two calls.", "signature": "c2ln"}}},
        {"reasoningContent": {"redactedContent": "cmVk"}},
        {"text": "Checking."},
        {"toolUse": {"toolUseId": "t1", "name": "weather", "input": {"city": "Paris"}}},
        {"toolUse": {"toolUseId": "t2", "name": "weather", "input": {"city": "Rome"}}},
    ]
    assert results == {
        "role": "user",
        "content": [
            {"toolResult": {"toolUseId": "t1", "content": [{"text": "sunny"}]}},
            {"toolResult": {"toolUseId": "t2", "content": [{"text": "rain"}]}},
            {"text": "and tomorrow?"},
        ],
    }
    assert len(out["messages"]) == 3
    assert out["toolConfig"] == {
        "tools": [{"toolSpec": {"name": "weather", "inputSchema": {"json": {"type": "object"}}}}]
    }


def test_tool_arguments_that_are_not_an_object_are_refused() -> None:
    call = {"id": "t", "type": "function", "function": {"name": "f", "arguments": "[1]"}}
    with pytest.raises(InvalidRequest, match="JSON object"):
        body({"messages": [user("x"), {"role": "assistant", "tool_calls": [call]}]})


def test_images_are_sent_as_bytes_from_data_urls() -> None:
    part = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    out = body(
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "what?"}, part]}]}
    )
    assert out["messages"][0]["content"][1] == {
        "image": {"format": "png", "source": {"bytes": PNG}}
    }


@pytest.mark.parametrize(
    "url",
    ["https://example.com/cat.png", "data:image/tiff;base64,AAAA", "data:image/png;base64,@@"],
)
def test_images_the_gateway_cannot_send_are_refused(url: str) -> None:
    part = {"type": "image_url", "image_url": {"url": url}}
    with pytest.raises(InvalidRequest):
        body({"messages": [{"role": "user", "content": [part]}]})


TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"auto": {}}),
        ("required", {"any": {}}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"tool": {"name": "get_weather"}},
        ),
    ],
)
def test_tools_and_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    out = body({"messages": [user("x")], "tools": [TOOL], "tool_choice": choice})
    assert out["toolConfig"]["toolChoice"] == expected
    assert out["toolConfig"]["tools"][0]["toolSpec"] == {
        "name": "get_weather",
        "description": "Weather",
        "inputSchema": {"json": TOOL["function"]["parameters"]},  # type: ignore[index]
    }


def test_tool_choice_none_without_tool_history_drops_the_tools() -> None:
    assert "toolConfig" not in body(
        {"messages": [user("x")], "tools": [TOOL], "tool_choice": "none"}
    )


def test_an_unknown_named_tool_choice_is_refused() -> None:
    choice = {"type": "function", "function": {"name": "other"}}
    with pytest.raises(InvalidRequest, match="tool_choice"):
        body({"messages": [user("x")], "tools": [TOOL], "tool_choice": choice})


def test_inference_config_and_dropped_fields() -> None:
    out = body(
        {
            "messages": [user("x")],
            "max_completion_tokens": 300,
            "max_tokens": 50,
            "temperature": 0.5,
            "top_p": 0.9,
            "stop": ["END", ""],
            "seed": 7,
            "frequency_penalty": 0.5,
            "user": "u1",
        },
        NOVA,
    )
    assert out["inferenceConfig"] == {
        "maxTokens": 300,
        "temperature": 0.5,
        "topP": 0.9,
        "stopSequences": ["END"],
    }
    assert set(out) == {"messages", "inferenceConfig"}


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"temperature": 1.5}, "temperature"),
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"reasoning_effort": "low", "max_tokens": 500}, "max_tokens"),
    ],
)
def test_what_converse_cannot_do_is_a_400(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        body({"messages": [user("x")], **fields})
    assert caught.value.param == param


def test_reasoning_effort_becomes_thinking_for_claude_only() -> None:
    out = body({"messages": [user("x")], "reasoning_effort": "medium"})
    assert out["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 4096}
    }
    assert out["inferenceConfig"]["maxTokens"] == 4096 + 4096
    out = body({"messages": [user("x")], "reasoning_effort": "high", "max_tokens": 5000})
    assert out["additionalModelRequestFields"]["thinking"]["budget_tokens"] == 4999
    thinking = {"type": "enabled", "budget_tokens": 2048}
    out = body({"messages": [user("x")], "thinking": thinking, "max_tokens": 3000})
    assert out["additionalModelRequestFields"] == {"thinking": thinking}
    assert "additionalModelRequestFields" not in body(
        {"messages": [user("x")], "reasoning_effort": "high"}, NOVA
    )


def test_response_format_becomes_a_forced_tool() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": schema}}
    plan = converse_request(
        decode_chat(
            msgspec.json.encode({"model": "m", "messages": [user("x")], "response_format": fmt})
        ),
        CLAUDE,
    )
    assert plan.response_tool == "person"
    config = msgspec.json.decode(plan.body)["toolConfig"]
    assert config["toolChoice"] == {"tool": {"name": "person"}}
    assert config["tools"][0]["toolSpec"]["inputSchema"] == {"json": schema}
    out = body(
        {"messages": [user("x")], "response_format": {"type": "json_object"}, "tools": [TOOL]}
    )
    assert out["toolConfig"]["toolChoice"] == {"any": {}}
    assert [t["toolSpec"]["name"] for t in out["toolConfig"]["tools"]] == [
        "get_weather",
        "json_response",
    ]


def test_model_paths_percent_encode_ids_and_arns() -> None:
    assert model_path(CLAUDE, "converse") == (
        "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse"
    )
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-70b:0"
    assert model_path(arn, "converse-stream") == (
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile"
        "%2Fus.meta.llama3-70b%3A0/converse-stream"
    )


# -- answers ---------------------------------------------------------------------------------


def chat_translation(response_tool: str | None = None, usage: bool = True) -> ChatTranslation:
    return ChatTranslation("chatcmpl-1", CLAUDE, 1700000000, response_tool, usage)


ANSWER = {
    "output": {
        "message": {
            "role": "assistant",
            "content": [
                {"reasoningContent": {"reasoningText": {"text": "Hmm.", "signature": "U0lH"}}},
                {"reasoningContent": {"redactedContent": "UkVE"}},
                {"text": "Calling."},
                {
                    "toolUse": {
                        "toolUseId": "tu1",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    }
                },
            ],
        }
    },
    "stopReason": "tool_use",
    "usage": {
        "inputTokens": 10,
        "outputTokens": 20,
        "totalTokens": 60,
        "cacheReadInputTokens": 25,
        "cacheWriteInputTokens": 5,
    },
    "metrics": {"latencyMs": 1},
}


def test_an_answer_with_thinking_text_and_tool_calls() -> None:
    status, out = chat_translation().answer(200, msgspec.json.encode(ANSWER))
    completion = json.loads(out)
    assert status == 200
    choice = completion["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": "Calling.",
        "reasoning_content": "Hmm.",
        "thinking_blocks": [
            {"type": "thinking", "thinking": "Hmm.", "signature": "U0lH"},
            {"type": "redacted_thinking", "data": "UkVE"},
        ],
        "tool_calls": [
            {
                "id": "tu1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    }
    assert completion["usage"] == {
        "prompt_tokens": 40,
        "completion_tokens": 20,
        "total_tokens": 60,
        "prompt_tokens_details": {"cached_tokens": 25, "cache_creation_tokens": 5},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    assert completion["id"] == "chatcmpl-1" and completion["model"] == CLAUDE


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
    ],
)
def test_stop_reasons(stop: str, finish: str) -> None:
    answer = {"output": {"message": {"content": [{"text": "x"}]}}, "stopReason": stop}
    _, out = chat_translation().answer(200, msgspec.json.encode(answer))
    assert json.loads(out)["choices"][0]["finish_reason"] == finish


def test_the_response_tool_input_is_the_content() -> None:
    use = {"toolUseId": "tu", "name": "person", "input": {"name": "Ada"}}
    answer = {"output": {"message": {"content": [{"toolUse": use}]}}, "stopReason": "tool_use"}
    _, out = chat_translation("person").answer(200, msgspec.json.encode(answer))
    choice = json.loads(out)["choices"][0]
    assert choice["message"]["content"] == '{"name":"Ada"}'
    assert "tool_calls" not in choice["message"] and choice["finish_reason"] == "stop"


def test_an_unreadable_answer_is_a_502() -> None:
    status, out = chat_translation().answer(200, b'{"output": 3')
    assert status == 502 and b"upstream_protocol_error" in out


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error_type", "status", "message", "kind"),
    [
        ("ValidationException:http://internal.amazon.com/coral/", 400, "Bad input", "invalid"),
        ("ValidationException", 400, "Input is too long for requested model.", "context_length"),
        ("AccessDeniedException", 403, "No access", "permission"),
        ("UnrecognizedClientException", 403, "Bad token", "auth"),
        ("ExpiredTokenException", 403, "Expired", "auth"),
        ("ResourceNotFoundException", 404, "No model", "not_found"),
        ("ThrottlingException", 429, "Slow down", "rate_limited"),
        ("ServiceQuotaExceededException", 400, "Quota", "rate_limited"),
        ("ModelTimeoutException", 408, "Timeout", "timeout"),
        ("ModelNotReadyException", 429, "Loading", "overloaded"),
        ("InternalServerException", 500, "Oops", "server"),
        ("ServiceUnavailableException", 503, "Busy", "overloaded"),
        ("ModelErrorException", 424, "Model failed", "server"),
        ("modelStreamErrorException", 500, "Model failed", "server"),
        (None, 424, "x", "server"),
        (None, 429, "x", "rate_limited"),
        (None, 400, "prompt is too long: 300000 tokens", "context_length"),
    ],
)
def test_error_kinds(error_type: str | None, status: int, message: str, kind: str) -> None:
    assert error_kind(error_type, status, message) == kind


def test_an_error_answer_reads_the_header_and_message() -> None:
    translation = chat_translation()
    translation.note(b"ThrottlingException:http://internal.amazon.com/coral/", None)
    status, out = translation.answer(429, b'{"message":"Too many requests, please wait."}')
    assert status == 429
    assert json.loads(out)["error"]["message"] == "Too many requests, please wait."
    assert json.loads(out)["error"]["code"] == "rate_limit_exceeded"
    status, out = chat_translation().answer(503, b'{"Message":"Busy"}')
    assert (status, json.loads(out)["error"]["message"]) == (503, "Busy")
    status, out = chat_translation().answer(500, b"<html>oops</html>")
    assert status == 500 and "oops" in json.loads(out)["error"]["message"]


# -- streams ---------------------------------------------------------------------------------


def stream_bytes(*, response_tool: bool = False) -> bytes:
    tool = "person" if response_tool else "get_weather"
    frames = [
        event("messageStart", {"role": "assistant"}),
        event(
            "contentBlockDelta",
            {"delta": {"reasoningContent": {"text": "Let me "}}, "contentBlockIndex": 0},
        ),
        event(
            "contentBlockDelta",
            {"delta": {"reasoningContent": {"text": "think."}}, "contentBlockIndex": 0},
        ),
        event(
            "contentBlockDelta",
            {"delta": {"reasoningContent": {"signature": "U0lH"}}, "contentBlockIndex": 0},
        ),
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event("contentBlockDelta", {"delta": {"text": "Hello"}, "contentBlockIndex": 1}),
        event("contentBlockDelta", {"delta": {"text": " there"}, "contentBlockIndex": 1}),
        event("contentBlockStop", {"contentBlockIndex": 1}),
        event(
            "contentBlockStart",
            {"start": {"toolUse": {"toolUseId": "tu1", "name": tool}}, "contentBlockIndex": 2},
        ),
        event(
            "contentBlockDelta", {"delta": {"toolUse": {"input": '{"ci'}}, "contentBlockIndex": 2}
        ),
        event(
            "contentBlockDelta",
            {"delta": {"toolUse": {"input": 'ty":"Paris"}'}}, "contentBlockIndex": 2},
        ),
        event("contentBlockStop", {"contentBlockIndex": 2}),
        event("messageStop", {"stopReason": "tool_use"}),
        event(
            "metadata",
            {
                "usage": {"inputTokens": 7, "outputTokens": 9, "cacheReadInputTokens": 3},
                "metrics": {"latencyMs": 5},
            },
        ),
    ]
    return b"".join(frames)


def sse_events(data: bytes) -> list[Any]:
    out = []
    for block in data.split(b"\n\n"):
        if block.startswith(b"data: [DONE]"):
            out.append("[DONE]")
        elif block.startswith(b"data: "):
            out.append(json.loads(block[6:]))
        elif block.startswith(b"event: error"):
            out.append(("error", json.loads(block.split(b"data: ", 1)[1])))
    return out


def run(data: bytes, cuts: list[int], translation: ChatTranslation | None = None) -> bytes:
    translator = (translation or chat_translation()).stream()
    out, start = [], 0
    for cut in [*sorted(cuts), len(data)]:
        out.append(translator.feed(data[start:cut]))
        start = cut
    return b"".join(out) + translator.end()


def test_a_stream_translates_event_by_event() -> None:
    events = sse_events(run(stream_bytes(), []))
    deltas = [e["choices"][0]["delta"] for e in events[:-2]]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": "Let me "},
        {"reasoning_content": "think."},
        {
            "thinking_blocks": [
                {"type": "thinking", "thinking": "Let me think.", "signature": "U0lH"}
            ]
        },
        {"content": "Hello"},
        {"content": " there"},
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "tu1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": 'ty":"Paris"}'}}]},
        {},
    ]
    assert events[-3]["choices"][0]["finish_reason"] == "tool_calls"
    assert events[-2]["usage"]["prompt_tokens"] == 10
    assert events[-2]["usage"]["prompt_tokens_details"]["cached_tokens"] == 3
    assert events[-1] == "[DONE]"


def test_the_usage_chunk_only_when_asked() -> None:
    events = sse_events(run(stream_bytes(), [], chat_translation(usage=False)))
    assert all(e == "[DONE]" or e["choices"] for e in events)


def test_a_response_tool_streams_as_content() -> None:
    events = sse_events(run(stream_bytes(response_tool=True), [], chat_translation("person")))
    text = "".join(
        e["choices"][0]["delta"].get("content", "")
        for e in events[:-1]
        if e != "[DONE]" and e["choices"]
    )
    assert text == 'Hello there{"city":"Paris"}'
    assert events[-3]["choices"][0]["finish_reason"] == "stop"


WHOLE = run(stream_bytes(), [])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(stream_bytes())), max_size=12))
def test_a_stream_cut_anywhere_gives_the_same_events(cuts: list[int]) -> None:
    assert run(stream_bytes(), cuts) == WHOLE


def test_a_stream_cut_at_every_byte_offset_gives_the_same_events() -> None:
    data = stream_bytes()
    for cut in range(len(data) + 1):
        assert run(data, [cut]) == WHOLE


def test_an_exception_frame_ends_the_stream_with_an_error_event_and_no_done() -> None:
    data = stream_bytes()[:500]
    frames = event("messageStart", {"role": "assistant"}) + exception_frame(
        "throttlingException", "Too many tokens, please wait."
    )
    translator = chat_translation().stream()
    out = translator.feed(frames + data) + translator.end()
    events = sse_events(out)
    assert events[-1][0] == "error"
    assert events[-1][1]["error"]["code"] == "rate_limit_exceeded"
    assert b"[DONE]" not in out


@pytest.mark.parametrize(
    "data",
    [
        event("messageStart", {"role": "assistant"}),  # no messageStop, no metadata
        event("messageStart", {}) + event("messageStop", {"stopReason": "end_turn"}),
        stream_bytes()[:-10],  # cut inside the last frame
    ],
)
def test_a_stream_ending_before_metadata_is_a_protocol_error(data: bytes) -> None:
    translator = chat_translation().stream()
    translator.feed(data)
    with pytest.raises(UpstreamProtocolError, match="ended before"):
        translator.end()


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (
            frame(
                {":message-type": "event", ":event-type": "contentBlockDelta"}, b'{"delta": {"te'
            ),
            "cannot be read",
        ),
        (frame({":message-type": "surprise"}, b"{}"), "unknown type"),
        (
            event(
                "contentBlockDelta", {"delta": {"toolUse": {"input": "{"}}, "contentBlockIndex": 4}
            ),
            "no tool",
        ),
        (event("metadata", {"usage": {}}), "before its stop"),
    ],
)
def test_unreadable_events_are_protocol_errors(data: bytes, match: str) -> None:
    with pytest.raises(UpstreamProtocolError, match=match):
        chat_translation().stream().feed(data)


# -- embeddings ------------------------------------------------------------------------------


def embeddings(fields: dict[str, Any], model: str) -> dict[str, Any]:
    request = decode_embeddings(msgspec.json.encode({"model": "e", **fields}))
    out: dict[str, Any] = msgspec.json.decode(embeddings_request(request, model))
    return out


def test_embedding_requests_by_family() -> None:
    assert embeddings({"input": "hi", "dimensions": 256}, "amazon.titan-embed-text-v2:0") == {
        "inputText": "hi",
        "normalize": True,
        "dimensions": 256,
    }
    assert embeddings({"input": ["a", "b"]}, "cohere.embed-english-v3") == {
        "texts": ["a", "b"],
        "input_type": "search_document",
    }
    with pytest.raises(InvalidRequest, match="one input"):
        embeddings({"input": ["a", "b"]}, "amazon.titan-embed-text-v2:0")
    with pytest.raises(InvalidRequest, match="Titan"):
        embeddings({"input": "a"}, "anthropic.claude-3-haiku-20240307-v1:0")
    with pytest.raises(InvalidRequest, match="dimensions"):
        embeddings({"input": "a", "dimensions": 8}, "cohere.embed-english-v3")


def test_embedding_answers() -> None:
    titan = EmbeddingTranslation(
        "amazon.titan-embed-text-v2:0", "amazon.titan-embed-text-v2:0", "float"
    )
    status, out = titan.answer(200, b'{"embedding": [0.5, -0.25], "inputTextTokenCount": 3}')
    assert status == 200
    assert json.loads(out)["data"][0]["embedding"] == [0.5, -0.25]
    assert json.loads(out)["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    cohere = EmbeddingTranslation("cohere.embed-english-v3", "cohere.embed-english-v3", "float")
    cohere.note(None, b"6")
    _, out = cohere.answer(200, b'{"id": "x", "embeddings": [[1.0], [2.0]], "texts": ["a", "b"]}')
    assert [d["embedding"] for d in json.loads(out)["data"]] == [[1.0], [2.0]]
    assert json.loads(out)["usage"]["prompt_tokens"] == 6


# -- prices ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "entry"),
    [
        ("anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
        ("eu.anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku"),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
        ("apac.amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"),
        ("amazon.titan-embed-text-v2:0", "amazon.titan-embed-text-v2:0"),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0",
            "claude-3-5-haiku",
        ),
    ],
)
def test_bedrock_model_ids_find_their_price(model: str, entry: str) -> None:
    table = PriceTable()
    assert table.price(model) is not None
    assert table.price(model) == table.price(entry)
