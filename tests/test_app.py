"""The gateway in-process: routing, auth, limits and every endpoint, answered by the mock
provider through ``fastgw.testing.rsgi.RSGIClient`` (no socket, no server process)."""

from __future__ import annotations

import asyncio
import base64
import gc
import logging
import math
import re
import struct
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from fastgw import Gateway, parse_config
from fastgw.app import GC_YOUNG_THRESHOLD, tune_gc
from fastgw.providers.mock import MockResponse
from fastgw.testing.rsgi import RSGIClient, RSGIResponse
from tests.conftest import DEV_KEY, LIMITED_KEY, mock_config
from tests.promtext import value

DEV = {"authorization": f"Bearer {DEV_KEY}"}
LIMITED = {"authorization": f"Bearer {LIMITED_KEY}"}
CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "Say hello"}]}
TOKENS = 8  # mock_config's answer length
REQUEST_ID = re.compile(r"req_[0-9a-f]{22}")


def gateway(**kwargs: Any) -> Gateway:
    return Gateway(parse_config(mock_config(**kwargs), "mock.toml", {}))


@pytest.fixture
def client() -> Iterator[RSGIClient]:
    with RSGIClient(gateway()) as c:
        yield c


def error_of(response: RSGIResponse) -> dict[str, Any]:
    """The OpenAI error object of a response, checking its shape and content type."""
    assert response.header("content-type") == "application/json"
    body = response.json()
    assert list(body) == ["error"]
    assert list(body["error"]) == ["message", "type", "param", "code"]
    error: dict[str, Any] = body["error"]
    return error


def access_lines(out: str) -> list[dict[str, Any]]:
    return [msgspec.json.decode(line) for line in out.splitlines() if line.startswith("{")]


# -- routing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/v1", ""])
@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", "/chat/completions", CHAT),
        ("POST", "/completions", {"model": "gpt-test", "prompt": "Once"}),
        ("POST", "/embeddings", {"model": "embed-test", "input": "x", "dimensions": 4}),
        ("GET", "/models", None),
        ("GET", "/models/gpt-test", None),
    ],
)
def test_routes_with_and_without_v1(
    client: RSGIClient, prefix: str, method: str, path: str, body: Any
) -> None:
    """Every OpenAI route answers both with and without the ``/v1`` prefix."""
    response = client.request(method, prefix + path, json=body, headers=DEV)
    assert response.status == 200, response.body
    assert response.header("content-type") == "application/json"


@pytest.mark.parametrize("path", ["/v1/nope", "/v2/chat/completions", "/v1/chat/completions/", "/"])
def test_unknown_path_is_404(client: RSGIClient, path: str) -> None:
    """An unknown path is a 404 unknown_url, before any auth, that starts as OpenAI's "Invalid
    URL" does and lists the client endpoints (``tests/test_unserved.py`` has the rest)."""
    response = client.get(path)
    assert response.status == 404
    error = error_of(response)
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        None,
        "unknown_url",
    )
    assert error["message"].startswith(f"Invalid URL (GET {path}): ")
    assert "POST /v1/chat/completions" in error["message"]


@pytest.mark.parametrize(
    "method, path, allow",
    [
        ("GET", "/v1/chat/completions", "POST"),
        ("PUT", "/completions", "POST"),
        ("GET", "/v1/embeddings", "POST"),
        ("POST", "/v1/models", "GET"),
        ("DELETE", "/v1/models/gpt-test", "GET"),
        ("POST", "/health", "GET"),
        ("POST", "/metrics", "GET"),
    ],
)
def test_wrong_method_is_405_with_allow(
    client: RSGIClient, method: str, path: str, allow: str
) -> None:
    """A known path with the wrong method is a 405 naming the allowed one in ``allow``."""
    response = client.request(method, path, headers=DEV)
    assert response.status == 405
    assert response.header("allow") == allow
    error = error_of(response)
    assert error["code"] == "method_not_allowed"
    assert error["message"] == f"Method {method} is not allowed for {path}; use {allow}."


def test_query_string_is_not_part_of_the_path(client: RSGIClient) -> None:
    """A query string does not change the route."""
    assert client.get("/v1/models?limit=2", headers=DEV).status == 200


# -- authentication and authorisation ------------------------------------------------------------


@pytest.mark.parametrize(
    "path, body",
    [("/v1/chat/completions", CHAT), ("/v1/models", None), ("/v1/models/gpt-test", None)],
)
def test_missing_key_is_401(client: RSGIClient, path: str, body: Any) -> None:
    """Without a key every OpenAI route answers 401 invalid_api_key."""
    response = client.request("POST" if body else "GET", path, json=body)
    assert response.status == 401
    error = error_of(response)
    assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_api_key")
    assert error["message"].startswith("You didn't provide an API key.")


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Bearer sk-test-wrong-key-0123456789"},
        {"api-key": "sk-test-wrong-key-0123456789"},
    ],
)
def test_wrong_key_is_401_and_redacted(client: RSGIClient, headers: dict[str, str]) -> None:
    """A wrong key (as Bearer or ``api-key``) is a 401 whose message does not repeat it."""
    response = client.post("/v1/chat/completions", json=CHAT, headers=headers)
    assert response.status == 401
    error = error_of(response)
    assert error["code"] == "invalid_api_key"
    assert error["message"].startswith("Incorrect API key provided: sk-...89.")
    assert b"wrong-key" not in response.body


def test_api_key_header_authenticates(client: RSGIClient) -> None:
    """Azure-style ``api-key`` headers are accepted like Bearer tokens."""
    response = client.post("/v1/chat/completions", json=CHAT, headers={"api-key": DEV_KEY})
    assert response.status == 200


def test_header_names_are_case_insensitive(client: RSGIClient) -> None:
    """``Authorization`` sent in any case authenticates (Granian lower-cases names)."""
    response = client.post(
        "/v1/chat/completions", json=CHAT, headers={"AUTHORIZATION": f"Bearer {DEV_KEY}"}
    )
    assert response.status == 200


def test_model_not_allowed_is_403(client: RSGIClient) -> None:
    """A key limited to other models gets 403 model_not_allowed on param ``model``."""
    response = client.post(
        "/v1/chat/completions", json={**CHAT, "model": "gpt-other"}, headers=LIMITED
    )
    assert response.status == 403
    assert error_of(response) == {
        "message": "The key 'limited' is not allowed to use the model 'gpt-other'.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_allowed",
    }


def test_unknown_model_is_404(client: RSGIClient) -> None:
    """A model that is not configured is 404 model_not_found, even for a limited key."""
    for headers in (DEV, LIMITED):
        response = client.post(
            "/v1/chat/completions", json={**CHAT, "model": "gpt-9"}, headers=headers
        )
        assert response.status == 404
        error = error_of(response)
        assert (error["param"], error["code"]) == ("model", "model_not_found")
        assert (
            error["message"] == "The model 'gpt-9' does not exist or you do not have access to it."
        )


# -- request bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"{", b"", b"not json", b'{"model": "gpt-test",}'])
def test_malformed_json_is_400(client: RSGIClient, body: bytes) -> None:
    """A body that is not JSON is 400 invalid_json."""
    response = client.post("/v1/chat/completions", body=body, headers=DEV)
    assert response.status == 400
    error = error_of(response)
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        None,
        "invalid_json",
    )


@pytest.mark.parametrize(
    "body, param, code",
    [
        (
            {"model": "gpt-test", "messages": [{"content": "hi"}]},
            "messages[0].role",
            "missing_required_parameter",
        ),
        ({"model": "gpt-test", "messages": [{"role": 3}]}, "messages[0].role", "invalid_type"),
        ({"model": "gpt-test", "messages": [], "stream": "yes"}, "stream", "invalid_type"),
        ({"messages": []}, "model", "missing_required_parameter"),
        ({"model": "gpt-test", "messages": [], "max_tokens": "5"}, "max_tokens", "invalid_type"),
    ],
)
def test_ill_typed_fields_are_400_with_param(
    client: RSGIClient, body: dict[str, Any], param: str, code: str
) -> None:
    """A missing or ill-typed field is a 400 naming the OpenAI param path."""
    response = client.post("/v1/chat/completions", json=body, headers=DEV)
    assert response.status == 400
    error = error_of(response)
    assert (error["param"], error["code"]) == (param, code)


def _body_of_size(size: int) -> bytes:
    head = b'{"model":"gpt-test","messages":[{"role":"user","content":"'
    tail = b'"}]}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def test_body_at_the_limit_is_accepted() -> None:
    """A body of exactly ``max_body_bytes`` is served."""
    with RSGIClient(gateway(max_body_bytes=1024)) as client:
        response = client.post("/v1/chat/completions", body=_body_of_size(1024), headers=DEV)
    assert response.status == 200


def test_over_limit_by_content_length_is_413_without_reading() -> None:
    """A declared content-length over the limit is refused with 413 before the body is read."""
    with RSGIClient(gateway(max_body_bytes=1024)) as client:

        async def scenario() -> tuple[RSGIResponse, bool]:
            flight = client.start(
                "POST",
                "/v1/chat/completions",
                body=_body_of_size(100),
                headers={**DEV, "content-length": "1025"},
            )
            response = await flight
            return response, flight.proto.body_read

        response, body_read = client.run(scenario())
    assert response.status == 413
    assert not body_read
    error = error_of(response)
    assert error["code"] == "payload_too_large"
    assert error["message"] == "The request body is larger than the gateway's limit of 1024 bytes."


def test_over_limit_by_actual_size_is_413() -> None:
    """A chunked body (no content-length) that turns out larger than the limit is 413."""
    with RSGIClient(gateway(max_body_bytes=1024)) as client:
        body = _body_of_size(1025)
        response = client.post(
            "/v1/chat/completions",
            headers=DEV,
            chunked=True,
            body_chunks=[body[:600], body[600:]],
        )
        assert response.status == 413
        assert error_of(response)["code"] == "payload_too_large"
        response = client.post(
            "/v1/chat/completions", headers=DEV, chunked=True, body_chunks=[CHAT_BYTES]
        )
        assert response.status == 200


CHAT_BYTES = msgspec.json.encode(CHAT)


# -- request ids ----------------------------------------------------------------------------------


def test_request_id_is_echoed(client: RSGIClient) -> None:
    """A client's ``x-request-id`` comes back on success and on errors."""
    ok = client.post("/v1/chat/completions", json=CHAT, headers={**DEV, "x-request-id": "abc-123"})
    bad = client.get("/v1/nope", headers={"x-request-id": "def-456"})
    assert ok.header("x-request-id") == "abc-123"
    assert bad.header("x-request-id") == "def-456"


def test_request_id_is_generated_and_unique(client: RSGIClient) -> None:
    """Without one, each response gets a new ``req_...`` id, streams and errors included."""
    ids = [
        client.get("/health").header("x-request-id"),
        client.post("/v1/chat/completions", json=CHAT, headers=DEV).header("x-request-id"),
        client.post("/v1/chat/completions", json={**CHAT, "stream": True}, headers=DEV).header(
            "x-request-id"
        ),
        client.get("/v1/models").header("x-request-id"),
        client.get("/metrics").header("x-request-id"),
    ]
    assert all(i is not None and REQUEST_ID.fullmatch(i) for i in ids), ids
    assert len(set(ids)) == len(ids)


# -- health, readiness, metrics -------------------------------------------------------------------


def test_health(client: RSGIClient) -> None:
    """``/health`` answers 200 without a key."""
    response = client.get("/health")
    assert (response.status, response.json()) == (200, {"status": "ok"})


def test_ready_until_draining(client: RSGIClient) -> None:
    """``/ready`` is 200 while serving and 503 once the worker drains."""
    assert (client.get("/ready").status, client.get("/ready").json()) == (200, {"status": "ready"})
    state = client.app.runtime
    state.drain.begin()
    response = client.get("/ready")
    assert (response.status, response.json()) == (503, {"status": "draining"})


def _samples(text: str) -> dict[str, float]:
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_metrics_count_requests(client: RSGIClient) -> None:
    """``/metrics`` is Prometheus text counting answered requests by key, team, model and
    status, tokens by kind, and no request in flight between requests."""
    client.post("/v1/chat/completions", json=CHAT, headers=DEV)
    client.post("/v1/chat/completions", json={**CHAT, "stream": True}, headers=DEV)
    client.post("/v1/chat/completions", json={**CHAT, "model": "gpt-other"}, headers=LIMITED)
    client.get("/v1/nope")
    response = client.get("/metrics")
    assert response.status == 200
    assert response.header("content-type") == "text/plain; version=0.0.4; charset=utf-8"
    samples = _samples(response.text)
    text, requests = response.text, "fastgw_requests_total"
    assert value(text, requests, key="dev", team="", model="gpt-test", status="200") == 2
    assert value(text, requests, key="limited", team="", model="gpt-other", status="403") == 1
    assert value(text, requests, key="", team="", model="", status="404") == 1
    assert samples['fastgw_request_duration_seconds_count{model="gpt-test"}'] == 2
    assert samples['fastgw_time_to_first_token_seconds_count{model="gpt-test"}'] == 1
    assert samples['fastgw_upstream_duration_seconds_count{provider="mock"}'] == 2
    # the stream's too: the gateway asks for its usage though the client did not
    tokens = value(
        text, "fastgw_tokens_total", key="dev", team="", model="gpt-test", kind="completion"
    )
    assert tokens == 2 * TOKENS
    assert samples["fastgw_in_flight_requests"] == 1  # the /metrics request itself
    assert client.get("/metrics").status == 200
    assert not client.app.runtime.drain.in_flight


# -- chat completions -----------------------------------------------------------------------------


def test_chat_plain(client: RSGIClient) -> None:
    """A plain chat request gets an OpenAI chat.completion with the mock's answer and usage."""
    response = client.post("/v1/chat/completions", json=CHAT, headers=DEV)
    assert response.status == 200
    assert response.chunks is None
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "mock-gpt"  # the deployment's upstream model
    (choice,) = body["choices"]
    assert choice["message"]["role"] == "assistant"
    assert len(choice["message"]["content"].split()) == TOKENS
    assert choice["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["completion_tokens"] == TOKENS
    assert usage["total_tokens"] == usage["prompt_tokens"] + TOKENS


def test_chat_is_deterministic(client: RSGIClient) -> None:
    """The same request gets the same answer; another prompt gets another one."""
    first = client.post("/v1/chat/completions", json=CHAT, headers=DEV).json()
    again = client.post("/v1/chat/completions", json=CHAT, headers=DEV).json()
    other = client.post(
        "/v1/chat/completions",
        json={**CHAT, "messages": [{"role": "user", "content": "Something else entirely"}]},
        headers=DEV,
    ).json()
    text = first["choices"][0]["message"]["content"]
    assert again["choices"][0]["message"]["content"] == text
    assert other["choices"][0]["message"]["content"] != text


def test_chat_max_tokens_truncates(client: RSGIClient) -> None:
    """``max_tokens`` below the answer length stops with finish_reason length."""
    body = client.post("/v1/chat/completions", json={**CHAT, "max_tokens": 3}, headers=DEV).json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 3


def _events(response: RSGIResponse) -> list[Any]:
    data = response.sse_data()
    assert data[-1] == b"[DONE]"
    return [msgspec.json.decode(d) for d in data[:-1]]


def test_chat_stream(client: RSGIClient) -> None:
    """A streamed chat is SSE: one event per chunk, deltas that add up to the plain answer,
    a finish chunk, then ``data: [DONE]``; no usage unless asked for."""
    plain = client.post("/v1/chat/completions", json=CHAT, headers=DEV).json()
    response = client.post("/v1/chat/completions", json={**CHAT, "stream": True}, headers=DEV)
    assert response.status == 200
    assert response.header("content-type") == "text/event-stream"
    assert response.header("cache-control") == "no-cache"
    assert response.chunks is not None
    assert all(c.startswith(b"data: ") and c.endswith(b"\n\n") for c in response.chunks)
    assert response.chunks[-1] == b"data: [DONE]\n\n"
    events = _events(response)
    assert all(e["object"] == "chat.completion.chunk" for e in events)
    assert all("usage" not in e for e in events)
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events)
    assert text == plain["choices"][0]["message"]["content"]
    assert events[-1]["choices"][0]["finish_reason"] == "stop"


def test_chat_stream_include_usage(client: RSGIClient) -> None:
    """With include_usage every chunk has ``usage: null`` and a last chunk with no choices
    carries the usage, just before [DONE]."""
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    events = _events(client.post("/v1/chat/completions", json=body, headers=DEV))
    *chunks, last = events
    assert all(e["usage"] is None for e in chunks)
    assert last["choices"] == []
    assert last["usage"]["completion_tokens"] == TOKENS
    assert last["usage"]["total_tokens"] == last["usage"]["prompt_tokens"] + TOKENS


# -- completions and embeddings -------------------------------------------------------------------


def test_completions_plain_and_stream(client: RSGIClient) -> None:
    """Legacy completions answer text_completion objects, plain and streamed."""
    request = {"model": "gpt-test", "prompt": "Once upon a time"}
    plain = client.post("/v1/completions", json=request, headers=DEV).json()
    assert plain["object"] == "text_completion"
    assert len(plain["choices"][0]["text"].split()) == TOKENS
    assert plain["usage"]["completion_tokens"] == TOKENS
    events = _events(client.post("/v1/completions", json={**request, "stream": True}, headers=DEV))
    assert all(e["object"] == "text_completion" for e in events)
    assert "".join(e["choices"][0]["text"] for e in events) == plain["choices"][0]["text"]
    assert events[-1]["choices"][0]["finish_reason"] == "stop"


def test_embeddings_float(client: RSGIClient) -> None:
    """Embeddings as floats: one unit vector of the asked dimensions per input, with usage."""
    body = {"model": "embed-test", "input": ["a", "b"], "dimensions": 16}
    response = client.post("/v1/embeddings", json=body, headers=DEV)
    data = response.json()
    assert data["object"] == "list"
    assert [d["index"] for d in data["data"]] == [0, 1]
    for item in data["data"]:
        assert item["object"] == "embedding"
        assert len(item["embedding"]) == 16
        assert math.isclose(math.fsum(v * v for v in item["embedding"]), 1.0, rel_tol=1e-9)
    assert data["data"][0]["embedding"] != data["data"][1]["embedding"]
    assert data["usage"]["prompt_tokens"] == data["usage"]["total_tokens"] > 0


def test_embeddings_base64_matches_float(client: RSGIClient) -> None:
    """``encoding_format: base64`` gives little-endian float32s equal to the float answer."""
    body = {"model": "embed-test", "input": "hello", "dimensions": 8}
    floats = client.post("/v1/embeddings", json=body, headers=DEV).json()["data"][0]["embedding"]
    encoded = client.post(
        "/v1/embeddings", json={**body, "encoding_format": "base64"}, headers=DEV
    ).json()["data"][0]["embedding"]
    decoded = struct.unpack("<8f", base64.b64decode(encoded))
    assert decoded == pytest.approx(floats, rel=1e-6)


# -- models ---------------------------------------------------------------------------------------


def test_models_list_is_filtered_by_the_key(client: RSGIClient) -> None:
    """``/v1/models`` lists the models the key may use, in config order."""
    every = client.get("/v1/models", headers=DEV).json()
    limited = client.get("/models", headers=LIMITED).json()
    assert every["object"] == "list"
    assert [m["id"] for m in every["data"]] == ["gpt-test", "embed-test", "gpt-other"]
    assert [m["id"] for m in limited["data"]] == ["gpt-test"]
    card = every["data"][0]
    assert (card["object"], card["owned_by"]) == ("model", "fastgw")
    assert isinstance(card["created"], int)


def test_model_by_id(client: RSGIClient) -> None:
    """``/v1/models/{id}`` gives the card of a visible model, 404 otherwise."""
    card = client.get("/v1/models/embed-test", headers=DEV)
    assert card.status == 200
    assert card.json()["id"] == "embed-test"
    for path, headers in (
        ("/v1/models/gpt-other", LIMITED),
        ("/v1/models/nope", DEV),
        ("/v1/models/", DEV),
    ):
        response = client.get(path, headers=headers)
        assert response.status == 404, path
        assert error_of(response)["code"] == "model_not_found"


# -- access log, disconnects, failures ------------------------------------------------------------


def test_access_log_line(capsys: pytest.CaptureFixture[str]) -> None:
    """Each request writes one JSON line with its id, route, status, timings, key id, model,
    deployment, provider and tokens, and never the key itself."""
    with RSGIClient(gateway()) as client:
        body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
        client.post("/v1/chat/completions", json=body, headers={**DEV, "x-request-id": "log-1"})
        client.post("/v1/chat/completions", json={**CHAT, "model": "gpt-other"}, headers=LIMITED)
        client.get("/health")
    out = capsys.readouterr().out
    assert DEV_KEY not in out and LIMITED_KEY not in out
    stream, denied, health = access_lines(out)
    assert {k: stream[k] for k in stream if k not in ("ts", "latency_ms", "ttft_ms")} == {
        "request_id": "log-1",
        "method": "POST",
        "path": "/v1/chat/completions",
        "status": 200,
        "key_id": "dev",
        "model": "gpt-test",
        "deployment": "mock-gpt",
        "provider": "mock",
        "stream": True,
        "prompt_tokens": stream["prompt_tokens"],
        "completion_tokens": TOKENS,
        "attempts": "gpt-test/mock:200",
        "cost_usd": 0.0,  # the mock's upstream model has no price
    }
    assert stream["prompt_tokens"] > 0
    assert stream["latency_ms"] >= stream["ttft_ms"] >= 0
    assert (denied["status"], denied["key_id"], denied["error"]) == (
        403,
        "limited",
        "model_not_allowed",
    )
    assert (health["path"], health["status"]) == ("/health", 200)
    assert "key_id" not in health


def test_client_disconnect_mid_stream_stops_it(capsys: pytest.CaptureFixture[str]) -> None:
    """A client that goes away mid-stream cancels the request: no more chunks, no [DONE],
    logged as 499 client_disconnected, nothing left in flight."""
    with RSGIClient(gateway(chunk_delay_ms=1)) as client:

        async def scenario() -> RSGIResponse:
            flight = client.start(
                "POST", "/v1/chat/completions", json={**CHAT, "stream": True}, headers=DEV
            )
            await flight.proto.wait_chunks(2)
            flight.proto.disconnect()
            return await flight

        response = client.run(scenario())
        assert not client.app.runtime.drain.in_flight
    assert response.chunks is not None and len(response.chunks) == 2
    assert b"[DONE]" not in response.body
    (line,) = access_lines(capsys.readouterr().out)
    assert (line["status"], line["error"]) == (499, "client_disconnected")


def test_connection_dropped_while_sending(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A send that fails because the connection closed is a client disconnect, not a gateway
    failure: logged as 499 client_disconnected, no error traceback."""
    with RSGIClient(gateway()) as client:
        response = client.post(
            "/v1/chat/completions", json={**CHAT, "stream": True}, headers=DEV, drop_after_chunks=3
        )
    assert response.chunks is not None and len(response.chunks) == 3
    (line,) = access_lines(capsys.readouterr().out)
    assert (line["status"], line["error"]) == (499, "client_disconnected")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


_CONTENT = b'data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n'
_STOP = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'


def _upstream_sends(client: RSGIClient, chunks: list[bytes]) -> None:
    """Make the mock provider answer streams with exactly these SSE chunks."""

    async def send(call: Any) -> MockResponse:
        return MockResponse(chunks, 0, 0, True)

    client.app.pipelines.providers["mock"].send = send


def test_stream_cut_before_finish_ends_with_error_event(client: RSGIClient) -> None:
    """An upstream stream that ends before any finish_reason (its chunks carry
    ``"finish_reason": null``) ends with an SSE error event, never with [DONE]."""
    _upstream_sends(client, [_CONTENT, _CONTENT])
    response = client.post("/v1/chat/completions", json={**CHAT, "stream": True}, headers=DEV)
    assert response.chunks is not None
    assert response.chunks[:2] == [_CONTENT, _CONTENT]
    assert b"[DONE]" not in response.body
    assert response.chunks[-1].startswith(b"event: error\ndata: ")
    error = msgspec.json.decode(response.sse_data()[-1])["error"]
    assert (error["type"], error["code"]) == ("upstream_error", "upstream_protocol_error")


def test_stream_finished_without_done_is_completed(client: RSGIClient) -> None:
    """An upstream stream that finished (a finish_reason) but omitted [DONE] gets [DONE]."""
    _upstream_sends(client, [_CONTENT, _STOP])
    response = client.post("/v1/chat/completions", json={**CHAT, "stream": True}, headers=DEV)
    assert response.chunks == [_CONTENT, _STOP, b"data: [DONE]\n\n"]


def test_unexpected_exception_is_a_logged_500(
    client: RSGIClient, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception that is not a GatewayError becomes an OpenAI 500 and a logged traceback."""

    async def broken(call: Any) -> Any:
        raise RuntimeError("provider bug")

    client.app.pipelines.providers["mock"].send = broken
    response = client.post("/v1/chat/completions", json=CHAT, headers=DEV)
    assert response.status == 500
    error = error_of(response)
    assert (error["type"], error["code"]) == ("server_error", "internal_error")
    assert b"provider bug" not in response.body
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.exc_info is not None and "unhandled error in request" in record.getMessage()


def test_worker_lifecycle_drains_on_exit() -> None:
    """The client runs Granian's hooks: state exists after ``__rsgi_init__`` and is drained
    (not ready, nothing in flight) by ``__rsgi_del__``."""
    app = gateway()
    assert app.runtime is None
    with RSGIClient(app) as client:
        assert app.runtime is not None and not app.runtime.drain.draining
        assert app.runtime.loop is client.loop
        assert client.get("/health").status == 200
    assert app.runtime.drain.draining
    assert not app.runtime.drain.in_flight


def test_gc_is_tuned_only_by_a_worker_process() -> None:
    """An app driven in-process leaves the collector alone; ``tune_gc`` (what a worker of
    ``fastgw serve`` runs after building its state) raises the young threshold and freezes
    what is alive, so no collection walks the start-up state again."""
    before = gc.get_threshold()
    with RSGIClient(gateway()) as client:
        assert client.get("/health").status == 200
        assert gc.get_threshold() == before
    try:
        gc.unfreeze()
        tune_gc()
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, before[1], before[2])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_requests_run_concurrently() -> None:
    """Streams are answered concurrently on the worker's loop: while the first is still
    streaming every other one has started, and each runs to [DONE]."""
    with RSGIClient(gateway(chunk_delay_ms=1)) as client:

        async def scenario() -> tuple[list[int | None], list[RSGIResponse]]:
            body = {**CHAT, "stream": True}
            flights = [
                client.start("POST", "/v1/chat/completions", json=body, headers=DEV)
                for _ in range(5)
            ]
            await flights[0].proto.wait_chunks(2)
            started = [f.proto.status for f in flights]
            assert not flights[0].proto.finished
            return started, [await f for f in flights]

        started, responses = client.run(scenario())
    assert started == [200] * 5
    assert [r.status for r in responses] == [200] * 5
    assert all(r.chunks and r.chunks[-1] == b"data: [DONE]\n\n" for r in responses)


# -- the in-process client itself ------------------------------------------------------------------


class _EchoApp:
    """A bare RSGI app that reports what it was given and misuses the protocol on purpose."""

    def __init__(self) -> None:
        self.seen: dict[str, Any] = {}

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        self.seen = {
            "path": scope.path,
            "query": scope.query_string,
            "method": scope.method,
            "auth": scope.headers.get("Authorization"),
            "missing": scope.headers.get("x-nope", "default"),
            "all": scope.headers.get_all("x-multi"),
            "has": "x-multi" in scope.headers,
            "body": await proto(),
        }
        with pytest.raises(RuntimeError):  # Granian's RSGIProtocolError: the body is read once
            await proto()
        proto.response_str(201, [("x-a", "1")], "first")
        proto.response_bytes(500, [], b"ignored")  # later answers are ignored, as in Granian
        with pytest.raises(RuntimeError):
            proto.response_stream(200, [])


def test_client_scope_and_proto_follow_granian() -> None:
    """The fake scope decodes the path and splits the query; headers are looked up without
    case; the body is read once; the first answer wins."""
    app = _EchoApp()
    with RSGIClient(app) as client:
        response = client.request(
            "post",
            "/a%20b?x=1&y=2",
            body=b"payload",
            headers=[("Authorization", "t"), ("X-Multi", "1"), ("x-multi", "2")],
        )
    assert (response.status, response.headers, response.body) == (201, [("x-a", "1")], b"first")
    assert app.seen == {
        "path": "/a b",
        "query": "x=1&y=2",
        "method": "POST",
        "auth": "t",
        "missing": "default",
        "all": ["1", "2"],
        "has": True,
        "body": b"payload",
    }


def test_client_reports_an_app_that_never_answers() -> None:
    """An app that returns without a response gets Granian's 500, flagged as not answered."""

    class Silent:
        async def __rsgi__(self, scope: Any, proto: Any) -> None:
            return None

    with RSGIClient(Silent()) as client:
        response = client.get("/")
    assert (response.status, response.answered) == (500, False)


def test_drain_timeout_cuts_streams_with_an_error_event(capsys: pytest.CaptureFixture[str]) -> None:
    """When the drain timeout passes, a stream still in flight ends with a ``shutting_down``
    SSE error event (never [DONE]) and is access-logged."""
    with RSGIClient(gateway(chunk_delay_ms=50)) as client:

        async def scenario() -> RSGIResponse:
            flight = client.start(
                "POST", "/v1/chat/completions", json={**CHAT, "stream": True}, headers=DEV
            )
            await flight.proto.wait_chunks(2)
            client.app.runtime.drain.cut()
            return await flight

        response = client.run(scenario())
    assert response.status == 200
    assert b"[DONE]" not in response.body
    assert response.body.endswith(b"\n\n") and b"event: error" in response.body
    assert b'"code":"shutting_down"' in response.body
    (line,) = access_lines(capsys.readouterr().out)
    assert (line["status"], line["error"]) == (200, "shutting_down")


def test_drain_timeout_answers_plain_requests_503(capsys: pytest.CaptureFixture[str]) -> None:
    """A plain request still waiting on its upstream at the drain timeout gets a 503
    ``shutting_down`` error, and is access-logged."""
    with RSGIClient(gateway(first_token_delay_ms=5000)) as client:

        async def scenario() -> RSGIResponse:
            flight = client.start("POST", "/v1/chat/completions", json=CHAT, headers=DEV)
            while not client.app.runtime.drain.in_flight:
                await asyncio.sleep(0)
            client.app.runtime.drain.cut()
            return await flight

        response = client.run(scenario())
    assert response.status == 503
    assert response.json()["error"]["code"] == "shutting_down"
    (line,) = access_lines(capsys.readouterr().out)
    assert (line["status"], line["error"]) == (503, "shutting_down")


def test_unknown_model_names_do_not_become_metric_labels(client: RSGIClient) -> None:
    """Names a client makes up (unknown models, /v1/models/{id} without a key) are counted
    under an empty model label, so nobody can mint new metric series."""
    client.post("/v1/chat/completions", json={**CHAT, "model": "made-up-1"}, headers=DEV)
    client.get("/v1/models/made-up-2")
    text = client.get("/metrics").body.decode()
    assert "made-up" not in text
    requests = "fastgw_requests_total"
    assert value(text, requests, key="dev", team="", model="", status="404") == 1
    assert value(text, requests, key="", team="", model="", status="401") == 1
