"""The official ``openai`` SDK against a real fastgw server calling endpoints fastgw does not
serve: each raises ``openai.NotFoundError`` whose message names the endpoint and what is
served; hostile request targets sent over a raw socket get a bounded, printable echo."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import openai
import pytest
from openai import OpenAI

from fastgw.testing import GatewayProcess
from tests.conftest import DEV_KEY

pytestmark = pytest.mark.e2e

SERVED = (
    "It serves: POST /v1/chat/completions, POST /v1/completions, POST /v1/embeddings, "
    "GET /v1/models, GET /v1/models/{id}."
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
