"""Every string and structure a client sends is bounded: request ids, JSON depth, duplicate
keys, admin query parameters, and cache namespaces. One real server for the module."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest

from fastgw.testing import GatewayProcess
from tests.adversarial.raw import exchange
from tests.conftest import DEV_KEY, LIMITED_KEY, mock_config

ADMIN_KEY = "admin-key-for-the-inputs-suite-0123"
AUTH = {"authorization": f"Bearer {DEV_KEY}"}
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}
HI = [{"role": "user", "content": "hi"}]
HI_JSON = msgspec.json.encode(HI)
# a cached model whatever the temperature: a re-created key must not see the old one's answers
EXTRA = """
[[models]]
name = "gpt-cached"
deployments = [{ provider = "mock", model = "mock-cached" }]
[models.cache]
when = "always"
"""


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayProcess]:
    with GatewayProcess(
        mock_config(max_body_bytes=1 << 20, extra=EXTRA), env={"FASTGW_ADMIN_KEY": ADMIN_KEY}
    ) as process:
        yield process


@pytest.fixture
def http(gw: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.base_url, timeout=10) as client:
        yield client


def assert_openai_error(response: httpx.Response, status: int, code: str | None = None) -> Any:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    if code is not None:
        assert error["code"] == code, error
    return error


def assert_serving(http: httpx.Client) -> None:
    answer = http.post(
        "/v1/chat/completions", headers=AUTH, json={"model": "gpt-test", "messages": HI}
    )
    assert answer.status_code == 200, answer.text


# -- x-request-id -------------------------------------------------------------------------------


def flushed_log(gw: GatewayProcess, http: httpx.Client) -> str:
    """The server log once every earlier access line is in it: a marker request is sent and
    the log polled (bounded) until its line appears (the access log flushes every 200 ms)."""
    marker = f"flush-marker-{time.monotonic_ns()}"
    http.get("/health", headers={"x-request-id": marker})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = gw.log()
        if marker in log:
            return log
        time.sleep(0.05)  # poll interval of the log file, not a wait for the server
    raise AssertionError("the access line of the marker request never reached the log")


def test_a_huge_request_id_is_replaced_and_never_logged(
    gw: GatewayProcess, http: httpx.Client
) -> None:
    """An x-request-id past 128 characters is neither echoed nor logged: the gateway's own
    id answers in its place (no key needed to send one)."""
    huge = "r" * 6000
    for path, headers in (("/health", {}), ("/v1/models", AUTH), ("/nowhere", {})):
        response = http.get(path, headers={**headers, "x-request-id": huge})
        own = response.headers["x-request-id"]
        assert own != huge and own.startswith("req_") and len(own) <= 128
    assert_serving(http)
    assert "r" * 200 not in flushed_log(gw, http)


def _raw(gw: GatewayProcess, head: bytes, body: bytes = b"") -> bytes:
    return exchange(gw.port, head + body)


def test_huge_paths_methods_and_model_names_are_not_logged_whole(
    gw: GatewayProcess, http: httpx.Client
) -> None:
    """A 60 KB path or a 10 KB method (no key needed) and a 200 KB model name (with a key)
    are answered with a 4xx and logged cut to 256 characters, not whole."""
    path = "/" + "p" * 60_000
    answer = _raw(gw, f"GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 404 ")
    method = "M" * 10_000
    answer = _raw(gw, f"{method} /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 405 ")
    body = msgspec.json.encode({"model": "q" * 200_000, "messages": HI})
    response = http.post("/v1/chat/completions", headers=AUTH, content=body)
    assert_openai_error(response, 404, "model_not_found")
    log = flushed_log(gw, http)
    for letter in "pMq":
        assert letter * 300 not in log, f"a {letter!r} string was logged whole"


@pytest.mark.parametrize(
    "value", ["has space", "caf\u00e9", "tab\there", "x" * 129, 'quote"and\\ back']
)
def test_a_request_id_outside_visible_ascii_is_replaced(http: httpx.Client, value: str) -> None:
    """Only 1-128 visible ASCII characters are kept as the client's id."""
    response = http.get(
        "/health",
        headers=[("x-request-id", value.encode("utf-8"))],  # type: ignore[list-item]
    )
    assert response.headers["x-request-id"].startswith("req_")


def test_a_well_formed_request_id_is_kept(http: httpx.Client) -> None:
    """A client's own id (a UUID, a trace id) still round-trips."""
    for value in ("3f2b8c1e-9a4d-4e5f-8b7a-1c2d3e4f5a6b", "trace:abc/def+1=2@x", "a" * 128):
        response = http.get("/health", headers={"x-request-id": value})
        assert response.headers["x-request-id"] == value


# -- nesting --------------------------------------------------------------------------------------


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/v1/chat/completions",
            b'{"model":"gpt-test","messages":[{"role":"user","content":' + _deep(20000) + b"}]}",
        ),
        (
            "/v1/chat/completions",
            b'{"model":"gpt-test","messages":' + HI_JSON + b',"tools":' + _deep(5000) + b"}",
        ),
        (
            "/v1/chat/completions",
            b'{"model":"gpt-test","metadata":' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"}",
        ),
        ("/v1/completions", b'{"model":"gpt-test","prompt":"x","logit_bias":' + _deep(3000) + b"}"),
        ("/v1/embeddings", b'{"model":"embed-test","input":"x","user":' + _deep(3000) + b"}"),
        ("/v1/chat/completions", _deep(100000)),
    ],
)
def test_deeply_nested_json_is_a_400(http: httpx.Client, path: str, body: bytes) -> None:
    """JSON nested thousands deep anywhere in the body gets a 400 invalid_json, never a 500."""
    response = http.post(path, headers={**AUTH, "content-type": "application/json"}, content=body)
    assert_openai_error(response, 400, "invalid_json")
    assert_serving(http)


def test_nesting_within_the_bound_is_served(http: httpx.Client) -> None:
    """Nesting up to the bound (128) is still an ordinary request."""
    body = {"model": "gpt-test", "messages": HI, "metadata": {"x": [[[[[[[[1]]]]]]]]}}
    assert http.post("/v1/chat/completions", headers=AUTH, json=body).status_code == 200
    tools = b'{"model":"gpt-test","messages":[{"role":"user","content":"hi"}],"t":'
    deep_ok = tools + _deep(120) + b"}"
    response = http.post(
        "/v1/chat/completions",
        headers={**AUTH, "content-type": "application/json"},
        content=deep_ok,
    )
    assert response.status_code == 200, response.text


def test_deep_admin_bodies_are_a_400(http: httpx.Client) -> None:
    """The admin API's bodies get the same 400 for nesting."""
    body = b'{"metadata":' + b'{"a":' * 20000 + b'"x"' + b"}" * 20000 + b"}"
    response = http.post(
        "/admin/keys", headers={**ADMIN, "content-type": "application/json"}, content=body
    )
    assert response.status_code == 400, response.text


# -- duplicate keys -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"model":"gpt-other","messages":[{"role":"user","content":"hi"}],"model":"gpt-test"}',
        b'{"model":"gpt-other","messages":[{"role":"user","content":"hi"}],"mod\\u0065l":"gpt-test"}',
        b'{"mod\\u0065l":"gpt-other","messages":[{"role":"user","content":"hi"}],"model":"gpt-test"}',
    ],
)
def test_a_doubled_model_is_refused(http: httpx.Client, body: bytes) -> None:
    """A key limited to gpt-test cannot reach gpt-other by naming it first and gpt-test last
    (the gateway checked the last value while an upstream may serve the first)."""
    response = http.post(
        "/v1/chat/completions",
        headers={"authorization": f"Bearer {LIMITED_KEY}", "content-type": "application/json"},
        content=body,
    )
    error = assert_openai_error(response, 400, "duplicate_parameter")
    assert error["param"] == "model"


def test_any_doubled_top_level_key_is_refused(http: httpx.Client) -> None:
    """Other doubled parameters are refused too: the cache's canonical form reads the last
    value, an upstream may read the first, and keys sharing a namespace would share the
    wrong answer."""
    body = b'{"model":"gpt-test","messages":' + HI_JSON + b',"temperature":0,"te\\u006dperature":1}'
    response = http.post(
        "/v1/chat/completions", headers={**AUTH, "content-type": "application/json"}, content=body
    )
    error = assert_openai_error(response, 400, "duplicate_parameter")
    assert error["param"] == "temperature"


def test_thousands_of_top_level_keys_are_refused(http: httpx.Client) -> None:
    """A top-level object is bounded to 128 keys."""
    many = {f"k{i}": i for i in range(1000)}
    body = {"model": "gpt-test", "messages": HI, **many}
    response = http.post("/v1/chat/completions", headers=AUTH, json=body)
    assert_openai_error(response, 400, "too_many_parameters")


def test_nested_keys_of_the_same_name_are_fine(http: httpx.Client) -> None:
    """Only top-level duplicates are refused: a nested "model" is not a duplicate."""
    body = {"model": "gpt-test", "messages": HI, "metadata": {"model": "x", "n": "1"}}
    assert http.post("/v1/chat/completions", headers=AUTH, json=body).status_code == 200


# -- admin query parameters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "start=nan",
        "end=inf",
        "start=-inf",
        "start=1e400",
        "end=-1",
        "start=99999999999999",
        "start=0001-01-01T00:00:00%2B14:00",
        "start=2027-13-45",
        "model=" + "m" * 300,
        "group_by=" + "g" * 5000,
    ],
)
def test_bad_usage_query_parameters_are_a_400(http: httpx.Client, query: str) -> None:
    """Times that are not finite, outside 1970-9999 or not dates, and over-long filters, are
    refused with a 400 naming the parameter."""
    response = http.get("/admin/usage?" + query, headers=ADMIN)
    error = assert_openai_error(response, 400)
    assert error["param"] == query.split("=")[0]
    assert len(response.content) < 1000  # the bad value is quoted, bounded


# -- cache namespaces -----------------------------------------------------------------------------


def _create_key(http: httpx.Client, **fields: Any) -> httpx.Response:
    return http.post("/admin/keys", headers=ADMIN, json=fields)


def test_a_key_cannot_take_another_keys_default_namespace(http: httpx.Client) -> None:
    """The default namespaces' prefix is reserved, at creation and by PATCH."""
    shown = http.get("/admin/keys/dev", headers=ADMIN).json()["cache_namespace"]
    assert shown.startswith("key:dev:")
    refused = _create_key(http, id="thief", cache_namespace=shown)
    assert_openai_error(refused, 400)
    assert refused.json()["error"]["param"] == "cache_namespace"
    assert _create_key(http, id="thief").status_code == 201
    patched = http.patch("/admin/keys/thief", headers=ADMIN, json={"cache_namespace": shown})
    assert_openai_error(patched, 400)
    assert http.delete("/admin/keys/thief", headers=ADMIN).status_code == 200


def test_a_recreated_key_id_does_not_inherit_cached_answers(http: httpx.Client) -> None:
    """Deleting a key and creating the same id again starts from an empty cache."""
    body = {"model": "gpt-cached", "messages": [{"role": "user", "content": "recreated?"}]}

    def ask(secret: str) -> str:
        response = http.post(
            "/v1/chat/completions", headers={"authorization": f"Bearer {secret}"}, json=body
        )
        assert response.status_code == 200, response.text
        return response.headers["x-fastgw-cache"]

    first = _create_key(http, id="reborn")
    assert first.status_code == 201, first.text
    assert ask(first.json()["key"]) == "miss"
    assert ask(first.json()["key"]) == "hit"
    assert http.delete("/admin/keys/reborn", headers=ADMIN).status_code == 200
    second = _create_key(http, id="reborn")
    assert second.status_code == 201, second.text
    assert second.json()["cache_namespace"] != first.json()["cache_namespace"]
    assert ask(second.json()["key"]) == "miss"
