"""A real fastgw in front of the fake Cohere v2 upstream, driven by the official openai SDK
(``max_retries=0``: every retry is the gateway's): the client speaks OpenAI's protocol and
gets OpenAI's answers, streams and errors; Cohere gets Cohere's requests."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pydantic
import pytest
from openai.types.chat import ChatCompletionMessageParam

from fastgw.records.db import select_usage
from fastgw.testing import FakeUpstream, Fault, GatewayProcess
from fastgw.testing.cohere_upstream import THOUGHT, CohereUpstream
from tests.conftest import DEV_KEY, mock_config

pytestmark = pytest.mark.e2e

KEY = "co-upstream-secret-0001"
ENV = {"COHERE_TEST_KEY": KEY, "COHERE_WRONG_KEY": "not-the-key"}
HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hi"}]
ANSWER = "The fake Cohere answers every"  # CohereUpstream: chunks=5 words
OPENAI_ANSWER = "The fake upstream answers every"  # FakeUpstream: chunks=5 words
QUICK = "{ retries = 2, backoff_s = 0.1, jitter = 0, budget_s = 5 }"
SLACK = 3.0
WEATHER: Any = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "Weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
                "required": ["city"],
            },
        },
    },
    {"type": "function", "function": {"name": "clock", "parameters": {"type": "object"}}},
]


def config(co: CohereUpstream, oa: FakeUpstream) -> str:
    timeouts = "{ connect_s = 1, first_byte_s = 2, idle_s = 2, total_s = 10 }"
    models = "".join(
        f"""
[[models]]
name = "{name}"
deployments = [{{ provider = "co", model = "command-a-03-2025" }}]
retry = {QUICK}
"""
        for name in (
            "command",
            "command-400",
            "command-429",
            "command-5xx",
            "command-stream",
            "command-usage",
        )
    )
    return mock_config(
        extra=f"""
[providers.co]
type = "cohere"
base_url = "{co.base_url}"
api_key_env = "COHERE_TEST_KEY"
headers = {{ "X-Client-Name" = "fastgw-tests" }}
timeouts = {timeouts}

[providers.wrong]
type = "cohere"
base_url = "{co.base_url}"
api_key_env = "COHERE_WRONG_KEY"
timeouts = {timeouts}

[providers.oa]
type = "openai"
base_url = "{oa.base_url}"
timeouts = {timeouts}
{models}
[[models]]
name = "embed-co"
deployments = [{{ provider = "co", model = "embed-v4.0" }}]

[[models]]
name = "wrong-key"
deployments = [{{ provider = "wrong", model = "command-a-03-2025" }}]

[[models]]
name = "openai-then-cohere"
strategy = "ordered"
deployments = [{{ provider = "oa", model = "gpt-up" }}, {{ provider = "co", model = "command-a" }}]

[[models]]
name = "cohere-then-openai"
strategy = "ordered"
deployments = [{{ provider = "co", model = "command-a" }}, {{ provider = "oa", model = "gpt-up" }}]
"""
    )


@pytest.fixture(scope="module")
def ups() -> Iterator[tuple[CohereUpstream, FakeUpstream]]:
    with CohereUpstream.in_thread(api_key=KEY) as co, FakeUpstream.in_thread() as oa:
        yield co, oa


@pytest.fixture(scope="module")
def gw(ups: tuple[CohereUpstream, FakeUpstream]) -> Iterator[GatewayProcess]:
    with GatewayProcess(config(*ups), env=ENV) as process:
        yield process


@pytest.fixture
def co(ups: tuple[CohereUpstream, FakeUpstream]) -> CohereUpstream:
    ups[0].reset()
    return ups[0]


@pytest.fixture
def oa(ups: tuple[CohereUpstream, FakeUpstream]) -> FakeUpstream:
    ups[1].reset()
    return ups[1]


@pytest.fixture
def sdk(gw: GatewayProcess, co: CohereUpstream, oa: FakeUpstream) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=gw.base_url + "/v1", api_key=DEV_KEY, max_retries=0, timeout=20
    ) as client:
        yield client


def sent(up: FakeUpstream, i: int = -1) -> Any:
    return up.requests[i].json()


def access_line(gw: GatewayProcess, model: str) -> dict[str, Any]:
    """The access-log line of the last request to ``model`` (polled: the log is batched)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [json.loads(x) for x in gw.stdout().splitlines() if x.startswith("{")]
        mine = [x for x in lines if x.get("model") == model]
        if mine:
            return mine[-1]
        time.sleep(0.05)  # poll interval while the access log flushes, not a wait for work
    raise AssertionError(f"no access line for {model}")


def usage_row(gw: GatewayProcess, model: str) -> tuple[Any, ...]:
    """(provider, prompt, completion, cost) of ``model``'s row in the usage log (polled: the
    log is written in batches, every second)."""
    path = gw.config_path.parent / "fastgw.sqlite3"  # storage.sqlite_path's default
    query = select_usage(["model", "provider", "prompt_tokens", "completion_tokens", "cost_usd"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if path.exists():
            db = sqlite3.connect(path)
            try:
                rows = [r[1:] for r in db.execute(query) if r[0] == model]
            except sqlite3.OperationalError:  # not created yet
                rows = []
            finally:
                db.close()
            if rows:
                return tuple(rows[-1])
        time.sleep(0.1)  # poll interval while the usage log flushes, not a wait for work
    raise AssertionError(f"no usage row for {model}")


def test_plain_chat_with_usage_and_cost(
    sdk: openai.OpenAI, co: CohereUpstream, gw: GatewayProcess
) -> None:
    """A plain answer reads as OpenAI's; Cohere got its own body, key and headers; the access
    log records Cohere's tokens and a cost."""
    completion = sdk.chat.completions.create(
        model="command", messages=[{"role": "system", "content": "Be brief."}, *HI], temperature=0.3
    )
    assert completion.choices[0].message.content == ANSWER
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == 5
    prompt = completion.usage.prompt_tokens
    rec = co.requests[-1]
    assert rec.path == "/v2/chat" and rec.headers["authorization"] == f"Bearer {KEY}"
    assert rec.headers["x-client-name"] == "fastgw-tests"
    body = rec.json()
    assert body["model"] == "command-a-03-2025" and body["temperature"] == 0.3
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    line = access_line(gw, "command")
    assert line["provider"] == "co" or "co" in str(line.get("deployment"))
    assert line["prompt_tokens"] == prompt and line["completion_tokens"] == 5
    assert line["cost_usd"] > 0


def test_stream_with_usage(sdk: openai.OpenAI, co: CohereUpstream) -> None:
    """A stream's text arrives in chunks, then the usage chunk the client asked for."""
    chunks = list(
        sdk.chat.completions.create(
            model="command", messages=HI, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ANSWER
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 5
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert sent(co)["stream"] is True


def test_stream_without_include_usage_is_still_accounted(
    sdk: openai.OpenAI, gw: GatewayProcess
) -> None:
    """No usage chunk reaches a client that did not ask, yet the access log has Cohere's
    tokens (the gateway asked for them)."""
    chunks = list(sdk.chat.completions.create(model="command-usage", messages=HI, stream=True))
    assert all(c.choices for c in chunks) and all(c.usage is None for c in chunks)
    line = access_line(gw, "command-usage")
    assert line["completion_tokens"] == 5 and line["prompt_tokens"] > 0
    row = usage_row(gw, "command-usage")
    assert row == ("co", line["prompt_tokens"], 5, pytest.approx(line["cost_usd"]))


def test_streamed_tool_calls_arrive_in_several_deltas(
    sdk: openai.OpenAI, co: CohereUpstream
) -> None:
    """Parallel tool calls: one index per call, the arguments in several deltas."""
    stream = sdk.chat.completions.create(
        model="command",
        messages=[{"role": "user", "content": "Weather and time, in parallel"}],
        tools=WEATHER,
        tool_choice="required",
        stream=True,
    )
    calls: dict[int, dict[str, Any]] = {}
    pieces = 0
    finish = None
    for chunk in stream:
        if not chunk.choices:
            continue
        finish = chunk.choices[0].finish_reason or finish
        for call in chunk.choices[0].delta.tool_calls or ():
            slot = calls.setdefault(call.index, {"name": "", "arguments": ""})
            if call.function and call.function.name:
                slot["name"] = call.function.name
            if call.function and call.function.arguments:
                slot["arguments"] += call.function.arguments
                pieces += 1
    assert finish == "tool_calls"
    assert [calls[i]["name"] for i in sorted(calls)] == ["weather", "clock"]
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris", "unit": "c"}
    assert pieces >= 4
    assert sent(co)["tool_choice"] == "REQUIRED"


def test_named_tool_choice_and_the_tool_round_trip(sdk: openai.OpenAI, co: CohereUpstream) -> None:
    """A named function is forced; the call and its result go back as Cohere's turns."""
    first = sdk.chat.completions.create(
        model="command",
        messages=HI,
        tools=WEATHER,
        tool_choice={"type": "function", "function": {"name": "clock"}},
    )
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls and message.tool_calls[0].function.name == "clock"
    assert [t["function"]["name"] for t in sent(co)["tools"]] == ["clock"]
    call = message.tool_calls[0]
    second = sdk.chat.completions.create(
        model="command",
        messages=[
            *HI,
            message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call.id, "content": "noon"},
        ],
        tools=WEATHER,
    )
    assert second.choices[0].message.content == "Tool said: noon"
    turns = sent(co)["messages"]
    assert turns[1]["tool_calls"][0]["id"] == call.id and turns[1]["tool_plan"]
    assert turns[2] == {"role": "tool", "tool_call_id": call.id, "content": "noon"}


class City(pydantic.BaseModel):
    name: str
    population: int


def test_structured_output_parse(sdk: openai.OpenAI, co: CohereUpstream) -> None:
    """``parse`` with a pydantic model: Cohere gets the schema, the client a parsed object."""
    completion = sdk.chat.completions.parse(model="command", messages=HI, response_format=City)
    parsed = completion.choices[0].message.parsed
    assert parsed == City(name="Paris", population=7)
    fmt = sent(co)["response_format"]
    assert fmt["type"] == "json_object" and fmt["json_schema"]["properties"]["population"]


def test_images_by_url_and_base64(sdk: openai.OpenAI, co: CohereUpstream) -> None:
    content: Any = [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": {"url": "https://example.test/a.png"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    completion = sdk.chat.completions.create(
        model="command", messages=[{"role": "user", "content": content}]
    )
    assert completion.choices[0].message.content == ANSWER
    parts = sent(co)["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "image_url"]
    assert parts[2]["image_url"]["url"].startswith("data:image/png;base64,")


def test_thinking_round_trip(sdk: openai.OpenAI, co: CohereUpstream) -> None:
    """reasoning_effort asks Cohere to think; the thoughts come back as reasoning_content,
    in plain answers and streams, and go back to Cohere as a thinking item."""
    completion = sdk.chat.completions.create(model="command", messages=HI, reasoning_effort="low")
    message = completion.choices[0].message
    assert (message.model_extra or {})["reasoning_content"] == "".join(THOUGHT)
    assert sent(co)["thinking"] == {"type": "enabled", "token_budget": 1024}
    stream = sdk.chat.completions.create(
        model="command", messages=HI, reasoning_effort="low", stream=True
    )
    thoughts = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
        for c in stream
        if c.choices
    )
    assert thoughts == "".join(THOUGHT)
    again: Any = [*HI, {"role": "assistant", "content": ANSWER, "reasoning_content": thoughts}, *HI]
    sdk.chat.completions.create(model="command", messages=again, reasoning_effort="low")
    assert sent(co)["messages"][1]["content"][0] == {"type": "thinking", "thinking": thoughts}


def test_embeddings_float_and_base64(sdk: openai.OpenAI, co: CohereUpstream) -> None:
    """Embeddings through the OpenAI SDK: float, and the SDK's default base64 unpacked."""
    floats = sdk.embeddings.create(
        model="embed-co", input=["one", "two"], encoding_format="float", dimensions=32
    )
    assert [len(d.embedding) for d in floats.data] == [32, 32]
    assert floats.usage.prompt_tokens == 2
    body = sent(co)
    assert body["texts"] == ["one", "two"] and body["output_dimension"] == 32
    assert body["input_type"] == "search_document" and body["embedding_types"] == ["float"]
    packed = sdk.embeddings.create(model="embed-co", input="one", dimensions=32)
    assert packed.data[0].embedding == pytest.approx(floats.data[0].embedding, abs=1e-6)
    typed = sdk.embeddings.create(
        model="embed-co", input="q", extra_body={"input_type": "search_query"}
    )
    assert typed.data and sent(co)["input_type"] == "search_query"


def test_refused_requests_are_400_without_an_upstream_call(
    sdk: openai.OpenAI, co: CohereUpstream
) -> None:
    for kwargs in ({"n": 2}, {"top_p": 0.001}, {"logprobs": True}):
        with pytest.raises(openai.BadRequestError):
            sdk.chat.completions.create(model="command", messages=HI, **kwargs)
    with pytest.raises(openai.BadRequestError) as raised:
        sdk.completions.create(model="command", prompt="hi")
    assert "cohere" in raised.value.message
    assert co.requests == []


def test_upstream_400_is_the_clients_400(sdk: openai.OpenAI, co: CohereUpstream) -> None:
    co.fail_next(Fault.error(400))
    with pytest.raises(openai.BadRequestError) as raised:
        sdk.chat.completions.create(model="command-400", messages=HI)
    assert "message must not be empty" in raised.value.message
    assert len(co.requests) == 1


def test_wrong_upstream_key_is_a_502_auth_failure(sdk: openai.OpenAI, co: CohereUpstream) -> None:
    with pytest.raises(openai.APIStatusError) as raised:
        sdk.chat.completions.create(model="wrong-key", messages=HI)
    assert raised.value.status_code == 502 and raised.value.code == "upstream_auth_failed"
    assert KEY not in raised.value.message and "not-the-key" not in raised.value.message


def test_429_is_retried_after_retry_after(sdk: openai.OpenAI, co: CohereUpstream) -> None:
    co.fail_next(Fault.error(429, headers={"retry-after": "0.3"}))
    start = time.monotonic()
    completion = sdk.chat.completions.create(model="command-429", messages=HI)
    assert 0.3 <= time.monotonic() - start < 0.3 + SLACK
    assert completion.choices[0].message.content == ANSWER and len(co.requests) == 2


@pytest.mark.parametrize("status", [500, 503, 504])
def test_5xx_retried_then_answered(sdk: openai.OpenAI, co: CohereUpstream, status: int) -> None:
    co.fail_next(Fault.error(status))
    completion = sdk.chat.completions.create(model="command-5xx", messages=HI)
    assert completion.choices[0].message.content == ANSWER and len(co.requests) == 2


def test_persistent_503_fails_over_to_openai(
    sdk: openai.OpenAI, co: CohereUpstream, oa: FakeUpstream
) -> None:
    """Cohere first, overloaded: the OpenAI deployment answers under the same name."""
    co.fail_always(Fault.error(503))
    try:
        completion = sdk.chat.completions.create(model="cohere-then-openai", messages=HI)
    finally:
        co.fail_always(None)
    assert completion.choices[0].message.content == OPENAI_ANSWER
    assert len(co.requests) >= 1 and len(oa.requests) == 1


def test_openai_failure_fails_over_to_cohere(
    sdk: openai.OpenAI, co: CohereUpstream, oa: FakeUpstream
) -> None:
    """OpenAI first, failing: the Cohere deployment answers, in a stream too."""
    oa.fail_always(Fault.error(503))
    try:
        completion = sdk.chat.completions.create(model="openai-then-cohere", messages=HI)
        stream = sdk.chat.completions.create(model="openai-then-cohere", messages=HI, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    finally:
        oa.fail_always(None)
    assert completion.choices[0].message.content == ANSWER and text == ANSWER
    assert len(co.requests) == 2


def test_in_stream_error_raises_in_the_sdk(sdk: openai.OpenAI, co: CohereUpstream) -> None:
    """Cohere's message-end with ERROR mid-stream: the SDK raises, the text so far arrived."""
    co.fail_next(Fault(error_event_after=4))
    text = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in sdk.chat.completions.create(model="command-stream", messages=HI, stream=True):
            if chunk.choices:
                text.append(chunk.choices[0].delta.content or "")
    assert "".join(text) == "The fake"
    assert "internal error while generating" in raised.value.message


@pytest.mark.parametrize(
    "fault",
    [Fault.cut(4), Fault(finish_reason=False), Fault(malformed_after=4)],
    ids=["cut", "no-end", "malformed"],
)
def test_cut_stream_raises_in_the_sdk(sdk: openai.OpenAI, co: CohereUpstream, fault: Fault) -> None:
    co.fail_next(fault)
    with pytest.raises(openai.APIError) as raised:
        for _ in sdk.chat.completions.create(model="command-stream", messages=HI, stream=True):
            pass
    assert raised.value.code == "upstream_protocol_error"


NODE = shutil.which("node")
NODE_DIR = Path(__file__).resolve().parent.parent / "node"
NODE_SCRIPT = """
import OpenAI from 'openai';
const { BASE_URL: baseURL, KEY: apiKey } = process.env;
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const tools = JSON.parse(process.env.TOOLS);
const report = { text: '', args: [], finish: null, error: null };
const stream = await client.chat.completions.create({
  model: 'command', messages: [{ role: 'user', content: 'Weather?' }], tools, stream: true,
});
for await (const chunk of stream) {
  for (const call of chunk.choices[0]?.delta?.tool_calls ?? []) {
    if (call.function?.arguments) report.args.push(call.function.arguments);
  }
  report.finish = chunk.choices[0]?.finish_reason ?? report.finish;
}
const plain = await client.chat.completions.create({
  model: 'command', messages: [{ role: 'user', content: 'Hi' }],
});
report.text = plain.choices[0].message.content;
try {
  const broken = await client.chat.completions.create({
    model: 'command-stream', messages: [{ role: 'user', content: 'Hi' }], stream: true,
  });
  for await (const _ of broken) {}
} catch (e) { report.error = e.message; }
console.log(JSON.stringify(report));
"""


@pytest.mark.node
@pytest.mark.skipif(NODE is None, reason="node is not on PATH")
@pytest.mark.skipif(
    not (NODE_DIR / "node_modules" / "openai").is_dir(),
    reason="the openai npm package is missing: run `cd tests/node && npm install`",
)
def test_node_sdk_streams_tool_calls_and_sees_the_in_stream_error(
    gw: GatewayProcess, co: CohereUpstream
) -> None:
    """The openai npm package reads the translated stream, answer and error event."""
    assert NODE is not None
    co.fail_next(Fault())  # the tool-call stream: answered normally
    co.fail_next(Fault())  # the plain answer
    co.fail_next(Fault(error_event_after=3))
    env = {
        **os.environ,
        "BASE_URL": gw.base_url + "/v1",
        "KEY": DEV_KEY,
        "TOOLS": json.dumps(WEATHER[:1]),
    }
    done = subprocess.run(
        [NODE, "--input-type=module", "-e", NODE_SCRIPT],
        cwd=NODE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["finish"] == "tool_calls" and len(report["args"]) >= 2
    assert json.loads("".join(report["args"])) == {"city": "Paris", "unit": "c"}
    assert report["text"] == ANSWER
    assert "internal error while generating" in report["error"]
