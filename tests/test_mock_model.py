"""The mock provider behaves like a model: tool calls fitting their schemas (plain and as
OpenAI's stream deltas, accumulated by the official SDK's own stream state), JSON fitting a
response format, ``stop``, ``max_tokens``, ``n``, ``logprobs``, a fixed ``mock_response``,
``mock_error``, and a 400 in OpenAI's shape for what OpenAI refuses. In process, through
``MockProvider.send`` with the body the gateway would pass it."""

from __future__ import annotations

import asyncio
from typing import Any

import jsonschema
import msgspec
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import BaseModel

from fastgw.config import MockProvider as MockConfig
from fastgw.protocols.openai.decode import decode_request
from fastgw.providers import Call
from fastgw.providers.mock import MAX_LOGPROB_ENTRIES, MockProvider
from fastgw.providers.mock_answer import AUTO_TEXT_SHARE
from fastgw.providers.mock_request import MOCK_ERRORS
from fastgw.wire import ChatRequest, CompletionRequest

TOKENS = 8
WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 1},
        "unit": {"enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
}
TIME = {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]}
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}},
    {"type": "function", "function": {"name": "get_time", "parameters": TIME, "strict": True}},
    {"type": "function", "function": {"name": "ping"}},
]
SCHEMAS = {"get_weather": WEATHER, "get_time": TIME, "ping": {"type": "object"}}


class Answer(BaseModel):
    title: str
    rating: int
    tags: list[str]


def _body(prompt: str = "hello", **fields: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": prompt}], **fields}


async def _send(body: dict[str, Any], endpoint: str = "/chat/completions") -> tuple[int, bytes]:
    raw = msgspec.json.encode(body)
    cls = ChatRequest if endpoint == "/chat/completions" else CompletionRequest
    mock = MockProvider("mock", MockConfig(tokens=TOKENS))
    response = await mock.send(Call(endpoint, raw, decode_request(cls, raw), "mock-gpt", "rid"))
    return response.status, await response.read()


def send(body: dict[str, Any], endpoint: str = "/chat/completions") -> tuple[int, bytes]:
    return asyncio.run(_send(body, endpoint))


def completion(body: dict[str, Any]) -> ChatCompletion:
    status, raw = send(body)
    assert status == 200, raw
    return ChatCompletion.model_validate_json(raw)


def chunks(body: dict[str, Any]) -> list[dict[str, Any]]:
    status, raw = send({**body, "stream": True})
    assert status == 200, raw
    events = raw.split(b"\n\n")
    assert events[-2:] == [b"data: [DONE]", b""]
    return [msgspec.json.decode(e.removeprefix(b"data: ")) for e in events[:-2]]


def error(body: dict[str, Any], status: int = 400) -> dict[str, Any]:
    got, raw = send(body)
    assert got == status, raw
    decoded: dict[str, Any] = msgspec.json.decode(raw)
    assert set(decoded) == {"error"} and set(decoded["error"]) == {
        "message",
        "type",
        "param",
        "code",
    }
    return decoded["error"]


def _check_calls(choice: Any) -> None:
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None and choice.message.tool_calls
    for call in choice.message.tool_calls:
        assert call.id.startswith("call_") and len(call.id) == 29 and call.type == "function"
        arguments = msgspec.json.decode(call.function.arguments)
        jsonschema.validate(arguments, SCHEMAS[call.function.name])


def _prompts(count: int = 40) -> list[str]:
    return [f"prompt number {i}" for i in range(count)]


# -- tools ------------------------------------------------------------------------------------


def test_required_calls_tools_whose_arguments_fit_their_schemas() -> None:
    """tool_choice required: every prompt calls one to three distinct tools, arguments valid;
    some prompts call several (parallel_tool_calls defaults to true)."""
    counts = set()
    for prompt in _prompts():
        choice = completion(_body(prompt, tools=TOOLS, tool_choice="required")).choices[0]
        _check_calls(choice)
        calls = choice.message.tool_calls or []
        assert len({c.function.name for c in calls}) == len(calls)
        assert len({c.id for c in calls}) == len(calls)
        counts.add(len(calls))
    assert counts == {1, 2, 3}


def test_parallel_tool_calls_false_calls_one() -> None:
    """Without parallel tool calls, required calls exactly one tool."""
    for prompt in _prompts(20):
        body = _body(prompt, tools=TOOLS, tool_choice="required", parallel_tool_calls=False)
        choice = completion(body).choices[0]
        _check_calls(choice)
        assert len(choice.message.tool_calls or []) == 1


def test_a_named_tool_is_the_one_called() -> None:
    """A named tool_choice calls that function alone."""
    choice_param = {"type": "function", "function": {"name": "get_time"}}
    for prompt in _prompts(10):
        choice = completion(_body(prompt, tools=TOOLS, tool_choice=choice_param)).choices[0]
        _check_calls(choice)
        assert [c.function.name for c in choice.message.tool_calls or []] == ["get_time"]


def test_none_never_calls_and_answers_words() -> None:
    """tool_choice none: words, as without tools."""
    for prompt in _prompts(10):
        got = completion(_body(prompt, tools=TOOLS, tool_choice="none"))
        plain = completion(_body(prompt))
        assert got.choices[0].message.tool_calls is None
        assert got.choices[0].message.content == plain.choices[0].message.content


def test_auto_calls_for_a_deterministic_share_and_never_after_a_tool_result() -> None:
    """auto (the default with tools): about 3 prompts in 4 call a tool, the same prompt always
    the same way; after a tool result the answer is text, so an agent loop ends."""
    called = 0
    for prompt in _prompts(80):
        first = completion(_body(prompt, tools=TOOLS))
        assert first.model_dump() | {"created": 0} == completion(
            _body(prompt, tools=TOOLS)
        ).model_dump() | {"created": 0}
        if first.choices[0].message.tool_calls:
            _check_calls(first.choices[0])
            called += 1
            call = first.choices[0].message.tool_calls[0]
            loop = _body(prompt, tools=TOOLS)
            loop["messages"] += [
                first.choices[0].message.model_dump(exclude_none=True),
                {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
            ]
            after = completion(loop).choices[0]
            assert after.finish_reason == "stop" and after.message.tool_calls is None
            assert after.message.content
    share = 1 - 1 / AUTO_TEXT_SHARE
    assert abs(called / 80 - share) < 0.15, called


def test_n_choices_each_call_tools() -> None:
    """n choices: each one is a full answer (tool calls drawn per choice)."""
    got = completion(_body(tools=TOOLS, tool_choice="required", n=5))
    assert [c.index for c in got.choices] == list(range(5))
    for choice in got.choices:
        _check_calls(choice)


def test_streamed_tool_calls_are_openai_deltas_the_sdk_accumulates() -> None:
    """The stream: role first, then each call's id/type/name with empty arguments, then its
    arguments in several pieces, finish_reason tool_calls, usage; the SDK's own stream state
    assembles the same tool calls as the plain answer."""
    for prompt in _prompts(10):
        body = _body(prompt, tools=TOOLS, tool_choice="required")
        events = chunks({**body, "stream_options": {"include_usage": True}})
        assert events[0]["choices"][0]["delta"] == {"role": "assistant"}
        head = events[1]["choices"][0]["delta"]["tool_calls"][0]
        assert head["index"] == 0 and head["type"] == "function" and head["id"].startswith("call_")
        assert head["function"]["arguments"] == ""
        deltas = [d for e in events[1:-2] for d in e["choices"][0]["delta"]["tool_calls"]]
        pieces: dict[int, list[str]] = {}
        for delta in deltas:
            if "id" in delta:  # a call's head: id, type, name, empty arguments
                assert set(delta) == {"index", "id", "type", "function"}
                assert delta["function"]["arguments"] == "" and delta["index"] not in pieces
                pieces[delta["index"]] = []
            else:  # a piece of its arguments: index and arguments only
                assert set(delta) == {"index", "function"} and set(delta["function"]) == {
                    "arguments"
                }
                pieces[delta["index"]].append(delta["function"]["arguments"])
        assert max(len(p) for p in pieces.values()) > 2  # arguments arrive in several pieces
        assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"
        assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] > 0
        state: ChatCompletionStreamState[None] = ChatCompletionStreamState(input_tools=TOOLS)  # type: ignore[arg-type]
        for event in events:
            state.handle_chunk(ChatCompletionChunk.model_validate(event))
        streamed = state.get_final_completion().choices[0]
        plain = completion(body).choices[0]
        assert streamed.finish_reason == "tool_calls"
        assert [
            (c.id, c.function.name, c.function.arguments) for c in streamed.message.tool_calls or []
        ] == [(c.id, c.function.name, c.function.arguments) for c in plain.message.tool_calls or []]


# -- response formats -------------------------------------------------------------------------


def test_json_schema_content_fits_and_parses_with_the_sdk() -> None:
    """response_format json_schema: the content is JSON fitting the schema, and the SDK's
    pydantic parse of it succeeds, plain and streamed."""
    schema = Answer.model_json_schema()
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "Answer", "schema": schema, "strict": True},
    }
    for prompt in _prompts(10):
        got = completion(_body(prompt, response_format=fmt)).choices[0]
        assert got.finish_reason == "stop" and got.message.content is not None
        jsonschema.validate(msgspec.json.decode(got.message.content), schema)
        Answer.model_validate_json(got.message.content)
        streamed = "".join(
            e["choices"][0]["delta"].get("content", "")
            for e in chunks(_body(prompt, response_format=fmt))[:-1]
        )
        assert streamed == got.message.content


def test_json_object_is_a_json_object() -> None:
    """response_format json_object: the content decodes to an object."""
    got = completion(_body(response_format={"type": "json_object"})).choices[0]
    assert isinstance(msgspec.json.decode(got.message.content or ""), dict)


def test_max_tokens_cuts_json_with_length() -> None:
    """JSON content is cut at max_tokens like any content: finish_reason length."""
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "A", "schema": Answer.model_json_schema()},
    }
    got = completion(_body(response_format=fmt, max_tokens=2)).choices[0]
    assert got.finish_reason == "length" and len(got.message.content or "") <= 8


# -- stop, logprobs, n ------------------------------------------------------------------------


def test_stop_cuts_before_the_first_stop_string() -> None:
    """The answer is cut before the earliest stop string, finish_reason stop; plain and
    streamed agree."""
    plain = completion(_body()).choices[0].message.content or ""
    words = plain.split()
    stop = [" " + words[3], "zzz-not-there"]
    got = completion(_body(stop=stop)).choices[0]
    assert got.finish_reason == "stop"
    assert got.message.content == plain[: plain.index(stop[0])]
    streamed = "".join(
        e["choices"][0]["delta"].get("content", "") for e in chunks(_body(stop=stop))[:-1]
    )
    assert streamed == got.message.content
    inside = completion(_body(stop=words[2][1:3])).choices[0]  # inside a word
    assert inside.message.content == plain[: plain.index(words[2][1:3])]
    missing = completion(_body(stop="zzz")).choices[0]
    assert (missing.message.content, missing.finish_reason) == (plain, "stop")


def test_stop_past_max_tokens_is_length() -> None:
    """A stop string after the max_tokens cut does not apply: finish_reason length."""
    plain = completion(_body()).choices[0].message.content or ""
    last = plain.split()[-1]
    got = completion(_body(stop=" " + last, max_tokens=2)).choices[0]
    if (" " + last) not in " ".join(plain.split()[:2]):
        assert got.finish_reason == "length"


def test_logprobs_plain_and_streamed() -> None:
    """logprobs with top_logprobs k: one entry per token (token, logprob, bytes, k
    alternatives, the token itself first, in descending order), the same in the stream."""
    got = completion(_body(logprobs=True, top_logprobs=3, n=2))
    for choice in got.choices:
        assert choice.logprobs is not None and choice.logprobs.content is not None
        entries = choice.logprobs.content
        assert "".join(e.token for e in entries) == choice.message.content
        assert len(entries) == TOKENS
        for entry in entries:
            assert entry.bytes == list(entry.token.encode()) and entry.logprob <= 0
            assert len(entry.top_logprobs) == 3 and entry.top_logprobs[0].token == entry.token
            values = [t.logprob for t in entry.top_logprobs]
            assert values == sorted(values, reverse=True) and len(set(values)) == 3
    streamed = [
        c
        for e in chunks(_body(logprobs=True, top_logprobs=3, n=2))
        for c in e["choices"]
        if c["logprobs"]
    ]
    assert len(streamed) == 2 * TOKENS
    first = [c["logprobs"]["content"][0] for c in streamed if c["index"] == 0]
    content = got.choices[0].logprobs.content if got.choices[0].logprobs else None
    assert first == [e.model_dump() for e in content or []]
    without = completion(_body(logprobs=True)).choices[0].logprobs
    assert without is not None and without.content and without.content[0].top_logprobs == []


def test_logprobs_are_bounded() -> None:
    """Past MAX_LOGPROB_ENTRIES entries a request, logprobs are a 400 naming logprobs, and
    none is built first (128 choices of 4,096 tokens with 20 alternatives: 11M entries)."""
    raw = msgspec.json.encode(_body(logprobs=True, top_logprobs=20, n=128))
    mock = MockProvider("mock", MockConfig(tokens=4096))
    call = Call("/chat/completions", raw, decode_request(ChatRequest, raw), "mock-gpt", "rid")

    async def refused() -> tuple[int, bytes]:
        response = await mock.send(call)
        return response.status, await response.read()

    assert MAX_LOGPROB_ENTRIES < 128 * 4096 * 21
    status, body = asyncio.run(refused())
    assert status == 400 and msgspec.json.decode(body)["error"]["param"] == "logprobs"


# -- mock_response, mock_error ----------------------------------------------------------------


def test_mock_response_is_the_exact_content() -> None:
    """mock_response: that content, exactly, in every choice, plain and streamed."""
    text = "  Hello,  world!\nSecond line. "
    got = completion(_body(mock_response=text, n=2, max_tokens=1, stop="world"))
    assert [c.message.content for c in got.choices] == [text, text]
    assert {c.finish_reason for c in got.choices} == {"stop"}
    events = chunks(_body(mock_response=text))
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1]) == text
    status, raw = send({"model": "m", "prompt": "p", "mock_response": "fixed"}, "/completions")
    assert status == 200 and msgspec.json.decode(raw)["choices"][0]["text"] == "fixed"


@pytest.mark.parametrize("status", sorted(MOCK_ERRORS))
def test_mock_error_answers_that_status_in_openai_shape(status: int) -> None:
    """mock_error: that status, with OpenAI's error body (type and code of that status)."""
    got = error(_body(mock_error=status, stream=True), status)
    assert (got["type"], got["code"]) == MOCK_ERRORS[status]


def test_mock_error_outside_the_list_is_a_400() -> None:
    """A mock_error status the mock does not answer is refused, naming mock_error."""
    assert error(_body(mock_error=200))["param"] == "mock_error"


def test_text_completions_honour_stop() -> None:
    """Legacy completions: stop cuts the text too."""
    status, raw = send({"model": "m", "prompt": "p"}, "/completions")
    text = msgspec.json.decode(raw)["choices"][0]["text"]
    word = text.split()[2]
    status, raw = send({"model": "m", "prompt": "p", "stop": [word]}, "/completions")
    assert (
        status == 200 and msgspec.json.decode(raw)["choices"][0]["text"] == text[: text.index(word)]
    )


# -- what OpenAI refuses ----------------------------------------------------------------------

REFUSED = [
    ({"tools": "get_weather"}, "tools"),
    ({"tools": []}, "tools"),
    ({"tools": [{"type": "function", "function": {"parameters": {}}}]}, "tools[0].function"),
    (
        {"tools": [{"type": "function", "function": {"name": "has space"}}]},
        "tools[0].function.name",
    ),
    ({"tools": [{"type": "retrieval"}]}, "tools[0].type"),
    ({"tools": TOOLS, "tool_choice": "any"}, "tool_choice"),
    (
        {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}},
        "tool_choice",
    ),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"parallel_tool_calls": True}, "parallel_tool_calls"),
    ({"response_format": {"type": "xml"}}, "response_format.type"),
    ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
    (
        {"response_format": {"type": "json_schema", "json_schema": {"name": "a b"}}},
        "response_format.json_schema.name",
    ),
    (
        {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "A", "schema": {"type": "strnig"}},
            }
        },
        "response_format",
    ),
    (
        {
            "tools": [
                {"type": "function", "function": {"name": "f", "parameters": {"$ref": "#/nowhere"}}}
            ],
            "tool_choice": "required",
        },
        "tools[0].function.parameters",
    ),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"stop": 3}, "stop"),
    ({"top_logprobs": 2}, "top_logprobs"),
    ({"logprobs": "yes"}, "logprobs"),
]


@pytest.mark.parametrize(
    ("fields", "param"), REFUSED, ids=[r[1] + str(i) for i, r in enumerate(REFUSED)]
)
def test_what_openai_refuses_is_a_400_naming_the_param(fields: dict[str, Any], param: str) -> None:
    """Malformed tools, tool choices, response formats, schemas, stop and logprobs: a 400
    invalid_request_error naming the param, never a 500."""
    got = error(_body(**fields))
    assert got["type"] == "invalid_request_error" and got["param"] == param, got


def test_the_extras_path_answers_plain_chat_as_the_plain_path() -> None:
    """A body that has one of the extra keys but asks nothing of it (logprobs false, tool
    choice none without tools) is answered exactly as the plain path answers (words, usage)."""
    plain = completion(_body())
    for fields in ({"logprobs": False}, {"tool_choice": "none"}, {"stop": []}):
        got = completion(_body(**fields))
        assert got.model_dump() | {"created": 0} == plain.model_dump() | {"created": 0}
    assert [e["choices"] for e in chunks(_body())] == [e["choices"] for e in chunks(_body(stop=[]))]
