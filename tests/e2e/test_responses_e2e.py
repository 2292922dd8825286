"""A real fastgw serving OpenAI's Responses API (``/v1/responses``) to the official clients
(the openai Python SDK, LangChain, the npm SDK), answered by the mock, by an OpenAI upstream
and by a translated one (Anthropic): answers, streams, tool round trips, stored responses
per key, and errors as the SDK's exceptions."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import openai
import pydantic
import pytest

from fastgw.keys import hash_key
from fastgw.testing import FakeUpstream, Fault, GatewayProcess
from fastgw.testing.anthropic_upstream import AnthropicUpstream
from tests.conftest import DEV_KEY

pytestmark = pytest.mark.e2e

OTHER_KEY = "sk-test-other-key-0123456789"
ANT_KEY = "sk-ant-upstream-secret-0001"
CLAUDE_TEXT = "Claude answers every request in"  # AnthropicUpstream, chunks=5
OPENAI_TEXT = "The fake upstream answers every"  # FakeUpstream, chunks=5
WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
}


def config(ant: AnthropicUpstream, oa: FakeUpstream, sqlite: Path) -> str:
    timeouts = "{ connect_s = 1, first_byte_s = 2, idle_s = 2, total_s = 10 }"
    return f"""
[server]
drain_timeout_s = 2

[storage]
sqlite_path = "{sqlite}"

[responses]
store_ttl_s = 3600
max_per_key = 50

[providers.mock]
type = "mock"
tokens = 8

[providers.ant]
type = "anthropic"
base_url = "{ant.base_url}"
api_key_env = "ANT_KEY"
timeouts = {timeouts}

[providers.oa]
type = "openai"
base_url = "{oa.base_url}"
timeouts = {timeouts}

[[models]]
name = "gpt-test"
deployments = [{{ provider = "mock", model = "mock-gpt" }}]

[[models]]
name = "claude"
deployments = [{{ provider = "ant", model = "claude-haiku-4-5" }}]
retry = {{ retries = 0 }}

[[models]]
name = "gpt-oa"
deployments = [{{ provider = "oa", model = "gpt-4o-mini" }}]
retry = {{ retries = 0 }}

[[keys]]
id = "dev"
hash = "{hash_key(DEV_KEY)}"

[[keys]]
id = "other"
hash = "{hash_key(OTHER_KEY)}"
"""


@pytest.fixture(scope="module")
def ant() -> Iterator[AnthropicUpstream]:
    with AnthropicUpstream.in_thread(api_key=ANT_KEY, chunks=5) as up:
        yield up


@pytest.fixture(scope="module")
def oa() -> Iterator[FakeUpstream]:
    with FakeUpstream.in_thread(chunks=5) as up:
        yield up


@pytest.fixture
def sqlite(tmp_path: Path) -> Path:
    return tmp_path / "gw.sqlite"


@pytest.fixture
def gw(
    ant: AnthropicUpstream,
    oa: FakeUpstream,
    sqlite: Path,
    gateway_factory: Callable[..., GatewayProcess],
) -> GatewayProcess:
    ant.reset()
    oa.reset()
    return gateway_factory(config(ant, oa, sqlite), env={"ANT_KEY": ANT_KEY})


def client(gw: GatewayProcess, key: str = DEV_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url + "/v1", api_key=key, max_retries=0, timeout=15)


@pytest.fixture
def sdk(gw: GatewayProcess) -> Iterator[openai.OpenAI]:
    with client(gw) as c:
        yield c


# -- answers ----------------------------------------------------------------------------------


def test_string_input_with_instructions(sdk: openai.OpenAI) -> None:
    """A string input answered as a response object the SDK reads whole: output_text,
    status, usage, echoed fields and metadata."""
    response = sdk.responses.create(
        model="gpt-test",
        input="Say hi",
        instructions="Be brief.",
        metadata={"ticket": "42"},
        max_output_tokens=100,
        temperature=0.5,
    )
    assert response.id.startswith("resp_") and response.object == "response"
    assert response.status == "completed" and response.error is None
    assert len(response.output_text.split()) == 8
    assert response.output[0].type == "message" and response.output[0].id.startswith("msg_")
    assert response.instructions == "Be brief." and response.metadata == {"ticket": "42"}
    assert response.max_output_tokens == 100 and response.temperature == 0.5
    assert response.to_dict()["store"] is True and response.tool_choice == "auto"
    usage = response.usage
    assert usage is not None and usage.output_tokens == 8 and usage.input_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens


def test_items_of_every_role(sdk: openai.OpenAI) -> None:
    """Messages as items: developer, system, user parts and an earlier assistant answer."""
    items: Any = [
        {"role": "developer", "content": "Answer in English."},
        {"role": "user", "content": [{"type": "input_text", "text": "Hello"}]},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hi there."}],
        },
        {"role": "user", "content": "And now?"},
    ]
    response = sdk.responses.create(model="gpt-test", input=items)
    assert response.status == "completed" and response.output_text


def test_max_output_tokens_is_incomplete(sdk: openai.OpenAI) -> None:
    """An answer cut by max_output_tokens is status incomplete with that reason."""
    response = sdk.responses.create(model="gpt-test", input="Say hi", max_output_tokens=3)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert len(response.output_text.split()) == 3


class City(pydantic.BaseModel):
    name: str
    population: int


def test_structured_output_parse(sdk: openai.OpenAI) -> None:
    """responses.parse with a Pydantic model: text.format json_schema reaches the upstream as
    response_format, and the SDK parses the answer into the model."""
    response = sdk.responses.parse(model="gpt-test", input="A city?", text_format=City)
    assert isinstance(response.output_parsed, City)
    assert response.text is not None and response.text.format is not None
    assert response.text.format.type == "json_schema"


# -- streams ----------------------------------------------------------------------------------


def test_stream_helper_event_sequence(sdk: openai.OpenAI) -> None:
    """responses.stream: the events in OpenAI's order with consecutive sequence numbers,
    text deltas that add up to the final response's output_text, usage at the end."""
    with sdk.responses.stream(model="gpt-test", input="Say hi") as stream:
        events = list(stream)
        final = stream.get_final_response()
    types = [e.type for e in events]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert types.count("response.output_text.delta") == 8
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert final.output_text == deltas and final.usage is not None
    assert final.usage.output_tokens == 8 and final.id == events[0].response.id  # type: ignore[union-attr]


def test_streamed_function_call(sdk: openai.OpenAI) -> None:
    """create(stream=True) with a required tool: a function_call item added with empty
    arguments, argument deltas as they come, done with the whole arguments."""
    events = list(
        sdk.responses.create(
            model="gpt-test",
            input="Weather in Paris?",
            tools=[WEATHER],
            tool_choice={"type": "function", "name": "get_weather"},
            stream=True,
        )
    )
    added = [e for e in events if e.type == "response.output_item.added"]
    assert added[0].item.type == "function_call" and added[0].item.arguments == ""
    deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert len(deltas) >= 1 and done[0].arguments == "".join(deltas)
    assert json.loads(done[0].arguments)["city"]
    last = events[-1]
    assert last.type == "response.completed"
    assert last.response.output[0].type == "function_call"
    assert last.response.output[0].call_id


def test_upstream_failure_mid_stream_is_response_failed(
    oa: FakeUpstream, sdk: openai.OpenAI
) -> None:
    """An OpenAI upstream whose stream fails after its headers: the client's stream ends with
    response.failed carrying the error, never response.completed."""
    oa.fail_next(Fault(error_event_after=2))
    events = list(sdk.responses.create(model="gpt-oa", input="Say hi", stream=True))
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] == "response.failed"
    assert "response.completed" not in types
    failed = events[-1]
    assert failed.response.status == "failed"  # type: ignore[union-attr]
    assert failed.response.error is not None and failed.response.error.message  # type: ignore[union-attr]
    assert [e.sequence_number for e in events] == list(range(len(events)))


# -- tool round trips and the store -----------------------------------------------------------


def test_function_call_round_trip_by_items(sdk: openai.OpenAI) -> None:
    """Stateless use: the output items and the function's result sent back as input items
    (store false) get the final text answer; nothing was kept."""
    first = sdk.responses.create(
        model="gpt-test",
        input=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER],
        tool_choice="required",
        store=False,
    )
    calls = [item for item in first.output if item.type == "function_call"]
    assert calls and calls[0].id is not None and calls[0].id.startswith("fc_")
    assert first.to_dict()["store"] is False
    items: Any = [
        {"role": "user", "content": "Weather in Paris?"},
        *[item.model_dump(exclude_none=True) for item in first.output],
        *[
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}
            for call in calls
        ],
    ]
    second = sdk.responses.create(model="gpt-test", input=items, tools=[WEATHER], store=False)
    assert second.output_text and second.output[0].type == "message"
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(first.id)


def test_function_call_round_trip_by_previous_response_id(
    oa: FakeUpstream, sdk: openai.OpenAI
) -> None:
    """previous_response_id continues a stored conversation: the upstream gets the earlier
    input, the assistant's tool call and the tool result, in order (here on another model)."""
    first = sdk.responses.create(
        model="gpt-test",
        input="Weather in Paris?",
        tools=[WEATHER],
        tool_choice="required",
        parallel_tool_calls=False,
    )
    call = first.output[0]
    assert call.type == "function_call"
    second = sdk.responses.create(
        model="gpt-oa",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        instructions="Be brief.",
    )
    assert second.output_text == OPENAI_TEXT and second.previous_response_id == first.id
    sent = msgspec.json.decode(oa.requests[-1].body)
    roles = [m["role"] for m in sent["messages"]]
    assert roles == ["system", "user", "assistant", "tool"]
    assert sent["messages"][2]["tool_calls"][0]["id"] == call.call_id
    assert sent["messages"][3] == {"role": "tool", "tool_call_id": call.call_id, "content": "sunny"}


def test_retrieve_and_delete_per_key(gw: GatewayProcess, sdk: openai.OpenAI) -> None:
    """A stored response is read back whole by its key; another key gets 404 for reading,
    deleting and continuing it; once deleted it is gone."""
    response = sdk.responses.create(model="gpt-test", input="Say hi")
    again = sdk.responses.retrieve(response.id)
    assert again.id == response.id and again.output_text == response.output_text
    with client(gw, OTHER_KEY) as other:
        with pytest.raises(openai.NotFoundError):
            other.responses.retrieve(response.id)
        with pytest.raises(openai.NotFoundError):
            other.responses.delete(response.id)
        with pytest.raises(openai.NotFoundError) as caught:
            other.responses.create(model="gpt-test", input="more", previous_response_id=response.id)
        assert caught.value.code == "previous_response_not_found"
        assert caught.value.param == "previous_response_id"
    sdk.responses.delete(response.id)  # the SDK returns None on 200
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.delete(response.id)


def test_input_items_of_a_continued_conversation(sdk: openai.OpenAI) -> None:
    """input_items.list pages through every input item of a stored response (the earlier
    turn's included), newest first by default, as the SDK's ResponseItem models."""
    first = sdk.responses.create(model="gpt-test", input="Say hi")
    second = sdk.responses.create(
        model="gpt-test", previous_response_id=first.id, input=[{"role": "user", "content": "More"}]
    )
    items = list(sdk.responses.input_items.list(second.id, limit=1))  # one per page
    assert [item.type for item in items] == ["message", "message", "message"]
    assert [getattr(item, "role", None) for item in items] == ["user", "assistant", "user"]
    assert items[1].id == first.output[0].id and len({item.id for item in items}) == 3
    ascending = sdk.responses.input_items.list(second.id, order="asc")
    assert [item.id for item in ascending.data] == [item.id for item in reversed(items)]
    first_text = ascending.data[0].content[0]  # type: ignore[union-attr]
    assert first_text.type == "input_text" and first_text.text == "Say hi"


def test_a_stream_is_stored_too(sdk: openai.OpenAI) -> None:
    """A streamed response is stored as its final object, and continues like any other."""
    with sdk.responses.stream(model="gpt-test", input="Say hi") as stream:
        final = stream.get_final_response()
    stored = sdk.responses.retrieve(final.id)
    assert stored.output_text == final.output_text and stored.status == "completed"
    follow = sdk.responses.create(model="gpt-test", input="More", previous_response_id=final.id)
    assert follow.output_text


# -- errors -----------------------------------------------------------------------------------


def test_errors_are_the_sdks_exceptions(gw: GatewayProcess, sdk: openai.OpenAI) -> None:
    """Auth 401, unknown model 404, what cannot be served 400 (hosted tools, file ids, an
    unknown item type, a bad field), each the SDK's exception with OpenAI's param."""
    with client(gw, "sk-wrong") as wrong, pytest.raises(openai.AuthenticationError):
        wrong.responses.create(model="gpt-test", input="hi")
    with pytest.raises(openai.NotFoundError):
        sdk.responses.create(model="no-such-model", input="hi")
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.responses.create(model="gpt-test", input="hi", tools=[{"type": "web_search"}])
    assert caught.value.param == "tools[0].type"
    by_file: Any = [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.responses.create(model="gpt-test", input=by_file)
    assert caught.value.param == "input[0].content[0]"
    with pytest.raises(openai.BadRequestError):
        sdk.responses.create(model="gpt-test", input=[{"type": "item_reference", "id": "x"}])
    with pytest.raises(openai.BadRequestError):
        sdk.responses.create(model="gpt-test", input="hi", extra_body={"max_output_tokens": "x"})
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.responses.create(model="gpt-test", input="hi", previous_response_id="resp_nope")
    assert missing.value.code == "previous_response_not_found"


# -- other upstreams --------------------------------------------------------------------------


def test_anthropic_upstream_translated_both_ways(
    ant: AnthropicUpstream, sdk: openai.OpenAI
) -> None:
    """A Responses request served by Anthropic: text, a streamed answer, and a tool call
    whose arguments arrive as function_call items."""
    response = sdk.responses.create(model="claude", input="Say hi", instructions="Be brief.")
    assert response.output_text == CLAUDE_TEXT and response.usage is not None
    assert response.usage.output_tokens > 0
    with sdk.responses.stream(model="claude", input="Say hi") as stream:
        final = stream.get_final_response()
    assert final.output_text == CLAUDE_TEXT
    calls = sdk.responses.create(
        model="claude", input="Weather in Paris?", tools=[WEATHER], tool_choice="required"
    )
    call = next(item for item in calls.output if item.type == "function_call")
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris", "days": 3}
    sent = msgspec.json.decode(ant.requests[0].body)
    assert sent["system"] and sent["messages"][0]["role"] == "user"


def test_claude_thinking_with_tools_carries_its_signature_to_the_next_turn(
    ant: AnthropicUpstream, sdk: openai.OpenAI
) -> None:
    """reasoning.effort turns Claude's thinking on; its thinking block (signature included)
    rides in the reasoning item's encrypted_content, so the next turn, by
    previous_response_id or by items sent back, starts the assistant turn with it, as
    Anthropic requires with tool use (the fake checks the signature)."""
    with sdk.responses.stream(
        model="claude",
        input="Weather in Paris?",
        tools=[WEATHER],
        tool_choice="required",
        reasoning={"effort": "low"},
    ) as stream:
        first = stream.get_final_response()
    kinds = [item.type for item in first.output]
    assert kinds[0] == "reasoning" and "function_call" in kinds
    reasoning = first.output[0]
    assert reasoning.type == "reasoning" and reasoning.encrypted_content
    assert reasoning.summary and reasoning.summary[0].text
    call = next(item for item in first.output if item.type == "function_call")
    result: Any = [{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}]
    by_id = sdk.responses.create(
        model="claude", previous_response_id=first.id, input=result, reasoning={"effort": "low"}
    )
    assert by_id.output_text
    sent = msgspec.json.decode(ant.requests[-1].body)
    assistant = sent["messages"][1]
    assert assistant["role"] == "assistant" and assistant["content"][0]["type"] == "thinking"
    items: Any = [
        {"role": "user", "content": "Weather in Paris?"},
        *[item.model_dump(exclude_none=True) for item in first.output],
        *result,
    ]
    stateless = sdk.responses.create(
        model="claude", input=items, tools=[WEATHER], reasoning={"effort": "low"}, store=False
    )
    assert stateless.output_text


def test_openai_upstream(oa: FakeUpstream, sdk: openai.OpenAI) -> None:
    """A Responses request served by an OpenAI upstream through chat completions."""
    response = sdk.responses.create(model="gpt-oa", input="Say hi")
    assert response.output_text == OPENAI_TEXT
    with sdk.responses.stream(model="gpt-oa", input="Say hi") as stream:
        final = stream.get_final_response()
    assert final.output_text == OPENAI_TEXT and final.usage is not None
    sent = msgspec.json.decode(oa.requests[-1].body)
    assert sent["stream"] is True and sent["messages"] == [{"role": "user", "content": "Say hi"}]


def test_usage_log_records_responses(gw: GatewayProcess, sdk: openai.OpenAI, sqlite: Path) -> None:
    """Every POST /v1/responses is a usage row with its tokens (GET/DELETE are not)."""
    plain = sdk.responses.create(model="gpt-test", input="Say hi")
    list(sdk.responses.create(model="gpt-test", input="Say hi", stream=True))
    sdk.responses.retrieve(plain.id)
    gw.__exit__(None, None, None)  # stopping flushes the usage log
    db = sqlite3.connect(str(sqlite))
    try:
        rows = sorted(db.execute("SELECT stream, completion_tokens, status FROM usage"))
    finally:
        db.close()
    assert [(bool(s), c, st) for s, c, st in rows] == [(False, 8, 200), (True, 8, 200)]


# -- other clients ----------------------------------------------------------------------------


def test_langchain_responses_round_trip(gw: GatewayProcess) -> None:
    """LangChain's ChatOpenAI with use_responses_api=True gets its answer through fastgw."""
    langchain_openai = pytest.importorskip("langchain_openai")
    chat = langchain_openai.ChatOpenAI(
        model="gpt-test",
        base_url=gw.base_url + "/v1",
        api_key=DEV_KEY,
        use_responses_api=True,
        max_retries=0,
    )
    message = chat.invoke("Say hi")
    assert len(str(message.text).split()) == 8
    assert message.usage_metadata is not None and message.usage_metadata["output_tokens"] == 8


NODE = shutil.which("node")
NODE_SDK = Path(__file__).resolve().parents[1] / "node" / "node_modules" / "openai" / "index.mjs"
NODE_SCRIPT = """
import OpenAI from %s;
const client = new OpenAI({baseURL: process.env.BASE_URL, apiKey: process.env.API_KEY,
                           maxRetries: 0});
const stream = await client.responses.create({model: "gpt-test", input: "Say hi", stream: true});
const types = [], seqs = [];
let text = "", final = null;
for await (const event of stream) {
  types.push(event.type); seqs.push(event.sequence_number);
  if (event.type === "response.output_text.delta") text += event.delta;
  if (event.type === "response.completed") final = event.response;
}
const helper = client.responses.stream({model: "gpt-test", input: "Say hi"});
const done = await helper.finalResponse();
console.log(JSON.stringify({types, seqs, text, final_text: final.output_text ?? null,
  usage: final.usage, helper_text: done.output_text, id: final.id}));
"""


@pytest.mark.node
@pytest.mark.skipif(NODE is None or not NODE_SDK.is_file(), reason="node or the npm SDK missing")
def test_node_sdk_responses_stream(gw: GatewayProcess, tmp_path: Path) -> None:
    """The npm openai SDK reads the Responses stream: events in order with sequence numbers,
    deltas that make the text, the final response with usage, its stream helper's text."""
    assert NODE is not None
    script = tmp_path / "responses.mjs"
    script.write_text(NODE_SCRIPT % json.dumps(NODE_SDK.as_uri()))
    env = {**os.environ, "BASE_URL": gw.base_url + "/v1", "API_KEY": DEV_KEY}
    done = subprocess.run(
        [NODE, str(script)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["types"][0] == "response.created" and report["types"][-1] == "response.completed"
    assert report["seqs"] == list(range(len(report["types"])))
    assert len(report["text"].split()) == 8 and report["helper_text"] == report["text"]
    assert report["usage"]["output_tokens"] == 8 and report["id"].startswith("resp_")
