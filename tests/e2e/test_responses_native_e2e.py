"""A real fastgw serving OpenAI's Responses API to the openai SDK through an upstream that
speaks it natively (``responses = true``, ``ResponsesUpstream``): answers and streams relayed
byte for byte, the gateway's own store across native and translated deployments, fallbacks
both ways, upstream errors, cut streams ending in ``response.failed``, usage and cost."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import openai
import pytest

from fastgw.keys import hash_key
from fastgw.records.db import select_usage
from fastgw.testing import Fault, GatewayProcess, ResponsesUpstream
from tests.conftest import DEV_KEY
from tests.e2e.test_responses_e2e import OTHER_KEY, client

pytestmark = pytest.mark.e2e

UP_KEY = "sk-upstream-native-0001"
NATIVE_TEXT = "The native upstream answers every"  # ResponsesUpstream, chunks=5
CHAT_TEXT = "The fake upstream answers every"  # its chat completions
PRICE = 2.0  # USD per million tokens, input and output; cached input at half
WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def config(up: ResponsesUpstream, sqlite: Path) -> str:
    timeouts = "{ connect_s = 1, first_byte_s = 2, idle_s = 2, total_s = 10 }"
    one = "retry = { retries = 0 }"
    return f"""
[server]
drain_timeout_s = 2

[storage]
sqlite_path = "{sqlite}"

[providers.native]
type = "openai"
base_url = "{up.base_url}"
api_key_env = "UP_KEY"
responses = true
timeouts = {timeouts}

[providers.chat]
type = "openai"
base_url = "{up.base_url}"
api_key_env = "UP_KEY"
timeouts = {timeouts}

[[models]]
name = "gpt-native"
deployments = [{{ provider = "native", model = "gpt-up" }}]
{one}

[[models]]
name = "gpt-chat"
deployments = [{{ provider = "chat", model = "gpt-up" }}]
{one}

[[models]]
name = "native-first"
deployments = [{{ provider = "native", model = "gpt-up" }}]
fallbacks = ["gpt-chat"]
{one}

[[models]]
name = "chat-first"
deployments = [{{ provider = "chat", model = "gpt-up" }}]
fallbacks = ["gpt-native"]
{one}

[prices."gpt-up"]
input = {PRICE}
output = {PRICE}
cached_input = {PRICE / 2}

[[keys]]
id = "dev"
hash = "{hash_key(DEV_KEY)}"

[[keys]]
id = "other"
hash = "{hash_key(OTHER_KEY)}"
"""


@pytest.fixture(scope="module")
def up() -> Iterator[ResponsesUpstream]:
    with ResponsesUpstream.in_thread(api_key=UP_KEY, chunks=5, cached_tokens=2) as up:
        yield up


@pytest.fixture
def sqlite(tmp_path: Path) -> Path:
    return tmp_path / "gw.sqlite"


@pytest.fixture
def gw(
    up: ResponsesUpstream, sqlite: Path, gateway_factory: Callable[..., GatewayProcess]
) -> GatewayProcess:
    up.reset()
    return gateway_factory(config(up, sqlite), env={"UP_KEY": UP_KEY})


@pytest.fixture
def sdk(gw: GatewayProcess) -> Iterator[openai.OpenAI]:
    with client(gw) as c:
        yield c


def sent(up: ResponsesUpstream, index: int = -1) -> dict[str, Any]:
    body: dict[str, Any] = msgspec.json.decode(up.requests[index].body)
    return body


# -- answers ----------------------------------------------------------------------------------


def test_create_is_relayed_as_the_upstream_wrote_it(
    up: ResponsesUpstream, sdk: openai.OpenAI
) -> None:
    """responses.create on a native deployment: the upstream's /responses gets the client's
    body (model renamed, store false, the upstream key), and the client the upstream's bytes."""
    raw = sdk.responses.with_raw_response.create(
        model="gpt-native", input="Say hi", instructions="Be brief.", metadata={"t": "1"}
    )
    response = raw.parse()
    assert raw.content == up.requests[-1].sent
    assert response.output_text == NATIVE_TEXT and response.id.startswith("resp_fake")
    assert response.usage is not None and response.usage.input_tokens_details.cached_tokens == 2
    rec = up.requests[-1]
    assert rec.path == "/v1/responses" and rec.headers["authorization"] == f"Bearer {UP_KEY}"
    body = sent(up)
    assert body["model"] == "gpt-up" and body["store"] is False
    assert body["input"] == "Say hi" and body["metadata"] == {"t": "1"}


def test_stream_is_relayed_as_received(up: ResponsesUpstream, sdk: openai.OpenAI) -> None:
    """A stream reaches the client as the upstream's events, byte for byte, and the SDK's
    helper rebuilds the response from them."""
    with sdk.responses.with_streaming_response.create(
        model="gpt-native", input="Say hi", stream=True
    ) as raw:
        relayed = raw.read()
    assert relayed == up.requests[-1].sent and b"response.completed" in relayed
    with sdk.responses.stream(model="gpt-native", input="Say hi") as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert final.output_text == NATIVE_TEXT and final.usage is not None
    assert sent(up)["stream"] is True and sent(up)["store"] is False


# -- state ------------------------------------------------------------------------------------


def test_function_call_round_trip_by_items(up: ResponsesUpstream, sdk: openai.OpenAI) -> None:
    """Stateless use: the output items and the function's result sent back (store false)
    reach the upstream as written; nothing is kept."""
    first = sdk.responses.create(
        model="gpt-native",
        input="Weather in Paris?",
        tools=[WEATHER],
        tool_choice="required",
        store=False,
    )
    call = first.output[0]
    assert call.type == "function_call" and json.loads(call.arguments) == {"city": "Paris"}
    items: Any = [
        {"role": "user", "content": "Weather in Paris?"},
        call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
    ]
    second = sdk.responses.create(model="gpt-native", input=items, tools=[WEATHER], store=False)
    assert second.output_text == NATIVE_TEXT
    assert sent(up)["input"] == items
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(first.id)


def test_previous_response_id_across_native_and_translated(
    up: ResponsesUpstream, sdk: openai.OpenAI
) -> None:
    """The gateway keeps a native answer under the upstream's id: previous_response_id
    continues it natively (the upstream gets the stored items, without ids, and no
    previous_response_id) and then on a translated deployment (chat messages in order)."""
    first = sdk.responses.create(
        model="gpt-native", input="Weather in Paris?", tools=[WEATHER], tool_choice="required"
    )
    call = first.output[0]
    assert call.type == "function_call"
    assert sdk.responses.retrieve(first.id).output[0].id == call.id
    result: Any = [{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}]
    second = sdk.responses.create(model="gpt-native", previous_response_id=first.id, input=result)
    assert second.output_text == NATIVE_TEXT
    body = sent(up)
    assert "previous_response_id" not in body and body["store"] is False
    assert body["input"][0] == {"type": "message", "role": "user", "content": "Weather in Paris?"}
    assert body["input"][1]["type"] == "function_call" and "id" not in body["input"][1]
    assert body["input"][1]["call_id"] == call.call_id and body["input"][2] == result[0]
    third = sdk.responses.create(model="gpt-chat", previous_response_id=second.id, input="Thanks")
    assert third.output_text == CHAT_TEXT
    roles = [m["role"] for m in sent(up)["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant", "user"]
    items = list(sdk.responses.input_items.list(third.id, order="asc"))
    assert [item.type for item in items] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
        "message",
    ]


def test_a_stream_is_stored_and_keys_are_isolated(gw: GatewayProcess, sdk: openai.OpenAI) -> None:
    """A streamed native answer is kept as its final response; another key can neither read,
    delete, continue nor cancel it; cancel is a 400 for its own key (nothing runs in the
    background) and a 404 for an id it does not have."""
    with sdk.responses.stream(model="gpt-native", input="Say hi") as stream:
        final = stream.get_final_response()
    assert sdk.responses.retrieve(final.id).output_text == NATIVE_TEXT
    with client(gw, OTHER_KEY) as other:
        with pytest.raises(openai.NotFoundError):
            other.responses.retrieve(final.id)
        with pytest.raises(openai.NotFoundError):
            other.responses.delete(final.id)
        with pytest.raises(openai.NotFoundError) as caught:
            other.responses.create(model="gpt-native", input="more", previous_response_id=final.id)
        assert caught.value.code == "previous_response_not_found"
        with pytest.raises(openai.NotFoundError):
            other.responses.cancel(final.id)
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.responses.cancel(final.id)
    assert "background" in refused.value.message
    with pytest.raises(openai.BadRequestError) as background:
        sdk.responses.create(model="gpt-native", input="hi", background=True)
    assert background.value.param == "background"
    sdk.responses.delete(final.id)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(final.id)


# -- routing and failures ---------------------------------------------------------------------


def test_fallback_native_to_translated_and_back(up: ResponsesUpstream, sdk: openai.OpenAI) -> None:
    """A native deployment that fails falls back to a translated model, and a translated one
    to a native model; each answer is in the Responses API's shape, plain and streamed."""
    up.fail_next(Fault.error(500))
    raw = sdk.responses.with_raw_response.create(model="native-first", input="Say hi")
    assert raw.parse().output_text == CHAT_TEXT
    assert [r.path for r in up.requests] == ["/v1/responses", "/v1/chat/completions"]
    assert raw.headers["x-fastgw-attempts"] == "native-first/native:500, gpt-chat/chat:200"
    up.reset()
    up.fail_next(Fault.error(503))
    with sdk.responses.stream(model="chat-first", input="Say hi") as stream:
        final = stream.get_final_response()
    assert final.output_text == NATIVE_TEXT and final.id.startswith("resp_fake")
    assert [r.path for r in up.requests] == ["/v1/chat/completions", "/v1/responses"]


def test_upstream_errors_are_the_sdks_exceptions(up: ResponsesUpstream, sdk: openai.OpenAI) -> None:
    """An upstream 400 keeps its message and param; a 429 is the SDK's RateLimitError."""
    body = b'{"error": {"message": "Bad input item.", "type": "invalid_request_error", '
    body += b'"param": "input", "code": null}}'
    up.fail_next(Fault.error(400, body))
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.responses.create(model="gpt-native", input="hi")
    assert caught.value.param == "input" and "Bad input item." in caught.value.message
    up.fail_next(Fault.error(429))
    with pytest.raises(openai.RateLimitError):
        sdk.responses.create(model="gpt-native", input="hi", stream=True)


def test_a_cut_stream_ends_with_response_failed(up: ResponsesUpstream, sdk: openai.OpenAI) -> None:
    """An upstream that drops the connection mid-stream: the client's stream ends with
    response.failed (numbered after the last event), never completed, and nothing is kept."""
    up.fail_next(Fault.cut(5))
    events = list(sdk.responses.create(model="gpt-native", input="Say hi", stream=True))
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] == "response.failed"
    assert "response.completed" not in types
    assert [e.sequence_number for e in events] == list(range(len(events)))
    failed = events[-1]
    assert failed.type == "response.failed" and failed.response.error is not None
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(failed.response.id)


def test_an_upstream_error_event_then_response_failed(
    up: ResponsesUpstream, sdk: openai.OpenAI
) -> None:
    """The upstream's own error event goes through, then the stream ends with
    response.failed carrying its code and message."""
    up.fail_next(Fault(error_event_after=4))
    events = list(sdk.responses.create(model="gpt-native", input="Say hi", stream=True))
    assert [e.type for e in events][-2:] == ["error", "response.failed"]
    failed = events[-1]
    assert failed.type == "response.failed" and failed.response.error is not None
    assert failed.response.error.message == "The native upstream failed mid-stream."
    assert [e.sequence_number for e in events] == list(range(len(events)))


# -- accounting -------------------------------------------------------------------------------


def test_usage_rows_carry_the_upstreams_tokens_and_cost(
    gw: GatewayProcess, sdk: openai.OpenAI, sqlite: Path
) -> None:
    """Plain and streamed native answers are usage rows with the upstream's tokens and the
    cost of them (cached input at its rate); the access line says /v1/responses."""
    plain = sdk.responses.create(model="gpt-native", input="Say hi")
    with sdk.responses.stream(model="gpt-native", input="Say hi") as stream:
        streamed = stream.get_final_response()
    assert plain.usage is not None and streamed.usage is not None
    prompt, output = plain.usage.input_tokens, plain.usage.output_tokens
    deadline = time.monotonic() + 5
    lines: list[dict[str, Any]] = []
    while len(lines) < 2 and time.monotonic() < deadline:
        lines = [json.loads(x) for x in gw.stdout().splitlines() if '"gpt-native"' in x]
        time.sleep(0.05)  # poll interval while the access log flushes, not a wait for work
    assert [line["path"] for line in lines] == ["/v1/responses", "/v1/responses"]
    gw.__exit__(None, None, None)  # stopping flushes the usage log
    db = sqlite3.connect(str(sqlite))
    try:
        query = select_usage(["stream", "prompt_tokens", "completion_tokens", "cost_usd", "status"])
        rows = sorted(db.execute(query))
    finally:
        db.close()
    cost = ((prompt - 2) * PRICE + 2 * PRICE / 2 + output * PRICE) / 1e6
    assert [(bool(s), p, c, st) for s, p, c, _, st in rows] == [
        (False, prompt, output, 200),
        (True, prompt, output, 200),
    ]
    assert all(row[3] == pytest.approx(cost) for row in rows)
