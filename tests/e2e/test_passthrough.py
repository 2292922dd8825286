"""A real fastgw in front of a FakeUpstream, driven by the official openai SDK and httpx:
what the client gets is what the upstream sent, what the upstream gets is what the client
sent (but the model name and the keys), and every upstream fault becomes the right error."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import msgspec
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from fastgw.keys import hash_key
from fastgw.testing import (
    FakeUpstream,
    Fault,
    GatewayProcess,
    RecordedRequest,
    free_port,
    openai_error,
)
from fastgw.testing.upstream import NOT_JSON
from tests.conftest import DEV_KEY

pytestmark = pytest.mark.e2e

UPSTREAM_KEY = "sk-upstream-secret-0001"
AZURE_KEY = "azure-secret-0002"
ENV = {"FAKE_UPSTREAM_KEY": UPSTREAM_KEY, "FAKE_AZURE_KEY": AZURE_KEY}
AUTH = {"authorization": f"Bearer {DEV_KEY}", "content-type": "application/json"}
HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hi"}]
ANSWER = "The fake upstream answers"  # FakeUpstream's first four words


def config(up: FakeUpstream) -> str:
    """Providers: ``up`` (bearer key, extra header and query, patient timeouts), ``short``
    (the same upstream with 0.5 s timeouts), ``azure`` (``api-key`` header), ``down``
    (nothing listens). Each model name says which one it uses."""
    patient = "{ connect_s = 2, first_byte_s = 10, idle_s = 10, total_s = 20 }"
    return f"""
[server]
drain_timeout_s = 2

[providers.up]
type = "openai"
base_url = "{up.base_url}"
api_key_env = "FAKE_UPSTREAM_KEY"
headers = {{ "X-Team" = "search" }}
query = {{ "api-version" = "2024-10-21" }}
timeouts = {patient}

[providers.short]
type = "openai"
base_url = "{up.base_url}"
timeouts = {{ connect_s = 1, first_byte_s = 0.5, idle_s = 0.5, total_s = 5 }}

[providers.azure]
type = "openai"
base_url = "{up.base_url}"
api_key_env = "FAKE_AZURE_KEY"
api_key_header = "api-key"

[providers.down]
type = "openai"
base_url = "http://127.0.0.1:{free_port()}/v1"

[[models]]
name = "gpt-same"
deployments = [{{ provider = "up", model = "gpt-same" }}]

[[models]]
name = "gpt-alias"
deployments = [{{ provider = "up", model = "upstream-model-v2" }}]

[[models]]
name = "gpt-short"
deployments = [{{ provider = "short", model = "gpt-short" }}]

[[models]]
name = "gpt-azure"
deployments = [{{ provider = "azure", model = "gpt-azure" }}]

[[models]]
name = "gpt-down"
deployments = [{{ provider = "down", model = "gpt-down" }}]

[[models]]
name = "embed"
deployments = [{{ provider = "up", model = "embed" }}]

[[keys]]
id = "dev"
hash = "{hash_key(DEV_KEY)}"
"""


@pytest.fixture(scope="module")
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream.in_thread(chunks=4) as server:
        yield server


@pytest.fixture
def gw(up: FakeUpstream, gateway_factory: Callable[..., GatewayProcess]) -> GatewayProcess:
    up.reset()
    up.chunks, up.chunk_delay = 4, 0.0
    return gateway_factory(config(up), env=ENV)


@pytest.fixture
def sdk(gw: GatewayProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=gw.base_url + "/v1", api_key=DEV_KEY, max_retries=0, timeout=10
    ) as client:
        yield client


@pytest.fixture
def raw(gw: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.base_url + "/v1", headers=AUTH, timeout=10) as client:
        yield client


def body(model: str = "gpt-same", **fields: Any) -> bytes:
    return msgspec.json.encode({"model": model, "messages": HI, **fields})


def assert_still_serving(sdk: openai.OpenAI) -> None:
    """The gateway answers a normal request after whatever the test did."""
    answer = sdk.chat.completions.create(model="gpt-same", messages=HI)
    assert (answer.choices[0].message.content or "").startswith(ANSWER)


# -- relaying ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/chat/completions", body()),
        ("/completions", b'{"model":"gpt-same","prompt":"Say hi"}'),
        ("/embeddings", b'{"model":"embed","input":["a","b"]}'),
    ],
    ids=["chat", "completions", "embeddings"],
)
def test_plain_answer_is_relayed_byte_for_byte(
    up: FakeUpstream, raw: httpx.Client, path: str, payload: bytes
) -> None:
    """A non-streamed answer reaches the client with the upstream's exact bytes and usage."""
    response = raw.post(path, content=payload)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == up.requests[-1].sent
    assert response.json()["usage"]["prompt_tokens"] > 0


def test_sdk_parses_plain_and_streamed_answers(up: FakeUpstream, sdk: openai.OpenAI) -> None:
    """The SDK reads the relayed answers: text, usage, and a stream with include_usage."""
    answer = sdk.chat.completions.create(model="gpt-same", messages=HI)
    assert answer.choices[0].message.content == ANSWER
    assert answer.usage is not None and answer.usage.completion_tokens == 4
    stream = sdk.chat.completions.create(
        model="gpt-same",
        messages=HI,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ANSWER
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4
    vectors = sdk.embeddings.create(model="embed", input=["a", "b"])
    assert len(vectors.data) == 2 and len(vectors.data[0].embedding) == 8


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/chat/completions", body(stream=True, stream_options={"include_usage": True})),
        ("/completions", b'{"model":"gpt-same","prompt":"Say hi","stream":true}'),
    ],
    ids=["chat", "completions"],
)
def test_stream_is_relayed_byte_for_byte(
    up: FakeUpstream, raw: httpx.Client, path: str, payload: bytes
) -> None:
    """A streamed answer reaches the client as the upstream's exact SSE bytes, [DONE] included;
    but for a client that did not ask for include_usage, the usage event the gateway asked
    for in its place is left out."""
    up.chunk_delay = 0.01
    with raw.stream("POST", path, content=payload) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        received = b"".join(response.iter_bytes())
    sent = up.requests[-1]
    assert sent.json()["stream_options"] == {"include_usage": True}
    asked = b"include_usage" in payload
    expected = [e for e in sent.response if asked or b'"choices":[]' not in e]
    assert len(expected) == len(sent.response) - (0 if asked else 1)
    assert received == b"".join(expected)
    assert received.endswith(b"data: [DONE]\n\n")


def test_unknown_fields_reach_the_upstream_byte_identical(
    up: FakeUpstream, raw: httpx.Client
) -> None:
    """Fields the gateway does not read, and the body's own formatting, are forwarded as sent."""
    payload = (
        b'{ "model" : "gpt-same",\n  "messages": [{"role": "user", "content": "Weather?"}],\n'
        b'  "tools": [{"type": "function", "function": {"name": "weather",'
        b' "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],\n'
        b'  "tool_choice": {"type": "function", "function": {"name": "weather"}},\n'
        b'  "response_format": {"type": "json_object"}, "logprobs": true, "top_logprobs": 2,\n'
        b'  "n": 1, "seed": 42, "x_vendor_knob": {"keep": [1, 2.50, "\\u00e9"]} }'
    )
    response = raw.post("/chat/completions", content=payload)
    assert response.status_code == 200
    rec = up.requests[-1]
    assert rec.body == payload
    assert rec.headers["content-length"] == str(len(payload))


def test_model_is_rewritten_when_the_deployment_names_another(
    up: FakeUpstream, raw: httpx.Client
) -> None:
    """Only the top-level model changes; every other value keeps its raw bytes and order."""
    payload = (
        b'{"messages": [{"role": "user", "content": "hi"}], "model": "gpt-alias",'
        b' "x_vendor_knob": {"b": 1,  "a": [2.50, null]}, "seed": 7}'
    )
    response = raw.post("/chat/completions", content=payload)
    assert response.status_code == 200
    sent = up.requests[-1].body
    decoded = msgspec.json.decode(sent)
    assert decoded["model"] == "upstream-model-v2"
    assert list(decoded) == ["messages", "model", "x_vendor_knob", "seed"]
    assert b'{"b": 1,  "a": [2.50, null]}' in sent
    assert b'[{"role": "user", "content": "hi"}]' in sent
    assert response.json()["model"] == "upstream-model-v2"  # the upstream's answer, untouched


def test_upstream_key_extra_headers_and_query_are_sent(
    up: FakeUpstream, gw: GatewayProcess, raw: httpx.Client
) -> None:
    """The upstream gets its own key (from the environment, never the TOML) as a bearer token,
    the configured header and query, and never the client's gateway key."""
    assert UPSTREAM_KEY not in gw.config_path.read_text()
    response = raw.post("/chat/completions", content=body())
    assert response.status_code == 200
    rec = up.requests[-1]
    assert rec.path == "/v1/chat/completions"
    assert rec.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert rec.headers["x-team"] == "search"
    assert rec.query == "api-version=2024-10-21"
    assert DEV_KEY not in str(rec.headers)
    assert rec.headers["x-request-id"] == response.headers["x-request-id"]


def test_api_key_header_sends_the_key_as_api_key(up: FakeUpstream, raw: httpx.Client) -> None:
    """With api_key_header = "api-key" the upstream key goes in api-key, without Bearer."""
    assert raw.post("/chat/completions", content=body("gpt-azure")).status_code == 200
    rec = up.requests[-1]
    assert rec.headers["api-key"] == AZURE_KEY
    assert "authorization" not in rec.headers


# -- upstream faults ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, openai.BadRequestError),
        (404, openai.NotFoundError),
        (422, openai.UnprocessableEntityError),
        (429, openai.RateLimitError),
        (503, openai.InternalServerError),
    ],
)
def test_upstream_error_status_and_body_pass_through(
    up: FakeUpstream,
    sdk: openai.OpenAI,
    raw: httpx.Client,
    status: int,
    error_class: type[openai.APIStatusError],
) -> None:
    """An upstream OpenAI error reaches the client with its status and body; the SDK raises
    the matching class."""
    error = openai_error(status, f"upstream says no ({status})")
    up.fail_next(Fault.error(status, error), times=2)
    with pytest.raises(error_class) as caught:
        sdk.chat.completions.create(model="gpt-same", messages=HI)
    assert caught.value.status_code == status
    assert caught.value.body == msgspec.json.decode(error)["error"]
    response = raw.post("/chat/completions", content=body())
    assert (response.status_code, response.content) == (status, error)
    assert_still_serving(sdk)


def test_non_json_upstream_error_becomes_an_openai_error(
    up: FakeUpstream, sdk: openai.OpenAI
) -> None:
    """A non-JSON upstream error keeps its status and is wrapped in the OpenAI error shape."""
    up.fail_next(Fault.error(404, b"<html><body>No such route on the proxy</body></html>"))
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.chat.completions.create(model="gpt-same", messages=HI)
    assert "No such route on the proxy" in caught.value.message
    assert_still_serving(sdk)


@pytest.mark.parametrize("status", [401, 403])
def test_upstream_refusing_our_credentials_is_a_502(
    up: FakeUpstream, sdk: openai.OpenAI, status: int
) -> None:
    """An upstream 401/403 is the gateway's credential problem: the client gets a 502
    upstream_auth_failed, never the upstream's message (which may quote the upstream key)."""
    leaked = (
        b'{"error":{"message":"Incorrect API key provided: sk-proj-****wxyz",'
        b'"code":"invalid_api_key"}}'
    )
    up.fail_next(Fault.error(status, leaked))
    with pytest.raises(openai.InternalServerError) as caught:
        sdk.chat.completions.create(model="gpt-same", messages=HI)
    assert caught.value.status_code == 502
    assert caught.value.code == "upstream_auth_failed"
    assert b"wxyz" not in caught.value.response.content
    assert_still_serving(sdk)


def test_unreachable_upstream_is_502(sdk: openai.OpenAI, raw: httpx.Client) -> None:
    """A deployment whose upstream refuses connections answers 502 upstream_unreachable."""
    with pytest.raises(openai.InternalServerError) as caught:
        sdk.chat.completions.create(model="gpt-down", messages=HI)
    assert caught.value.status_code == 502
    assert caught.value.code == "upstream_unreachable"
    assert raw.post("/chat/completions", content=body("gpt-down")).status_code == 502
    assert_still_serving(sdk)


@pytest.mark.parametrize(
    "fault", [Fault(stall=True), Fault(head_delay=3)], ids=["stall", "slow-first-byte"]
)
def test_upstream_timeout_is_504_and_drops_the_upstream_request(
    up: FakeUpstream, sdk: openai.OpenAI, fault: Fault
) -> None:
    """No response head within first_byte_s answers 504 and aborts the upstream request."""
    up.fail_next(fault)
    with pytest.raises(openai.InternalServerError) as caught:
        sdk.chat.completions.create(model="gpt-short", messages=HI)
    assert caught.value.status_code == 504
    assert caught.value.code == "upstream_timeout"
    up.wait(lambda u: u.disconnects == 1)
    assert_still_serving(sdk)


def stream_events(
    sdk: openai.OpenAI, model: str = "gpt-same"
) -> tuple[list[str], openai.APIError | None]:
    """Iterate a streamed chat answer; the texts received and the exception that ended it."""
    texts: list[str] = []
    stream = sdk.chat.completions.create(model=model, messages=HI, stream=True)
    try:
        for chunk in stream:
            if chunk.choices:
                texts.append(chunk.choices[0].delta.content or "")
    except openai.APIError as exc:
        return texts, exc
    return texts, None


def relayed(request: RecordedRequest) -> bytes:
    """What a client that did not ask for include_usage receives of an upstream stream: its
    bytes without the usage event (``choices: []``) the gateway asked for."""
    return b"".join(e for e in request.response if b'"choices":[]' not in e)


@pytest.mark.parametrize(
    ("fault", "code", "dropped"),
    [
        (Fault.cut(3), "upstream_protocol_error", 0),
        (Fault(malformed_after=3), "upstream_protocol_error", 0),
        (Fault.stall_stream(3), "upstream_timeout", 2),
        (Fault.no_done(finish_reason=False), "upstream_protocol_error", 0),
    ],
    ids=["cut", "malformed-chunk", "stall", "no-done-no-finish"],
)
def test_broken_stream_ends_with_an_error_event(
    up: FakeUpstream,
    sdk: openai.OpenAI,
    raw: httpx.Client,
    fault: Fault,
    code: str,
    dropped: int,
) -> None:
    """A stream that breaks after its headers ends with an SSE error event, never [DONE]:
    the SDK raises APIError while iterating, after the events that did arrive; a stalled
    upstream stream is dropped by the gateway."""
    up.fail_next(fault, times=2)
    texts, error = stream_events(sdk, "gpt-short")
    assert isinstance(error, openai.APIError) and error.code == code
    assert "".join(texts).startswith("The fake")
    with raw.stream("POST", "/chat/completions", content=body("gpt-short", stream=True)) as r:
        received = b"".join(r.iter_bytes())
    sent = relayed(up.requests[-1])
    assert received.startswith(sent)
    tail = received[len(sent) :]
    assert tail.startswith(b"event: error\ndata: {") and tail.endswith(b"\n\n")
    assert msgspec.json.decode(tail.split(b"data: ", 1)[1])["error"]["code"] == code
    assert b"[DONE]" not in received
    up.wait(lambda u: u.disconnects == dropped)
    assert_still_serving(sdk)


@pytest.mark.parametrize("usage", [False, True], ids=["usage-stripped", "usage-asked"])
def test_stream_event_that_is_not_json_never_reaches_the_client(
    up: FakeUpstream, gw: GatewayProcess, sdk: openai.OpenAI, raw: httpx.Client, usage: bool
) -> None:
    """An upstream event whose data is not JSON (the rest of the stream, [DONE] included,
    after it): the SDK gets the events before it, then raises APIError with the gateway's
    code instead of choking on the broken event; the bytes received are those events and
    the error event, nothing of the broken one, no [DONE]; the access log records the
    error for both requests."""
    up.fail_next(Fault(invalid_after=3), times=2)
    options = {"stream_options": {"include_usage": True}} if usage else {}
    texts: list[str] = []
    stream = sdk.chat.completions.create(
        model="gpt-same",
        messages=HI,
        stream=True,
        extra_headers={"x-request-id": f"not-json-sdk-{usage}"},
        **options,  # type: ignore[arg-type]
    )
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            if chunk.choices:
                texts.append(chunk.choices[0].delta.content or "")
    assert caught.value.code == "upstream_protocol_error"
    assert texts == ["", "The", " fake"]  # role, then two words: the three events before
    request = body(stream=True, **options)
    headers = {"x-request-id": f"not-json-raw-{usage}"}
    with raw.stream("POST", "/chat/completions", content=request, headers=headers) as r:
        received = b"".join(r.iter_bytes())
    sent = up.requests[-1].response
    assert sent[3] == b"data: " + NOT_JSON + b"\n\n" and b"[DONE]" in sent[-1]
    before = b"".join(sent[:3])
    assert received.startswith(before)
    tail = received[len(before) :]
    assert tail.startswith(b"event: error\ndata: {") and tail.endswith(b"\n\n")
    error = msgspec.json.decode(tail.split(b"data: ", 1)[1])["error"]
    assert (error["type"], error["code"]) == ("upstream_error", "upstream_protocol_error")
    assert NOT_JSON not in received and b"half an ev" not in received
    assert b"[DONE]" not in received
    assert_still_serving(sdk)
    gw.stop()
    lines = [msgspec.json.decode(line) for line in gw.stdout().splitlines()]
    by_id = {line["request_id"]: line for line in lines}
    for name in (f"not-json-sdk-{usage}", f"not-json-raw-{usage}"):
        line = by_id[name]
        assert (line["status"], line["error"], line["stream"]) == (
            200,
            "upstream_protocol_error",
            True,
        )
        assert line["completion_tokens"] > 0  # what was relayed is still counted


def test_stream_without_done_after_finish_reason_is_finalised(
    up: FakeUpstream, sdk: openai.OpenAI, raw: httpx.Client
) -> None:
    """A stream that ends cleanly after its finish_reason but without [DONE] gets [DONE]."""
    up.fail_next(Fault.no_done(), times=2)
    texts, error = stream_events(sdk)
    assert error is None and "".join(texts) == ANSWER
    with raw.stream("POST", "/chat/completions", content=body(stream=True)) as r:
        received = b"".join(r.iter_bytes())
    assert b"[DONE]" not in up.requests[-1].sent
    assert received == relayed(up.requests[-1]) + b"data: [DONE]\n\n"
    assert_still_serving(sdk)


def test_client_disconnect_mid_stream_closes_the_upstream_connection(
    up: FakeUpstream, sdk: openai.OpenAI, raw: httpx.Client
) -> None:
    """A client that goes away mid-stream makes the gateway drop its upstream request."""
    up.fail_next(Fault.stall_stream(3))  # the upstream would hold the stream open for 10 s
    with raw.stream("POST", "/chat/completions", content=body(stream=True)) as r:
        first = next(r.iter_raw())
        assert first.startswith(b"data: {")
    up.wait(lambda u: u.disconnects == 1, timeout=3)
    assert up.requests[-1].disconnected and not up.requests[-1].completed
    assert_still_serving(sdk)


def test_client_giving_up_before_the_answer_drops_the_upstream_request(
    up: FakeUpstream, gw: GatewayProcess, sdk: openai.OpenAI
) -> None:
    """A client that times out while the upstream has not answered yet cancels that request."""
    up.fail_next(Fault(stall=True))  # the gateway itself would wait 10 s for the head
    impatient = httpx.Client(base_url=gw.base_url + "/v1", headers=AUTH, timeout=0.3)
    with impatient, pytest.raises(httpx.ReadTimeout):
        impatient.post("/chat/completions", content=body())
    up.wait(lambda u: u.disconnects == 1, timeout=3)
    assert_still_serving(sdk)


def test_stream_request_answered_with_an_error_status_raises_at_create(
    up: FakeUpstream, sdk: openai.OpenAI
) -> None:
    """An upstream error to a stream request comes back as that status, not as a stream."""
    up.fail_next(Fault.error(400, openai_error(400, "bad tools")))
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="gpt-same", messages=HI, stream=True)
    assert caught.value.body == {
        "message": "bad tools",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert_still_serving(sdk)


def test_several_choice_stream_without_done_ends_with_an_error(
    up: FakeUpstream, sdk: openai.OpenAI
) -> None:
    """A stream asked with n=2 that ends without [DONE] is not finalised by the gateway (it
    cannot tell every choice finished): the client's iteration raises APIError."""
    up.fail_next(Fault.no_done())
    stream = sdk.chat.completions.create(model="gpt-same", messages=HI, n=2, stream=True)
    with pytest.raises(openai.APIError):
        list(stream)
    assert_still_serving(sdk)
