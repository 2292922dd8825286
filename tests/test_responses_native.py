"""The Responses API's native passthrough, sans-IO: the body a native upstream is sent, what is
read of its answers, and the stream watch (``NativeStream``), with byte literals."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
import pytest

from fastgw.config import OpenAIProvider as OpenAIConfig
from fastgw.inbound.response_store import ResponseStore, Stored
from fastgw.protocols.responses.native import (
    continuation,
    read_answer,
    storable_id,
    upstream_body,
    usage_of,
)
from fastgw.protocols.responses.native_stream import NativeStream
from fastgw.protocols.responses.request import THINKING_PREFIX, Item, read_request
from fastgw.providers import Call, answers_natively
from fastgw.wire import ChatRequest

decode = msgspec.json.decode


def body_of(raw: bytes, history: list[Item] | None = None) -> dict[str, Any]:
    read_request(raw)  # as the front reads it first
    out: dict[str, Any] = decode(upstream_body(raw, history or []))
    return out


# -- the upstream body --------------------------------------------------------------------------


def test_the_clients_body_with_store_false() -> None:
    """Every field the client sent reaches the upstream, store false whatever it asked."""
    raw = b'{"model":"m","input":"hi","include":["reasoning.encrypted_content"],"store":true}'
    assert body_of(raw) == {
        "model": "m",
        "input": "hi",
        "include": ["reasoning.encrypted_content"],
        "store": False,
    }


def test_a_doubled_key_is_sent_as_the_gateway_read_it() -> None:
    """The gateway routes on the last of two equal keys; the upstream gets that one only."""
    raw = b'{"model":"a","input":"hi","model":"b"}'
    assert upstream_body(raw, []).count(b'"model"') == 1
    assert body_of(raw)["model"] == "b"


def test_a_continuation_expands_the_stored_items() -> None:
    """previous_response_id goes; the stored items (ids dropped) come before the client's
    input, a string input as a user message, a list as written."""
    history = [
        Item(type="message", role="user", content="Weather?"),
        Item(type="function_call", id="fc_1", call_id="c1", name="w", arguments="{}"),
    ]
    raw = b'{"model":"m","previous_response_id":"resp_1","input":"Thanks"}'
    body = body_of(raw, history)
    assert "previous_response_id" not in body and body["store"] is False
    assert body["input"] == [
        {"type": "message", "role": "user", "content": "Weather?"},
        {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{}"},
        {"type": "message", "role": "user", "content": "Thanks"},
    ]
    out = b'{"type":"function_call_output","call_id":"c1","output":"sunny"}'
    listed = upstream_body(
        b'{"model":"m","previous_response_id":"r","input":[' + out + b"]}", history
    )
    assert listed.endswith(b"," + out + b'],"store":false}')
    alone = body_of(b'{"model":"m","previous_response_id":"r"}', history)
    assert len(alone["input"]) == 2


def test_reasoning_goes_back_only_with_an_upstreams_encrypted_content() -> None:
    """A summary alone, or fastgw's own Anthropic thinking, is left out; an upstream's
    encrypted reasoning goes back whole, id included."""
    kept = Item(type="reasoning", id="rs_1", encrypted_content="gAAA", summary=[])
    history = [
        Item(type="reasoning", id="rs_0", summary=[]),
        Item(type="reasoning", id="rs_2", encrypted_content=THINKING_PREFIX + "e30="),
        kept,
    ]
    assert continuation(history) == [kept]


# -- answers ----------------------------------------------------------------------------------


def test_usage_is_read_in_the_gateways_terms() -> None:
    """input/output tokens and cached ones; none, unreadable or out of bounds is None."""
    body = b'{"usage":{"input_tokens":10,"output_tokens":4,"input_tokens_details":'
    body += b'{"cached_tokens":3},"output_tokens_details":{"reasoning_tokens":2}}}'
    usage = usage_of(body)
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (10, 4)
    assert usage.total_tokens == 14 and usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 3
    assert usage_of(b'{"usage":null}') is None
    assert usage_of(b'{"usage":{"input_tokens":-1}}') is None
    assert usage_of(b'{"usage":{"output_tokens":1099511627777}}') is None
    assert usage_of(b"[" * 100_000) is None


def test_an_answer_must_be_a_response_object_with_an_id() -> None:
    assert read_answer(b'{"id":"resp_1","object":"response","status":"completed"}') == (
        "resp_1",
        "completed",
    )
    for bad in (b'{"object":"response"}', b'{"id":"x","object":"list"}', b"[]", b"nope"):
        with pytest.raises(msgspec.DecodeError):
            read_answer(bad)
    assert storable_id("resp_abc-1") and not storable_id("a/b") and not storable_id("x" * 129)
    assert not storable_id("") and not storable_id(None)


def test_only_an_openai_provider_that_says_so_answers_natively() -> None:
    """The decision the provider and the route share: inbound responses, chat endpoint, a
    provider whose ``native`` names it."""
    request = ChatRequest(model="m", messages=[])
    call = Call("/chat/completions", b"{}", request, "m", "r", inbound=("responses", b"{}"))

    class Native:
        native = frozenset({"responses"})

    assert answers_natively(Native(), call)
    assert not answers_natively(object(), call)
    assert not answers_natively(Native(), Call("/chat/completions", b"{}", request, "m", "r"))
    other = Call("/chat/completions", b"{}", request, "m", "r", inbound=("anthropic", b"{}"))
    assert not answers_natively(Native(), other)
    assert OpenAIConfig(base_url="http://x").responses is False


# -- the stream watch -------------------------------------------------------------------------


def ev(kind: str, seq: int, **fields: Any) -> bytes:
    data = msgspec.json.encode({"type": kind, "sequence_number": seq, **fields})
    return b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"


RESPONSE = {"id": "resp_up", "object": "response", "status": "in_progress", "output": []}
DONE = {
    **RESPONSE,
    "status": "completed",
    "usage": {"input_tokens": 7, "output_tokens": 2, "input_tokens_details": {"cached_tokens": 1}},
}
STREAM = [
    ev("response.created", 0, response=RESPONSE),
    ev("response.in_progress", 1, response=RESPONSE),
    ev("response.output_text.delta", 2, item_id="m", output_index=0, content_index=0, delta="Hi"),
    ev("response.output_text.delta", 3, item_id="m", output_index=0, content_index=0, delta=" you"),
]


def watch() -> NativeStream:
    return NativeStream("resp_gw", 1, "model", {"store": True})


def events(data: bytes) -> list[dict[str, Any]]:
    return [decode(line[6:]) for line in data.split(b"\n") if line.startswith(b"data: ")]


def test_a_complete_stream_goes_out_as_the_same_bytes() -> None:
    """Each chunk is handed back as the same object; the end event makes it complete with
    its usage and final response; nothing follows it; end() adds nothing."""
    stream = watch()
    for chunk in [*STREAM, ev("response.completed", 4, response=DONE)]:
        assert stream.feed(chunk) is chunk
    assert stream.complete and not stream.failed and stream.end() == b""
    usage = stream.usage()
    assert usage is not None and usage.prompt_tokens == 7 and usage.completion_tokens == 2
    assert stream.final is not None and decode(stream.final)["id"] == "resp_up"
    assert stream.text_bytes == 6 and stream.text_events == 2
    assert stream.feed(STREAM[2]) == b""


def test_a_chunk_cut_anywhere_is_watched_the_same() -> None:
    whole = b"".join(
        [*STREAM, ev("response.incomplete", 4, response={**DONE, "status": "incomplete"})]
    )
    for cut in (1, 7, len(whole) // 2, len(whole) - 1):
        stream = watch()
        stream.feed(whole[:cut])
        stream.feed(whole[cut:])
        assert stream.complete and stream.final is not None


def test_events_after_the_end_are_left_out() -> None:
    stream = watch()
    chunk = ev("response.completed", 0, response=DONE) + STREAM[2]
    out = stream.feed(chunk)
    assert [e["type"] for e in events(out)] == ["response.completed"]


def test_a_cut_stream_ends_with_response_failed() -> None:
    """No end event: end() sends response.failed from the last response seen, numbered
    next."""
    stream = watch()
    for chunk in STREAM:
        stream.feed(chunk)
    assert not stream.complete and not stream.failed
    (failed,) = events(stream.end())
    assert failed["type"] == "response.failed" and failed["sequence_number"] == 4
    assert failed["response"]["id"] == "resp_up" and failed["response"]["status"] == "failed"
    assert failed["response"]["error"]["code"] == "server_error"
    assert stream.usage() is None and stream.end() == b""


def test_the_gateways_error_event_becomes_response_failed() -> None:
    """An OpenAI-shaped error event (the relay's, after a cut) is written as response.failed;
    a rate limit keeps its code; the events before it in the chunk go out unchanged."""
    stream = watch()
    stream.feed(STREAM[0])
    error = b'event: error\ndata: {"error": {"message": "slow down", "type": "requests", '
    error += b'"code": "rate_limit_exceeded"}}\n\n'
    out = stream.feed(STREAM[1] + error)
    kinds = events(out)
    assert [e["type"] for e in kinds] == ["response.in_progress", "response.failed"]
    assert kinds[1]["response"]["error"] == {"code": "rate_limit_exceeded", "message": "slow down"}
    assert stream.failed and stream.end() == b""


def test_an_upstream_error_event_goes_through_then_fails_at_the_end() -> None:
    """The Responses API's own error event is relayed as written; the stream, with no end
    event after it, ends with response.failed carrying its code and message."""
    stream = watch()
    stream.feed(STREAM[0])
    error = ev("error", 1, code="overloaded", message="Busy.", param=None)
    assert stream.feed(error) is error and stream.failed and not stream.complete
    (failed,) = events(stream.end())
    assert failed["sequence_number"] == 2
    assert failed["response"]["error"] == {"code": "overloaded", "message": "Busy."}


def test_a_failure_before_any_response_object_uses_the_gateways() -> None:
    stream = watch()
    (failed,) = events(stream.end())
    assert failed["sequence_number"] == 0 and failed["response"]["id"] == "resp_gw"
    assert failed["response"]["status"] == "failed" and failed["response"]["store"] is True


def test_hostile_events_never_raise() -> None:
    """Data that is not an event object, wrong types, deep nesting: watched as nothing."""
    stream = watch()
    for data in (b"[]", b'"x"', b'{"type":1}', b'{"sequence_number":"x"}', b"[" * 50_000):
        chunk = b"data: " + data + b"\n\n"
        assert stream.feed(chunk) is chunk
    assert not stream.complete and events(stream.end())[0]["type"] == "response.failed"


def test_an_id_another_key_holds_is_never_replaced(tmp_path: Path) -> None:
    """Stored under an upstream's id: a second key's put under the same id leaves the first
    key's row as it was (and the second key has nothing under it)."""
    store = ResponseStore(str(tmp_path / "r.sqlite"))

    async def scenario() -> None:
        mine, theirs = Stored(b'{"id":"resp_up"}', b"[]"), Stored(b'{"id":"x"}', b"[1]")
        await store.put("resp_up", "k1", mine, 60, 10)
        await store.put("resp_up", "k2", theirs, 60, 10)
        await store.put("resp_up", "k1", mine, 60, 10)  # its own: replaced, as before
        assert await store.get("resp_up", "k1") == mine
        assert await store.get("resp_up", "k2") is None

    try:
        asyncio.run(scenario())
    finally:
        store.close()
