"""A real fastgw in front of the fake Anthropic upstream (and the OpenAI fake), driven by the
official openai SDK: every answer reads as OpenAI's, whatever Anthropic sent, and Anthropic's
failures become OpenAI's errors, retries and failovers."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pydantic
import pytest
from openai.types.chat import ChatCompletionMessageParam

from fastgw.keys import hash_key
from fastgw.testing import FakeUpstream, Fault, GatewayProcess
from fastgw.testing.anthropic_upstream import AnthropicUpstream, signature_of
from tests.conftest import DEV_KEY

pytestmark = pytest.mark.e2e

ANT_KEY = "sk-ant-upstream-secret-0001"
HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hi"}]
CLAUDE_TEXT = "Claude answers every request in"  # AnthropicUpstream, chunks=5
OPENAI_TEXT = "The fake upstream answers every"  # FakeUpstream, chunks=5
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}


def config(ant: AnthropicUpstream, oa: FakeUpstream, sqlite: Path) -> str:
    timeouts = "{ connect_s = 1, first_byte_s = 2, idle_s = 2, total_s = 10 }"
    retry = "{ retries = 2, backoff_s = 0.05, jitter = 0, budget_s = 5 }"
    ant_dep = '{ provider = "ant", model = "claude-haiku-4-5" }'
    oa_dep = '{ provider = "oa", model = "gpt-4o-mini" }'
    return f"""
[server]
drain_timeout_s = 2

[storage]
sqlite_path = "{sqlite}"

[providers.ant]
type = "anthropic"
base_url = "{ant.base_url}"
api_key_env = "ANT_KEY"
beta = ["beta-one", "beta-two"]
timeouts = {timeouts}

[providers.oa]
type = "openai"
base_url = "{oa.base_url}"
timeouts = {timeouts}

[[models]]
name = "claude"
deployments = [{{ provider = "ant", model = "claude-haiku-4-5" }}]
retry = {retry}

[[models]]
name = "ant-first"
strategy = "ordered"
deployments = [{ant_dep}, {oa_dep}]
retry = {{ retries = 0 }}

[[models]]
name = "openai-first"
strategy = "ordered"
deployments = [{oa_dep}, {ant_dep}]
retry = {{ retries = 0 }}

[[keys]]
id = "dev"
hash = "{hash_key(DEV_KEY)}"
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
    return tmp_path / "usage.sqlite"


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


@pytest.fixture
def sdk(gw: GatewayProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=gw.base_url + "/v1", api_key=DEV_KEY, max_retries=0, timeout=15
    ) as client:
        yield client


def test_plain_chat_reads_as_openai(ant: AnthropicUpstream, sdk: openai.OpenAI) -> None:
    """Text, finish, usage and the model Anthropic reported; the upstream got Anthropic's
    headers (key, version, beta) and a Messages body with max_tokens."""
    answer = sdk.chat.completions.create(
        model="claude",
        messages=[{"role": "system", "content": "Be brief."}, *HI],
        temperature=0.5,
        seed=3,
    )
    assert answer.choices[0].message.content == CLAUDE_TEXT
    assert answer.choices[0].finish_reason == "stop"
    assert answer.model == "claude-haiku-4-5" and answer.id.startswith("chatcmpl-msg_")
    assert answer.usage is not None and answer.usage.prompt_tokens > 0
    assert answer.usage.completion_tokens > 0
    (rec,) = ant.requests
    assert rec.path == "/v1/messages"
    assert rec.headers["x-api-key"] == ANT_KEY
    assert rec.headers["anthropic-version"] == "2023-06-01"
    assert rec.headers["anthropic-beta"] == "beta-one,beta-two"
    sent = rec.json()
    assert sent["system"] == [{"type": "text", "text": "Be brief."}]
    assert sent["max_tokens"] == 4096 and sent["temperature"] == 0.5 and "seed" not in sent


def test_stream_with_usage(sdk: openai.OpenAI) -> None:
    """A stream's text arrives in several chunks, then the usage chunk asked for."""
    chunks = list(
        sdk.chat.completions.create(
            model="claude", messages=HI, stream=True, stream_options={"include_usage": True}
        )
    )
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(texts) == CLAUDE_TEXT and len(texts) == 5
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"


def test_streamed_tool_call_arguments_arrive_in_deltas(
    ant: AnthropicUpstream, sdk: openai.OpenAI
) -> None:
    """A required tool call streams its id and name, then its arguments in several deltas."""
    stream = sdk.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER],
        tool_choice="required",
        parallel_tool_calls=False,
        stream=True,
    )
    fragments, names, finish = [], [], None
    for chunk in stream:
        for call in chunk.choices[0].delta.tool_calls or () if chunk.choices else ():
            assert call.index == 0
            if call.function and call.function.name:
                names.append(call.function.name)
            if call.function and call.function.arguments:
                fragments.append(call.function.arguments)
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    assert names == ["get_weather"] and len(fragments) > 2
    assert "".join(fragments) == '{"city":"Paris","days":3}'
    assert finish == "tool_calls"
    assert ant.requests[0].json()["tool_choice"] == {
        "type": "any",
        "disable_parallel_tool_use": True,
    }


class City(pydantic.BaseModel):
    name: str
    population: int


def test_structured_output_parses(ant: AnthropicUpstream, sdk: openai.OpenAI) -> None:
    """``parse`` with a pydantic model: native structured output, parsed by the SDK."""
    answer = sdk.chat.completions.parse(
        model="claude", messages=[{"role": "user", "content": "A city"}], response_format=City
    )
    assert answer.choices[0].message.parsed == City(name="Paris", population=3)
    fmt = ant.requests[0].json()["output_config"]["format"]
    assert fmt["type"] == "json_schema" and fmt["schema"]["properties"]["name"]


def test_images_by_url_and_base64(ant: AnthropicUpstream, sdk: openai.OpenAI) -> None:
    sdk.chat.completions.create(
        model="claude",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Compare"},
                    {"type": "image_url", "image_url": {"url": "https://img.test/a.png"}},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4A=="}},
                ],
            }
        ],
    )
    blocks = ant.requests[0].json()["messages"][0]["content"]
    assert blocks[1]["source"] == {"type": "url", "url": "https://img.test/a.png"}
    assert blocks[2]["source"] == {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4A=="}


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_and_tools_multi_turn(
    ant: AnthropicUpstream, sdk: openai.OpenAI, stream: bool
) -> None:
    """Turn 1 (reasoning + tools): reasoning_content, thinking_blocks with the signature, a
    tool call. Sent back with the tool's result, the signature reaches Anthropic intact
    (the fake refuses a changed one) and turn 2 answers."""
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    common: dict[str, Any] = {"model": "claude", "tools": [WEATHER], "reasoning_effort": "low"}
    if stream:
        reasoning, blocks, calls = [], [], {}
        for chunk in sdk.chat.completions.create(messages=messages, stream=True, **common):
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            extra = delta.model_extra or {}
            reasoning.append(extra.get("reasoning_content") or "")
            blocks += extra.get("thinking_blocks") or []
            for call in delta.tool_calls or ():
                slot = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                slot["id"] = call.id or slot["id"]
                assert call.function is not None
                slot["name"] = call.function.name or slot["name"]
                slot["arguments"] += call.function.arguments or ""
        tool_calls = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
            }
            for c in calls.values()
        ]
        assistant = {"role": "assistant", "content": None, "tool_calls": tool_calls}
        assistant["reasoning_content"] = "".join(reasoning)
        assistant["thinking_blocks"] = blocks
    else:
        first = sdk.chat.completions.create(messages=messages, **common)
        message = first.choices[0].message
        assert first.choices[0].finish_reason == "tool_calls"
        assert first.usage is not None
        assert first.usage.completion_tokens_details is not None
        assert first.usage.completion_tokens_details.reasoning_tokens > 0
        assistant = message.model_dump(exclude_none=True)
        blocks = assistant["thinking_blocks"]
    (block,) = blocks
    assert block["type"] == "thinking" and block["signature"] == signature_of(block["thinking"])
    assert assistant["reasoning_content"] == block["thinking"]
    call_id = assistant["tool_calls"][0]["id"]
    messages += [assistant, {"role": "tool", "tool_call_id": call_id, "content": "Sunny, 21C"}]
    second = sdk.chat.completions.create(messages=messages, **common)
    assert second.choices[0].message.content == CLAUDE_TEXT
    sent = ant.requests[1].json()
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    returned = sent["messages"][1]["content"]
    assert returned[0] == block and returned[-1]["type"] == "tool_use"
    assert sent["messages"][2]["content"][0]["tool_use_id"] == call_id


def test_bad_request_is_400(ant: AnthropicUpstream, sdk: openai.OpenAI) -> None:
    ant.fail_next(Fault.error(400, ant.error_body(400, "messages: bad")))
    with pytest.raises(openai.BadRequestError, match="messages: bad"):
        sdk.chat.completions.create(model="claude", messages=HI)


def test_prompt_too_long_is_context_length(ant: AnthropicUpstream, sdk: openai.OpenAI) -> None:
    body = ant.error_body(400, "prompt is too long: 250000 tokens > 200000 maximum")
    ant.fail_next(Fault.error(400, body))
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="claude", messages=HI)
    assert caught.value.code == "context_length_exceeded"


def test_refused_before_the_upstream(ant: AnthropicUpstream, sdk: openai.OpenAI) -> None:
    """temperature above 1, n > 1 and embeddings are 400s; Anthropic is never called."""
    with pytest.raises(openai.BadRequestError, match="temperature"):
        sdk.chat.completions.create(model="claude", messages=HI, temperature=1.5)
    with pytest.raises(openai.BadRequestError, match="one choice"):
        sdk.chat.completions.create(model="claude", messages=HI, n=2)
    with pytest.raises(openai.BadRequestError, match="embeddings"):
        sdk.embeddings.create(model="claude", input="hi")
    assert ant.requests == []


def test_upstream_auth_failure_is_502(ant: AnthropicUpstream, sdk: openai.OpenAI) -> None:
    ant.fail_next(Fault.error(401))
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="claude", messages=HI)
    assert caught.value.status_code == 502
    assert caught.value.code == "upstream_auth_failed"
    assert ANT_KEY not in caught.value.response.text


def test_rate_limit_is_retried_after_its_wait(ant: AnthropicUpstream, sdk: openai.OpenAI) -> None:
    ant.fail_next(Fault.error(429, headers={"retry-after": "1"}))
    started = time.monotonic()
    answer = sdk.chat.completions.create(model="claude", messages=HI)
    assert answer.choices[0].message.content == CLAUDE_TEXT
    assert len(ant.requests) == 2 and time.monotonic() - started >= 0.9


def test_overloaded_is_retried(ant: AnthropicUpstream, sdk: openai.OpenAI) -> None:
    ant.fail_next(Fault.error(529), times=2)
    answer = sdk.chat.completions.create(model="claude", messages=HI)
    assert answer.choices[0].message.content == CLAUDE_TEXT and len(ant.requests) == 3


def test_overloaded_throughout_fails_as_503(ant: AnthropicUpstream, sdk: openai.OpenAI) -> None:
    ant.fail_always(Fault.error(529))
    try:
        with pytest.raises(openai.APIStatusError) as caught:
            sdk.chat.completions.create(model="claude", messages=HI)
    finally:
        ant.fail_always(None)
    assert caught.value.status_code == 503 and caught.value.code == "overloaded"
    assert len(ant.requests) == 3  # the first try and both retries


def test_anthropic_failure_fails_over_to_openai(
    ant: AnthropicUpstream, oa: FakeUpstream, sdk: openai.OpenAI
) -> None:
    """An overloaded Anthropic deployment hands the request to the OpenAI one."""
    ant.fail_next(Fault.error(529))
    answer = sdk.chat.completions.create(model="ant-first", messages=HI)
    assert answer.choices[0].message.content == OPENAI_TEXT
    assert len(ant.requests) == 1 and len(oa.requests) == 1


def test_openai_failure_fails_over_to_anthropic(
    ant: AnthropicUpstream, oa: FakeUpstream, sdk: openai.OpenAI
) -> None:
    """A failing OpenAI deployment hands the request, streamed, to the Anthropic one."""
    oa.fail_next(Fault.error(500))
    chunks = list(sdk.chat.completions.create(model="openai-first", messages=HI, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == CLAUDE_TEXT
    assert len(oa.requests) == 1 and len(ant.requests) == 1


def test_in_stream_error_event_raises_in_the_sdk(
    ant: AnthropicUpstream, sdk: openai.OpenAI
) -> None:
    """Anthropic's error event mid-stream makes the SDK raise with its message."""
    ant.fail_next(Fault(error_event_after=5))
    with pytest.raises(openai.APIError, match="Overloaded"):
        for _ in sdk.chat.completions.create(model="claude", messages=HI, stream=True):
            pass


def test_an_error_event_first_is_retried(ant: AnthropicUpstream, sdk: openai.OpenAI) -> None:
    """An error event before any output relayed nothing: the attempt is retried."""
    ant.fail_next(Fault(error_event_after=0))
    chunks = list(sdk.chat.completions.create(model="claude", messages=HI, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == CLAUDE_TEXT
    assert len(ant.requests) == 2


@pytest.mark.parametrize("fault", [Fault.cut(5), Fault(malformed_after=5), Fault.no_done()])
def test_broken_stream_raises_in_the_sdk(
    ant: AnthropicUpstream, sdk: openai.OpenAI, fault: Fault
) -> None:
    """A stream cut, broken or ended before message_stop never looks finished."""
    ant.fail_next(fault)
    with pytest.raises(openai.APIError):
        for _ in sdk.chat.completions.create(model="claude", messages=HI, stream=True):
            pass


def test_usage_log_records_anthropic_tokens_and_cost(
    gw: GatewayProcess, sdk: openai.OpenAI, sqlite: Path
) -> None:
    """The usage row of a translated answer: the provider, its tokens (cache reads in the
    prompt), a cost from Claude's price."""
    plain = sdk.chat.completions.create(model="claude", messages=HI)
    chunks = list(sdk.chat.completions.create(model="claude", messages=HI, stream=True))
    assert plain.usage is not None and chunks
    gw.__exit__(None, None, None)  # stopping flushes the usage log
    db = sqlite3.connect(str(sqlite))
    try:
        query = "SELECT provider, stream, prompt_tokens, completion_tokens, cost_usd FROM usage"
        rows = sorted(db.execute(query))
    finally:
        db.close()
    assert len(rows) == 2
    for provider, _, prompt, completion, cost in rows:
        assert provider == "ant"
        assert (prompt, completion) == (plain.usage.prompt_tokens, plain.usage.completion_tokens)
        assert cost > 0


NODE = shutil.which("node")
NODE_SDK = Path(__file__).resolve().parents[1] / "node" / "node_modules" / "openai" / "index.mjs"
NODE_SCRIPT = """
import OpenAI from %s;
const client = new OpenAI({baseURL: process.env.BASE_URL, apiKey: process.env.API_KEY,
                           maxRetries: 0});
const messages = [{role: "user", content: "Weather in Paris?"}];
const plain = await client.chat.completions.create({model: "claude", messages});
const stream = await client.chat.completions.create({model: "claude", messages, stream: true,
  stream_options: {include_usage: true}, tools: %s, tool_choice: "required"});
let args = "", deltas = 0, usage = null, finish = null;
for await (const chunk of stream) {
  if (chunk.usage) usage = chunk.usage;
  for (const choice of chunk.choices) {
    for (const call of choice.delta.tool_calls ?? []) {
      if (call.function?.arguments) { args += call.function.arguments; deltas += 1; }
    }
    finish = choice.finish_reason ?? finish;
  }
}
console.log(JSON.stringify({plain: plain.choices[0].message.content, args, deltas, usage, finish}));
"""


@pytest.mark.node
@pytest.mark.skipif(NODE is None or not NODE_SDK.is_file(), reason="node or the npm SDK missing")
def test_node_sdk_plain_and_streamed_tool_call(gw: GatewayProcess, tmp_path: Path) -> None:
    """The npm openai SDK reads the translated answers too: text, tool-call deltas, usage."""
    assert NODE is not None
    script = tmp_path / "anthropic.mjs"
    sdk_url = json.dumps(NODE_SDK.as_uri())
    script.write_text(NODE_SCRIPT % (sdk_url, json.dumps([WEATHER])))
    env = {**os.environ, "BASE_URL": gw.base_url + "/v1", "API_KEY": DEV_KEY}
    done = subprocess.run(
        [NODE, str(script)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["plain"] == CLAUDE_TEXT
    assert report["args"] == '{"city":"Paris","days":3}' and report["deltas"] > 2
    assert report["finish"] == "tool_calls" and report["usage"]["completion_tokens"] > 0
