"""Bounds on what a client sends, as units: request bodies (depth, duplicate and escaped
keys), x-request-id, cache namespaces, and the admin usage query."""

from __future__ import annotations

import datetime
import hashlib

import pytest

from fastgw.admin import bodies
from fastgw.app import MAX_REQUEST_ID_CHARS, client_request_id
from fastgw.cache.canonical import canonical_chat
from fastgw.config import ConfigError, namespace_problem, parse_config
from fastgw.errors import InvalidRequest, MalformedJSON
from fastgw.keys import KeyRecord, default_namespace
from fastgw.records.db import initialise
from fastgw.records.keystore import KeyStore
from fastgw.records.report import parse_filters
from fastgw.wire import MAX_JSON_DEPTH, ChatRequest, EmbeddingRequest, decode_request, with_model

HI = b'"messages":[{"role":"user","content":"hi"}]'


# -- request bodies -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b'{"model":"a",' + HI + b',"model":"b"}', "model"),
        (b'{"model":"a",' + HI + b',"mod\\u0065l":"b"}', "model"),
        (b'{"m\\u006fdel":"a",' + HI + b',"model":"b"}', "model"),
        (b'{"model":"a",' + HI + b',"n":1,"\\u006e":2}', "n"),
        (b'{"model":"a",' + HI + b"," + HI + b"}", "messages"),
        (b'{"model":"a",' + HI + b',"tools":[],"tools":[1]}', "tools"),
    ],
)
def test_duplicate_top_level_keys_are_refused(body: bytes, param: str) -> None:
    """However spelled, a top-level key given twice is a 400 naming it."""
    with pytest.raises(InvalidRequest) as raised:
        decode_request(ChatRequest, body)
    assert raised.value.param == param
    assert raised.value.code == "duplicate_parameter"


def test_escaped_distinct_keys_are_served() -> None:
    """An escaped key that is not a duplicate decodes as usual."""
    request = decode_request(ChatRequest, b'{"mod\\u0065l":"a",' + HI + b"}")
    assert request.model == "a"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5000, 200_000])
def test_deep_bodies_are_malformed_json(depth: int) -> None:
    """Past the bound, anywhere in the body: ``MalformedJSON`` (400), never RecursionError."""
    deep = b"[" * depth + b"]" * depth
    for cls, body in (
        (ChatRequest, b'{"model":"a",' + HI + b',"x":' + deep + b"}"),
        (EmbeddingRequest, b'{"model":"a","input":' + deep + b"}"),
    ):
        with pytest.raises(MalformedJSON):
            decode_request(cls, body)


def test_a_broken_escape_in_a_key_is_malformed_json() -> None:
    with pytest.raises(MalformedJSON):
        decode_request(ChatRequest, b'{"mod\\u00zzl":"a",' + HI + b"}")


def test_walkers_never_raise_recursion_errors() -> None:
    """with_model and the canonical form map a too-deep body to their documented errors."""
    deep = b'{"model":"a","x":' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    with pytest.raises(MalformedJSON):
        with_model(deep, "b")
    with pytest.raises(ValueError):
        canonical_chat(deep, "b")


# -- x-request-id ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("abc", True),
        ("3f2b8c1e-9a4d-4e5f-8b7a-1c2d3e4f5a6b", True),
        ("!~" * 64, True),
        ("x" * MAX_REQUEST_ID_CHARS, True),
        ("x" * (MAX_REQUEST_ID_CHARS + 1), False),
        ("", False),
        (None, False),
        ("a b", False),
        ("a\tb", False),
        ("caf\u00e9", False),
        ("a\x7fb", False),
    ],
)
def test_client_request_id(value: str | None, kept: bool) -> None:
    assert client_request_id(value) == (value if kept else None)


# -- cache namespaces -----------------------------------------------------------------------------


def test_default_namespace_follows_the_digest() -> None:
    """The same id with a new secret gets a new namespace; the reserved prefix opens it."""
    one, two = hashlib.sha256(b"one").digest(), hashlib.sha256(b"two").digest()
    assert default_namespace("k", one) != default_namespace("k", two)
    assert default_namespace("k", one).startswith("key:k:")
    assert namespace_problem(default_namespace("k", one)) is not None
    assert namespace_problem("team-a") is None
    assert namespace_problem("") is not None
    assert namespace_problem("n" * 129) is not None


def test_the_toml_refuses_a_reserved_namespace() -> None:
    config = f"""
[providers.mock]
type = "mock"
[[keys]]
id = "a"
hash = "sha256:{"0" * 64}"
cache_namespace = "key:b"
"""
    with pytest.raises(ConfigError) as raised:
        parse_config(config)
    assert "keys[0].cache_namespace" in str(raised.value)


def test_admin_bodies_refuse_a_reserved_namespace() -> None:
    with pytest.raises(InvalidRequest) as raised:
        bodies.check_namespace("key:dev:0123")
    assert raised.value.param == "cache_namespace"
    record = KeyRecord(id="k", digest=b"\1" * 32, models=None, namespace="shared")
    patched = bodies.patched_key(record, bodies.KeyPatch(cache_namespace=None))
    assert patched.namespace == default_namespace("k", b"\1" * 32)


def test_a_recreated_key_gets_a_new_namespace(tmp_path: object) -> None:
    """Store round trip: the default is not stored, and follows the new digest."""
    path = f"{tmp_path}/keys.sqlite3"
    initialise(path)
    store = KeyStore(path)
    try:
        first = KeyRecord(
            id="k", digest=b"\1" * 32, models=None, namespace=default_namespace("k", b"\1" * 32)
        )
        assert store.create_key(first).record.namespace == first.namespace
        store.delete_key("k")
        second = KeyRecord(
            id="k", digest=b"\2" * 32, models=None, namespace=default_namespace("k", b"\2" * 32)
        )
        again = store.create_key(second).record
        assert again.namespace == second.namespace != first.namespace
    finally:
        store.close()


# -- admin usage query ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"start": "nan"},
        {"end": "inf"},
        {"start": "-1"},
        {"end": "1e400"},
        {"start": "253402300800"},
        {"start": "0001-01-01T00:00:00+14:00"},
        {"start": "2027-02-30"},
        {"key": "k" * 257},
    ],
)
def test_bad_usage_filters_are_refused(params: dict[str, str]) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_filters(params, datetime.UTC)
    assert raised.value.param == next(iter(params))


def test_good_usage_filters_pass() -> None:
    query = parse_filters({"start": "0", "end": "9999-12-31", "key": "k" * 256}, datetime.UTC)
    assert query.start == 0.0 and query.end is not None
