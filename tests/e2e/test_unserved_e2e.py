"""The official ``openai`` SDK against a real fastgw server calling endpoints fastgw does not
serve: each raises ``openai.NotFoundError`` whose message names the endpoint and what is
served; hostile request targets sent over a raw socket get a bounded, printable echo. Then
the same SDK through ``[[passthrough]]`` paths to a FakeUpstream: moderations, binary speech,
a multipart upload."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import msgspec
import openai
import pytest
from openai import OpenAI

from fastgw.testing import FakeUpstream, Fault, GatewayProcess
from fastgw.testing.upstream import SPEECH_CHUNKS
from tests.conftest import DEV_KEY, mock_config

pytestmark = pytest.mark.e2e

SERVED = (
    "It serves: POST /v1/chat/completions, POST /v1/completions, POST /v1/embeddings, "
    "GET /v1/models, GET /v1/models/{id}, "
    "POST /v1/messages, POST /v1/messages/count_tokens, POST /v1/responses, "
    "/v1/responses/{id}."
)


@pytest.fixture(scope="module")
def client(gateway: GatewayProcess) -> Iterator[OpenAI]:
    with OpenAI(base_url=gateway.base_url + "/v1", api_key=DEV_KEY, max_retries=0) as sdk:
        yield sdk


CALLS: list[tuple[str, str, Callable[[OpenAI], Any]]] = [
    ("POST", "/v1/moderations", lambda c: c.moderations.create(input="hello")),
    ("POST", "/v1/images/generations", lambda c: c.images.generate(prompt="a cat")),
    ("GET", "/v1/files", lambda c: c.files.list()),
    (
        "POST",
        "/v1/audio/speech",
        lambda c: c.audio.speech.create(model="tts-1", voice="alloy", input="hi"),
    ),
    (
        "POST",
        "/v1/batches",
        lambda c: c.batches.create(
            input_file_id="file-1", endpoint="/v1/chat/completions", completion_window="24h"
        ),
    ),
]


@pytest.mark.parametrize("method, path, call", CALLS, ids=[p for _, p, _ in CALLS])
def test_sdk_raises_not_found_with_the_served_list(
    client: OpenAI, method: str, path: str, call: Callable[[OpenAI], Any]
) -> None:
    """The SDK raises NotFoundError whose body says the endpoint is not served and lists
    the served ones."""
    with pytest.raises(openai.NotFoundError) as caught:
        call(client)
    exc = caught.value
    assert exc.status_code == 404
    assert exc.response.headers["content-type"] == "application/json"
    assert exc.response.headers["x-request-id"]
    assert (exc.type, exc.code, exc.param) == ("invalid_request_error", "unknown_url", None)
    assert exc.body == {
        "message": f"Invalid URL ({method} {path}): this gateway does not serve that "
        f"endpoint. {SERVED}",
        "type": "invalid_request_error",
        "param": None,
        "code": "unknown_url",
    }
    assert "does not serve" in str(exc)


def _raw(gateway: GatewayProcess, target: bytes) -> tuple[int, bytes]:
    """Send ``GET target`` as raw bytes (no client library normalises it); status and body."""
    port = int(gateway.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.mark.parametrize(
    "target",
    [
        b"/v1/" + b"a" * 7000,
        b"/v1/%ff%fe%00%01%1b%0d%0a",
        b"/v1/\xff\xfe\xc3raw",
        b"/v1/%e2%80%ae%22%7d",
    ],
)
def test_hostile_targets_are_echoed_bounded_and_printable(
    gateway: GatewayProcess, target: bytes
) -> None:
    """Whatever the server accepts as a target is echoed at most ~200 characters, printable;
    or the server refuses it itself (400) before fastgw sees it."""
    status, body = _raw(gateway, target)
    if status in (400, 414):  # refused by the HTTP layer (raw non-UTF-8): nothing echoed
        assert target not in body
        return
    assert status == 404, body
    error = msgspec.json.decode(body)["error"]
    assert error["code"] == "unknown_url"
    message: str = error["message"]
    echoed = message.split("(GET ", 1)[1].split("): ", 1)[0]
    assert len(echoed) <= 203
    assert echoed.isprintable()
    assert message.endswith(SERVED)


# -- passthrough by path, through the real server --------------------------------------------

UPSTREAM_KEY = "sk-upstream-secret-0004"


@pytest.fixture(scope="module")
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream.in_thread() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def passing(up: FakeUpstream) -> Iterator[GatewayProcess]:
    extra = f"""
[providers.up]
type = "openai"
base_url = "{up.base_url}"
api_key_env = "PASS_UP_KEY"

[[passthrough]]
path = "/v1/moderations"
provider = "up"

[[passthrough]]
path = "/v1/audio/speech"
provider = "up"

[[passthrough]]
path = "/v1/audio/transcriptions"
provider = "up"
"""
    env = {"PASS_UP_KEY": UPSTREAM_KEY}
    with GatewayProcess(mock_config(extra=extra), env=env) as process:
        yield process


@pytest.fixture
def sdk(passing: GatewayProcess, up: FakeUpstream) -> Iterator[OpenAI]:
    up.reset()
    with OpenAI(base_url=passing.base_url + "/v1", api_key=DEV_KEY, max_retries=0) as client:
        yield client


def test_sdk_moderation_through_passthrough(
    sdk: OpenAI, up: FakeUpstream, passing: GatewayProcess
) -> None:
    """``client.moderations.create`` reaches the upstream with its key, and the access log
    records the passthrough request."""
    result = sdk.moderations.create(input="please flag this", model="omni-moderation-latest")
    assert result.results[0].flagged is True
    (seen,) = up.requests
    assert seen.path == "/v1/moderations"
    assert seen.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert msgspec.json.decode(seen.body) == {
        "input": "please flag this",
        "model": "omni-moderation-latest",
    }
    line = access_line(passing, "/v1/moderations")
    assert (line["method"], line["status"], line["key_id"], line["provider"]) == (
        "POST",
        200,
        "dev",
        "up",
    )


def access_line(gw: GatewayProcess, path: str) -> dict[str, Any]:
    """The access-log line of the last request to ``path`` (polled: the log is batched)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [msgspec.json.decode(x) for x in gw.stdout().splitlines() if x.startswith("{")]
        mine = [x for x in lines if x.get("path") == path]
        if mine:
            return mine[-1]  # type: ignore[no-any-return]
        time.sleep(0.05)  # poll interval while the access log flushes, not a wait for work
    raise AssertionError(f"no access line for {path}")


def test_sdk_speech_binary_through_passthrough(sdk: OpenAI) -> None:
    """``client.audio.speech.create`` gets the upstream's binary audio byte for byte."""
    audio = sdk.audio.speech.create(model="tts-1", voice="alloy", input="hello")
    assert audio.response.headers["content-type"] == "audio/mpeg"
    assert audio.content == b"".join(SPEECH_CHUNKS)


def test_sdk_multipart_forwarded_untouched(sdk: OpenAI, up: FakeUpstream) -> None:
    """A multipart upload reaches the upstream as sent (boundary and all); the upstream's
    404 (it has no such endpoint) comes back as the SDK's NotFoundError with its message."""
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.audio.transcriptions.create(model="whisper-1", file=("a.mp3", b"\x00\xffID3 bytes"))
    assert caught.value.body["message"] == "Fake upstream error 404."  # type: ignore[index]
    (seen,) = up.requests
    boundary = seen.headers["content-type"].split("boundary=", 1)[1]
    assert seen.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert seen.body.startswith(b"--" + boundary.encode())
    assert b"\x00\xffID3 bytes" in seen.body


def test_sdk_unserved_lists_passthrough_paths(sdk: OpenAI) -> None:
    """An unserved endpoint's 404 names the passthrough paths among those served."""
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.files.list()
    assert (
        "POST /v1/moderations, POST /v1/audio/speech, POST /v1/audio/transcriptions"
        in (
            caught.value.body["message"]  # type: ignore[index]
        )
    )


def test_body_cut_short_upstream_is_not_a_complete_answer(
    passing: GatewayProcess, up: FakeUpstream
) -> None:
    """An upstream that declares 100 bytes and closes after 10: the client's read fails
    (the server closes the connection), it never gets a shorter body as if complete."""
    up.reset()
    raw = b"HTTP/1.1 200 OK\r\ncontent-type: audio/mpeg\r\ncontent-length: 100\r\n\r\n0123456789"
    up.fail_next(Fault(raw=raw))
    # a read timeout here would mean the response was held open (a reference cycle)
    with (
        httpx.Client(base_url=passing.base_url, timeout=5) as http,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        http.post(
            "/v1/audio/speech",
            headers={"authorization": f"Bearer {DEV_KEY}"},
            json={"model": "tts-1", "voice": "alloy", "input": "x"},
        )
