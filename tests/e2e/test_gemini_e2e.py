"""A real fastgw in front of the fake Gemini upstream, driven by the official OpenAI SDK: the
application speaks OpenAI, the upstream speaks Gemini, and everything the issue lists
(answers, streams, streamed tool calls, structured output, images, thinking with signatures
across turns, usage, every error class, failover with an OpenAI deployment, the usage log)
arrives as OpenAI would shape it."""

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

from fastgw.testing import FakeUpstream, Fault, GatewayProcess
from fastgw.testing.gemini_upstream import THOUGHT, WORDS, GeminiUpstream
from tests.conftest import DEV_KEY, mock_config

pytestmark = pytest.mark.e2e

KEY = "gemini-upstream-secret-0001"
ENV = {"GEMINI_TEST_KEY": KEY, "GEMINI_WRONG_KEY": "not-the-key"}
HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hi"}]
ANSWER = "".join(WORDS[:5])
OPENAI_ANSWER = "The fake upstream answers every"  # FakeUpstream, 5 words
SLACK = 3.0  # loose upper bound added to expected durations (the machine is shared)
QUICK = "{ retries = 1, backoff_s = 0.05, jitter = 0, budget_s = 5 }"
LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look a record up",
        "parameters": {
            "type": "object",
            "properties": {k: {"type": "string"} for k in ("city", "country", "street", "note")},
            "required": ["city", "country", "street", "note"],
        },
    },
}


def config(g: GeminiUpstream, o: FakeUpstream, sqlite_path: Path | None = None) -> str:
    models = "\n".join(
        f'[[models]]\nname = "{name}"\nretry = {QUICK}\n'
        f'deployments = [{{ provider = "gem", model = "{up}" }}]\n'
        for name, up in [
            ("gem", "gemini-2.5-flash"),
            ("gem-prefixed", "models/gemini-2.5-pro"),
            ("gem-errors", "gemini-2.5-flash"),
            ("gem-429", "gemini-2.5-flash"),
            ("gem-429-short", "gemini-2.5-flash"),
            ("gem-stream", "gemini-2.5-flash"),
            ("gem-embed", "text-embedding-004"),
        ]
    )
    oa = '{ provider = "oa", model = "gpt-4o" }'
    gem = '{ provider = "gem", model = "gemini-2.5-flash" }'
    storage = f'\n[storage]\nsqlite_path = "{sqlite_path}"\n' if sqlite_path else ""
    return mock_config(
        extra=f"""
[providers.gem]
type = "gemini"
base_url = "{g.base_url}"
api_key_env = "GEMINI_TEST_KEY"
headers = {{ "X-Team" = "search" }}

[providers.vertex]
type = "gemini"
base_url = "{g.root_url}/v1/projects/my-project/locations/us-central1/publishers/google"
api_key_env = "GEMINI_TEST_KEY"
api_key_header = "authorization"

[[models]]
name = "vertex"
deployments = [{{ provider = "vertex", model = "gemini-2.5-flash" }}]

[providers.gembad]
type = "gemini"
base_url = "{g.base_url}"
api_key_env = "GEMINI_WRONG_KEY"

[providers.oa]
type = "openai"
base_url = "{o.base_url}"

{models}

[[models]]
name = "gem-badkey"
deployments = [{{ provider = "gembad", model = "gemini-2.5-flash" }}]

[[models]]
name = "oa-then-gem"
strategy = "ordered"
retry = {{ retries = 0 }}
deployments = [{oa}, {gem}]

[[models]]
name = "gem-then-oa"
strategy = "ordered"
deployments = [{gem}, {oa}]

[[models]]
name = "gem-primary"
retry = {{ retries = 1, backoff_s = 0.05, jitter = 0 }}
deployments = [{{ provider = "gem", model = "gemini-2.5-flash" }}]
fallbacks = ["oa-backup"]

[[models]]
name = "oa-backup"
deployments = [{{ provider = "oa", model = "gpt-4o" }}]
[[models]]
name = "gem-429-budget"
retry = {{ retries = 2, backoff_s = 0.05, jitter = 0, budget_s = 0.5 }}
deployments = [{gem}]
{storage}"""
    )


@pytest.fixture(scope="module")
def ups() -> Iterator[tuple[GeminiUpstream, FakeUpstream]]:
    with GeminiUpstream.in_thread(api_key=KEY) as g, FakeUpstream.in_thread() as o:
        yield g, o


@pytest.fixture(scope="module")
def gw(ups: tuple[GeminiUpstream, FakeUpstream]) -> Iterator[GatewayProcess]:
    with GatewayProcess(config(*ups), env=ENV) as process:
        yield process


@pytest.fixture
def g(ups: tuple[GeminiUpstream, FakeUpstream]) -> GeminiUpstream:
    ups[0].reset()
    return ups[0]


@pytest.fixture
def o(ups: tuple[GeminiUpstream, FakeUpstream]) -> FakeUpstream:
    ups[1].reset()
    return ups[1]


@pytest.fixture
def sdk(gw: GatewayProcess, g: GeminiUpstream, o: FakeUpstream) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=gw.base_url + "/v1", api_key=DEV_KEY, max_retries=0, timeout=20
    ) as client:
        yield client


def test_plain_chat(sdk: openai.OpenAI, g: GeminiUpstream) -> None:
    """A plain chat reaches generateContent with the key header and reads as OpenAI's."""
    completion = sdk.chat.completions.create(
        model="gem", messages=[{"role": "system", "content": "Be brief."}, *HI], temperature=0.3
    )
    assert completion.choices[0].message.content == ANSWER
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage and completion.usage.completion_tokens == 5
    rec = g.requests[-1]
    assert rec.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert rec.headers["x-goog-api-key"] == KEY and rec.headers["x-team"] == "search"
    body = rec.json()
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["generationConfig"] == {"temperature": 0.3}


def test_vertex_style_base_url_with_a_bearer_token(sdk: openai.OpenAI, g: GeminiUpstream) -> None:
    """A Vertex AI publisher base URL and api_key_header = "authorization" fit."""
    assert sdk.chat.completions.create(model="vertex", messages=HI).choices[0].message.content
    rec = g.requests[-1]
    assert rec.path == (
        "/v1/projects/my-project/locations/us-central1/publishers/google"
        "/models/gemini-2.5-flash:generateContent"
    )
    assert rec.headers["authorization"] == f"Bearer {KEY}" and "x-goog-api-key" not in rec.headers


def test_cached_tokens_reach_prompt_tokens_details(sdk: openai.OpenAI, g: GeminiUpstream) -> None:
    """cachedContentTokenCount is OpenAI's cached_tokens, in a plain answer and a stream."""
    g.cached_tokens = 40
    try:
        plain = sdk.chat.completions.create(model="gem", messages=HI)
        chunks = list(
            sdk.chat.completions.create(
                model="gem-stream", messages=HI, stream=True, stream_options={"include_usage": True}
            )
        )
    finally:
        g.cached_tokens = 0
    for usage in (plain.usage, chunks[-1].usage):
        assert usage and usage.prompt_tokens_details
        assert usage.prompt_tokens_details.cached_tokens == 40 and usage.prompt_tokens > 40


def test_model_given_as_models_slash_name(sdk: openai.OpenAI, g: GeminiUpstream) -> None:
    sdk.chat.completions.create(model="gem-prefixed", messages=HI)
    assert g.requests[-1].path == "/v1beta/models/gemini-2.5-pro:generateContent"


def test_stream_with_usage(sdk: openai.OpenAI, g: GeminiUpstream) -> None:
    """Each Gemini event is a delta; the usage chunk comes last when asked for."""
    chunks = list(
        sdk.chat.completions.create(
            model="gem-stream", messages=HI, stream=True, stream_options={"include_usage": True}
        )
    )
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert texts == list(WORDS[:5])
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage and chunks[-1].usage.completion_tokens == 5
    assert g.requests[-1].query == "alt=sse"


def test_streamed_tool_call_arguments_arrive_in_several_deltas(sdk: openai.OpenAI) -> None:
    """A required tool call streams its start (with the thought signature) and then the
    arguments in more than one delta, which join into the schema-fitting JSON."""
    chunks = list(
        sdk.chat.completions.create(
            model="gem-stream",
            messages=HI,
            stream=True,
            tools=[LOOKUP],
            tool_choice="required",  # type: ignore[list-item]
        )
    )
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or ()]
    assert calls[0].function and calls[0].function.name == "lookup" and calls[0].id
    assert (calls[0].model_extra or {})["extra_content"]["google"]["thought_signature"]
    pieces = [tc.function.arguments for tc in calls[1:] if tc.function and tc.function.arguments]
    assert len(pieces) >= 2
    assert set(json.loads("".join(pieces))) == {"city", "country", "street", "note"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


def test_multi_turn_tools_carry_the_thought_signature_back(
    sdk: openai.OpenAI, g: GeminiUpstream
) -> None:
    """Turn 1 answers a tool call with extra_content.google.thought_signature; the client
    sends the assistant message back as received with the tool's result; the fake accepts
    turn 2 only with that signature on the functionCall part. A client that drops
    extra_content gets Google's documented skip value sent instead, not Gemini's 400."""
    messages: list[Any] = [{"role": "user", "content": "Where is it?"}]
    first = sdk.chat.completions.create(model="gem", messages=messages, tools=[LOOKUP])  # type: ignore[list-item]
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls" and message.tool_calls
    call = message.tool_calls[0]
    assert (call.model_extra or {})["extra_content"]["google"]["thought_signature"]
    messages.append(message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": '{"found": true}'})
    second = sdk.chat.completions.create(model="gem", messages=messages, tools=[LOOKUP])  # type: ignore[list-item]
    assert second.choices[0].message.content == ANSWER
    sent = g.requests[-1].json()["contents"]
    assert (
        sent[1]["parts"][0]["thoughtSignature"]
        == call.model_extra["extra_content"]["google"]["thought_signature"]
    )  # type: ignore[index]
    assert sent[2]["parts"] == [
        {"functionResponse": {"name": "lookup", "response": {"found": True}}}
    ]
    del messages[1]["tool_calls"][0]["extra_content"]
    third = sdk.chat.completions.create(model="gem", messages=messages, tools=[LOOKUP])  # type: ignore[list-item]
    assert third.choices[0].message.content == ANSWER
    sent = g.requests[-1].json()["contents"]
    assert sent[1]["parts"][0]["thoughtSignature"] == "skip_thought_signature_validator"


def test_failover_mid_conversation_keeps_tools_working(
    sdk: openai.OpenAI, g: GeminiUpstream, o: FakeUpstream
) -> None:
    """A tool call answered by the OpenAI deployment (no signature) continues on Gemini."""
    messages: list[Any] = [
        {"role": "user", "content": "Where is it?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_oa",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_oa", "content": "found"},
    ]
    o.fail_next(Fault.error(500))
    completion = sdk.chat.completions.create(model="oa-then-gem", messages=messages, tools=[LOOKUP])  # type: ignore[list-item]
    assert completion.choices[0].message.content == ANSWER and len(g.requests) == 1


class City(pydantic.BaseModel):
    name: str
    population: int


def test_structured_output_parses(sdk: openai.OpenAI, g: GeminiUpstream) -> None:
    """.parse() with a pydantic model goes as responseJsonSchema and parses the JSON back."""
    completion = sdk.chat.completions.parse(model="gem", messages=HI, response_format=City)
    assert completion.choices[0].message.parsed == City(name="sample value for name", population=3)
    config = g.requests[-1].json()["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"]["properties"].keys() == {"name", "population"}


def test_images_by_data_url_and_url(sdk: openai.OpenAI, g: GeminiUpstream) -> None:
    content: Any = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
    ]
    sdk.chat.completions.create(model="gem", messages=[{"role": "user", "content": content}])
    parts = g.requests[-1].json()["contents"][0]["parts"]
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}
    assert parts[2] == {
        "fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/a.jpg"}
    }


def test_thinking_plain_and_streamed(sdk: openai.OpenAI, g: GeminiUpstream) -> None:
    """reasoning_effort asks for thoughts; they come back as reasoning_content, counted as
    reasoning tokens, in a plain answer and in a stream."""
    completion = sdk.chat.completions.create(model="gem", messages=HI, reasoning_effort="low")
    assert (completion.choices[0].message.model_extra or {})["reasoning_content"] == THOUGHT
    assert completion.usage and completion.usage.completion_tokens_details
    assert completion.usage.completion_tokens_details.reasoning_tokens == len(THOUGHT) // 4
    assert g.requests[-1].json()["generationConfig"]["thinkingConfig"] == {
        "thinkingBudget": 1024,
        "includeThoughts": True,
    }
    chunks = list(
        sdk.chat.completions.create(
            model="gem-stream",
            messages=HI,
            reasoning_effort="low",
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    reasoning = [
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") for c in chunks if c.choices
    ]
    assert THOUGHT in reasoning
    usage = chunks[-1].usage
    assert usage and usage.completion_tokens_details
    assert usage.completion_tokens_details.reasoning_tokens == len(THOUGHT) // 4


def test_embeddings(sdk: openai.OpenAI, g: GeminiUpstream) -> None:
    """/embeddings goes to batchEmbedContents; vectors come back (the SDK asks base64)."""
    result = sdk.embeddings.create(model="gem-embed", input=["a", "bb"], dimensions=4)
    assert [len(d.embedding) for d in result.data] == [4, 4]
    assert result.usage.prompt_tokens == 2
    assert g.requests[-1].path == "/v1beta/models/text-embedding-004:batchEmbedContents"


def test_legacy_completions_are_refused(sdk: openai.OpenAI, g: GeminiUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.completions.create(model="gem", prompt="hi")
    assert "/completions" in caught.value.message and not g.requests


def test_n_above_one_is_refused_before_the_upstream(sdk: openai.OpenAI, g: GeminiUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="gem", messages=HI, n=2)
    assert "n = 1" in caught.value.message and not g.requests


# -- errors ---------------------------------------------------------------------------------


def test_400_is_the_clients_error_not_retried(sdk: openai.OpenAI, g: GeminiUpstream) -> None:
    g.fail_next(Fault.error(400, g.error_body(400, "Invalid value at 'contents'")))
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="gem-errors", messages=HI)
    assert "Invalid value at 'contents'" in caught.value.message and len(g.requests) == 1


def test_wrong_upstream_key_is_the_gateways_problem(sdk: openai.OpenAI, g: GeminiUpstream) -> None:
    """Gemini's 400 'API key not valid' is an auth failure: the client gets 502
    upstream_auth_failed, never the upstream's complaint about a key it did not send."""
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="gem-badkey", messages=HI)
    assert caught.value.status_code == 502
    assert caught.value.code == "upstream_auth_failed"


def test_429_is_retried_after_gemini_retry_delay(sdk: openai.OpenAI, g: GeminiUpstream) -> None:
    """RESOURCE_EXHAUSTED is a 429 whose RetryInfo (retryDelay 1s) is waited, then retried."""
    g.fail_next(Fault.error(429))
    start = time.monotonic()
    raw = sdk.chat.completions.with_raw_response.create(model="gem-429", messages=HI)
    assert 1.0 <= time.monotonic() - start < 1.0 + SLACK
    assert raw.parse().choices[0].message.content == ANSWER
    assert [a.split(":")[-1] for a in raw.headers["x-fastgw-attempts"].split(", ")] == [
        "429",
        "200",
    ]


def test_429_past_the_budget_answers_with_gemini_retry_delay(
    sdk: openai.OpenAI, g: GeminiUpstream
) -> None:
    """A wait past the retry budget is not waited: the client gets the 429 at once with
    Gemini's retryDelay as its Retry-After."""
    g.fail_next(Fault.error(429))
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(model="gem-429-budget", messages=HI)
    assert caught.value.response.headers["retry-after"] == "1" and len(g.requests) == 1


def test_503_is_retried_then_fails_over_to_openai(
    sdk: openai.OpenAI, g: GeminiUpstream, o: FakeUpstream
) -> None:
    """UNAVAILABLE is retryable: retried on Gemini, then the OpenAI fallback answers."""
    g.fail_always(Fault.error(503))
    try:
        raw = sdk.chat.completions.with_raw_response.create(model="gem-primary", messages=HI)
    finally:
        g.fail_always(None)
    assert raw.parse().choices[0].message.content == OPENAI_ANSWER
    assert len(g.requests) == 2 and len(o.requests) == 1
    statuses = [a.split(":")[-1] for a in raw.headers["x-fastgw-attempts"].split(", ")]
    assert statuses == ["503", "503", "200"]


def test_gemini_overloaded_fails_over_to_openai_under_one_name(
    sdk: openai.OpenAI, g: GeminiUpstream, o: FakeUpstream
) -> None:
    """One public model name, a Gemini deployment first: its 503 moves to the OpenAI one."""
    g.fail_next(Fault.error(503))
    completion = sdk.chat.completions.create(model="gem-then-oa", messages=HI)
    assert completion.choices[0].message.content == OPENAI_ANSWER
    assert len(g.requests) == 1 and len(o.requests) == 1


def test_openai_failure_fails_over_to_gemini(
    sdk: openai.OpenAI, g: GeminiUpstream, o: FakeUpstream
) -> None:
    """One public model name, an OpenAI deployment first: its 500 fails over to Gemini,
    whose answer is shaped as OpenAI's."""
    o.fail_next(Fault.error(500))
    completion = sdk.chat.completions.create(model="oa-then-gem", messages=HI)
    assert completion.choices[0].message.content == ANSWER
    assert len(o.requests) == 1 and len(g.requests) == 1


def stream_error(sdk: openai.OpenAI) -> tuple[str, Exception | None]:
    text, error = [], None
    try:
        for chunk in sdk.chat.completions.create(model="gem-stream", messages=HI, stream=True):
            if chunk.choices:
                text.append(chunk.choices[0].delta.content or "")
    except openai.APIError as exc:
        error = exc
    return "".join(text), error


def test_in_stream_error_raises_in_the_sdk(sdk: openai.OpenAI, g: GeminiUpstream) -> None:
    """An error object mid-stream ends the client's stream with an error, never [DONE]."""
    g.fail_next(Fault(error_event_after=2))
    text, error = stream_error(sdk)
    assert text == "".join(WORDS[:2]) and error is not None
    assert "overloaded" in str(error)


@pytest.mark.parametrize(
    "fault", [Fault.cut(2), Fault(finish_reason=False), Fault(malformed_after=2)]
)
def test_cut_or_unfinished_stream_raises_in_the_sdk(
    sdk: openai.OpenAI, g: GeminiUpstream, fault: Fault
) -> None:
    """A stream that ends before Gemini's finishReason is never a truncated success."""
    g.fail_next(fault)
    _, error = stream_error(sdk)
    assert error is not None


def test_usage_log_records_gemini_tokens_and_cost(
    tmp_path: Path,
    ups: tuple[GeminiUpstream, FakeUpstream],
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    """The usage row of a Gemini answer has its provider, tokens and a price-table cost."""
    sqlite_path = tmp_path / "usage.sqlite3"
    gateway = gateway_factory(config(*ups, sqlite_path=sqlite_path), env=ENV)
    with openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=DEV_KEY, max_retries=0) as c:
        completion = c.chat.completions.create(model="gem", messages=HI, reasoning_effort="low")
    assert completion.usage
    gateway.stop()
    db = sqlite3.connect(sqlite_path)
    rows = db.execute(
        "SELECT provider, prompt_tokens, completion_tokens, cost_usd FROM usage"
    ).fetchall()
    usage = completion.usage
    # gemini-2.5-flash in the shipped price table: $0.30 in, $2.50 out per million tokens
    cost = (usage.prompt_tokens * 0.30 + usage.completion_tokens * 2.50) / 1e6
    assert rows == [("gem", usage.prompt_tokens, usage.completion_tokens, pytest.approx(cost))]
    assert usage.completion_tokens_details and usage.completion_tokens_details.reasoning_tokens


NODE = shutil.which("node")
NODE_DIR = Path(__file__).resolve().parent.parent / "node"
NODE_SCRIPT = """
import OpenAI from "openai";
const client = new OpenAI({
  baseURL: process.env.FASTGW_BASE_URL, apiKey: process.env.FASTGW_API_KEY, maxRetries: 0,
});
const hi = [{ role: "user", content: "hi" }];
const plain = await client.chat.completions.create({ model: "gem", messages: hi });
const stream = await client.chat.completions.create({
  model: "gem-stream", messages: hi, stream: true,
  tools: [TOOL], tool_choice: "required", stream_options: { include_usage: true },
});
const pieces = []; let name = null; let signature = null; let usage = null;
for await (const chunk of stream) {
  if (chunk.usage) usage = chunk.usage;
  for (const call of chunk.choices[0]?.delta?.tool_calls ?? []) {
    if (call.function?.name) {
      name = call.function.name;
      signature = call.extra_content?.google?.thought_signature;
    }
    if (call.function?.arguments) pieces.push(call.function.arguments);
  }
}
let failed = null;
try { await client.chat.completions.create({ model: "gem-badkey", messages: hi }); }
catch (e) { failed = { status: e.status, code: e.code }; }
const text = plain.choices[0].message.content;
console.log(JSON.stringify({ text, name, signature, pieces, usage, failed }));
"""


@pytest.mark.node
@pytest.mark.skipif(NODE is None, reason="node is not on PATH")
@pytest.mark.skipif(
    not (NODE_DIR / "node_modules" / "openai").is_dir(),
    reason="the openai npm package is missing: run `cd tests/node && npm install`",
)
def test_node_sdk_plain_streamed_tool_call_and_error(gw: GatewayProcess, g: GeminiUpstream) -> None:
    """The openai npm package sees Gemini's answer, a streamed tool call in several argument
    deltas with its thought signature, the usage chunk, and the auth failure as a 502."""
    assert NODE is not None
    env = {**os.environ, "FASTGW_BASE_URL": gw.base_url + "/v1", "FASTGW_API_KEY": DEV_KEY}
    script = NODE_SCRIPT.replace("TOOL", json.dumps(LOOKUP))
    done = subprocess.run(
        [NODE, "--input-type=module", "-"],
        input=script,
        cwd=NODE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["text"] == ANSWER
    assert seen["name"] == "lookup" and seen["signature"]
    assert len(seen["pieces"]) >= 2 and set(json.loads("".join(seen["pieces"]))) == set(
        LOOKUP["function"]["parameters"]["properties"]  # type: ignore[index]
    )
    assert seen["usage"]["prompt_tokens"] > 0
    assert seen["failed"] == {"status": 502, "code": "upstream_auth_failed"}
