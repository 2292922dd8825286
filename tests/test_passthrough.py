"""``[[passthrough]]``: the config's checks (exact safe paths only, never one fastgw serves, an
``openai`` provider) and, in-process against a FakeUpstream, the handler: keys, the body
forwarded untouched with the upstream key swapped in, binary answers, bounds and errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fastgw import Gateway, parse_config
from fastgw.app import routes
from fastgw.config import RESERVED_PATHS, ConfigError, PassthroughConfig
from fastgw.testing import FakeUpstream, Fault
from fastgw.testing.rsgi import RSGIClient, RSGIResponse
from fastgw.testing.upstream import SPEECH_CHUNKS
from tests.conftest import DEV_KEY, LIMITED_KEY, mock_config

UPSTREAM_KEY = "sk-upstream-secret-0003"
ENV = {"UP_KEY": UPSTREAM_KEY}
DEV = {"authorization": f"Bearer {DEV_KEY}"}
LIMITED = {"authorization": f"Bearer {LIMITED_KEY}"}
PROVIDERS = """
[providers.up]
type = "openai"
base_url = "http://127.0.0.1:9/v1"
api_key_env = "UP_KEY"

[providers.mock]
type = "mock"
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(PROVIDERS + text, "t.toml", ENV)
    return info.value.errors


# -- the config ---------------------------------------------------------------------------------


def test_off_by_default() -> None:
    """Without entries there is no passthrough: the config holds an empty list."""
    assert parse_config(PROVIDERS, "t.toml", ENV).passthrough == []


def test_an_entry_decodes_with_named_defaults() -> None:
    """``method`` defaults to POST and ``keys`` to every key."""
    config = parse_config(
        PROVIDERS + '[[passthrough]]\npath = "/v1/moderations"\nprovider = "up"\n',
        "t.toml",
        ENV,
    )
    assert config.passthrough == [
        PassthroughConfig(path="/v1/moderations", provider="up", method="POST", keys=None)
    ]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/../admin/keys",
        "/v1/a/./b",
        "/v1/%2e%2e/admin",
        "/v1/",
        "/v1//moderations",
        "/v1/moderations/",
        "/v2/moderations",
        "/moderations",
        "http://evil.example/v1/moderations",
        "//evil.example/v1/x",
        "/v1/moderations?x=1",
        "/v1/mod erations",
        "/v1/mod\r\nx: y",
        "/v1/" + "a" * 200,
    ],
)
def test_only_exact_safe_paths(path: str) -> None:
    """No traversal, no host, no query, no encoded or empty segment, bounded length."""
    toml = f'[[passthrough]]\npath = """{path}"""\nprovider = "up"\n'
    (error,) = errors_of(toml)
    assert error.startswith("passthrough[0].path: ")
    assert "is not an exact API path; write it like '/v1/moderations'" in error
    assert len(error) < 400


@pytest.mark.parametrize(
    "path",
    ["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models", "/v1/models/x"],
)
def test_paths_fastgw_serves_are_refused(path: str) -> None:
    """A path the gateway answers itself cannot be passed through."""
    assert errors_of(f'[[passthrough]]\npath = "{path}"\nprovider = "up"\n') == [
        f"passthrough[0].path: fastgw serves {path} itself; remove this entry "
        "(route it with [[models]] deployments instead)"
    ]


def test_reserved_paths_cover_every_served_route() -> None:
    """Every client route of the app is reserved (the config cannot shadow one); pinned
    against the real route table so the two cannot drift."""
    with RSGIClient(Gateway(parse_config(mock_config(), "m.toml", {}))) as client:
        app = client.app
        table = routes(app.pipelines, None)  # type: ignore[arg-type]  # no admin request
    served = [p for p in table if p.startswith("/v1/")]
    assert served
    for path in served:
        assert any(path == r or path.startswith(r + "/") for r in RESERVED_PATHS), path


def test_provider_must_be_a_known_openai_one() -> None:
    """An unknown provider or a non-openai one is named with the openai ones to choose."""
    text = (
        '[[passthrough]]\npath = "/v1/moderations"\nprovider = "nope"\n'
        '[[passthrough]]\npath = "/v1/images/generations"\nprovider = "mock"\n'
    )
    assert errors_of(text) == [
        "passthrough[0].provider: unknown provider 'nope'; "
        'use a provider with type = "openai": up',
        "passthrough[1].provider: not an openai-type provider 'mock'; "
        'use a provider with type = "openai": up',
    ]


def test_duplicates_typos_and_empty_keys_are_errors() -> None:
    """A path listed twice, an unknown key (with the close one) and ``keys = []``."""
    text = (
        '[[passthrough]]\npath = "/v1/moderations"\nprovider = "up"\n'
        '[[passthrough]]\npath = "/v1/moderations"\nprovider = "up"\nkeys = []\n'
        '[[passthrough]]\npaht = "/v1/audio/speech"\nprovider = "up"\n'
        '[[passthrough]]\npath = "/v1/audio/speech"\nprovider = "up"\nmethod = "PUT"\n'
    )
    errors = errors_of(text)
    assert "passthrough[2].paht: unknown key; did you mean 'path'?" in errors
    assert "passthrough[2].path: missing; add it (a string)" in errors
    assert any(e.startswith("passthrough[3].method: expected one of 'POST', 'GET'") for e in errors)
    assert "passthrough[1].path: /v1/moderations is listed twice; list each path once" in errors
    assert (
        "passthrough[1].keys: list at least one key id (leave keys out to allow every key)"
        in errors
    )


# -- in-process against a fake upstream ---------------------------------------------------------


def passthrough_config(up: FakeUpstream, max_body_bytes: int = 65536) -> str:
    return mock_config(
        max_body_bytes=max_body_bytes,
        extra=f"""
[providers.up]
type = "openai"
base_url = "{up.base_url}"
api_key_env = "UP_KEY"
headers = {{ "X-Team" = "search" }}
timeouts = {{ connect_s = 2, first_byte_s = 0.5, idle_s = 2, total_s = 10 }}

[[passthrough]]
path = "/v1/moderations"
provider = "up"

[[passthrough]]
path = "/v1/audio/speech"
provider = "up"
keys = ["dev"]
""",
    )


@pytest.fixture(scope="module")
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream.in_thread() as upstream:
        yield upstream


@pytest.fixture
def client(up: FakeUpstream, monkeypatch: pytest.MonkeyPatch) -> Iterator[RSGIClient]:
    monkeypatch.setenv("UP_KEY", UPSTREAM_KEY)  # the provider reads its key at start
    up.reset()
    with RSGIClient(Gateway(parse_config(passthrough_config(up), "p.toml", ENV))) as c:
        yield c


def error_of(response: RSGIResponse, status: int) -> dict[str, Any]:
    assert response.status == status, response.body
    error: dict[str, Any] = response.json()["error"]
    return error


def test_body_forwarded_untouched_with_the_upstream_key(
    client: RSGIClient, up: FakeUpstream
) -> None:
    """The upstream gets the exact bytes and content type at its own path, with the
    provider's key and headers and never the client's key; the client gets its answer."""
    raw = b'{"input" :  "please flag me",\n "model":"omni-moderation-latest", "x": [1, 2.50]}'
    headers = {**DEV, "content-type": "application/json; charset=utf-8", "x-request-id": "r-1"}
    response = client.post("/v1/moderations", body=raw, headers=headers)
    assert response.status == 200, response.body
    assert response.header("content-type") == "application/json"
    assert response.json()["results"][0]["flagged"] is True
    (seen,) = up.requests
    assert (seen.method, seen.path, seen.body) == ("POST", "/v1/moderations", raw)
    assert seen.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert seen.headers["content-type"] == "application/json; charset=utf-8"
    assert seen.headers["x-team"] == "search"
    assert seen.headers["x-request-id"] == "r-1"
    assert DEV_KEY not in str(seen.headers)


def test_binary_answer_is_relayed_byte_for_byte(client: RSGIClient, up: FakeUpstream) -> None:
    """An audio answer (NUL, 0xFF, CR LF, not UTF-8) arrives as sent, with its type."""
    body = {"model": "tts-1", "voice": "alloy", "input": "hi"}
    response = client.post("/v1/audio/speech", json=body, headers=DEV)
    assert response.status == 200
    assert response.header("content-type") == "audio/mpeg"
    assert response.body == b"".join(SPEECH_CHUNKS)


def test_keys_are_required_and_checked(client: RSGIClient, up: FakeUpstream) -> None:
    """No key: 401; a key outside the entry's ``keys``: 403; the upstream sees neither."""
    body = {"model": "tts-1", "voice": "alloy", "input": "hi"}
    assert error_of(client.post("/v1/moderations", json={"input": "x"}), 401)["code"] == (
        "invalid_api_key"
    )
    denied = error_of(client.post("/v1/audio/speech", json=body, headers=LIMITED), 403)
    assert denied == {
        "message": "This key may not call /v1/audio/speech.",
        "type": "invalid_request_error",
        "param": None,
        "code": "endpoint_not_allowed",
    }
    assert up.requests == []


def test_bounds_wrong_method_and_the_served_list(client: RSGIClient, up: FakeUpstream) -> None:
    """A body over the limit is 413 unsent, a GET is 405, and the 404 lists the passthrough
    paths with the gateway's own."""
    big = b'{"input": "' + b"x" * 70_000 + b'"}'
    assert error_of(client.post("/v1/moderations", body=big, headers=DEV), 413)["code"] == (
        "payload_too_large"
    )
    assert error_of(client.get("/v1/moderations", headers=DEV), 405)["message"] == (
        "Method GET is not allowed for /v1/moderations; use POST."
    )
    missing = error_of(client.post("/v1/images/generations", headers=DEV), 404)["message"]
    assert missing.endswith(
        "GET /v1/models, GET /v1/models/{id}, POST /v1/messages, "
        "POST /v1/messages/count_tokens, POST /v1/responses, /v1/responses/{id}, "
        "POST /v1/moderations, POST /v1/audio/speech."
    )
    assert up.requests == []


def test_content_type_that_cannot_be_forwarded_is_400(client: RSGIClient, up: FakeUpstream) -> None:
    """A content type with non-ASCII or control characters never reaches an upstream head."""
    headers = {**DEV, "content-type": "application/json\u00e9"}
    assert client.post("/v1/moderations", body=b"{}", headers=headers).status == 400
    assert up.requests == []


def test_upstream_errors_are_relayed_and_credentials_hidden(
    client: RSGIClient, up: FakeUpstream
) -> None:
    """An upstream 429 is relayed with retry-after; its 401 (the gateway's key refused) is a
    502 that does not quote it; a stalled upstream is a 504 at first_byte_s."""
    up.fail_next(Fault.error(429, headers={"retry-after": "7"}))
    limited = client.post("/v1/moderations", json={"input": "x"}, headers=DEV)
    assert error_of(limited, 429)["message"] == "Fake upstream error 429."
    assert limited.header("retry-after") == "7"
    up.fail_next(Fault.error(401, b'{"error": {"message": "Incorrect API key sk-up...0003"}}'))
    refused = error_of(client.post("/v1/moderations", json={"input": "x"}, headers=DEV), 502)
    assert refused["code"] == "upstream_auth_failed"
    assert "0003" not in refused["message"]
    up.fail_next(Fault(stall=True))
    stalled = error_of(client.post("/v1/moderations", json={"input": "x"}, headers=DEV), 504)
    assert stalled["code"] == "upstream_timeout"
