"""What the gateway answers for what it does not serve: the 404 for an unknown path and the 405
for a served path with the wrong method, in OpenAI's shape, with bounded, printable echoes of
hostile paths and the endpoint list read from the route table (in-memory and in-process)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fastgw import Gateway, parse_config
from fastgw.testing.rsgi import RSGIClient, RSGIResponse
from fastgw.unserved import (
    MAX_ECHO_CHARS,
    not_served,
    printable,
    served_endpoints,
    wrong_method,
)
from tests.conftest import DEV_KEY, mock_config

DEV = {"authorization": f"Bearer {DEV_KEY}"}
SERVED = (
    "POST /v1/chat/completions, POST /v1/completions, POST /v1/embeddings, "
    "GET /v1/models, GET /v1/models/{id}, "
    "POST /v1/messages, POST /v1/messages/count_tokens, POST /v1/responses, "
    "/v1/responses/{id}"
)


@pytest.fixture(scope="module")
def client() -> Iterator[RSGIClient]:
    with RSGIClient(Gateway(parse_config(mock_config(), "mock.toml", {}))) as c:
        yield c


def error_of(response: RSGIResponse, status: int) -> dict[str, Any]:
    assert response.status == status, response.body
    assert response.header("content-type") == "application/json"
    assert response.header("x-request-id")
    body = response.json()
    assert list(body) == ["error"]
    assert list(body["error"]) == ["message", "type", "param", "code"]
    error: dict[str, Any] = body["error"]
    return error


# -- the protocol logic -----------------------------------------------------------------------


def test_printable_keeps_plain_text_as_it_is() -> None:
    """A short printable string is echoed unchanged (no copy is made)."""
    text = "/v1/images/generations"
    assert printable(text) is text


@pytest.mark.parametrize(
    "text, echoed",
    [
        ("/v1/a\x00b", "/v1/a?b"),
        ("/v1/\r\nx-injected: 1", "/v1/??x-injected: 1"),
        ("/v1/\x1b[31mred", "/v1/?[31mred"),
        ("/v1/\u202eevil", "/v1/?evil"),  # a bidi override (format character)
        ("/v1/\udcff\udcfe", "/v1/??"),  # undecodable bytes as lone surrogates
        ("/v1/\u2028line", "/v1/?line"),  # a line separator
        ("/v1/caf\u00e9 \u4e2d", "/v1/caf\u00e9 \u4e2d"),  # printable non-ASCII stays
    ],
)
def test_printable_replaces_what_is_not_printable(text: str, echoed: str) -> None:
    """Controls, format characters, surrogates and separators other than space become ``?``."""
    assert printable(text) == echoed


def test_printable_cuts_before_it_looks() -> None:
    """A megabyte path is cut to the bound plus "..."; only the kept part is examined."""
    text = "/v1/" + "\x00" * 1_000_000
    echoed = printable(text)
    assert echoed == "/v1/" + "?" * (MAX_ECHO_CHARS - 4) + "..."
    assert printable("x" * MAX_ECHO_CHARS) == "x" * MAX_ECHO_CHARS


def test_served_endpoints_are_the_v1_routes_of_the_table() -> None:
    """Only ``/v1/`` entries are listed, in table order, prefix routes with ``{id}``."""
    table = {
        "/v1/chat/completions": ("POST", None),
        "/chat/completions": ("POST", None),
        "/v1/models/": ("GET", None),
        "/health": ("GET", None),
        "/admin/": ("*", None),
        "/v1/responses/": ("*", None),
    }
    assert served_endpoints(table) == [
        "POST /v1/chat/completions",
        "GET /v1/models/{id}",
        "/v1/responses/{id}",
    ]


def test_not_served_and_wrong_method_are_openai_errors() -> None:
    """The 404 is unknown_url, the 405 method_not_allowed with an ``allow`` header."""
    table = {"/v1/embeddings": ("POST", None)}
    missing = not_served("POST", "/v1/moderations", table)
    assert (missing.status, missing.type, missing.code) == (
        404,
        "invalid_request_error",
        "unknown_url",
    )
    assert missing.message == (
        "Invalid URL (POST /v1/moderations): this gateway does not serve that endpoint. "
        "It serves: POST /v1/embeddings."
    )
    wrong = wrong_method("GE\x00T", "/v1/embeddings", "POST")
    assert (wrong.status, wrong.code, wrong.headers) == (
        405,
        "method_not_allowed",
        [("allow", "POST")],
    )
    assert wrong.message == "Method GE?T is not allowed for /v1/embeddings; use POST."


# -- in-process, through the route table -------------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/v1/images/generations"),
        ("POST", "/v1/moderations"),
        ("POST", "/v1/audio/speech"),
        ("POST", "/v1/audio/transcriptions"),
        ("GET", "/v1/files"),
        ("POST", "/v1/batches"),
        ("POST", "/v1/fine_tuning/jobs"),
    ],
)
def test_unserved_endpoints_say_what_is_served(client: RSGIClient, method: str, path: str) -> None:
    """Each endpoint fastgw does not implement is a 404 naming it and the served ones."""
    response = client.request(method, path, headers=DEV, json={"model": "gpt-test"})
    error = error_of(response, 404)
    assert error == {
        "message": f"Invalid URL ({method} {path}): this gateway does not serve that endpoint. "
        f"It serves: {SERVED}.",
        "type": "invalid_request_error",
        "param": None,
        "code": "unknown_url",
    }


def test_the_404_needs_no_key(client: RSGIClient) -> None:
    """Without a key (or with a wrong one) an unknown path is the same 404, never a 401: the
    list it names is the public API, and a 401 would say no more."""
    for headers in ({}, {"authorization": "Bearer sk-wrong"}):
        error = error_of(client.post("/v1/moderations", headers=headers, json={}), 404)
        assert error["code"] == "unknown_url"
        assert "/health" not in error["message"]
        assert "/admin" not in error["message"]
        assert "/metrics" not in error["message"]


@pytest.mark.parametrize(
    "target, echoed",
    [
        ("/v1/" + "a" * 100_000, "/v1/" + "a" * (MAX_ECHO_CHARS - 4) + "..."),
        ("/v1/%00%01%1b[2J%0d%0a", "/v1/???[2J??"),
        ("/v1/%ff%fe%c3", "/v1/\ufffd\ufffd\ufffd"),  # undecodable bytes, as the client decodes
        ("/v1/%e2%80%ae" + "x", "/v1/?x"),
        ('/v1/"},"injected":{"', '/v1/"},"injected":{"'),  # JSON-escaped, never spliced
    ],
)
def test_hostile_paths_are_bounded_and_printable(
    client: RSGIClient, target: str, echoed: str
) -> None:
    """A long, binary or control-laden path is echoed cut to ~200 characters and printable."""
    error = error_of(client.get(target), 404)
    assert error["message"].startswith(f"Invalid URL (GET {echoed}): ")
    assert error["message"].endswith(f"It serves: {SERVED}.")
    assert len(error["message"]) < MAX_ECHO_CHARS + 300


def test_hostile_paths_under_a_prefix_route_are_bounded(client: RSGIClient) -> None:
    """The 405 and the model 404 under ``/v1/models/`` echo the same bounded, printable text."""
    long = "/v1/models/" + "\x07" * 50_000
    wrong = error_of(client.request("DELETE", long, headers=DEV), 405)
    assert wrong["message"] == (
        f"Method DELETE is not allowed for /v1/models/{'?' * (MAX_ECHO_CHARS - 11)}...; use GET."
    )
    missing = error_of(client.get(long, headers=DEV), 404)
    assert missing["code"] == "model_not_found"
    assert missing["message"] == (
        f"The model '{'?' * MAX_ECHO_CHARS}...' does not exist or you do not have access to it."
    )


@pytest.mark.parametrize(
    "method, path, allow",
    [
        ("GET", "/v1/chat/completions", "POST"),
        ("DELETE", "/v1/embeddings", "POST"),
        ("POST", "/v1/models", "GET"),
        ("PATCH", "/v1/models/gpt-test", "GET"),
    ],
)
def test_wrong_method_is_405_in_the_same_shape(
    client: RSGIClient, method: str, path: str, allow: str
) -> None:
    """A served path with the wrong method is a 405 with ``allow``, in the same shape."""
    response = client.request(method, path, headers=DEV)
    assert response.header("allow") == allow
    assert error_of(response, 405) == {
        "message": f"Method {method} is not allowed for {path}; use {allow}.",
        "type": "invalid_request_error",
        "param": None,
        "code": "method_not_allowed",
    }


def test_served_endpoints_still_answer(client: RSGIClient) -> None:
    """The endpoints the list names are served (the list is the route table's)."""
    chat = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
    assert client.post("/v1/chat/completions", headers=DEV, json=chat).status == 200
    assert client.get("/v1/models", headers=DEV).status == 200
    assert client.get("/v1/models/gpt-test", headers=DEV).status == 200
