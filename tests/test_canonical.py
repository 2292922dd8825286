"""Canonical request forms and exact-cache keys (fastgw.cache.canonical)."""

from __future__ import annotations

import random
from typing import Any

import msgspec
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from fastgw.cache import (
    CHAT_IGNORED,
    COMPLETION_IGNORED,
    EMBEDDING_IGNORED,
    cache_key,
    canonical_chat,
    canonical_completion,
    canonical_embedding,
)
from fastgw.cache.canonical import key_prefix

PROPERTY = settings(max_examples=200, deadline=None, database=None)
MODEL = "gpt-4o-2024-08-06"

BASE: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hi"},
    ],
}


def chat(body: dict[str, Any], model: str = MODEL) -> bytes:
    """The canonical chat form of ``body`` encoded as compact JSON."""
    return canonical_chat(msgspec.json.encode(body), model)


def test_key_order_and_whitespace_do_not_matter() -> None:
    """Reordered keys at every depth and different whitespace give the same form."""
    a = (
        b'{"a":1,"b":{"x":[1,2],"y":{"p":true,"q":null}},'
        b'"messages":[{"role":"user","content":"hi"}]}'
    )
    b = (
        b'{ "messages" : [ { "content" : "hi" , "role" : "user" } ] ,\n'
        b'  "b" : { "y" : { "q" : null , "p" : true } , "x" : [ 1 , 2 ] } , "a" : 1 }'
    )
    assert canonical_chat(a, MODEL) == canonical_chat(b, MODEL)


def test_form_is_the_endpoint_then_sorted_compact_json() -> None:
    """The form is the endpoint path, a newline, and sorted compact JSON with the model."""
    body = (
        b'{"temperature": 0.50, "model": "alias", "messages": [{"role": "user", "content": "hi"}]}'
    )
    assert canonical_chat(body, MODEL) == (
        b'/v1/chat/completions\n{"messages":[{"content":"hi","role":"user"}],'
        b'"model":"gpt-4o-2024-08-06","temperature":0.5}'
    )


def test_string_escapes_and_float_spelling_are_normalised() -> None:
    """Equal strings and numbers spelled differently in JSON give the same form."""
    a = b'{"messages":[{"role":"user","content":"caf\\u00e9 \\/"}],"top_p":0.50}'
    b = '{"messages":[{"role":"user","content":"café /"}],"top_p":5e-1}'.encode()
    assert canonical_chat(a, MODEL) == canonical_chat(b, MODEL)


def test_stream_flag_does_not_matter() -> None:
    """A streamed and a non-streamed request have the same form."""
    plain = chat(BASE)
    assert chat({**BASE, "stream": True}) == plain
    assert chat({**BASE, "stream": False}) == plain
    assert chat({**BASE, "stream": True, "stream_options": {"include_usage": True}}) == plain


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("user", "user-123"),
        ("metadata", {"session": "abc"}),
        ("service_tier", "flex"),
        ("store", True),
        ("prompt_cache_key", "pck"),
        ("safety_identifier", "sid"),
        ("stream_options", {"include_usage": False}),
    ],
)
def test_ignored_chat_fields_do_not_matter(field: str, value: Any) -> None:
    """Each field in ``CHAT_IGNORED`` leaves the form unchanged."""
    assert field in CHAT_IGNORED
    assert chat({**BASE, field: value}) == chat(BASE)


def test_ignored_field_list_is_exactly_as_documented() -> None:
    """The ignored-field sets are pinned: widening them risks serving wrong answers."""
    assert sorted(CHAT_IGNORED) == [
        "metadata",
        "prompt_cache_key",
        "safety_identifier",
        "service_tier",
        "store",
        "stream",
        "stream_options",
        "user",
    ]
    assert sorted(COMPLETION_IGNORED) == ["stream", "stream_options", "user"]
    assert sorted(EMBEDDING_IGNORED) == ["user"]


OUTPUT_FIELDS: list[tuple[str, Any, Any]] = [
    ("messages", [{"role": "user", "content": "Say hi"}], [{"role": "user", "content": "Say ho"}]),
    (
        "tools",
        [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        [{"type": "function", "function": {"name": "g", "parameters": {"type": "object"}}}],
    ),
    ("tool_choice", "auto", "required"),
    ("parallel_tool_calls", True, False),
    ("response_format", {"type": "json_object"}, {"type": "text"}),
    ("temperature", 0.2, 0.3),
    ("top_p", 0.9, 0.95),
    ("seed", 1, 2),
    ("max_tokens", 100, 101),
    ("max_completion_tokens", 100, 101),
    ("stop", ["\n"], ["END"]),
    ("n", 1, 2),
    ("logit_bias", {"50256": -100}, {"50256": 100}),
    ("presence_penalty", 0.0, 0.5),
    ("frequency_penalty", 0.0, 0.5),
    ("logprobs", True, False),
    ("top_logprobs", 1, 2),
    ("reasoning_effort", "low", "high"),
    ("modalities", ["text"], ["text", "audio"]),
    ("some_future_field", 1, 2),
]


@pytest.mark.parametrize(("field", "a", "b"), OUTPUT_FIELDS, ids=[f[0] for f in OUTPUT_FIELDS])
def test_every_output_changing_field_changes_the_form(field: str, a: Any, b: Any) -> None:
    """Two values of an output-changing field, or its absence, give three distinct forms."""
    without = chat({k: v for k, v in BASE.items() if k != field})
    assert len({chat({**BASE, field: a}), chat({**BASE, field: b}), without}) == 3


def test_unknown_fields_are_kept() -> None:
    """A field the gateway does not know may change the output, so it changes the form."""
    assert chat({**BASE, "x_vendor_option": {"mode": "fast"}}) != chat(BASE)


def test_resolved_model_replaces_the_client_model() -> None:
    """Aliases resolved to one model share a form; different resolved models do not."""
    assert chat({**BASE, "model": "alias-a"}) == chat({**BASE, "model": "alias-b"})
    assert chat(BASE, "model-1") != chat(BASE, "model-2")
    assert chat({k: v for k, v in BASE.items() if k != "model"}) == chat(BASE)


def test_top_level_null_is_absent_but_nested_null_is_kept() -> None:
    """``"seed": null`` equals no seed; a null inside a message is kept as sent."""
    assert chat({**BASE, "seed": None, "stop": None}) == chat(BASE)
    with_null = [{"role": "assistant", "content": None, "tool_calls": []}]
    without = [{"role": "assistant", "tool_calls": []}]
    assert chat({**BASE, "messages": with_null}) != chat({**BASE, "messages": without})


def test_int_and_float_spellings_stay_distinct() -> None:
    """``1`` and ``1.0`` are not merged (documented): a miss, never a false hit."""
    assert chat({**BASE, "temperature": 1}) != chat({**BASE, "temperature": 1.0})


def test_endpoints_never_share_a_form() -> None:
    """One body sent to chat, completions and embeddings gets three different forms."""
    body = b'{"model":"m","prompt":"x","input":"x","messages":[]}'
    forms = {
        canonical_chat(body, MODEL),
        canonical_completion(body, MODEL),
        canonical_embedding(body, MODEL),
    }
    assert len(forms) == 3


def test_completion_form() -> None:
    """Completions ignore stream and user and keep prompt, suffix, echo and best_of."""
    base = {"model": "m", "prompt": "Once upon", "max_tokens": 5}
    form = canonical_completion(msgspec.json.encode(base), MODEL)
    assert (
        form
        == b'/v1/completions\n{"max_tokens":5,"model":"gpt-4o-2024-08-06","prompt":"Once upon"}'
    )
    noisy = {**base, "stream": True, "stream_options": {"include_usage": True}, "user": "u"}
    assert canonical_completion(msgspec.json.encode(noisy), MODEL) == form
    for field, value in (("suffix", "end"), ("echo", True), ("best_of", 2), ("prompt", "Twice")):
        assert canonical_completion(msgspec.json.encode({**base, field: value}), MODEL) != form


def test_embedding_form() -> None:
    """Embeddings ignore user and keep input, dimensions and encoding_format."""
    base = {"model": "m", "input": ["a", "b"]}
    form = canonical_embedding(msgspec.json.encode(base), MODEL)
    assert form == b'/v1/embeddings\n{"input":["a","b"],"model":"gpt-4o-2024-08-06"}'
    assert canonical_embedding(msgspec.json.encode({**base, "user": "u"}), MODEL) == form
    for field, value in (("dimensions", 256), ("encoding_format", "base64"), ("input", ["b", "a"])):
        assert canonical_embedding(msgspec.json.encode({**base, field: value}), MODEL) != form


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"null", b"{", b"", b'{"a": NaN}'])
def test_body_that_is_not_a_json_object_is_rejected(body: bytes) -> None:
    """Anything but a JSON object raises ``msgspec.DecodeError``, which is a ``ValueError``."""
    with pytest.raises(msgspec.DecodeError):
        canonical_chat(body, MODEL)
    with pytest.raises(ValueError):
        canonical_embedding(body, MODEL)


# --- cache keys ------------------------------------------------------------------------------


def test_cache_key_is_16_bytes_and_deterministic() -> None:
    """A key is a 16-byte digest, equal for equal inputs."""
    form = chat(BASE)
    assert len(cache_key("team-a", form)) == 16
    assert cache_key("team-a", form) == cache_key("team-a", chat(dict(reversed(BASE.items()))))


def test_cache_key_layout_is_pinned() -> None:
    """The hashed input is the UTF-8 namespace length (8 bytes, big-endian), namespace, form."""
    expected = xxhash.xxh3_128_digest(b"\x00\x00\x00\x00\x00\x00\x00\x05t\xc3\xa9am{}")
    assert cache_key("téam", b"{}") == expected
    # key_prefix is that layout's head, kept per namespace by the gateway's alias keys
    assert key_prefix("téam") == b"\x00\x00\x00\x00\x00\x00\x00\x05t\xc3\xa9am"
    assert xxhash.xxh3_128_digest(key_prefix("téam") + b"{}") == expected


def test_namespaces_isolate_equal_forms() -> None:
    """The same canonical form in two namespaces gets two keys."""
    form = chat(BASE)
    assert cache_key("team-a", form) != cache_key("team-b", form)
    assert cache_key("", form) != cache_key("team-a", form)


def test_namespaces_do_not_collide_by_concatenation() -> None:
    """Moving bytes between namespace and form changes the key."""
    assert cache_key("ab", b"c") != cache_key("a", b"bc")
    assert cache_key("a\x00", b"b") != cache_key("a", b"\x00b")
    assert cache_key("", b"abc") != cache_key("abc", b"")


@PROPERTY
@given(
    text=st.text(min_size=2, max_size=40), cuts=st.tuples(st.integers(0, 40), st.integers(0, 40))
)
def test_no_split_of_one_string_collides(text: str, cuts: tuple[int, int]) -> None:
    """Splitting one string into (namespace, form) at two different points gives two keys."""
    i, j = sorted(c % (len(text) + 1) for c in cuts)
    if i == j:
        return
    key_i = cache_key(text[:i], text[i:].encode())
    key_j = cache_key(text[:j], text[j:].encode())
    assert key_i != key_j


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


def shuffled(value: Any, rng: random.Random) -> Any:
    """``value`` with the insertion order of every object shuffled."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [shuffled(v, rng) for v in value]
    return value


@PROPERTY
@given(
    body=st.dictionaries(st.text(max_size=8), json_values, max_size=8),
    seed=st.integers(),
    indent=st.sampled_from([0, 1, 2, 4]),
)
def test_form_ignores_key_order_and_formatting(
    body: dict[str, Any], seed: int, indent: int
) -> None:
    """Any JSON object, re-ordered and re-indented, has the same canonical form."""
    original = msgspec.json.encode(body)
    variant = msgspec.json.format(
        msgspec.json.encode(shuffled(body, random.Random(seed))), indent=indent
    )
    assert canonical_chat(original, MODEL) == canonical_chat(variant, MODEL)
    form = canonical_chat(original, MODEL)
    assert canonical_chat(form.split(b"\n", 1)[1], MODEL) == form  # canonical forms are fixpoints
