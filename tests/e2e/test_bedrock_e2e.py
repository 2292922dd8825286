"""Amazon Bedrock behind a real fastgw server: the official OpenAI SDK as the client, the fake
Bedrock runtime (which re-signs every request with botocore and refuses a bad SigV4) as the
upstream. Plain, streamed, tool calls with arguments in several deltas, structured output,
images, thinking carried across turns, usage and cost, every error class, in-stream errors
and cut streams, embeddings, the API-key mode, and failover between an OpenAI deployment and
a Bedrock one under one public model name, both ways."""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pydantic
import pytest
from openai.types.chat import ChatCompletionMessageParam

from fastgw.testing import FakeUpstream, Fault, GatewayProcess
from fastgw.testing.bedrock_upstream import (
    TEST_ACCESS_KEY,
    TEST_SECRET_KEY,
    BedrockFault,
    BedrockUpstream,
)
from tests.conftest import DEV_KEY, mock_config

pytestmark = pytest.mark.e2e

CLAUDE = "us.anthropic.claude-sonnet-4-20250514-v1:0"
HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hi"}]
ANSWER = "Bedrock fake answers every request"  # BedrockUpstream(chunks=5)
OPENAI_ANSWER = "The fake upstream answers every"  # FakeUpstream(chunks=5)
API_KEY = "bedrock-api-key-for-tests-0001"
ENV = {
    "TEST_AWS_KEY_ID": TEST_ACCESS_KEY,
    "TEST_AWS_SECRET": TEST_SECRET_KEY,
    "TEST_AWS_WRONG_SECRET": "not-the-secret",
    "TEST_BEDROCK_API_KEY": API_KEY,
}
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def config(bedrock: BedrockUpstream, oai: FakeUpstream, sqlite_path: Path) -> str:
    timeouts = "{ connect_s = 1, first_byte_s = 2, idle_s = 2, total_s = 10 }"
    quick = "{ retries = 2, backoff_s = 0.05, jitter = 0, budget_s = 5 }"
    signed = f"""type = "bedrock"
region = "us-east-1"
base_url = "{bedrock.base_url}"
access_key_id_env = "TEST_AWS_KEY_ID"
timeouts = {timeouts}"""
    return mock_config(
        extra=f"""
[storage]
sqlite_path = "{sqlite_path}"

[usage]
flush_interval_s = 0.05

[providers.bedrock]
{signed}
secret_access_key_env = "TEST_AWS_SECRET"

[providers.bedrock_wrong]
{signed}
secret_access_key_env = "TEST_AWS_WRONG_SECRET"

[providers.bedrock_key]
type = "bedrock"
region = "us-east-1"
base_url = "{bedrock.base_url}"
api_key_env = "TEST_BEDROCK_API_KEY"

[providers.oai]
type = "openai"
base_url = "{oai.base_url}"
timeouts = {timeouts}

[[models]]
name = "claude"
deployments = [{{ provider = "bedrock", model = "{CLAUDE}" }}]
retry = {quick}

[[models]]
name = "flaky"
deployments = [{{ provider = "bedrock", model = "{CLAUDE}" }}]
retry = {quick}
circuit = {{ failures = 1000 }}

[[models]]
name = "claude-small"
deployments = [{{ provider = "bedrock", model = "anthropic.claude-3-haiku-20240307-v1:0" }}]
context_fallbacks = ["claude"]

[[models]]
name = "wrong"
deployments = [{{ provider = "bedrock_wrong", model = "{CLAUDE}" }}]

[[models]]
name = "keyed"
deployments = [{{ provider = "bedrock_key", model = "amazon.nova-pro-v1:0" }}]

[[models]]
name = "titan"
deployments = [{{ provider = "bedrock", model = "amazon.titan-embed-text-v2:0" }}]

[[models]]
name = "cohere-embed"
deployments = [{{ provider = "bedrock", model = "cohere.embed-english-v3" }}]

[[models]]
name = "openai-first"
strategy = "ordered"
deployments = [
    {{ provider = "oai", model = "gpt-up" }},
    {{ provider = "bedrock", model = "{CLAUDE}" }},
]
retry = {{ retries = 0 }}

[[models]]
name = "bedrock-first"
strategy = "ordered"
deployments = [
    {{ provider = "bedrock", model = "{CLAUDE}" }},
    {{ provider = "oai", model = "gpt-up" }},
]
retry = {{ retries = 0 }}
"""
    )


@pytest.fixture(scope="module")
def ups() -> Iterator[tuple[BedrockUpstream, FakeUpstream]]:
    with (
        BedrockUpstream.in_thread(chunks=5, api_key=API_KEY) as bedrock,
        FakeUpstream.in_thread() as oai,
    ):
        yield bedrock, oai


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bedrock") / "usage.sqlite3"


@pytest.fixture(scope="module")
def gw(ups: tuple[BedrockUpstream, FakeUpstream], db_path: Path) -> Iterator[GatewayProcess]:
    with GatewayProcess(config(*ups, db_path), env=ENV) as process:
        yield process


@pytest.fixture
def up(ups: tuple[BedrockUpstream, FakeUpstream]) -> BedrockUpstream:
    ups[0].reset()
    ups[0].auth_failures = 0
    return ups[0]


@pytest.fixture
def oai(ups: tuple[BedrockUpstream, FakeUpstream]) -> FakeUpstream:
    ups[1].reset()
    return ups[1]


@pytest.fixture
def sdk(gw: GatewayProcess, up: BedrockUpstream, oai: FakeUpstream) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=gw.base_url + "/v1", api_key=DEV_KEY, max_retries=0, timeout=20
    ) as client:
        yield client


def sent(up: BedrockUpstream, i: int = -1) -> Any:
    return up.requests[i].json()


def test_plain_chat_is_signed_translated_and_answered(
    sdk: openai.OpenAI, up: BedrockUpstream
) -> None:
    """A plain answer through Converse, signed with SigV4 the fake accepts."""
    raw = sdk.chat.completions.with_raw_response.create(
        model="claude",
        messages=[{"role": "system", "content": "Be brief."}, *HI],
        max_tokens=100,
        temperature=0.2,
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == ANSWER
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == 5
    assert up.auth_failures == 0
    (request,) = up.requests
    assert request.path == "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse"
    assert request.headers["authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={TEST_ACCESS_KEY}/"
    )
    body = request.json()
    assert body["system"] == [{"text": "Be brief."}]
    assert body["inferenceConfig"] == {"maxTokens": 100, "temperature": 0.2}


def test_stream_with_usage(sdk: openai.OpenAI, up: BedrockUpstream) -> None:
    chunks = list(
        sdk.chat.completions.create(
            model="claude", messages=HI, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ANSWER
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
    assert up.requests[0].path.endswith("/converse-stream")
    assert up.auth_failures == 0


def test_streamed_tool_calls_arrive_in_several_deltas(
    sdk: openai.OpenAI, up: BedrockUpstream
) -> None:
    """Parallel tool calls (toolChoice any calls every tool), arguments as Bedrock sends them."""
    other: Any = {
        "type": "function",
        "function": {
            "name": "get_time",
            "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
        },
    }
    stream = sdk.chat.completions.create(
        model="claude", messages=HI, tools=[WEATHER, other], tool_choice="required", stream=True
    )
    calls: dict[int, dict[str, Any]] = {}
    fragments = 0
    finish = None
    for chunk in stream:
        for call in chunk.choices[0].delta.tool_calls or () if chunk.choices else ():
            slot = calls.setdefault(call.index, {"arguments": ""})
            if call.id:
                slot["id"], slot["name"] = call.id, call.function.name  # type: ignore[union-attr]
            if call.function and call.function.arguments:
                slot["arguments"] += call.function.arguments
                fragments += 1
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    assert finish == "tool_calls"
    assert [c["name"] for c in calls.values()] == ["get_weather", "get_time"]
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris", "unit": "Paris"}
    assert json.loads(calls[1]["arguments"]) == {"zone": "Paris"}
    assert fragments >= 4
    assert sent(up)["toolConfig"]["toolChoice"] == {"any": {}}


class City(pydantic.BaseModel):
    name: str
    population: int


def test_structured_output_through_a_forced_tool(sdk: openai.OpenAI, up: BedrockUpstream) -> None:
    completion = sdk.chat.completions.parse(model="claude", messages=HI, response_format=City)
    assert completion.choices[0].message.parsed == City(name="Paris", population=3)
    assert completion.choices[0].finish_reason == "stop"
    assert sent(up)["toolConfig"]["toolChoice"] == {"tool": {"name": "City"}}


def test_images_go_as_bytes_and_urls_are_refused(sdk: openai.OpenAI, up: BedrockUpstream) -> None:
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n0000").decode()
    content: Any = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
    ]
    sdk.chat.completions.create(model="claude", messages=[{"role": "user", "content": content}])
    assert sent(up)["messages"][0]["content"][1] == {
        "image": {"format": "png", "source": {"bytes": png}}
    }
    content[1]["image_url"]["url"] = "https://example.com/cat.png"
    with pytest.raises(openai.BadRequestError, match="data: URL"):
        sdk.chat.completions.create(model="claude", messages=[{"role": "user", "content": content}])


def test_thinking_and_tool_calls_round_trip(sdk: openai.OpenAI, up: BedrockUpstream) -> None:
    """Turn 1 thinks and calls a tool; turn 2 sends the signed thinking block back with the
    tool call and its result, and Bedrock receives it as reasoningContent first."""
    ask: list[Any] = [{"role": "user", "content": "Use get_weather for Paris"}]
    first = sdk.chat.completions.create(
        model="claude", messages=ask, tools=[WEATHER], reasoning_effort="low"
    )
    message = first.choices[0].message
    extra = message.model_extra or {}
    assert extra["reasoning_content"].startswith("The user asks")
    (block,) = extra["thinking_blocks"]
    assert block["signature"] and message.tool_calls
    assert sent(up)["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 1024}
    }
    call = message.tool_calls[0]
    second = sdk.chat.completions.create(
        model="claude",
        tools=[WEATHER],
        reasoning_effort="low",
        messages=[
            *ask,
            {
                "role": "assistant",
                "content": message.content,
                "tool_calls": [call.model_dump()],
                "thinking_blocks": extra["thinking_blocks"],  # type: ignore[typeddict-unknown-key]
            },
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"},
        ],
    )
    assert second.choices[0].message.content == ANSWER
    turns = sent(up)["messages"]
    assert turns[1]["content"][0] == {
        "reasoningContent": {
            "reasoningText": {"text": block["thinking"], "signature": block["signature"]}
        }
    }
    assert turns[2]["content"][0]["toolResult"]["toolUseId"] == call.id


def test_thinking_streams_as_reasoning_then_a_signed_block(
    sdk: openai.OpenAI, up: BedrockUpstream
) -> None:
    chunks = list(
        sdk.chat.completions.create(
            model="claude", messages=HI, reasoning_effort="low", stream=True
        )
    )
    extras = [c.choices[0].delta.model_extra or {} for c in chunks if c.choices]
    reasoning = "".join(e.get("reasoning_content") or "" for e in extras)
    blocks = [b for e in extras for b in e.get("thinking_blocks") or ()]
    assert reasoning.startswith("The user asks")
    assert blocks == [{"type": "thinking", "thinking": reasoning, "signature": "sig1=="}]


def wait_rows(db_path: Path, request_id: str) -> list[Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        db = sqlite3.connect(db_path)
        try:
            rows = db.execute(
                "SELECT provider, prompt_tokens, completion_tokens, cost_usd FROM usage "
                "WHERE request_id = ?",
                (request_id,),
            ).fetchall()
        except sqlite3.OperationalError:
            rows = []
        finally:
            db.close()
        if rows:
            return rows
        time.sleep(0.05)
    raise AssertionError("no usage row")


def test_usage_log_records_bedrock_tokens_and_cost(
    sdk: openai.OpenAI, up: BedrockUpstream, db_path: Path
) -> None:
    raw = sdk.chat.completions.with_raw_response.create(model="claude", messages=HI)
    usage = raw.parse().usage
    assert usage is not None
    ((provider, prompt, completion, cost),) = wait_rows(db_path, raw.headers["x-request-id"])
    assert (provider, prompt, completion) == ("bedrock", usage.prompt_tokens, 5)
    assert cost > 0  # us.anthropic.claude-sonnet-4-... is priced as claude-sonnet-4


def test_a_validation_error_is_a_400(sdk: openai.OpenAI, up: BedrockUpstream) -> None:
    up.fail_next(BedrockFault.aws(400, "ValidationException", "Malformed input request."))
    with pytest.raises(openai.BadRequestError, match="Malformed input request"):
        sdk.chat.completions.create(model="claude", messages=HI)


def test_a_too_long_input_goes_to_the_context_fallback(
    sdk: openai.OpenAI, up: BedrockUpstream
) -> None:
    up.fail_next(
        BedrockFault.aws(400, "ValidationException", "Input is too long for requested model.")
    )
    completion = sdk.chat.completions.create(model="claude-small", messages=HI)
    assert completion.choices[0].message.content == ANSWER
    assert [r.path.split("/")[2] for r in up.requests] == [
        "anthropic.claude-3-haiku-20240307-v1%3A0",
        "us.anthropic.claude-sonnet-4-20250514-v1%3A0",
    ]


def test_a_bad_signature_is_the_gateways_credentials_problem(
    sdk: openai.OpenAI, up: BedrockUpstream
) -> None:
    """The fake re-signs and refuses (403 InvalidSignatureException): the client gets 502."""
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="wrong", messages=HI)
    assert caught.value.status_code == 502
    assert caught.value.code == "upstream_auth_failed"
    assert up.auth_failures == 1


def test_throttling_is_retried(sdk: openai.OpenAI, up: BedrockUpstream) -> None:
    up.fail_next(BedrockFault.error(429))
    raw = sdk.chat.completions.with_raw_response.create(model="claude", messages=HI)
    assert raw.parse().choices[0].message.content == ANSWER
    assert len(up.requests) == 2


@pytest.mark.parametrize("status", [500, 503, 424])
def test_server_errors_are_retried_then_fail(
    sdk: openai.OpenAI, up: BedrockUpstream, status: int
) -> None:
    up.fail_always(BedrockFault.error(status))
    try:
        with pytest.raises(openai.APIStatusError) as caught:
            sdk.chat.completions.create(model="flaky", messages=HI)
    finally:
        up.fail_always(None)
    assert caught.value.status_code >= 500
    assert len(up.requests) == 3  # one attempt and two retries


def test_in_stream_exception_makes_the_sdk_raise(sdk: openai.OpenAI, up: BedrockUpstream) -> None:
    up.fail_next(BedrockFault(error_event_after=3, exception="modelStreamErrorException"))
    stream = sdk.chat.completions.create(model="claude", messages=HI, stream=True)
    with pytest.raises(openai.APIError, match="failed mid-stream"):
        for _ in stream:
            pass


@pytest.mark.parametrize(
    "fault",
    [Fault.cut(3), BedrockFault(bad_crc_after=3), BedrockFault(bad_json_after=3), Fault.no_done()],
)
def test_broken_streams_make_the_sdk_raise(
    sdk: openai.OpenAI, up: BedrockUpstream, fault: Fault
) -> None:
    up.fail_next(fault)
    stream = sdk.chat.completions.create(model="claude", messages=HI, stream=True)
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_failover_from_openai_to_bedrock(
    sdk: openai.OpenAI, up: BedrockUpstream, oai: FakeUpstream
) -> None:
    oai.fail_next(Fault.error(503))
    completion = sdk.chat.completions.create(model="openai-first", messages=HI)
    assert completion.choices[0].message.content == ANSWER
    assert len(oai.requests) == 1 and len(up.requests) == 1


def test_failover_from_bedrock_to_openai(
    sdk: openai.OpenAI, up: BedrockUpstream, oai: FakeUpstream
) -> None:
    up.fail_next(BedrockFault.aws(503, "ServiceUnavailableException", "Busy."))
    chunks = list(sdk.chat.completions.create(model="bedrock-first", messages=HI, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == OPENAI_ANSWER
    assert len(oai.requests) == 1 and len(up.requests) == 1


def test_embeddings_with_titan_and_cohere(sdk: openai.OpenAI, up: BedrockUpstream) -> None:
    titan = sdk.embeddings.create(model="titan", input="hello world", dimensions=256)
    assert len(titan.data[0].embedding) == 256 and titan.usage.prompt_tokens > 0
    assert sent(up) == {"inputText": "hello world", "normalize": True, "dimensions": 256}
    cohere = sdk.embeddings.create(model="cohere-embed", input=["a", "b", "c"])
    assert len(cohere.data) == 3 and cohere.usage.prompt_tokens > 0
    with pytest.raises(openai.BadRequestError, match="one input"):
        sdk.embeddings.create(model="titan", input=["a", "b"])


def test_api_key_mode_sends_a_bearer_token(sdk: openai.OpenAI, up: BedrockUpstream) -> None:
    completion = sdk.chat.completions.create(model="keyed", messages=HI)
    assert completion.choices[0].message.content == ANSWER
    assert up.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert "x-amz-date" not in up.requests[0].headers


def test_legacy_completions_are_refused(sdk: openai.OpenAI, up: BedrockUpstream) -> None:
    with pytest.raises(openai.BadRequestError, match="chat completions and embeddings only"):
        sdk.completions.create(model="claude", prompt="hi")
    assert up.requests == []


def test_an_exception_as_the_first_frame_fails_over(
    sdk: openai.OpenAI, up: BedrockUpstream, oai: FakeUpstream
) -> None:
    """A stream whose first frame is an exception relayed nothing: the next deployment answers."""
    up.fail_next(BedrockFault(error_event_after=0, exception="throttlingException"))
    chunks = list(sdk.chat.completions.create(model="bedrock-first", messages=HI, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == OPENAI_ANSWER
    assert len(oai.requests) == 1 and len(up.requests) == 1
