"""The official ``openai`` Python SDK against a real fastgw server on a loopback port.

Every endpoint is driven through both ``OpenAI`` and ``AsyncOpenAI`` the way users call it,
and every error the gateway answers must arrive as the SDK's matching exception class with
the OpenAI error body (``message``, ``type``, ``param``, ``code``). The mock provider is
deterministic, so a streamed answer must equal the plain answer to the same prompt.

Upstream failures use a second server (``upstream_gateway``) whose ``openai`` providers
point at a closed loopback port (502), at a fake upstream that never answers (504), and at
one that stalls after its first stream chunk (an SSE ``error`` event mid-stream).
"""

from __future__ import annotations

import asyncio
import math
import re
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from fastgw.testing import GatewayProcess, free_port
from tests.conftest import DEV_KEY, LIMITED_KEY, mock_config

pytestmark = pytest.mark.e2e

MOCK_TOKENS = 8  # mock_config()'s default: every answer is 8 words, 8 completion tokens
EMBEDDING_DIMS = 1536
MAX_BODY_BYTES = 65536
PROMPT = [{"role": "user", "content": "Say something deterministic."}]
ERROR_FIELDS = {"message", "type", "param", "code"}


@pytest.fixture(scope="module")
def client(gateway: GatewayProcess) -> Iterator[OpenAI]:
    with OpenAI(base_url=gateway.base_url + "/v1", api_key=DEV_KEY, max_retries=0) as sdk:
        yield sdk


def _sdk(gateway: GatewayProcess, key: str = DEV_KEY) -> OpenAI:
    return OpenAI(base_url=gateway.base_url + "/v1", api_key=key, max_retries=0)


def _async_sdk(gateway: GatewayProcess) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key=DEV_KEY, max_retries=0)


def _error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """The ``error`` object of an OpenAI-shaped error response, after checking its shape."""
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"]
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == ERROR_FIELDS
    assert isinstance(error["message"], str) and error["message"]
    return error


def _check_sdk_error(
    exc: openai.APIStatusError,
    status: int,
    code: str | None,
    param: str | None = None,
    type_: str = "invalid_request_error",
) -> dict[str, Any]:
    error = _error_of(exc.response, status)
    assert exc.status_code == status
    assert exc.body == error
    assert (exc.type, exc.code, exc.param) == (type_, code, param)
    assert (error["type"], error["code"], error["param"]) == (type_, code, param)
    return error


def _norm(vector: list[float]) -> float:
    return math.sqrt(sum(v * v for v in vector))


# -- chat completions -------------------------------------------------------------------------


def test_chat_plain(client: OpenAI) -> None:
    """A plain chat completion has one assistant message, finish_reason stop and exact usage."""
    completion = client.chat.completions.create(model="gpt-test", messages=PROMPT)
    assert completion.object == "chat.completion"
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.index == 0
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content is not None
    assert len(choice.message.content.split()) == MOCK_TOKENS
    usage = completion.usage
    assert usage is not None
    assert usage.completion_tokens == MOCK_TOKENS
    assert usage.prompt_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_chat_is_deterministic_and_prompt_dependent(client: OpenAI) -> None:
    """The same prompt gets the same answer and a different prompt a different one."""
    first = client.chat.completions.create(model="gpt-test", messages=PROMPT)
    again = client.chat.completions.create(model="gpt-test", messages=PROMPT)
    other = client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "Something else entirely."}]
    )
    assert first.choices[0].message.content == again.choices[0].message.content
    assert first.choices[0].message.content != other.choices[0].message.content


def test_chat_max_tokens_truncates_with_length(client: OpenAI) -> None:
    """max_tokens below the answer's length cuts it with finish_reason length."""
    completion = client.chat.completions.create(model="gpt-test", messages=PROMPT, max_tokens=3)
    choice = completion.choices[0]
    assert choice.finish_reason == "length"
    assert choice.message.content is not None
    assert len(choice.message.content.split()) == 3
    assert completion.usage is not None and completion.usage.completion_tokens == 3


def test_chat_stream_equals_plain_answer(client: OpenAI) -> None:
    """A streamed chat answer, assembled from its deltas, equals the plain answer."""
    plain = client.chat.completions.create(model="gpt-test", messages=PROMPT)
    chunks = list(client.chat.completions.create(model="gpt-test", messages=PROMPT, stream=True))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert content == plain.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)  # no usage unless asked for


def test_chat_stream_include_usage_ends_with_usage_chunk(client: OpenAI) -> None:
    """stream_options.include_usage adds a final chunk with no choices and the full usage."""
    plain = client.chat.completions.create(model="gpt-test", messages=PROMPT)
    chunks = list(
        client.chat.completions.create(
            model="gpt-test",
            messages=PROMPT,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None and plain.usage is not None
    assert last.usage.prompt_tokens == plain.usage.prompt_tokens
    assert last.usage.completion_tokens == plain.usage.completion_tokens == MOCK_TOKENS
    assert last.usage.total_tokens == plain.usage.total_tokens
    assert all(c.usage is None for c in chunks[:-1])


def test_chat_n_choices_stream_per_index(client: OpenAI) -> None:
    """With n=2 each streamed choice, assembled by index, equals the plain choice."""
    plain = client.chat.completions.create(model="gpt-test", messages=PROMPT, n=2)
    assert [c.index for c in plain.choices] == [0, 1]
    assert plain.usage is not None and plain.usage.completion_tokens == 2 * MOCK_TOKENS
    assembled = ["", ""]
    for chunk in client.chat.completions.create(
        model="gpt-test", messages=PROMPT, n=2, stream=True
    ):
        for choice in chunk.choices:
            assembled[choice.index] += choice.delta.content or ""
    assert assembled == [c.message.content for c in plain.choices]


# -- completions ------------------------------------------------------------------------------


def test_completions_plain_and_streamed(client: OpenAI) -> None:
    """A legacy completion answers text with usage, and its stream assembles to that text."""
    plain = client.completions.create(model="gpt-test", prompt="Once upon a time")
    assert plain.object == "text_completion"
    assert plain.choices[0].finish_reason == "stop"
    assert len(plain.choices[0].text.split()) == MOCK_TOKENS
    assert plain.usage is not None and plain.usage.completion_tokens == MOCK_TOKENS
    chunks = list(
        client.completions.create(
            model="gpt-test",
            prompt="Once upon a time",
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == plain.choices[0].text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == plain.usage.total_tokens


# -- embeddings -------------------------------------------------------------------------------


def test_embeddings_default_base64_is_decoded_to_unit_vector(client: OpenAI) -> None:
    """The SDK's default base64 request comes back as a decodable unit vector."""
    raw = client.embeddings.with_raw_response.create(model="embed-test", input="hello world")
    assert isinstance(raw.http_response.json()["data"][0]["embedding"], str)  # base64 on the wire
    result = raw.parse()
    assert result.object == "list"
    assert len(result.data) == 1
    vector = result.data[0].embedding
    assert len(vector) == EMBEDDING_DIMS
    assert _norm(vector) == pytest.approx(1.0, abs=1e-4)
    assert result.usage.prompt_tokens > 0
    assert result.usage.total_tokens == result.usage.prompt_tokens


def test_embeddings_float_equals_base64(client: OpenAI) -> None:
    """encoding_format=float returns the same vector as base64 (to float32 precision)."""
    as_b64 = client.embeddings.create(model="embed-test", input="hello world")
    as_float = client.embeddings.create(
        model="embed-test", input="hello world", encoding_format="float"
    )
    a, b = as_b64.data[0].embedding, as_float.data[0].embedding
    assert len(b) == EMBEDDING_DIMS
    assert _norm(b) == pytest.approx(1.0, abs=1e-9)
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-6


def test_embeddings_dimensions_and_batch(client: OpenAI) -> None:
    """dimensions sets the vector length; a batch answers one unit vector per input, in order."""
    result = client.embeddings.create(
        model="embed-test", input=["alpha", "beta", "alpha"], dimensions=64
    )
    assert [d.index for d in result.data] == [0, 1, 2]
    vectors = [d.embedding for d in result.data]
    assert all(len(v) == 64 for v in vectors)
    assert all(_norm(v) == pytest.approx(1.0, abs=1e-4) for v in vectors)
    assert vectors[0] == vectors[2]
    assert vectors[0] != vectors[1]


# -- models -----------------------------------------------------------------------------------


def test_models_list_shows_the_keys_models(gateway: GatewayProcess, client: OpenAI) -> None:
    """GET /v1/models lists every model a key may use, and only those."""
    models = list(client.models.list())
    assert {m.id for m in models} == {"gpt-test", "embed-test", "gpt-other"}
    assert all(m.object == "model" and m.owned_by == "fastgw" for m in models)
    with _sdk(gateway, LIMITED_KEY) as limited:
        assert [m.id for m in limited.models.list()] == ["gpt-test"]


def test_models_retrieve(gateway: GatewayProcess, client: OpenAI) -> None:
    """GET /v1/models/{id} returns the card; a model the key may not use is not found."""
    model = client.models.retrieve("gpt-test")
    assert (model.id, model.object, model.owned_by) == ("gpt-test", "model", "fastgw")
    with _sdk(gateway, LIMITED_KEY) as limited, pytest.raises(openai.NotFoundError) as info:
        limited.models.retrieve("gpt-other")
    _check_sdk_error(info.value, 404, "model_not_found", "model")


# -- request ids ------------------------------------------------------------------------------


def test_request_id_is_generated(client: OpenAI) -> None:
    """Each response carries a fresh x-request-id, which the SDK exposes as _request_id."""
    first = client.chat.completions.with_raw_response.create(model="gpt-test", messages=PROMPT)
    second = client.chat.completions.with_raw_response.create(model="gpt-test", messages=PROMPT)
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(re.fullmatch(r"req_[0-9a-f]{22}", i) for i in ids)
    assert ids[0] != ids[1]
    assert first.parse()._request_id == ids[0]


def test_client_request_id_is_echoed(client: OpenAI) -> None:
    """A client-sent x-request-id is echoed on plain, streamed and error responses."""
    plain = client.chat.completions.with_raw_response.create(
        model="gpt-test", messages=PROMPT, extra_headers={"x-request-id": "e2e-plain-1"}
    )
    assert plain.headers["x-request-id"] == "e2e-plain-1"
    with client.chat.completions.with_streaming_response.create(
        model="gpt-test",
        messages=PROMPT,
        stream=True,
        extra_headers={"x-request-id": "e2e-stream-1"},
    ) as streamed:
        assert streamed.headers["x-request-id"] == "e2e-stream-1"
        assert streamed.headers["content-type"].startswith("text/event-stream")
        assert list(streamed.parse())[-1].choices[0].finish_reason == "stop"
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(
            model="no-such-model", messages=PROMPT, extra_headers={"x-request-id": "e2e-err-1"}
        )
    assert info.value.request_id == "e2e-err-1"


# -- client errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "param", "code"),
    [
        ({"messages": [{"content": "no role"}]}, "messages[0].role", "missing_required_parameter"),
        ({"messages": "not a list"}, "messages", "invalid_type"),
        ({"messages": PROMPT, "extra_body": {"stream": "yes"}}, "stream", "invalid_type"),
        ({"messages": PROMPT, "extra_body": {"max_tokens": "ten"}}, "max_tokens", "invalid_type"),
        ({"messages": PROMPT, "extra_body": {"n": 1.5}}, "n", "invalid_type"),
    ],
    ids=["missing-role", "messages-str", "stream-str", "max-tokens-str", "n-float"],
)
def test_invalid_field_is_bad_request(
    client: OpenAI, kwargs: dict[str, Any], param: str, code: str
) -> None:
    """A missing or ill-typed field raises BadRequestError naming the param."""
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt-test", **kwargs)
    error = _check_sdk_error(info.value, 400, code, param)
    assert param in error["message"]


def test_missing_embedding_input_is_bad_request(gateway: GatewayProcess) -> None:
    """An embeddings body without input is a 400 naming input."""
    response = httpx.post(
        gateway.base_url + "/v1/embeddings",
        json={"model": "embed-test"},
        headers={"authorization": f"Bearer {DEV_KEY}"},
    )
    error = _error_of(response, 400)
    assert (error["param"], error["code"]) == ("input", "missing_required_parameter")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"model": "gpt-test", "messages": [', "invalid_json"),
        (b"", "invalid_json"),
        (b"[1, 2]", "invalid_type"),
    ],
    ids=["truncated", "empty", "not-an-object"],
)
def test_malformed_json_is_400(gateway: GatewayProcess, body: bytes, code: str) -> None:
    """A body that is not a JSON object is a 400 invalid_request_error."""
    response = httpx.post(
        gateway.base_url + "/v1/chat/completions",
        content=body,
        headers={"authorization": f"Bearer {DEV_KEY}", "content-type": "application/json"},
    )
    error = _error_of(response, 400)
    assert (error["type"], error["code"]) == ("invalid_request_error", code)


def test_wrong_key_is_authentication_error(gateway: GatewayProcess) -> None:
    """A key the gateway did not issue raises AuthenticationError and is not echoed whole."""
    wrong = "sk-not-a-real-key-abcdefghijklmnop"
    with _sdk(gateway, wrong) as sdk, pytest.raises(openai.AuthenticationError) as info:
        sdk.chat.completions.create(model="gpt-test", messages=PROMPT)
    error = _check_sdk_error(info.value, 401, "invalid_api_key")
    assert wrong not in error["message"]
    assert "abcdefghij" not in error["message"]


def test_missing_key_is_401(gateway: GatewayProcess) -> None:
    """A request without any key is a 401 invalid_api_key, on models as on chat."""
    for method, path in (("POST", "/v1/chat/completions"), ("GET", "/v1/models")):
        response = httpx.request(method, gateway.base_url + path, json=None)
        assert _error_of(response, 401)["code"] == "invalid_api_key"


def test_model_not_allowed_is_permission_denied(gateway: GatewayProcess) -> None:
    """A key limited to gpt-test gets PermissionDeniedError for gpt-other, and gpt-test works."""
    with _sdk(gateway, LIMITED_KEY) as limited:
        with pytest.raises(openai.PermissionDeniedError) as info:
            limited.chat.completions.create(model="gpt-other", messages=PROMPT)
        _check_sdk_error(info.value, 403, "model_not_allowed", "model")
        ok = limited.chat.completions.create(model="gpt-test", messages=PROMPT)
        assert ok.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_unknown_model_is_not_found(client: OpenAI, stream: bool) -> None:
    """An unknown model raises NotFoundError with code model_not_found, streamed or not."""
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model", messages=PROMPT, stream=stream)
    error = _check_sdk_error(info.value, 404, "model_not_found", "model")
    assert "no-such-model" in error["message"]


def test_body_too_large_is_413(client: OpenAI) -> None:
    """A body over server.max_body_bytes raises APIStatusError 413 payload_too_large."""
    big = [{"role": "user", "content": "x" * (MAX_BODY_BYTES + 1)}]
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="gpt-test", messages=big)
    _check_sdk_error(info.value, 413, "payload_too_large")


def test_chunked_body_too_large_is_413(gateway: GatewayProcess) -> None:
    """A body over the limit sent chunked (no content-length) is a 413 as well."""

    def body() -> Iterator[bytes]:
        yield b'{"model": "gpt-test", "messages": [{"role": "user", "content": "'
        for _ in range(MAX_BODY_BYTES // 4096 + 1):
            yield b"x" * 4096
        yield b'"}]}'

    response = httpx.post(
        gateway.base_url + "/v1/chat/completions",
        content=body(),
        headers={"authorization": f"Bearer {DEV_KEY}", "content-type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert _error_of(response, 413)["code"] == "payload_too_large"


def test_oversized_chunked_body_is_refused_before_it_ends(gateway: GatewayProcess) -> None:
    """A chunked body is answered 413 once it passes the limit, not after it was all read."""
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        f"authorization: Bearer {DEV_KEY}\r\ncontent-type: application/json\r\n"
        "transfer-encoding: chunked\r\n\r\n"
    ).encode()
    piece = b"x" * 16384
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=3) as sock:
        sock.sendall(head + chunk * (MAX_BODY_BYTES // len(piece) + 2))  # never ends the body
        answer = b""
        try:
            while b"\r\n" not in answer and (part := sock.recv(4096)):
                answer += part
        except TimeoutError:
            pass
    assert answer.startswith(b"HTTP/1.1 413"), (
        f"no 413 within 3 s while the body kept coming (got {answer[:40]!r}): the gateway "
        "reads the whole body before checking server.max_body_bytes"
    )


def test_wrong_method_is_405(gateway: GatewayProcess) -> None:
    """GET on a POST endpoint is a 405 with an Allow header and an OpenAI error body."""
    response = httpx.get(
        gateway.base_url + "/v1/chat/completions", headers={"authorization": f"Bearer {DEV_KEY}"}
    )
    error = _error_of(response, 405)
    assert response.headers["allow"] == "POST"
    assert error["type"] == "invalid_request_error"


def test_unknown_path_is_404(gateway: GatewayProcess) -> None:
    """An unknown path is a 404 with an OpenAI error body naming the path."""
    response = httpx.post(
        gateway.base_url + "/v1/no/such/endpoint",
        json={},
        headers={"authorization": f"Bearer {DEV_KEY}"},
    )
    error = _error_of(response, 404)
    assert error["type"] == "invalid_request_error"
    assert "/v1/no/such/endpoint" in error["message"]


# -- upstream failures ------------------------------------------------------------------------


class _FakeUpstream(socketserver.ThreadingTCPServer):
    """A loopback 'OpenAI upstream' that misbehaves on purpose, chosen by the upstream model:
    ``stall`` sends the SSE head and one chunk, then nothing; anything else never answers.
    Each handler waits until the gateway gives up and closes the connection."""

    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _FakeUpstreamHandler)
        self.port: int = self.server_address[1]


_STALL_EVENT = (
    b'data: {"id":"chatcmpl-stall","object":"chat.completion.chunk","created":0,'
    b'"model":"stall","choices":[{"index":0,"delta":{"role":"assistant","content":"partial"},'
    b'"finish_reason":null}]}\n\n'
)
_STALL_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    + f"{len(_STALL_EVENT):x}\r\n".encode()
    + _STALL_EVENT
    + b"\r\n"
)


class _FakeUpstreamHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock = self.request
        sock.settimeout(10)  # a bound on the test, should the gateway never give up
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                part = sock.recv(65536)
                if not part:
                    return
                data += part
            head, _, body = data.partition(b"\r\n\r\n")
            found = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
            length = int(found.group(1)) if found else 0
            while len(body) < length:
                body += sock.recv(65536)
            if b'"stall"' in body:
                sock.sendall(_STALL_HEAD)
            sock.recv(1)  # returns (or raises) when the gateway closes or aborts
        except OSError:
            pass


FIRST_BYTE_S = 0.5
IDLE_S = 0.5


@pytest.fixture(scope="module")
def upstream_gateway() -> Iterator[GatewayProcess]:
    """A gateway whose openai providers point at a closed port and at a fake upstream."""
    fake = _FakeUpstream()
    thread = threading.Thread(target=fake.serve_forever, daemon=True)
    thread.start()
    closed = free_port()
    extra = f"""
[providers.closed]
type = "openai"
base_url = "http://127.0.0.1:{closed}/v1"

[providers.fake]
type = "openai"
base_url = "http://127.0.0.1:{fake.port}/v1"
timeouts = {{ first_byte_s = {FIRST_BYTE_S}, idle_s = {IDLE_S} }}

[[models]]
name = "gpt-closed"
deployments = [{{ provider = "closed", model = "gpt-closed" }}]

[[models]]
name = "gpt-silent"
deployments = [{{ provider = "fake", model = "silent" }}]

[[models]]
name = "gpt-stall"
deployments = [{{ provider = "fake", model = "stall" }}]

[[models]]
name = "gpt-fallback"
deployments = [{{ provider = "closed", model = "x" }}, {{ provider = "mock", model = "mock-gpt" }}]
"""
    try:
        with GatewayProcess(mock_config(extra=extra)) as process:
            yield process
    finally:
        fake.shutdown()
        fake.server_close()
        thread.join(5)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_upstream_unreachable_is_502(upstream_gateway: GatewayProcess, stream: bool) -> None:
    """An upstream on a closed port raises InternalServerError 502 upstream_unreachable."""
    with _sdk(upstream_gateway) as sdk, pytest.raises(openai.InternalServerError) as info:
        sdk.chat.completions.create(model="gpt-closed", messages=PROMPT, stream=stream)
    _check_sdk_error(info.value, 502, "upstream_unreachable", type_="upstream_error")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_upstream_silent_is_504(upstream_gateway: GatewayProcess, stream: bool) -> None:
    """An upstream that never answers raises InternalServerError 504 after first_byte_s."""
    with _sdk(upstream_gateway) as sdk, pytest.raises(openai.InternalServerError) as info:
        start = time.monotonic()
        sdk.chat.completions.create(model="gpt-silent", messages=PROMPT, stream=stream)
    elapsed = time.monotonic() - start
    _check_sdk_error(info.value, 504, "upstream_timeout", type_="timeout")
    assert FIRST_BYTE_S * 0.9 <= elapsed < FIRST_BYTE_S + 3


def test_upstream_stall_mid_stream_raises_api_error(upstream_gateway: GatewayProcess) -> None:
    """An upstream that stalls mid-stream ends it with an error event the SDK raises."""
    received: list[str] = []
    with _sdk(upstream_gateway) as sdk, pytest.raises(openai.APIError) as info:
        for chunk in sdk.chat.completions.create(model="gpt-stall", messages=PROMPT, stream=True):
            received.append(chunk.choices[0].delta.content or "")
    assert received == ["partial"]
    assert not isinstance(info.value, openai.APIStatusError)  # the 200 head had gone out
    body = info.value.body
    assert isinstance(body, dict) and set(body) == ERROR_FIELDS
    assert (body["type"], body["code"]) == ("timeout", "upstream_timeout")


def test_dead_first_deployment_falls_through(
    upstream_gateway: GatewayProcess, client: OpenAI
) -> None:
    """A model whose first deployment is unreachable is answered by its next deployment."""
    with _sdk(upstream_gateway) as sdk:
        completion = sdk.chat.completions.create(model="gpt-fallback", messages=PROMPT)
    expected = client.chat.completions.create(model="gpt-test", messages=PROMPT)
    assert completion.choices[0].message.content == expected.choices[0].message.content


# -- AsyncOpenAI ------------------------------------------------------------------------------


async def test_async_chat_plain_and_stream(gateway: GatewayProcess) -> None:
    """AsyncOpenAI gets the same plain answer, and its stream assembles to it with usage."""
    async with _async_sdk(gateway) as sdk:
        plain = await sdk.chat.completions.create(model="gpt-test", messages=PROMPT)
        stream = await sdk.chat.completions.create(
            model="gpt-test", messages=PROMPT, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    assert plain.choices[0].finish_reason == "stop"
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == plain.choices[0].message.content
    assert chunks[-1].usage is not None and plain.usage is not None
    assert chunks[-1].usage.total_tokens == plain.usage.total_tokens


async def test_async_concurrent_streams_do_not_mix(gateway: GatewayProcess) -> None:
    """Twenty concurrent streams each assemble to their own prompt's plain answer."""
    prompts = [[{"role": "user", "content": f"Prompt number {i}"}] for i in range(20)]

    async with _async_sdk(gateway) as sdk:

        async def streamed(messages: Any) -> str:
            stream = await sdk.chat.completions.create(
                model="gpt-test", messages=messages, stream=True
            )
            return "".join([c.choices[0].delta.content or "" async for c in stream])

        async def plain(messages: Any) -> str:
            completion = await sdk.chat.completions.create(model="gpt-test", messages=messages)
            return completion.choices[0].message.content or ""

        streams = await asyncio.gather(*(streamed(p) for p in prompts))
        answers = await asyncio.gather(*(plain(p) for p in prompts))
    assert streams == answers
    assert len(set(answers)) > 1


async def test_async_completions_embeddings_models(gateway: GatewayProcess) -> None:
    """AsyncOpenAI covers completions, base64 embeddings and the model list."""
    async with _async_sdk(gateway) as sdk:
        completion = await sdk.completions.create(model="gpt-test", prompt="Hello")
        embedding = await sdk.embeddings.create(model="embed-test", input="hello world")
        models = [m.id async for m in sdk.models.list()]
    assert len(completion.choices[0].text.split()) == MOCK_TOKENS
    assert len(embedding.data[0].embedding) == EMBEDDING_DIMS
    assert _norm(embedding.data[0].embedding) == pytest.approx(1.0, abs=1e-4)
    assert sorted(models) == ["embed-test", "gpt-other", "gpt-test"]


async def test_async_errors_map_to_sdk_classes(gateway: GatewayProcess) -> None:
    """AsyncOpenAI raises the same exception classes with the same bodies."""
    async with _async_sdk(gateway) as sdk:
        with pytest.raises(openai.NotFoundError) as not_found:
            await sdk.chat.completions.create(model="no-such-model", messages=PROMPT)
        with pytest.raises(openai.BadRequestError) as bad:
            await sdk.chat.completions.create(
                model="gpt-test", messages=PROMPT, extra_body={"stream": "yes"}
            )
    _check_sdk_error(not_found.value, 404, "model_not_found", "model")
    _check_sdk_error(bad.value, 400, "invalid_type", "stream")
