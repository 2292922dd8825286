"""Secrets are never relayed: an upstream that quotes the request's headers (the gateway's
upstream key among them) in a body (an error's or a 200's) or a stream error event does not
pass them on.

A real server in front of a FakeUpstream; every response is read as raw bytes off a socket
(status line, headers and body) and searched for the secret, and the server's log too."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
import openai
import pytest

from fastgw.keys import hash_key
from fastgw.testing import FakeUpstream, Fault, GatewayProcess
from tests.adversarial.raw import exchange
from tests.conftest import DEV_KEY

UPSTREAM_KEY = "sk-Zq8v3XkP9wLm2Rt7Yb4Nc6Hd-Uq5Jx"
AZURE_KEY = "az9Qw2Er4Ty6Ui8Op0AsDfGh"
ADMIN_KEY = "adm-Lk3Jh5Gf7Ds9Aq1Wz2Xc4Vb"
SECRETS = (UPSTREAM_KEY, AZURE_KEY, ADMIN_KEY)
ENV = {"SECRET_UPSTREAM_KEY": UPSTREAM_KEY, "SECRET_AZURE_KEY": AZURE_KEY}
HI = [{"role": "user", "content": "hi"}]


def config(up: FakeUpstream) -> str:
    return f"""
[server]
drain_timeout_s = 2
log_level = "debug"

[providers.up]
type = "openai"
base_url = "{up.base_url}"
api_key_env = "SECRET_UPSTREAM_KEY"

[providers.azure]
type = "openai"
base_url = "{up.base_url}"
api_key_env = "SECRET_AZURE_KEY"
api_key_header = "api-key"

[[models]]
name = "gpt-up"
deployments = [{{ provider = "up", model = "gpt-up" }}]

[[models]]
name = "gpt-azure"
deployments = [{{ provider = "azure", model = "gpt-azure" }}]

[[keys]]
id = "dev"
hash = "{hash_key(DEV_KEY)}"
"""


@pytest.fixture(scope="module")
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream.in_thread(chunks=3) as server:
        yield server


@pytest.fixture(scope="module")
def gw(up: FakeUpstream) -> Iterator[GatewayProcess]:
    env = {**ENV, "FASTGW_ADMIN_KEY": ADMIN_KEY}
    with GatewayProcess(config(up), env=env) as process:
        yield process


@pytest.fixture(autouse=True)
def _fresh(up: FakeUpstream) -> None:
    up.reset()


def raw_post(gw: GatewayProcess, path: str, body: bytes) -> bytes:
    """Everything the gateway sends back for one request, head and body, as bytes."""
    head = (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {DEV_KEY}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    ).encode()
    return exchange(gw.port, head + body)


def assert_no_secret(data: bytes) -> None:
    """No secret, nor any 6-byte piece of one, is in ``data``."""
    for secret in SECRETS:
        raw = secret.encode()
        pieces = {raw[i : i + 6] for i in range(len(raw) - 5)}
        found = [p for p in pieces if p in data]
        assert not found, f"pieces of a secret were relayed: {found}"


def chat(model: str, **fields: object) -> bytes:
    return msgspec.json.encode({"model": model, "messages": HI, **fields})


def assert_upstream_saw(up: FakeUpstream, secret: str) -> None:
    """The test is meaningful: the upstream got the secret and quoted it back."""
    assert up.requests, "the upstream was not asked"
    assert secret.encode() in up.requests[-1].sent


@pytest.mark.parametrize("status", [400, 404, 422, 500, 503])
@pytest.mark.parametrize("model", ["gpt-up", "gpt-azure"])
def test_error_bodies_that_quote_headers_are_masked(
    gw: GatewayProcess, up: FakeUpstream, status: int, model: str
) -> None:
    """An upstream OpenAI-shaped error quoting the request headers reaches the client with
    the upstream key masked."""
    up.fail_always(Fault(status=status, echo_headers=True))
    response = raw_post(gw, "/v1/chat/completions", chat(model))
    assert response.startswith(f"HTTP/1.1 {status} ".encode()), response[:200]
    assert b"***" in response
    assert_upstream_saw(up, UPSTREAM_KEY if model == "gpt-up" else AZURE_KEY)
    assert_no_secret(response)


def test_a_plain_text_error_that_quotes_headers_is_masked(
    gw: GatewayProcess, up: FakeUpstream
) -> None:
    """A non-JSON error body (wrapped by the gateway) is masked before it is quoted."""
    up.fail_always(Fault(status=400, body=b"bad request; you sent: ", echo_headers=True))
    response = raw_post(gw, "/v1/chat/completions", chat("gpt-up"))
    assert response.startswith(b"HTTP/1.1 400 ")
    assert_upstream_saw(up, UPSTREAM_KEY)
    assert_no_secret(response)


def test_an_error_header_that_quotes_the_key_is_masked(
    gw: GatewayProcess, up: FakeUpstream
) -> None:
    """Headers relayed with an error (retry-after) are masked too."""
    up.fail_always(Fault.error(400, headers={"retry-after": f"never {UPSTREAM_KEY}"}))
    response = raw_post(gw, "/v1/chat/completions", chat("gpt-up"))
    assert response.startswith(b"HTTP/1.1 400 ")
    assert_no_secret(response)


def test_a_200_body_that_quotes_headers_is_masked(gw: GatewayProcess, up: FakeUpstream) -> None:
    """Even a 200 answer is scanned: an upstream (or a proxy before it) that echoes the
    request's headers into a successful body does not relay the key."""
    up.fail_always(Fault(status=200, body=b'{"echo": "you sent: ', echo_headers=True))
    response = raw_post(gw, "/v1/chat/completions", chat("gpt-up"))
    assert response.startswith(b"HTTP/1.1 200 "), response[:200]
    assert b"***" in response
    assert_upstream_saw(up, UPSTREAM_KEY)
    assert_no_secret(response)


@pytest.mark.parametrize("split", [None, 6, 1, 4, 20])
def test_stream_error_events_that_quote_headers_are_masked(
    gw: GatewayProcess, up: FakeUpstream, split: int | None
) -> None:
    """An error event mid-stream quoting the headers is masked, also when the upstream
    splits it into two chunks in the middle of the key."""
    marker = None if split is None else b"Bearer " + UPSTREAM_KEY[:split].encode()
    up.fail_always(Fault(echo_headers=True, error_event_after=2, split_after=marker))
    response = raw_post(gw, "/v1/chat/completions", chat("gpt-up", stream=True))
    assert response.startswith(b"HTTP/1.1 200 ")
    assert b"event: error" in response
    assert_upstream_saw(up, UPSTREAM_KEY)
    assert_no_secret(response)


def test_the_sdk_sees_a_masked_stream_error(gw: GatewayProcess, up: FakeUpstream) -> None:
    """Through the official SDK: the stream raises APIError, without the key."""
    up.fail_always(Fault(echo_headers=True, error_event_after=1))
    with openai.OpenAI(base_url=gw.base_url + "/v1", api_key=DEV_KEY, max_retries=0) as sdk:
        stream = sdk.chat.completions.create(model="gpt-up", messages=HI, stream=True)  # type: ignore[arg-type]
        with pytest.raises(openai.APIError) as raised:
            for _ in stream:
                pass
    assert_no_secret(str(raised.value).encode())
    assert_no_secret(repr(raised.value.body).encode())


def test_normal_answers_still_flow(gw: GatewayProcess, up: FakeUpstream) -> None:
    """Masking changes nothing in healthy traffic: plain and streamed answers arrive whole."""
    plain = raw_post(gw, "/v1/chat/completions", chat("gpt-up"))
    assert plain.startswith(b"HTTP/1.1 200 ") and b"The fake upstream" in plain
    streamed = raw_post(gw, "/v1/chat/completions", chat("gpt-up", stream=True))
    assert streamed.startswith(b"HTTP/1.1 200 ") and b"data: [DONE]" in streamed


def test_the_server_log_holds_no_secret(gw: GatewayProcess, up: FakeUpstream) -> None:
    """After every kind of echoing failure above (and these), the log has no secret."""
    up.fail_always(Fault(status=500, echo_headers=True))
    raw_post(gw, "/v1/chat/completions", chat("gpt-up"))
    up.fail_always(Fault(echo_headers=True, error_event_after=1))
    raw_post(gw, "/v1/chat/completions", chat("gpt-up", stream=True))
    assert_no_secret(gw.log().encode())
