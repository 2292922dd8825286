"""Anthropic's Messages API served by a real fastgw, driven by the official ``anthropic`` SDK:
the same requests answered by the embedded mock, an OpenAI upstream (``FakeUpstream``) and an
Anthropic upstream (``AnthropicUpstream``); errors raise the SDK's own exceptions; the
gateway's keys, limits, cache and usage log apply as for chat completions."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from fastgw.keys import hash_key
from fastgw.testing import FakeUpstream, Fault, GatewayProcess
from fastgw.testing.anthropic_upstream import AnthropicUpstream, signature_of
from tests.conftest import DEV_KEY, LIMITED_KEY, mock_config

pytestmark = pytest.mark.e2e

ANT_KEY = "sk-ant-upstream-secret-0002"
RPM1_KEY = "sk-test-one-rpm-key-0123456789"
HI: Any = [{"role": "user", "content": "Say hi"}]
CLAUDE_TEXT = "Claude answers every request in"  # AnthropicUpstream, chunks=5
OPENAI_TEXT = "The fake upstream answers every"  # FakeUpstream, chunks=5
WEATHER: Any = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
MODELS = ["gpt-test", "oa", "claude"]  # the mock, the OpenAI fake, the Anthropic fake
TOOL_MODELS = ["gpt-test", "claude"]  # FakeUpstream answers text whatever the tools


def config(ant: AnthropicUpstream, oa: FakeUpstream, sqlite: Path) -> str:
    timeouts = "{ connect_s = 1, first_byte_s = 2, idle_s = 2, total_s = 10 }"
    return mock_config(
        extra=f"""
[storage]
sqlite_path = "{sqlite}"

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
name = "claude"
deployments = [{{ provider = "ant", model = "claude-haiku-4-5" }}]
retry = {{ retries = 0 }}

[[models]]
name = "oa"
deployments = [{{ provider = "oa", model = "gpt-4o-mini" }}]
retry = {{ retries = 0 }}

[[models]]
name = "ant-first"
strategy = "ordered"
deployments = [
    {{ provider = "ant", model = "claude-haiku-4-5" }},
    {{ provider = "oa", model = "gpt-4o-mini" }},
]
retry = {{ retries = 0 }}

[[models]]
name = "cached"
deployments = [{{ provider = "mock", model = "mock-cached" }}]
[models.cache]

[[keys]]
id = "one-rpm"
hash = "{hash_key(RPM1_KEY)}"
rpm = 1
"""
    )


@pytest.fixture(scope="module")
def ant() -> Iterator[AnthropicUpstream]:
    with AnthropicUpstream.in_thread(api_key=ANT_KEY, chunks=5) as up:
        yield up


@pytest.fixture(scope="module")
def oa() -> Iterator[FakeUpstream]:
    with FakeUpstream.in_thread(chunks=5) as up:
        yield up


@pytest.fixture(scope="module")
def sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("messages") / "usage.sqlite"


@pytest.fixture(scope="module")
def gw(ant: AnthropicUpstream, oa: FakeUpstream, sqlite: Path) -> Iterator[GatewayProcess]:
    with GatewayProcess(config(ant, oa, sqlite), env={"ANT_KEY": ANT_KEY}) as process:
        yield process


@pytest.fixture(autouse=True)
def _fresh(ant: AnthropicUpstream, oa: FakeUpstream) -> None:
    ant.reset()
    oa.reset()


def client_for(gw: GatewayProcess, key: str = DEV_KEY) -> anthropic.Anthropic:
    """The SDK pointed at fastgw: the base URL without /v1 (the SDK adds /v1/messages)."""
    return anthropic.Anthropic(base_url=gw.base_url, api_key=key, max_retries=0, timeout=15)


@pytest.fixture
def sdk(gw: GatewayProcess) -> Iterator[anthropic.Anthropic]:
    with client_for(gw) as client:
        yield client


def text_of(message: Any) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


@pytest.mark.parametrize("model", MODELS)
def test_create(sdk: anthropic.Anthropic, model: str) -> None:
    """A plain message: text, end_turn, usage, a msg_ id, on every upstream."""
    message = sdk.messages.create(model=model, max_tokens=64, system="Be brief.", messages=HI)
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_") and message.stop_reason == "end_turn"
    assert text_of(message)
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    if model == "claude":
        assert text_of(message) == CLAUDE_TEXT and message.model == "claude-haiku-4-5"
    if model == "oa":
        assert text_of(message) == OPENAI_TEXT


def test_an_anthropic_upstream_gets_the_body_byte_for_byte(
    gw: GatewayProcess, ant: AnthropicUpstream
) -> None:
    """The client's bytes reach an Anthropic upstream as written, only the model renamed:
    fields the translation has no place for (top_k, new ones) and the key order included."""
    body = (
        b'{"max_tokens": 64, "model": "claude", "top_k": 5, "service_tier": "auto",\n'
        b' "system": "Be brief.", "messages": [{"role": "user", "content": "Say hi"}]}'
    )
    headers = {"x-api-key": DEV_KEY, "content-type": "application/json"}
    answer = httpx.post(f"{gw.base_url}/v1/messages", content=body, headers=headers, timeout=10)
    assert answer.status_code == 200 and answer.json()["content"][0]["text"] == CLAUDE_TEXT
    assert ant.requests[0].body == body.replace(b'"claude"', b'"claude-haiku-4-5"')


def test_an_openai_upstream_gets_a_chat_completion(
    sdk: anthropic.Anthropic, oa: FakeUpstream
) -> None:
    """Any other upstream gets the translation: system message, max_tokens, stop, user."""
    sdk.messages.create(
        model="oa",
        max_tokens=64,
        system="Be brief.",
        messages=HI,
        stop_sequences=["END"],
        metadata={"user_id": "u1"},
    )
    chat = oa.requests[0].json()
    assert chat["messages"][0] == {"role": "system", "content": "Be brief."}
    assert chat["max_tokens"] == 64 and chat["stop"] == ["END"] and chat["user"] == "u1"


def test_a_fallback_from_anthropic_to_openai_translates(
    sdk: anthropic.Anthropic, ant: AnthropicUpstream, oa: FakeUpstream
) -> None:
    """An overloaded Anthropic deployment hands the request to the OpenAI one, which gets
    the translated chat body; the client reads Anthropic's shape either way."""
    ant.fail_next(Fault.error(529))
    message = sdk.messages.create(model="ant-first", max_tokens=64, messages=HI)
    assert text_of(message) == OPENAI_TEXT
    assert len(ant.requests) == 1 and oa.requests[0].json()["messages"] == HI


@pytest.mark.parametrize("model", MODELS)
def test_stream_helper(sdk: anthropic.Anthropic, model: str) -> None:
    """``messages.stream``: text arrives in deltas and the final message adds up, with its
    usage and stop reason."""
    with sdk.messages.stream(model=model, max_tokens=64, messages=HI) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 1 and "".join(pieces) == text_of(final)
    assert final.stop_reason == "end_turn" and final.id.startswith("msg_")
    assert final.usage.output_tokens > 0 and final.usage.input_tokens > 0


def test_raw_stream_event_sequence(sdk: anthropic.Anthropic) -> None:
    """The events in Anthropic's order, a ping after message_start."""
    stream = sdk.messages.create(model="claude", max_tokens=64, messages=HI, stream=True)
    kinds = [event.type for event in stream]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert kinds.count("content_block_delta") == 5


@pytest.mark.parametrize("model", TOOL_MODELS)
@pytest.mark.parametrize("stream", [False, True])
def test_tools_round_trip(sdk: anthropic.Anthropic, model: str, stream: bool) -> None:
    """tool_use (input parsed), then the tool_result sent back, then a text answer."""
    messages: Any = [{"role": "user", "content": "Weather in Paris?"}]
    common: Any = {"model": model, "max_tokens": 256, "tools": [WEATHER]}
    if stream:
        with sdk.messages.stream(
            messages=messages, tool_choice={"type": "any"}, **common
        ) as events:
            first = events.get_final_message()
    else:
        first = sdk.messages.create(messages=messages, tool_choice={"type": "any"}, **common)
    assert first.stop_reason == "tool_use"
    uses = [b for b in first.content if b.type == "tool_use"]
    assert uses and uses[0].name == "get_weather" and isinstance(uses[0].input, dict)
    assert "city" in uses[0].input
    results = [{"type": "tool_result", "tool_use_id": u.id, "content": "Sunny, 21C"} for u in uses]
    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": results},
    ]
    second = sdk.messages.create(messages=messages, **common)
    assert second.stop_reason == "end_turn" and text_of(second)


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_signature_survives_the_round_trip(
    sdk: anthropic.Anthropic, ant: AnthropicUpstream, stream: bool
) -> None:
    """Thinking with tools on an Anthropic upstream: the thinking block and its signature
    come back to the client; sent back with the tool result, the upstream (which refuses
    any other signature) gets them intact, with the client's budget."""
    messages: Any = [{"role": "user", "content": "Weather in Paris?"}]
    common: Any = {
        "model": "claude",
        "max_tokens": 4096,
        "tools": [WEATHER],
        "thinking": {"type": "enabled", "budget_tokens": 2048},
    }
    if stream:
        with sdk.messages.stream(messages=messages, **common) as events:
            kinds = {e.type for e in events}
            first = events.get_final_message()
        assert "thinking" in kinds and "signature" in kinds
    else:
        first = sdk.messages.create(messages=messages, **common)
    block = first.content[0]
    assert block.type == "thinking" and block.thinking
    assert block.signature == signature_of(block.thinking)
    use = first.content[-1]
    assert use.type == "tool_use"
    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "Sunny"}],
        },
    ]
    second = sdk.messages.create(messages=messages, **common)
    assert text_of(second) == CLAUDE_TEXT
    sent = ant.requests[1].json()
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    returned = sent["messages"][1]["content"][0]
    assert returned == {
        "type": "thinking",
        "thinking": block.thinking,
        "signature": block.signature,
    }


@pytest.mark.parametrize("model", TOOL_MODELS)
def test_structured_output(sdk: anthropic.Anthropic, model: str) -> None:
    """output_config.format: the answer's text is JSON fitting the schema."""
    schema: Any = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["name", "population"],
        "additionalProperties": False,
    }
    message = sdk.messages.create(
        model=model,
        max_tokens=256,
        messages=[{"role": "user", "content": "A city"}],
        extra_body={"output_config": {"format": {"type": "json_schema", "schema": schema}}},
    )
    city = json.loads(text_of(message))
    assert isinstance(city["name"], str) and isinstance(city["population"], int)


def test_cache_control_reaches_an_anthropic_upstream(
    sdk: anthropic.Anthropic, ant: AnthropicUpstream
) -> None:
    """cache_control on system, tool and message blocks arrives as the client sent it, and
    the upstream's cache reads and writes come back in the usage."""
    mark: Any = {"type": "ephemeral"}
    message = sdk.messages.create(
        model="claude",
        max_tokens=64,
        system=[{"type": "text", "text": "Long instructions.", "cache_control": mark}],
        tools=[{**WEATHER, "cache_control": mark}],
        tool_choice={"type": "none"},
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "Hi", "cache_control": mark}]}
        ],
    )
    sent = ant.requests[0].json()
    assert sent["system"][0]["cache_control"] == mark
    assert sent["tools"][0]["cache_control"] == mark
    assert sent["messages"][0]["content"][0]["cache_control"] == mark
    usage = message.usage
    assert (usage.cache_read_input_tokens or 0) + (usage.cache_creation_input_tokens or 0) > 0


def test_images_reach_the_upstream(sdk: anthropic.Anthropic, ant: AnthropicUpstream) -> None:
    sdk.messages.create(
        model="claude",
        max_tokens=64,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Compare"},
                    {"type": "image", "source": {"type": "url", "url": "https://img.test/a.png"}},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"},
                    },
                ],
            }
        ],
    )
    blocks = ant.requests[0].json()["messages"][0]["content"]
    assert blocks[1]["source"] == {"type": "url", "url": "https://img.test/a.png"}
    assert blocks[2]["source"] == {"type": "base64", "media_type": "image/png", "data": "iVBO"}


def test_count_tokens(sdk: anthropic.Anthropic, gw: GatewayProcess, ant: AnthropicUpstream) -> None:
    """An estimate, no upstream call; longer input counts more; a bad key is refused."""
    short = sdk.messages.count_tokens(model="claude", messages=HI)
    long = sdk.messages.count_tokens(
        model="claude", system="Be brief. " * 50, tools=[WEATHER], messages=HI
    )
    assert 0 < short.input_tokens < long.input_tokens
    assert ant.requests == []
    with (
        client_for(gw, "sk-wrong-key-000000000") as bad,
        pytest.raises(anthropic.AuthenticationError),
    ):
        bad.messages.count_tokens(model="claude", messages=HI)
    with pytest.raises(anthropic.NotFoundError):
        sdk.messages.count_tokens(model="no-such-model", messages=HI)


# -- errors ---------------------------------------------------------------------------------------


def test_bad_request(sdk: anthropic.Anthropic) -> None:
    pdf: Any = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"},
    }
    with pytest.raises(anthropic.BadRequestError, match="document") as caught:
        sdk.messages.create(
            model="claude", max_tokens=64, messages=[{"role": "user", "content": [pdf]}]
        )
    assert caught.value.body == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": caught.value.body["error"]["message"],
        },
    }


def test_missing_max_tokens_is_anthropics_400(gw: GatewayProcess) -> None:
    with client_for(gw) as client, pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        client.post("/v1/messages", cast_to=object, body={"model": "claude", "messages": HI})


def test_authentication_error(gw: GatewayProcess) -> None:
    with (
        client_for(gw, "sk-wrong-key-000000000") as client,
        pytest.raises(anthropic.AuthenticationError) as caught,
    ):
        client.messages.create(model="claude", max_tokens=64, messages=HI)
    assert caught.value.status_code == 401
    assert caught.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]


def test_bearer_and_api_key_headers_work_too(gw: GatewayProcess) -> None:
    """fastgw's own headers authenticate /v1/messages as well as x-api-key."""
    body = {"model": "gpt-test", "max_tokens": 16, "messages": HI}
    for headers in ({"authorization": f"Bearer {DEV_KEY}"}, {"api-key": DEV_KEY}):
        answer = httpx.post(f"{gw.base_url}/v1/messages", json=body, headers=headers, timeout=10)
        assert answer.status_code == 200 and answer.json()["type"] == "message"


def test_permission_denied(gw: GatewayProcess) -> None:
    with client_for(gw, LIMITED_KEY) as client, pytest.raises(anthropic.PermissionDeniedError):
        client.messages.create(model="claude", max_tokens=64, messages=HI)


def test_not_found(sdk: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        sdk.messages.create(model="no-such-model", max_tokens=64, messages=HI)
    assert caught.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_rate_limited(gw: GatewayProcess) -> None:
    with client_for(gw, RPM1_KEY) as client:
        client.messages.create(model="gpt-test", max_tokens=16, messages=HI)
        with pytest.raises(anthropic.RateLimitError) as caught:
            client.messages.create(model="gpt-test", max_tokens=16, messages=HI)
    assert caught.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]


def test_request_too_large(sdk: anthropic.Anthropic) -> None:
    big: Any = [{"role": "user", "content": "x" * 70_000}]  # past max_body_bytes (65536)
    with pytest.raises(anthropic.APIStatusError) as caught:
        sdk.messages.create(model="claude", max_tokens=64, messages=big)
    assert caught.value.status_code == 413
    assert caught.value.body["error"]["type"] == "request_too_large"  # type: ignore[index]


def test_upstream_failure_is_an_internal_server_error(
    sdk: anthropic.Anthropic, oa: FakeUpstream
) -> None:
    oa.fail_next(Fault.error(500))
    with pytest.raises(anthropic.InternalServerError) as caught:
        sdk.messages.create(model="oa", max_tokens=64, messages=HI)
    assert caught.value.status_code >= 500
    assert caught.value.body["error"]["type"] == "api_error"  # type: ignore[index]


def test_overloaded_upstream_is_529(sdk: anthropic.Anthropic, ant: AnthropicUpstream) -> None:
    ant.fail_next(Fault.error(529))
    with pytest.raises(anthropic.OverloadedError) as caught:
        sdk.messages.create(model="claude", max_tokens=64, messages=HI)
    assert caught.value.status_code == 529


@pytest.mark.parametrize("upstream", ["claude", "oa"])
def test_mid_stream_failure_ends_with_an_error_event(
    sdk: anthropic.Anthropic, ant: AnthropicUpstream, oa: FakeUpstream, upstream: str
) -> None:
    """The upstream fails after text went out: the stream ends with Anthropic's error event
    and the SDK raises; no message_stop was seen."""
    if upstream == "claude":
        ant.fail_next(Fault(error_event_after=5))
    else:
        oa.fail_next(Fault.cut(3))
    seen: list[str] = []
    with pytest.raises(anthropic.APIStatusError):
        for event in sdk.messages.create(model=upstream, max_tokens=64, messages=HI, stream=True):
            seen.append(event.type)
    assert "content_block_delta" in seen and "message_stop" not in seen


# -- the gateway's own features -------------------------------------------------------------------


def test_exact_cache_answers_a_repeated_message(sdk: anthropic.Anthropic) -> None:
    """temperature 0 on a model with the cache: the repeat is a hit, the same message; a
    streamed repeat is replayed from the cache through the same translation."""
    # sent as an extra field: recent SDKs have no temperature argument
    common: Any = {"model": "cached", "max_tokens": 32, "messages": HI}
    common["extra_body"] = {"temperature": 0}
    first = sdk.messages.with_raw_response.create(**common)
    second = sdk.messages.with_raw_response.create(**common)
    assert first.headers["x-fastgw-cache"] == "miss"
    assert second.headers["x-fastgw-cache"] == "hit"
    assert second.parse().content == first.parse().content
    with sdk.messages.stream(**common) as stream:
        assert "".join(stream.text_stream) == text_of(first.parse())
        assert stream.response.headers["x-fastgw-cache"] == "hit"


def test_usage_log_and_access_log_record_messages(
    ant: AnthropicUpstream, oa: FakeUpstream, tmp_path: Path
) -> None:
    """Each /v1/messages answer (whole and streamed) is a usage row with its tokens and a
    cost, and an access line with the path /v1/messages."""
    sqlite = tmp_path / "usage.sqlite"
    with GatewayProcess(config(ant, oa, sqlite), env={"ANT_KEY": ANT_KEY}) as gw:
        with client_for(gw) as client:
            whole = client.messages.create(model="claude", max_tokens=64, messages=HI)
            with client.messages.stream(model="claude", max_tokens=64, messages=HI) as stream:
                streamed = stream.get_final_message()
        gw.stop()  # stopping flushes the usage log
        lines = [json.loads(line) for line in gw.stdout().splitlines() if line.startswith("{")]
    paths = {line["request_id"]: line["path"] for line in lines if "request_id" in line}
    db = sqlite3.connect(str(sqlite))
    try:
        query = "SELECT request_id, stream, prompt_tokens, completion_tokens, cost_usd FROM usage"
        rows = sorted(db.execute(query), key=lambda r: r[1])
    finally:
        db.close()
    assert len(rows) == 2
    for (request_id, _, prompt, completion, cost), message in zip(
        rows, (whole, streamed), strict=True
    ):
        assert paths[request_id] == "/v1/messages"
        usage = message.usage
        assert prompt == usage.input_tokens + (usage.cache_read_input_tokens or 0) + (
            usage.cache_creation_input_tokens or 0
        )
        assert completion == usage.output_tokens and cost > 0
