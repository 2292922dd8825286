"""Stored completions and streams (fastgw.cache.replay): ``assemble`` builds the plain
completion a clean stream stands for, ``replay`` turns a stored completion back into SSE.

Every shape is checked against the official SDK's pydantic models, and ``replay`` followed by
``assemble`` must give back the stored bytes exactly.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types import Completion as SDKCompletion
from openai.types.chat import ChatCompletion as SDKChatCompletion
from openai.types.chat import ChatCompletionChunk as SDKChatCompletionChunk

from fastgw.cache.replay import DONE, assemble, replay

PROPERTY = settings(max_examples=200, deadline=None, database=None)
HEAD = {
    "id": "chatcmpl-1",
    "created": 1700000000,
    "model": "gpt-4o-mini",
    "system_fingerprint": "fp_1",
}
USAGE = {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}


# -- building streams ------------------------------------------------------------------------------


def chunk(*choices: dict[str, Any], usage: Any = None, **fields: Any) -> bytes:
    """The ``data`` payload of one chat stream chunk."""
    body = {**HEAD, "object": "chat.completion.chunk", "choices": list(choices), **fields}
    if usage is not None:
        body["usage"] = usage
    return msgspec.json.encode(body)


def text_chunk(*choices: dict[str, Any], usage: Any = None) -> bytes:
    """The ``data`` payload of one legacy-completion stream chunk."""
    body = {**HEAD, "id": "cmpl-1", "object": "text_completion", "choices": list(choices)}
    if usage is not None:
        body["usage"] = usage
    return msgspec.json.encode(body)


def delta(index: int = 0, finish: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"index": index, "delta": fields, "logprobs": None, "finish_reason": finish}


def text(value: str, index: int = 0, finish: str | None = None) -> dict[str, Any]:
    return {"index": index, "text": value, "logprobs": None, "finish_reason": finish}


def call(
    index: int,
    arguments: str,
    *,
    id: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """A tool-call delta; ``id`` and ``name`` come only in a call's first delta."""
    out: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if id is not None:
        out.update(id=id, type="function")
        out["function"]["name"] = name
    return out


def payloads_of(events: list[bytes]) -> list[bytes]:
    """The ``data`` payloads of replayed events, ``[DONE]`` excluded (what the relay keeps)."""
    assert events[-1] == DONE
    out = []
    for event in events[:-1]:
        assert event.startswith(b"data: ") and event.endswith(b"\n\n")
        out.append(event[6:-2])
    return out


def stored(payloads: list[bytes]) -> dict[str, Any]:
    """``assemble(payloads)`` decoded, after checking the SDK accepts it as a completion."""
    body = assemble(payloads)
    assert body is not None
    decoded: dict[str, Any] = msgspec.json.decode(body)
    model = SDKChatCompletion if decoded["object"] == "chat.completion" else SDKCompletion
    model.model_validate(decoded)
    return decoded


HELLO = [
    chunk(delta(role="assistant", content="")),
    chunk(delta(content="Hel")),
    chunk(delta(content="lo")),
    chunk(delta(finish="stop")),
    chunk(usage=USAGE),
]


# -- assemble --------------------------------------------------------------------------------------


def test_chat_content_is_joined_into_the_plain_completion() -> None:
    """Content deltas are joined into one assistant message with the stream's id, created,
    model, fingerprint, finish_reason and usage."""
    assert stored(HELLO) == {
        **HEAD,
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello", "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": USAGE,
    }


def test_usage_is_null_when_the_stream_had_none() -> None:
    """A stream without a usage chunk is stored with ``usage: null``."""
    assert stored(HELLO[:-1])["usage"] is None


def test_tool_call_deltas_are_merged_by_index() -> None:
    """Interleaved tool-call deltas are merged per call index: id, type and name from the
    first, arguments concatenated; content is null, as in a plain tool-call answer."""
    payloads = [
        chunk(
            delta(
                role="assistant",
                content=None,
                tool_calls=[call(0, "", id="call_a", name="weather")],
            )
        ),
        chunk(delta(tool_calls=[call(1, '{"city":', id="call_b", name="time")])),
        chunk(delta(tool_calls=[call(0, '{"city":')])),
        chunk(delta(tool_calls=[call(0, '"Paris"}'), call(1, '"Rome"}')])),
        chunk(delta(finish="tool_calls")),
    ]
    message = stored(payloads)["choices"][0]["message"]
    assert message == {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "tool_calls": [
            {
                "id": "call_a",
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
            },
            {
                "id": "call_b",
                "type": "function",
                "function": {"name": "time", "arguments": '{"city":"Rome"}'},
            },
        ],
    }


def test_tool_call_keeps_type_and_empty_arguments() -> None:
    """A stored tool call always has ``type`` and ``arguments`` (even empty), whatever the
    string objects the decoder produced: the SDK discriminates tool calls on ``type``."""
    payloads = [
        chunk(
            delta(
                role="assistant",
                tool_calls=[
                    {"index": 0, "id": "call_a", "function": {"name": "ping", "arguments": ""}},
                ],
            )
        ),
        chunk(delta(finish="tool_calls")),
    ]
    (tool_call,) = stored(payloads)["choices"][0]["message"]["tool_calls"]
    assert tool_call == {
        "id": "call_a",
        "type": "function",
        "function": {"name": "ping", "arguments": ""},
    }


def test_refusal_is_joined_and_content_is_null() -> None:
    """Refusal deltas are joined into ``refusal`` and ``content`` is null, as OpenAI answers
    a refusal."""
    payloads = [
        chunk(delta(role="assistant", refusal="")),
        chunk(delta(refusal="I can't ")),
        chunk(delta(refusal="help with that.")),
        chunk(delta(finish="stop")),
    ]
    message = stored(payloads)["choices"][0]["message"]
    assert message == {"role": "assistant", "content": None, "refusal": "I can't help with that."}


def test_text_completion_stream() -> None:
    """A legacy-completion stream becomes a ``text_completion`` with the joined text."""
    payloads = [
        text_chunk(text("Once")),
        text_chunk(text(" upon")),
        text_chunk(text("", finish="length")),
        text_chunk(usage=USAGE),
    ]
    assert stored(payloads) == {
        **HEAD,
        "id": "cmpl-1",
        "object": "text_completion",
        "choices": [{"index": 0, "text": "Once upon", "finish_reason": "length", "logprobs": None}],
        "usage": USAGE,
    }


def test_several_choices_are_kept_apart_and_ordered() -> None:
    """With ``n > 1`` each choice index gets its own message, ordered by index whatever
    order the chunks came in."""
    payloads = [
        chunk(delta(1, role="assistant", content=""), delta(0, role="assistant", content="")),
        chunk(delta(1, content="B1")),
        chunk(delta(0, content="A1"), delta(1, content="B2")),
        chunk(delta(0, content="A2")),
        chunk(delta(1, finish="length")),
        chunk(delta(0, finish="stop")),
    ]
    choices = stored(payloads)["choices"]
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in choices] == [
        (0, "A1A2", "stop"),
        (1, "B1B2", "length"),
    ]


def test_several_text_choices() -> None:
    """A legacy-completion stream with ``n = 2`` keeps each choice's text apart."""
    payloads = [
        text_chunk(text("a", 0), text("x", 1)),
        text_chunk(text("b", 0), text("y", 1)),
        text_chunk(text("", 0, "stop"), text("", 1, "stop")),
    ]
    assert [c["text"] for c in stored(payloads)["choices"]] == ["ab", "xy"]


def test_leading_chunk_without_choices_does_not_name_the_answer() -> None:
    """A first chunk without choices (Azure's prompt-filter results, with an empty id and
    model) does not give the stored completion its id or model."""
    filters = msgspec.json.encode(
        {
            "id": "",
            "object": "",
            "created": 0,
            "model": "",
            "choices": [],
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
        }
    )
    body = stored([filters, *HELLO])
    assert (body["id"], body["object"], body["model"], body["created"]) == (
        HEAD["id"],
        "chat.completion",
        HEAD["model"],
        HEAD["created"],
    )
    assert body["choices"][0]["message"]["content"] == "Hello"


@pytest.mark.parametrize(
    "payloads",
    [
        pytest.param([], id="empty"),
        pytest.param([chunk(usage=USAGE)], id="usage-only"),
        pytest.param(HELLO[:3], id="no-finish-reason"),
        pytest.param(
            [chunk(delta(0, content="a"), delta(1, content="b")), chunk(delta(0, finish="stop"))],
            id="one-choice-unfinished",
        ),
        pytest.param(
            [chunk({**delta(content="Hi"), "logprobs": {"content": []}}), *HELLO[3:]],
            id="logprobs",
        ),
        pytest.param(
            [
                text_chunk({**text("a"), "logprobs": {"tokens": ["a"]}}),
                text_chunk(text("", finish="stop")),
            ],
            id="text-logprobs",
        ),
        pytest.param(
            [
                chunk(delta(role="assistant", function_call={"name": "f", "arguments": ""})),
                chunk(delta(function_call={"arguments": "{}"})),
                chunk(delta(finish="function_call")),
            ],
            id="legacy-function-call",
        ),
        pytest.param(
            [chunk(delta(role="assistant", audio={"id": "audio_1", "data": "AAAA"})), *HELLO[3:]],
            id="audio",
        ),
        pytest.param([b"not json", *HELLO], id="not-json"),
        pytest.param([*HELLO[:-1], b'{"choices": 5}'], id="wrong-type"),
        pytest.param([b"[1, 2]", *HELLO], id="not-an-object"),
        pytest.param([HELLO[0], b'{"choices":[{"index":0,"delta":', *HELLO[1:]], id="truncated"),
    ],
)
def test_unstorable_streams_give_none(payloads: list[bytes]) -> None:
    """``assemble`` refuses what it cannot store faithfully: no choices or a choice without
    finish_reason, logprobs, content it does not model (legacy function_call, audio), and
    payloads that are not decodable chunks."""
    assert assemble(payloads) is None


# -- replay ----------------------------------------------------------------------------------------


TOOL_STREAM = [
    chunk(
        delta(
            role="assistant",
            content=None,
            tool_calls=[call(0, '{"q":', id="call_1", name="search")],
        )
    ),
    chunk(delta(tool_calls=[call(0, '"fastgw"}')])),
    chunk(delta(finish="tool_calls")),
    chunk(usage=USAGE),
]
N2_STREAM = [
    chunk(delta(0, role="assistant", content=""), delta(1, role="assistant", content="")),
    chunk(delta(0, content="one"), delta(1, content="two")),
    chunk(delta(0, finish="stop"), delta(1, finish="stop")),
    chunk(usage=USAGE),
]
REFUSAL_STREAM = [
    chunk(delta(role="assistant", refusal="No.")),
    chunk(delta(finish="stop")),
    chunk(usage=USAGE),
]
TEXT_STREAM = [
    text_chunk(text("Once", 0), text("Twice", 1)),
    text_chunk(text(" more", 0), text(" again", 1)),
    text_chunk(text("", 0, "stop"), text("", 1, "length")),
    text_chunk(usage=USAGE),
]
CHAT_STREAMS = {"content": HELLO, "tools": TOOL_STREAM, "n2": N2_STREAM, "refusal": REFUSAL_STREAM}


def stored_bytes(payloads: list[bytes]) -> bytes:
    body = assemble(payloads)
    assert body is not None
    return body


@pytest.mark.parametrize("include_usage", [True, False])
@pytest.mark.parametrize("name", [*CHAT_STREAMS, "text"])
def test_replay_is_valid_openai_stream(name: str, include_usage: bool) -> None:
    """Every replayed event is one ``data:`` line holding a chunk the SDK accepts, then
    ``[DONE]``; with include_usage each chunk carries ``usage: null`` but the last, which
    has no choices and the usage; without it no chunk mentions usage."""
    body = stored_bytes(TEXT_STREAM if name == "text" else CHAT_STREAMS[name])
    events = replay(body, include_usage)
    chunks = [msgspec.json.decode(p) for p in payloads_of(events)]
    for each in chunks:
        if name == "text":  # the SDK's Completion types finish_reason as never null
            assert all(
                set(c) == {"index", "text", "finish_reason", "logprobs"} for c in each["choices"]
            )
        else:
            SDKChatCompletionChunk.model_validate(each)
        assert each["object"] == ("text_completion" if name == "text" else "chat.completion.chunk")
        assert (each["id"], each["created"], each["model"]) == (
            "cmpl-1" if name == "text" else HEAD["id"],
            HEAD["created"],
            HEAD["model"],
        )
    if include_usage:
        *answer, last = chunks
        assert (last["choices"], last["usage"]) == ([], USAGE)
        assert all(c["usage"] is None for c in answer)
    else:
        answer = chunks
        assert all("usage" not in c for c in chunks)
    assert all(c["choices"] for c in answer)


@pytest.mark.parametrize("name", CHAT_STREAMS)
def test_replay_accumulates_in_the_sdk_to_the_stored_message(name: str) -> None:
    """The SDK's own stream accumulator turns a replayed chat stream into the stored
    messages: content, refusal, tool calls, finish reasons and usage."""
    body = stored_bytes(CHAT_STREAMS[name])
    state: ChatCompletionStreamState[None] = ChatCompletionStreamState()
    for payload in payloads_of(replay(body, True)):
        state.handle_chunk(SDKChatCompletionChunk.model_validate_json(payload))
    final = state.get_final_completion()
    expected = SDKChatCompletion.model_validate_json(body)
    assert final.id == expected.id and final.usage == expected.usage
    assert len(final.choices) == len(expected.choices)
    for got, want in zip(final.choices, expected.choices, strict=True):
        assert got.finish_reason == want.finish_reason
        assert got.message.refusal == want.message.refusal
        assert (got.message.content or None) == want.message.content
        assert [
            (t.id, t.type, t.function.name, t.function.arguments)
            for t in got.message.tool_calls or []
        ] == [
            (t.id, t.type, t.function.name, t.function.arguments)
            for t in want.message.tool_calls or []
        ]


@pytest.mark.parametrize("name", [*CHAT_STREAMS, "text"])
def test_replay_then_assemble_gives_back_the_stored_bytes(name: str) -> None:
    """Re-assembling a replayed stream gives back the stored completion byte for byte."""
    body = stored_bytes(TEXT_STREAM if name == "text" else CHAT_STREAMS[name])
    assert assemble(payloads_of(replay(body, True))) == body


def test_replay_without_stored_usage_has_no_usage_chunk() -> None:
    """A completion stored without usage replays without a usage chunk even when the
    request asks for one: the gateway never invents token counts."""
    chunks = [msgspec.json.decode(p) for p in payloads_of(replay(stored_bytes(HELLO[:-1]), True))]
    assert all(c["choices"] and c["usage"] is None for c in chunks)


def test_replay_of_a_plain_upstream_answer() -> None:
    """A plain answer stored as the upstream sent it (its own key order, extra fields)
    replays as the same content and usage."""
    plain = msgspec.json.encode(
        {
            "id": "chatcmpl-9",
            "object": "chat.completion",
            "created": 5,
            "model": "gpt-4o",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "Hi there",
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {**USAGE, "prompt_tokens_details": {"cached_tokens": 0}},
            "service_tier": "default",
            "system_fingerprint": None,
        }
    )
    again = stored(payloads_of(replay(plain, True)))
    assert again["choices"][0]["message"]["content"] == "Hi there"
    assert again["usage"]["total_tokens"] == USAGE["total_tokens"]
    assert (again["id"], again["created"], again["model"]) == ("chatcmpl-9", 5, "gpt-4o")


LOGPROBS = {
    "content": [
        {"token": "Hi", "logprob": -0.25, "bytes": [72, 105], "top_logprobs": []},
        {"token": " there", "logprob": -1.5, "bytes": None, "top_logprobs": []},
    ],
    "refusal": None,
}
TEXT_LOGPROBS = {
    "tokens": ["Once", " more"],
    "token_logprobs": [-0.5, -0.125],
    "top_logprobs": None,
    "text_offset": [0, 4],
}


def test_replay_carries_a_plain_answers_logprobs() -> None:
    """A stored plain answer's logprobs ride on the chunk that carries all its content, so a
    streamed hit gives the same logprobs the SDK would have accumulated."""
    plain = msgspec.json.encode(
        {
            **HEAD,
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hi there"},
                    "logprobs": LOGPROBS,
                    "finish_reason": "stop",
                }
            ],
            "usage": USAGE,
        }
    )
    chunks = [msgspec.json.decode(p) for p in payloads_of(replay(plain, True))]
    carrying = [c for c in chunks if c["choices"] and c["choices"][0]["logprobs"] is not None]
    assert len(carrying) == 1
    assert carrying[0]["choices"][0]["delta"] == {"content": "Hi there"}
    assert carrying[0]["choices"][0]["logprobs"] == LOGPROBS
    state: ChatCompletionStreamState[None] = ChatCompletionStreamState()
    for each in chunks:
        state.handle_chunk(SDKChatCompletionChunk.model_validate(each))
    final = state.get_final_completion().choices[0]
    assert final.logprobs is not None and final.logprobs.content is not None
    assert [t.token for t in final.logprobs.content] == ["Hi", " there"]


def test_replay_carries_a_text_answers_logprobs() -> None:
    """A stored legacy completion's logprobs ride on its text chunk."""
    plain = msgspec.json.encode(
        {
            **HEAD,
            "id": "cmpl-1",
            "object": "text_completion",
            "choices": [
                {
                    "index": 0,
                    "text": "Once more",
                    "logprobs": TEXT_LOGPROBS,
                    "finish_reason": "stop",
                }
            ],
        }
    )
    chunks = [msgspec.json.decode(p) for p in payloads_of(replay(plain, False))]
    assert [c["choices"][0]["logprobs"] for c in chunks] == [TEXT_LOGPROBS, None]
    assert chunks[0]["choices"][0]["text"] == "Once more"


# -- the round trip, for any stream ----------------------------------------------------------------


_pieces = st.lists(st.text(max_size=6), max_size=4)
_tool = st.tuples(st.text(min_size=1, max_size=8), st.lists(st.text(max_size=5), max_size=3))
_choice = st.fixed_dictionaries(
    {
        "content": _pieces,
        "refusal": _pieces,
        "tools": st.lists(_tool, max_size=2),
        "finish": st.sampled_from(["stop", "length", "tool_calls", "content_filter"]),
    }
)


@st.composite
def chat_streams(draw: st.DrawFn) -> tuple[list[bytes], list[dict[str, Any]]]:
    """A clean chat stream of 1-3 choices (content, refusal, tool-call deltas), and what
    each choice should assemble to."""
    choices = draw(st.lists(_choice, min_size=1, max_size=3))
    per_choice: list[list[dict[str, Any]]] = []
    for i, spec in enumerate(choices):
        events = [delta(i, role="assistant", content="")]
        events += [delta(i, content=p) for p in spec["content"]]
        events += [delta(i, refusal=p) for p in spec["refusal"]]
        for k, (name, args) in enumerate(spec["tools"]):
            events.append(delta(i, tool_calls=[call(k, "", id=f"call_{i}_{k}", name=name)]))
            events += [delta(i, tool_calls=[call(k, a)]) for a in args]
        per_choice.append(events)
    order = draw(st.permutations([i for i, events in enumerate(per_choice) for _ in events]))
    cursors = [0] * len(per_choice)
    payloads = []
    for i in order:  # the choices' deltas interleaved, each choice's in its own order
        payloads.append(chunk(per_choice[i][cursors[i]]))
        cursors[i] += 1
    payloads += [chunk(delta(i, finish=spec["finish"])) for i, spec in enumerate(choices)]
    if draw(st.booleans()):
        payloads.append(chunk(usage=USAGE))
    return payloads, choices


@PROPERTY
@given(chat_streams())
def test_any_chat_stream_round_trips(case: tuple[list[bytes], list[dict[str, Any]]]) -> None:
    """For any clean chat stream, the stored completion holds each choice's joined content,
    refusal and tool calls, and replaying then re-assembling it gives the same bytes."""
    payloads, choices = case
    body = stored_bytes(payloads)
    decoded = stored(payloads)
    for spec, choice in zip(choices, decoded["choices"], strict=True):
        message = choice["message"]
        content = "".join(spec["content"])
        if content or not (spec["tools"] or spec["refusal"]):
            assert message["content"] == content
        else:
            assert message["content"] is None
        assert message["refusal"] == ("".join(spec["refusal"]) if spec["refusal"] else None)
        assert [
            (t["function"]["name"], t["function"]["arguments"])
            for t in message.get("tool_calls", [])
        ] == [(name, "".join(args)) for name, args in spec["tools"]]
        assert choice["finish_reason"] == spec["finish"]
    for include_usage in (True, False):
        again = assemble(payloads_of(replay(body, include_usage)))
        if include_usage or decoded["usage"] is None:
            assert again == body
        else:
            assert again is not None
            assert msgspec.json.decode(again) == {**decoded, "usage": None}


@PROPERTY
@given(
    st.lists(st.tuples(_pieces, st.sampled_from(["stop", "length"])), min_size=1, max_size=3),
    st.booleans(),
)
def test_any_text_stream_round_trips(choices: list[tuple[list[str], str]], usage: bool) -> None:
    """For any clean legacy-completion stream, the stored text is the joined pieces and
    replaying then re-assembling it gives the same bytes."""
    longest = max(len(pieces) for pieces, _ in choices)
    payloads = [
        text_chunk(*(text(p[k], i) for i, (p, _) in enumerate(choices) if k < len(p)))
        for k in range(longest)
    ]
    payloads.append(text_chunk(*(text("", i, finish) for i, (_, finish) in enumerate(choices))))
    if usage:
        payloads.append(text_chunk(usage=USAGE))
    body = stored_bytes(payloads)
    assert [c["text"] for c in msgspec.json.decode(body)["choices"]] == [
        "".join(pieces) for pieces, _ in choices
    ]
    assert assemble(payloads_of(replay(body, True))) == body
