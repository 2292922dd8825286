"""The Gemini translation, sans-IO, with byte literals: OpenAI chat requests as generateContent
bodies, Gemini answers, streams (cut at every byte) and errors as OpenAI's."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastgw.errors import InvalidRequest, UpstreamProtocolError
from fastgw.protocols.gemini.answer import ChatTranslation
from fastgw.protocols.gemini.embed import EmbedTranslation, embed_body, embed_path
from fastgw.protocols.gemini.request import chat_body, model_path
from fastgw.protocols.gemini.stream import ARGUMENT_DELTA
from fastgw.protocols.openai.translate import decode_chat, decode_embeddings
from fastgw.protocols.sse import MAX_EVENT_BYTES

_dec = msgspec.json.decode


def gemini(request: dict[str, Any]) -> dict[str, Any]:
    """The generateContent body of an OpenAI chat request given as a dict."""
    base = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
    out: dict[str, Any] = _dec(chat_body(decode_chat(msgspec.json.encode({**base, **request}))))
    return out


def refused(request: dict[str, Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        gemini(request)
    return caught.value


# -- requests -------------------------------------------------------------------------------


def test_paths_take_either_model_spelling() -> None:
    """'models/x' and 'x' give the same path; streams ask for SSE."""
    assert model_path("models/gemini-2.5-pro", False) == "/models/gemini-2.5-pro:generateContent"
    assert model_path("gemini-2.5-pro", True) == (
        "/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    )
    assert (
        embed_path("models/text-embedding-004") == "/models/text-embedding-004:batchEmbedContents"
    )


def test_system_and_developer_go_to_system_instruction_and_turns_merge() -> None:
    """system/developer anywhere become systemInstruction parts in order; assistant is model;
    consecutive user turns merge into one."""
    body = gemini(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "a"},
                {"role": "user", "content": [{"type": "text", "text": "b"}]},
                {"role": "assistant", "content": "c"},
                {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
                {"role": "user", "content": "d"},
            ]
        }
    )
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}, {"text": "Use French."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
        {"role": "model", "parts": [{"text": "c"}]},
        {"role": "user", "parts": [{"text": "d"}]},
    ]
    assert "generationConfig" not in body and "tools" not in body


def test_tool_calls_and_results_round_trip_with_thought_signature() -> None:
    """Assistant tool calls become functionCall parts carrying the thought signature back;
    tool results become functionResponse parts named after their call, a JSON object as is,
    anything else wrapped as {"result": text}."""
    google = {"google": {"thought_signature": "c2lnLTE="}}
    body = gemini(
        {
            "messages": [
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": None,
                    "reasoning_content": "thinking...",
                    "tool_calls": [
                        {
                            "id": "call_a",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                            "extra_content": google,
                        },
                        {
                            "id": "call_b",
                            "type": "function",
                            "function": {"name": "time", "arguments": ""},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_a", "content": '{"temp": 21}'},
                {"role": "tool", "tool_call_id": "call_b", "content": "noon"},
            ]
        }
    )
    assert body["contents"][1:] == [
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {"name": "weather", "args": {"city": "Paris"}},
                    "thoughtSignature": "c2lnLTE=",
                },
                {"functionCall": {"name": "time", "args": {}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "weather", "response": {"temp": 21}}},
                {"functionResponse": {"name": "time", "response": {"result": "noon"}}},
            ],
        },
    ]


def test_unsigned_tool_calls_get_googles_skip_value_on_the_first_call_only() -> None:
    """Tool calls without a signature (another provider's, or a client that dropped
    extra_content) carry Google's documented skip value on each message's first call."""
    calls = [
        {"id": f"c{i}", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        for i in range(2)
    ]
    body = gemini(
        {
            "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": "Looking.", "tool_calls": calls},
            ]
        }
    )
    parts = body["contents"][1]["parts"]
    assert parts[0] == {"text": "Looking."}
    assert parts[1]["thoughtSignature"] == "skip_thought_signature_validator"
    assert "thoughtSignature" not in parts[2]


def test_unknown_tool_call_id_and_bad_arguments_are_400s() -> None:
    """A tool result with no matching call, or arguments that are not a JSON object, is
    refused naming messages."""
    orphan = [
        {"role": "user", "content": "x"},
        {"role": "tool", "tool_call_id": "nope", "content": "1"},
    ]
    assert refused({"messages": orphan}).param == "messages"
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}
    bad = [{"role": "assistant", "content": None, "tool_calls": [call]}]
    assert "JSON object" in refused({"messages": bad}).message


def test_images_by_data_url_and_by_url() -> None:
    """A data: URL is inlineData; an http(s) URL is fileData with a guessed mime type (the
    gateway never fetches it)."""
    content = [
        {"type": "text", "text": "what?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp?x=1"}},
        {"type": "image_url", "image_url": {"url": "gs://bucket/dog"}},
    ]
    parts = gemini({"messages": [{"role": "user", "content": content}]})["contents"][0]["parts"]
    assert parts[1:] == [
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp?x=1"}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "gs://bucket/dog"}},
    ]
    bad = [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]
    assert refused({"messages": [{"role": "user", "content": bad}]}).param == "messages"


TOOLS = [
    {
        "type": "function",
        "function": {"name": "f", "description": "F", "parameters": {"type": "object"}},
    },
    {"type": "function", "function": {"name": "g"}},
]


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "g"}},
            {"mode": "ANY", "allowedFunctionNames": ["g"]},
        ),
    ],
)
def test_tools_and_tool_choice(choice: Any, config: dict[str, Any]) -> None:
    """Tools are functionDeclarations with a JSON Schema; tool_choice is the calling mode."""
    body = gemini({"tools": TOOLS, "tool_choice": choice})
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {"name": "f", "description": "F", "parametersJsonSchema": {"type": "object"}},
                {"name": "g"},
            ]
        }
    ]
    assert body["toolConfig"] == {"functionCallingConfig": config}
    assert refused({"tools": TOOLS, "tool_choice": "sometimes"}).param == "tool_choice"


def test_generation_config_fields() -> None:
    """Sampling, limits, stops, seed, penalties and json_schema map to generationConfig."""
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    body = gemini(
        {
            "temperature": 0.5,
            "top_p": 0.9,
            "max_completion_tokens": 100,
            "max_tokens": 7,
            "stop": "END",
            "seed": 42,
            "presence_penalty": 0.1,
            "frequency_penalty": -0.1,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "r", "schema": schema},
            },
            "user": "u-1",
            "parallel_tool_calls": False,
        }
    )
    assert body["generationConfig"] == {
        "temperature": 0.5,
        "topP": 0.9,
        "maxOutputTokens": 100,
        "stopSequences": ["END"],
        "seed": 42,
        "presencePenalty": 0.1,
        "frequencyPenalty": -0.1,
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }
    assert gemini({"response_format": {"type": "json_object"}})["generationConfig"] == {
        "responseMimeType": "application/json"
    }


@pytest.mark.parametrize(
    ("request_", "thinking"),
    [
        ({"reasoning_effort": "low"}, {"thinkingBudget": 1024, "includeThoughts": True}),
        ({"reasoning_effort": "high"}, {"thinkingBudget": 24576, "includeThoughts": True}),
        ({"reasoning_effort": "none"}, {"thinkingBudget": 0}),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 2000}},
            {"thinkingBudget": 2000, "includeThoughts": True},
        ),
    ],
)
def test_reasoning_maps_to_thinking_config(
    request_: dict[str, Any], thinking: dict[str, Any]
) -> None:
    """reasoning_effort (and Anthropic's thinking) become thinkingConfig."""
    assert gemini(request_)["generationConfig"] == {"thinkingConfig": thinking}


@pytest.mark.parametrize(
    ("request_", "param"),
    [
        ({"n": 2}, "n"),
        ({"stop": ["a", "b", "c", "d", "e", "f"]}, "stop"),
        ({"logprobs": True}, "logprobs"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"response_format": {"type": "yaml"}}, "response_format"),
        ({"messages": [{"role": "user", "content": [{"type": "video", "video": {}}]}]}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages"),
    ],
)
def test_what_gemini_cannot_do_is_a_400(request_: dict[str, Any], param: str) -> None:
    """n>1, more than five stops, logprobs, unknown efforts, formats, parts and roles are
    refused before any upstream call, naming the param."""
    assert refused(request_).param == param


# -- whole answers --------------------------------------------------------------------------


def translation(include_usage: bool = False) -> ChatTranslation:
    return ChatTranslation("req1", "gemini-2.5-flash", 1700000000, include_usage)


ANSWER = (
    b'{"candidates":[{"content":{"role":"model","parts":[{"text":"Hel"},{"text":"lo"}]},'
    b'"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":10,'
    b'"candidatesTokenCount":2,"totalTokenCount":12,"cachedContentTokenCount":4},'
    b'"modelVersion":"gemini-2.5-flash-001","responseId":"r1","newField":{"x":1}}'
)


def test_text_answer_is_a_chat_completion_with_usage() -> None:
    """Text parts join into the content; cached tokens go into prompt_tokens_details;
    unknown fields are ignored."""
    status, body = translation().answer(200, ANSWER)
    out = _dec(body)
    assert status == 200
    assert out["id"] == "chatcmpl-req1" and out["object"] == "chat.completion"
    assert out["model"] == "gemini-2.5-flash-001" and out["created"] == 1700000000
    assert out["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hello",
        "refusal": None,
    }
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["usage"] == {
        "prompt_tokens": 10,
        "completion_tokens": 2,
        "total_tokens": 12,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


TOOL_ANSWER = (
    b'{"candidates":[{"content":{"role":"model","parts":['
    b'{"text":"Plan: call.","thought":true},'
    b'{"functionCall":{"name":"weather","args":{"city":"Paris"}},"thoughtSignature":"c2ln"},'
    b'{"functionCall":{"name":"time","args":{}}}]},"finishReason":"STOP"}],'
    b'"usageMetadata":{"promptTokenCount":20,"toolUsePromptTokenCount":5,'
    b'"candidatesTokenCount":8,"thoughtsTokenCount":30}}'
)


def test_thoughts_and_parallel_tool_calls_with_signature() -> None:
    """Thought parts are reasoning_content; function calls are tool calls with deterministic
    ids, args as sent and the signature in extra_content; finish is tool_calls; thoughts count
    as completion and reasoning tokens."""
    _, body = translation().answer(200, TOOL_ANSWER)
    again = translation().answer(200, TOOL_ANSWER)[1]
    out = _dec(body)
    message = out["choices"][0]["message"]
    assert body == again
    assert message["content"] is None and message["reasoning_content"] == "Plan: call."
    first, second = message["tool_calls"]
    assert first["id"] != second["id"] and first["id"].startswith("call_")
    assert first["function"] == {"name": "weather", "arguments": '{"city":"Paris"}'}
    assert first["extra_content"] == {"google": {"thought_signature": "c2ln"}}
    assert "extra_content" not in second and second["function"]["arguments"] == "{}"
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert out["usage"]["prompt_tokens"] == 25 and out["usage"]["completion_tokens"] == 38
    assert out["usage"]["completion_tokens_details"] == {"reasoning_tokens": 30}


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("IMAGE_SAFETY", "content_filter"),
        ("OTHER", "stop"),
        ("FINISH_REASON_UNSPECIFIED", "stop"),
    ],
)
def test_finish_reasons(reason: str, finish: str) -> None:
    body = (
        b'{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"%s"}]}'
        % reason.encode()
    )
    assert _dec(translation().answer(200, body)[1])["choices"][0]["finish_reason"] == finish


def test_blocked_prompt_is_a_content_policy_400() -> None:
    """promptFeedback.blockReason with no candidates reads as OpenAI's content policy error."""
    status, body = translation().answer(200, b'{"promptFeedback":{"blockReason":"SAFETY"}}')
    assert status == 400
    assert _dec(body)["error"]["code"] == "content_policy_violation"


def test_unreadable_answer_is_a_protocol_error() -> None:
    status, body = translation().answer(200, b"<html>oops</html>")
    assert status == 502 and _dec(body)["error"]["code"] == "upstream_protocol_error"


# -- errors ---------------------------------------------------------------------------------


def error(code: int, status: str, message: str = "boom") -> bytes:
    return msgspec.json.encode({"error": {"code": code, "message": message, "status": status}})


@pytest.mark.parametrize(
    ("http", "name", "message", "status", "code"),
    [
        (400, "INVALID_ARGUMENT", "bad field", 400, None),
        (
            400,
            "INVALID_ARGUMENT",
            "The input token count (2000000) exceeds the maximum number of tokens allowed.",
            400,
            "context_length_exceeded",
        ),
        (
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            401,
            "invalid_api_key",
        ),
        (400, "FAILED_PRECONDITION", "User location is not supported", 400, None),
        (401, "UNAUTHENTICATED", "no", 401, "invalid_api_key"),
        (403, "PERMISSION_DENIED", "no", 403, None),
        (404, "NOT_FOUND", "no model", 404, "model_not_found"),
        (429, "RESOURCE_EXHAUSTED", "quota", 429, "rate_limit_exceeded"),
        (500, "INTERNAL", "oops", 500, None),
        (503, "UNAVAILABLE", "The model is overloaded.", 503, "overloaded"),
        (504, "DEADLINE_EXCEEDED", "slow", 504, "timeout"),
    ],
)
def test_errors_map_to_openai_kinds(
    http: int, name: str, message: str, status: int, code: str | None
) -> None:
    """Gemini's google.rpc status names decide the OpenAI status and code routing reads."""
    out_status, body = translation().answer(http, error(http, name, message))
    assert out_status == status
    assert _dec(body)["error"]["code"] == code
    assert _dec(body)["error"]["message"] == message


def test_429_retry_info_becomes_retry_after() -> None:
    """RetryInfo.retryDelay of a 429 is kept as a Retry-After value; other errors have none."""
    body = (
        b'{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":['
        b'{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[]},'
        b'{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}}'
    )
    chat = translation()
    assert chat.answer(429, body)[0] == 429 and chat.retry_after == b"37"
    embed = EmbedTranslation("m", "float", 1)
    embed.answer(429, body.replace(b'"37s"', b'"0.5s"'))
    assert embed.retry_after == b"0.5"
    other = translation()
    other.answer(429, error(429, "RESOURCE_EXHAUSTED"))
    assert other.retry_after is None


def test_error_that_is_not_gemini_json_uses_the_http_status() -> None:
    status, body = translation().answer(502, b"<html>Bad gateway</html>")
    assert status == 500 and "Bad gateway" in _dec(body)["error"]["message"]


# -- streams --------------------------------------------------------------------------------


def sse(obj: bytes) -> bytes:
    return b"data: " + obj + b"\r\n\r\n"


LONG_ARGS = b'{"query":"' + b"x" * 300 + b'"}'
STREAM = (
    sse(
        b'{"candidates":[{"content":{"role":"model","parts":[{"text":"Hmm.","thought":true}]}}],"usageMetadata":{"promptTokenCount":7}}'
    )
    + sse('{"candidates":[{"content":{"role":"model","parts":[{"text":"Caf\u00e9 "}]}}]}'.encode())
    + sse(b'{"candidates":[{"content":{"role":"model","parts":[{"text":"ok"}]}}]}')
    + sse(
        b'{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"search","args":'
        + LONG_ARGS
        + b'},"thoughtSignature":"c2ln"}]},"finishReason":"STOP"}],'
        b'"usageMetadata":{"promptTokenCount":7,"candidatesTokenCount":5,"thoughtsTokenCount":3}}'
    )
)


def events(data: bytes) -> list[Any]:
    """The JSON payloads of an OpenAI SSE byte string ('[DONE]' and error events kept)."""
    out: list[Any] = []
    for block in data.split(b"\n\n"):
        if not block:
            continue
        if block.startswith(b"event: error\n"):
            out.append(("error", _dec(block.split(b"data: ", 1)[1])))
        elif block == b"data: [DONE]":
            out.append("[DONE]")
        else:
            out.append(_dec(block.removeprefix(b"data: ")))
    return out


def run(chunks: list[bytes], include_usage: bool = True) -> list[Any]:
    stream = translation(include_usage).stream()
    out = b"".join(stream.feed(chunk) for chunk in chunks) + stream.end()
    return events(out)


def deltas(evs: list[Any]) -> list[dict[str, Any]]:
    return [e["choices"][0]["delta"] for e in evs if isinstance(e, dict) and e["choices"]]


def test_stream_translates_each_part_as_it_arrives() -> None:
    """Role first, reasoning and text deltas, a tool call start with its signature, the
    arguments in several deltas, the finish, the usage chunk, [DONE]."""
    evs = run([STREAM])
    d = deltas(evs)
    assert d[0] == {"role": "assistant", "content": ""}
    assert d[1] == {"reasoning_content": "Hmm."}
    assert d[2:4] == [{"content": "Caf\u00e9 "}, {"content": "ok"}]
    start = d[4]["tool_calls"][0]
    assert start["function"] == {"name": "search", "arguments": ""}
    assert start["extra_content"] == {"google": {"thought_signature": "c2ln"}}
    pieces = [x["tool_calls"][0]["function"]["arguments"] for x in d[5:-1]]
    assert len(pieces) == -(-len(LONG_ARGS) // ARGUMENT_DELTA) and len(pieces) > 1
    assert "".join(pieces) == LONG_ARGS.decode()
    assert evs[-3]["choices"][0]["finish_reason"] == "tool_calls"
    assert evs[-2]["choices"] == [] and evs[-2]["usage"]["completion_tokens"] == 8
    assert evs[-2]["usage"]["completion_tokens_details"] == {"reasoning_tokens": 3}
    assert evs[-1] == "[DONE]"


def test_stream_cut_at_every_byte_gives_the_same_events() -> None:
    """The translation does not depend on where the upstream's bytes were cut."""
    whole = run([STREAM])
    for cut in range(1, len(STREAM)):
        assert run([STREAM[:cut], STREAM[cut:]]) == whole, cut


def test_stream_fed_event_by_event_gives_the_same_events() -> None:
    """One event a chunk (Gemini's usual framing, read without the SSE parser) or LF
    framing change nothing."""
    single = [b"data: " + e for e in STREAM.split(b"data: ") if e]
    assert len(single) == 4 and run(single) == run([STREAM])
    assert run([STREAM.replace(b"\r\n", b"\n")]) == run([STREAM])
    assert run([single[0][:-1], single[0][-1:], *single[1:]]) == run([STREAM])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_stream_cut_anywhere_many_times(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    chunks = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)], strict=True)]
    assert run(chunks) == run([STREAM])


def test_stream_without_usage_asked_sends_no_usage_chunk() -> None:
    evs = run([STREAM], include_usage=False)
    assert all(e == "[DONE]" or e["choices"] for e in evs)
    assert "usage" not in evs[0]


def test_error_object_in_stream_becomes_an_error_event_without_done() -> None:
    """{"error": ...} mid-stream ends the client's stream with OpenAI's error event of its
    kind; nothing follows, not even [DONE]."""
    body = STREAM[:200].rsplit(b"data: ", 1)[0] + sse(
        b'{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}'
    )
    stream = translation().stream()
    out = stream.feed(body) + stream.feed(sse(b'{"candidates":[]}')) + stream.end()
    evs = events(out)
    assert evs[-1] == (
        "error",
        {
            "error": {
                "message": "The model is overloaded.",
                "type": "server_error",
                "param": None,
                "code": "overloaded",
            }
        },
    )
    assert "[DONE]" not in evs


def test_blocked_prompt_in_stream_is_a_content_policy_error_event() -> None:
    evs = run([sse(b'{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"}}')])
    assert (
        evs == [("error", evs[0][1])] and evs[0][1]["error"]["code"] == "content_policy_violation"
    )


def test_invalid_json_event_is_a_protocol_error() -> None:
    stream = translation().stream()
    stream.feed(STREAM[:100])
    with pytest.raises(UpstreamProtocolError):
        stream.feed(b"\r\n\r\ndata: {not json\r\n\r\n")


def test_stream_that_ends_before_finish_reason_is_a_protocol_error() -> None:
    """A body that ends without a finishReason was cut: never a truncated success."""
    stream = translation().stream()
    stream.feed(STREAM.rsplit(b"data: ", 1)[0])
    with pytest.raises(UpstreamProtocolError):
        stream.end()


def test_last_event_without_blank_line_still_counts() -> None:
    """A body whose last event lacks its closing blank line is read at the end."""
    assert run([STREAM.rstrip(b"\r\n")]) == run([STREAM])


def test_oversized_event_is_a_protocol_error() -> None:
    stream = translation().stream()
    with pytest.raises(UpstreamProtocolError):
        stream.feed(b"data: " + b"x" * (MAX_EVENT_BYTES + 1))


# -- embeddings -----------------------------------------------------------------------------


def test_embeddings_request_and_answer() -> None:
    """Each input is one request naming the model; values come back in OpenAI's list with
    the estimated usage when Gemini reports none, float or base64."""
    request = decode_embeddings(b'{"model":"e","input":["a","bb"],"dimensions":2}')
    assert _dec(embed_body(request, "text-embedding-004")) == {
        "requests": [
            {
                "model": "models/text-embedding-004",
                "content": {"parts": [{"text": "a"}]},
                "outputDimensionality": 2,
            },
            {
                "model": "models/text-embedding-004",
                "content": {"parts": [{"text": "bb"}]},
                "outputDimensionality": 2,
            },
        ]
    }
    answer = b'{"embeddings":[{"values":[0.5,-1.0]},{"values":[0.25,0.0]}]}'
    status, body = EmbedTranslation("text-embedding-004", "float", 2).answer(200, answer)
    out = _dec(body)
    assert status == 200 and [d["embedding"] for d in out["data"]] == [[0.5, -1.0], [0.25, 0.0]]
    assert out["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    b64 = _dec(EmbedTranslation("m", "base64", 2).answer(200, answer)[1])
    assert b64["data"][0]["embedding"] == "AAAAPwAAgL8="
    reported = answer[:-1] + b',"usageMetadata":{"promptTokenCount":9}}'
    assert (
        _dec(EmbedTranslation("m", "float", 2).answer(200, reported)[1])["usage"]["prompt_tokens"]
        == 9
    )
    assert EmbedTranslation("m", "float", 2).answer(429, error(429, "RESOURCE_EXHAUSTED"))[0] == 429
