"""Random bodies, paths, methods and keys against a real server: never a 5xx.

One ``fastgw serve`` (``mock_config()``, the admin API on) serves the whole module over one
keep-alive connection. Hypothesis sends it valid OpenAI requests, the same requests with a
field the gateway reads given a wrong type or an extreme value, arbitrary JSON values, bytes
that are not JSON, wrong content types, empty and oversized bodies, every route with every
method, with and without a key, and the admin API with and without the admin key. Every
answer must be:
- below 500, always;
- an OpenAI error body (``{"error": {"message", "type", "param", "code"}}``) when 4xx;
- 2xx for a valid request, 4xx for one the gateway must refuse.
At the end the server's log must hold no unhandled error and its one worker must never have
been restarted. Examples are bounded (``EXAMPLES`` per property): the module takes ~12 s on
the 2-core machine. Two cases the fuzzing found (deep nesting, an undisplayable expiry) are
kept at the end, each on its own server.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fastgw.testing import GatewayProcess
from tests.conftest import DEV_KEY, LIMITED_KEY, mock_config

ADMIN_KEY = "sk-admin-fuzz-0123456789abcdef"
MAX_BODY = 65536
EXAMPLES = 200
RANDOM = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
BEARER = {"authorization": f"Bearer {DEV_KEY}"}
KEYS: dict[str, dict[str, str]] = {
    "dev": BEARER,
    "limited": {"authorization": f"Bearer {LIMITED_KEY}"},
    "api-key header": {"api-key": DEV_KEY},
    "none": {},
    "wrong": {"authorization": "Bearer sk-not-a-key"},
    "not bearer": {"authorization": f"Basic {DEV_KEY}"},
    "bare bearer": {"authorization": "Bearer"},
}


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayProcess]:
    with GatewayProcess(
        mock_config(max_body_bytes=MAX_BODY), env={"FASTGW_ADMIN_KEY": ADMIN_KEY}
    ) as process:
        yield process
        log = process.log()
        for sign in ("unhandled error", "Traceback"):
            at = log.find(sign)
            assert at < 0, log[max(at - 2000, 0) : at + 6000]
        assert log.count("fastgw worker") == 1, "the worker was restarted:\n" + log[-4000:]


@pytest.fixture(scope="module")
def client(server: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        yield http


def check(response: httpx.Response, ok: bool | None = None) -> None:
    """Never a 5xx; an OpenAI error body with every 4xx; 2xx when ``ok``, 4xx when ``ok``
    is False."""
    status = response.status_code
    where = f"{response.request.method} {response.request.url.raw_path!r}"
    assert status < 500, f"{where} -> {status}: {response.text[:500]}"
    if ok is True:
        assert 200 <= status < 300, f"{where} -> {status}: {response.text[:500]}"
    if ok is False:
        assert 400 <= status < 500, f"{where} -> {status}: {response.text[:500]}"
    if status >= 400 and response.request.method != "HEAD":
        assert response.headers["content-type"].startswith("application/json"), where
        body = msgspec.json.decode(response.content)
        assert isinstance(body, dict) and list(body) == ["error"], f"{where}: {body}"
        error = body["error"]
        assert isinstance(error, dict), f"{where}: {body}"
        assert {"message", "type", "param", "code"} <= set(error), f"{where}: {body}"
        assert isinstance(error["message"], str) and error["message"], f"{where}: {body}"
        assert isinstance(error["type"], str) and error["type"], f"{where}: {body}"


# -- strategies ---------------------------------------------------------------------------------

ODD_STRINGS = [
    "",
    " ",
    "\x00",
    "\x7f\x1b[31m",
    "\u202eevil",
    "\ufeff",
    "\u2028\u2029",
    "\U0001f600" * 50,
    "e\u0301" * 100,
    '"\\/',
    "null",
    "a" * 20_000,
]
EXTREME_INTS = [0, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63) - 1, 10**40]
EXTREME_FLOATS = [-0.0, 0.5, 1e308, -1e308, 5e-324, float("inf"), float("nan")]

text = st.text(max_size=40) | st.sampled_from(ODD_STRINGS)
# finite: msgspec writes inf and nan as null, which is no wrong type
finite = (
    st.integers()
    | st.sampled_from(EXTREME_INTS)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(EXTREME_FLOATS[:-2])
)
numbers = finite | st.floats() | st.sampled_from(EXTREME_FLOATS)
# numbers JSON can spell but a Python float cannot hold: spliced into the body as raw text
RAW_NUMBERS = [b"1e999", b"-1e999", b"1E400", b"1e-400", b"-0", b"123456789012345678901234567890"]
RAW = "\x00raw\x00"
json_values = st.recursive(
    st.none() | st.booleans() | numbers | text,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(text, inner, max_size=5),
    max_leaves=30,
)

ROLES = ["system", "user", "assistant", "developer", "tool"]
content = (
    st.text(max_size=200)
    | st.sampled_from(ODD_STRINGS)
    | st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=50)}))
    | st.none()
)
message = st.fixed_dictionaries({"role": st.sampled_from(ROLES), "content": content})
positive = st.integers(min_value=1, max_value=4096)
common = {
    "stream": st.booleans(),
    "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}),
    "max_tokens": positive | st.none(),
    "n": st.integers(min_value=1, max_value=4),
    "temperature": st.floats(min_value=0, max_value=2) | st.none(),
    "seed": st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.none(),
    "user": st.text(max_size=30),
    # "tags" routes to tagged deployments (none here): a 400 by design, so left out
    "metadata": st.dictionaries(
        st.text(max_size=10).filter(lambda k: k != "tags"), st.text(max_size=10), max_size=3
    ),
    "top_p": st.floats(min_value=0, max_value=1),
    "logit_bias": st.dictionaries(st.integers(0, 100).map(str), st.integers(-100, 100)),
}
chat_bodies = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["gpt-test", "gpt-other"]),
        "messages": st.lists(message, min_size=1, max_size=4),
    },
    optional={**common, "max_completion_tokens": positive},
)
token_ids = st.lists(st.integers(0, 100_000), min_size=1, max_size=8)  # OpenAI: not empty
prompts = text | st.lists(text, max_size=4) | token_ids | st.lists(token_ids, max_size=3)
inputs = (  # an embeddings input list holds at least one input
    text
    | st.lists(text, min_size=1, max_size=4)
    | token_ids
    | st.lists(token_ids, min_size=1, max_size=3)
)
completion_bodies = st.fixed_dictionaries(
    {"model": st.sampled_from(["gpt-test", "gpt-other"]), "prompt": prompts}, optional=common
)
embedding_bodies = st.fixed_dictionaries(
    {"model": st.just("embed-test"), "input": inputs},
    optional={
        "encoding_format": st.sampled_from(["float", "base64"]),
        "dimensions": st.integers(min_value=1, max_value=64),
        "user": st.text(max_size=30),
    },
)
ENDPOINTS = {
    "/v1/chat/completions": chat_bodies,
    "/v1/completions": completion_bodies,
    "/v1/embeddings": embedding_bodies,
}
valid_requests = st.sampled_from(sorted(ENDPOINTS)).flatmap(
    lambda path: st.tuples(st.just(path), ENDPOINTS[path])
)

# Wrong types for the fields the gateway decodes, by the type it expects.
not_int = st.one_of(
    text,
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
)
not_int |= st.lists(st.integers(), max_size=2) | st.dictionaries(text, st.integers(), max_size=2)
not_str = st.one_of(finite, st.booleans(), st.lists(text, max_size=2), st.dictionaries(text, text))
not_bool = st.one_of(finite, text, st.lists(st.booleans(), max_size=2), st.none())
not_object = st.one_of(finite, text, st.booleans(), st.lists(json_values, max_size=2))
not_number = st.one_of(
    text, st.booleans(), st.lists(finite, max_size=2), st.dictionaries(text, finite)
)
not_positive = st.integers(max_value=0) | not_int
not_message = st.one_of(
    not_object | st.none(),
    st.fixed_dictionaries({"content": st.text()}),  # no role
    st.fixed_dictionaries({"role": not_str | st.none(), "content": st.text()}),
    st.fixed_dictionaries({"role": st.just("user"), "content": finite | st.booleans()}),
    st.fixed_dictionaries({"role": st.just("user"), "content": st.dictionaries(text, text)}),
)
not_prompt = st.one_of(
    finite,
    st.booleans(),
    st.dictionaries(text, text),
    st.lists(
        st.none() | st.booleans() | st.floats(allow_nan=False).filter(lambda f: not f.is_integer()),
        min_size=1,
        max_size=3,
    ),
    st.lists(st.lists(text, min_size=1, max_size=2), min_size=1, max_size=2),
    st.lists(st.dictionaries(text, text, min_size=1), min_size=1, max_size=2),
)
WRONG: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "/v1/chat/completions": {
        "model": not_str | st.none(),
        "messages": st.one_of(
            not_object.filter(lambda v: not isinstance(v, list)),
            st.none(),
            st.lists(not_message, min_size=1, max_size=2),
        ),
        "stream": not_bool,
        "stream_options": not_object,
        "max_tokens": not_positive,
        "max_completion_tokens": not_positive,
        "n": not_positive | st.none(),
        "temperature": not_number,
        "seed": not_int,
        "metadata": not_object,
    },
    "/v1/completions": {
        "model": not_str | st.none(),
        "prompt": not_prompt | st.none(),
        "stream": not_bool,
        "max_tokens": not_positive,
        "n": not_positive | st.none(),
        "temperature": not_number,
        "seed": not_int,
        "metadata": not_object,
    },
    "/v1/embeddings": {
        "model": not_str | st.none(),
        "input": not_prompt | st.none(),
        "encoding_format": not_str,
        "dimensions": not_positive,
    },
}


@st.composite
def wrong_requests(draw: st.DrawFn) -> tuple[str, dict[str, Any], str]:
    """A valid request with one field the gateway decodes given a wrong type or value."""
    path, body = draw(valid_requests)
    field = draw(st.sampled_from(sorted(WRONG[path])))
    body[field] = draw(WRONG[path][field])
    return path, body, field


def post(
    client: httpx.Client, path: str, body: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    return client.post(path, content=body, headers=BEARER if headers is None else headers)


# -- the proxied endpoints ----------------------------------------------------------------------


@RANDOM
@given(request=valid_requests)
def test_valid_requests_are_answered(
    client: httpx.Client, request: tuple[str, dict[str, Any]]
) -> None:
    """Any valid chat, completion or embedding request (odd strings, unicode, streams, every
    optional field) is answered 2xx."""
    path, body = request
    raw = msgspec.json.encode(body)
    check_sized(post(client, path, raw), raw)


def check_sized(response: httpx.Response, raw: bytes) -> None:
    """``check`` for a valid request from an allowed key: 2xx, unless its body is over
    ``MAX_BODY`` (a few of the 20,000-character odd strings): then a 413."""
    if len(raw) > MAX_BODY:
        check(response, ok=False)
        assert response.status_code == 413, response.text[:300]
    else:
        check(response, ok=True)


@RANDOM
@given(request=valid_requests, key=st.sampled_from(sorted(KEYS)))
def test_every_key_variant(
    client: httpx.Client, request: tuple[str, dict[str, Any]], key: str
) -> None:
    """A valid request is answered 2xx with a key that may use its model, and 401/403/404
    (an OpenAI error) with no key, a wrong one, or a key limited to another model."""
    path, body = request
    allowed = key in ("dev", "api-key header") or (key == "limited" and body["model"] == "gpt-test")
    raw = msgspec.json.encode(body)
    response = post(client, path, raw, KEYS[key])
    if allowed:
        check_sized(response, raw)
    else:
        check(response, ok=False)


@RANDOM
@given(request=wrong_requests())
def test_wrong_types_are_refused(
    client: httpx.Client, request: tuple[str, dict[str, Any], str]
) -> None:
    """A field the gateway reads, given a wrong type or a value out of its range, is a 4xx
    OpenAI error."""
    path, body, _ = request
    check(post(client, path, msgspec.json.encode(body)), ok=False)


NUMERIC = {
    "/v1/chat/completions": [
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "seed",
        "top_p",
        "top_logprobs",
        "presence_penalty",
        "n",
    ],
    "/v1/completions": ["max_tokens", "temperature", "seed", "best_of", "logprobs", "n"],
    "/v1/embeddings": ["dimensions"],
}


@RANDOM
@given(request=valid_requests, data=st.data())
def test_extreme_numbers_never_fail(
    client: httpx.Client, request: tuple[str, dict[str, Any]], data: st.DataObject
) -> None:
    """Extreme values (±2^63, 2^64, 10^40, ±1e308, inf, nan, 1e999) in numeric fields are
    answered or refused, never a 5xx (``n`` and ``dimensions`` included: the wire bounds
    them before the mock builds anything)."""
    path, body = request
    field = data.draw(st.sampled_from(NUMERIC[path]))
    value = data.draw(numbers | st.just(RAW))
    body[field] = value
    raw = msgspec.json.encode(body)
    if value == RAW:
        raw = raw.replace(msgspec.json.encode(RAW), data.draw(st.sampled_from(RAW_NUMBERS)))
    check(post(client, path, raw))


@RANDOM
@given(path=st.sampled_from(sorted(ENDPOINTS)), value=json_values)
def test_any_json_value(client: httpx.Client, path: str, value: Any) -> None:
    """Any JSON value as the body: a 4xx OpenAI error unless it is an object (which may
    happen to be a valid request)."""
    check(
        post(client, path, msgspec.json.encode(value)),
        ok=None if isinstance(value, dict) else False,
    )


JSON_TOKENS = [
    b"{",
    b"}",
    b"[",
    b"]",
    b'"',
    b":",
    b",",
    b"null",
    b"true",
    b"NaN",
    b"Infinity",
    b"1e999",
    b"-",
    b"0x10",
    b"\\u",
    b"\\ud800",
    b'"model"',
    b'"messages"',
    b"\xef\xbb\xbf",
    b"\xff",
    b"\x00",
]
non_json = st.one_of(
    st.binary(max_size=200),
    st.lists(st.sampled_from(JSON_TOKENS) | st.binary(max_size=4), max_size=40).map(b"".join),
    st.text(max_size=100).map(lambda t: t.encode("utf-16")),
)


@RANDOM
@given(path=st.sampled_from(sorted(ENDPOINTS)), body=non_json)
def test_bytes_that_are_not_json(client: httpx.Client, path: str, body: bytes) -> None:
    """Random bytes, JSON token soup, UTF-16: a 4xx OpenAI error."""
    check(post(client, path, body), ok=False)


@RANDOM
@given(request=valid_requests, data=st.data())
def test_damaged_valid_bodies(
    client: httpx.Client, request: tuple[str, dict[str, Any]], data: st.DataObject
) -> None:
    """A valid body cut short, with garbage after it, or with a byte-order mark is a 4xx
    OpenAI error; with a duplicated field or extra whitespace it is answered or refused."""
    path, body = request
    raw = msgspec.json.encode(body)
    how = data.draw(st.sampled_from(["cut", "trailing", "bom", "duplicate", "spaces"]))
    if how == "cut":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif how == "trailing":
        raw += data.draw(st.sampled_from([b"}", b"x", b"{}", b"\x00", b",", b"]"]))
    elif how == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif how == "duplicate":  # which value wins is issue 12 item 4's: here only no 5xx
        raw = raw[:-1] + b',"model":' + msgspec.json.encode(data.draw(json_values)) + b"}"
    else:
        raw = msgspec.json.format(raw, indent=data.draw(st.integers(0, 8)))
    check(post(client, path, raw), ok={"cut": False, "trailing": False, "bom": False}.get(how))


CONTENT_TYPES = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
    "application/json; charset=utf-16",
    "",
]


@RANDOM
@given(request=valid_requests, content_type=st.sampled_from(CONTENT_TYPES), form=st.booleans())
def test_wrong_content_types(
    client: httpx.Client, request: tuple[str, dict[str, Any]], content_type: str, form: bool
) -> None:
    """A JSON body under any content type is answered or refused (the gateway reads the body
    as JSON whatever the header says); a form-encoded body is a 4xx OpenAI error."""
    path, body = request
    raw = msgspec.json.encode(body)
    if form:
        raw = str(httpx.QueryParams({k: str(v) for k, v in body.items()})).encode()
    headers = {**BEARER, "content-type": content_type}
    check(post(client, path, raw, headers), ok=False if form else None)


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
def test_empty_and_oversized_bodies(client: httpx.Client, path: str) -> None:
    """No body is a 400; a body over ``max_body_bytes`` is a 413, declared or chunked."""
    check(post(client, path, b""), ok=False)
    big = b'{"model":"gpt-test","messages":[{"role":"user","content":"' + b"a" * MAX_BODY + b'"}]}'
    response = post(client, path, big)
    check(response, ok=False)
    # the unread rest makes the server close: said, so a keep-alive client does not reuse it
    assert (response.status_code, response.headers.get("connection")) == (413, "close")
    chunked = client.post(path, content=iter([big[:1000], big[1000:]]), headers=BEARER)
    check(chunked, ok=False)
    assert (chunked.status_code, chunked.headers.get("connection")) == (413, "close")
    check(post(client, path, b"{}"), ok=False)  # the client carries on, on a new connection


# -- every route, every method ------------------------------------------------------------------

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
ROUTES = [
    "/v1/chat/completions",
    "/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/models",
    "/models",
    "/v1/models/gpt-test",
    "/v1/models/no-such-model",
    "/models/embed-test",
    "/health",
    "/ready",
    "/metrics",
    "/admin/keys",
    "/admin/keys/dev",
    "/admin/keys/nope",
    "/admin/teams",
    "/admin/teams/nope",
    "/admin/usage",
    "/admin/deployments",
    "/admin/",
    "/admin/keys/a/b",
    "/",
    "/v1",
    "/v2/chat/completions",
]
PATH_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/%"
random_paths = st.text(PATH_CHARS, max_size=60).map(
    lambda p: "/" + re.sub("%(?![0-9A-Fa-f]{2})", "%25", p)
)
OPEN = {"/health": "GET", "/ready": "GET", "/metrics": "GET"}


@RANDOM
@given(
    path=st.sampled_from(ROUTES)
    | random_paths
    | st.sampled_from(ROUTES).map(lambda r: r + "/" + "x" * 300),
    method=st.sampled_from(METHODS),
    key=st.sampled_from(["dev", "none", "wrong", "admin"]),
    # bodies under 32 KiB: a larger one left unread by a 2xx route (GET /health) makes the
    # server close the connection unannounced; the error routes are tested apart below
    body=st.sampled_from([b"", b"{}", b"[]", b"x"])
    | json_values.map(msgspec.json.encode).filter(lambda b: len(b) < 32 * 1024),
    query=st.sampled_from(
        ["", "?a=1", "?start=x&end=y", "?group_by=key&start=2020-01-01", "?" + "q" * 2000]
    ),
)
@example(path="//::", method="GET", key="dev", body=b"", query="")  # not an authority
def test_every_route_and_method(
    client: httpx.Client, path: str, method: str, key: str, body: bytes, query: str
) -> None:
    """Any path, any method, any key (the admin key too), any body and query: never a 5xx,
    4xx errors OpenAI-shaped; the open endpoints answer GET with 200 whatever the key."""
    headers = {"authorization": f"Bearer {ADMIN_KEY}"} if key == "admin" else KEYS[key]
    if path.startswith("/admin/keys") and method in ("POST", "PATCH", "DELETE") and key == "admin":
        body = b"[]"  # creating and changing keys is fuzzed below, with bounded bodies
    # the raw path as given: httpx would read a path that starts with // as an authority
    url = client.base_url.copy_with(raw_path=(path + query).encode())
    response = client.request(method, url, content=body, headers=headers)
    check(response, ok=True if OPEN.get(path) == method else None)


@pytest.mark.parametrize(
    ("method", "path", "key"),
    [
        ("POST", "/nope", "dev"),
        ("POST", "/v1/chat/completions", "none"),
        ("GET", "/v1/chat/completions", "dev"),
        ("POST", "/admin/keys", "wrong"),
    ],
)
def test_error_before_a_large_body_is_read_says_close(
    client: httpx.Client, method: str, path: str, key: str
) -> None:
    """An error answered before a large body was read (404, 401, 405) says connection:
    close, and the keep-alive client's next request succeeds (before, the server closed the
    connection unannounced and the next request failed with 'Server disconnected')."""
    body = b'{"pad":"' + b"a" * 60_000 + b'"}'
    response = client.request(method, path, content=body, headers=KEYS[key])
    check(response, ok=False)
    assert response.headers.get("connection") == "close"
    for _ in range(3):
        check(client.get("/health"), ok=True)


ADMIN_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "id": text | st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.:@-]{0,70}\Z") | json_values,
    "team": text | st.none() | json_values,
    "models": st.lists(text, max_size=3) | json_values,
    "cache_namespace": text | st.none() | json_values,
    "rpm": numbers | st.none() | json_values,
    "tpm": numbers | st.none(),
    "parallel": numbers | st.none(),
    "budget_day_usd": numbers | st.none(),
    "budget_month_usd": numbers | st.none(),
    # ISO dates are issue 12 item 3's (an undisplayable expiry breaks GET /admin/keys):
    # here any other text, and wrong types
    "expires_at": st.text(max_size=12).filter(lambda t: not t[:1].isdigit()) | st.none() | numbers,
    "enabled": st.booleans() | json_values,
    "metadata": st.dictionaries(text, text, max_size=3) | json_values,
    "unknown": json_values,
}
admin_bodies = st.dictionaries(
    st.sampled_from(sorted(ADMIN_FIELDS)), st.just(None), max_size=5
).flatmap(lambda shape: st.fixed_dictionaries({name: ADMIN_FIELDS[name] for name in shape}))


@settings(RANDOM, max_examples=EXAMPLES // 2)
@given(
    target=st.sampled_from(
        [
            "POST /admin/keys",
            "POST /admin/teams",
            "PATCH /admin/keys/",
            "PATCH /admin/teams/",
            "DELETE /admin/keys/",
            "DELETE /admin/teams/",
        ]
    ),
    item=text.filter(lambda t: "/" not in t and "?" not in t and "#" not in t)
    | st.sampled_from(["dev", "limited"]),
    body=admin_bodies.map(msgspec.json.encode) | non_json,
    authorised=st.booleans(),
)
def test_admin_api_bodies(
    client: httpx.Client, target: str, item: str, body: bytes, authorised: bool
) -> None:
    """Admin requests with random fields, types and values, with or without the admin key:
    never a 5xx; without the key always a 401. Listing keys and teams still works after."""
    method, path = target.split(" ")
    if path.endswith("/"):
        path += urllib.parse.quote(item, safe="") or "x"
    headers = {"authorization": f"Bearer {ADMIN_KEY if authorised else 'sk-wrong'}"}
    response = client.request(method, path, content=body, headers=headers)
    check(response, ok=None if authorised else False)
    if not authorised:
        assert response.status_code == 401
    for listing in ("/admin/keys", "/admin/teams"):
        check(client.get(listing, headers={"authorization": f"Bearer {ADMIN_KEY}"}), ok=True)


def test_server_is_healthy_after_the_fuzzing(client: httpx.Client) -> None:
    """After all of the above, a plain request is still answered (the module fixture then
    checks the log for unhandled errors and worker restarts)."""
    check(client.get("/health"), ok=True)
    check(
        post(
            client,
            "/v1/chat/completions",
            b'{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}',
        ),
        ok=True,
    )


# -- defects the fuzzing found, each on its own server ------------------------------------

DEEP = 20_000


def test_deep_nesting_is_a_400(gateway_factory: Any) -> None:
    """JSON nested past the decoder's recursion limit, in a decoded field, in a forwarded
    one, or in an unknown one, is a 4xx OpenAI error on its own server."""
    gateway = gateway_factory(mock_config())
    nested = b"[" * DEEP + b"]" * DEEP
    message = b'[{"role":"user","content":"x"}]'
    bodies = [
        b'{"model":"gpt-test","messages":[{"role":"user","content":' + nested + b"}]}",
        b'{"model":"gpt-test","messages":' + message + b',"metadata":{"a":' + nested + b"}}",
        b'{"model":"gpt-test","messages":' + message + b',"extra":' + nested + b"}",
    ]
    with httpx.Client(base_url=gateway.base_url, timeout=10) as http:
        for body in bodies:
            check(post(http, "/v1/chat/completions", body), ok=False)


def test_undisplayable_expiry_is_a_400(gateway_factory: Any) -> None:
    """An expiry that cannot be shown is refused with a 4xx and the key list still works."""
    gateway = gateway_factory(mock_config(), env={"FASTGW_ADMIN_KEY": ADMIN_KEY})
    admin = {"authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=gateway.base_url, timeout=10) as http:
        body = b'{"expires_at":"0001-01-01T00:00:00+14:00"}'
        check(http.post("/admin/keys", content=body, headers=admin), ok=False)
        check(http.get("/admin/keys", headers=admin), ok=True)
