"""check_shape (depth, top-level key count and duplicates of a JSON body, on its bytes), on
the pure module and its compiled twin alike."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastgw._core import jsonshape
from tests.twins import PROPERTY, twin

OK, TOO_DEEP, DUP, MANY, ESCAPED = (
    jsonshape.OK,
    jsonshape.TOO_DEEP,
    jsonshape.DUPLICATE_KEY,
    jsonshape.TOO_MANY_KEYS,
    jsonshape.ESCAPED_KEY,
)


@pytest.fixture(scope="module", params=["python", "cython"])
def impl(request: pytest.FixtureRequest) -> ModuleType:
    """``fastgw._core.jsonshape`` or its compiled twin ``jsonshape_c``."""
    return twin("jsonshape", request.param)


def nested(depth: int) -> bytes:
    return b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)


CASES = [
    (b"", OK),
    (b"{}", OK),
    (b'{"model":"m","messages":[{"role":"user","content":"hi"}]}', OK),
    (b'{"model":"a","model":"b"}', DUP),
    (b'{ "model" : "a" ,\n "model":"b"}', DUP),
    (b'{"model":"a","mod\\u0065l":"b"}', ESCAPED),
    (b'{"a":"x\\"","a":1}', DUP),  # an escaped quote inside a value does not end it
    (b'{"a":"\\\\","b":1}', OK),  # an escaped backslash before the closing quote
    (b'{"a":"\\\\\\"","a":1}', DUP),
    (b'{"a":{"b":1,"b":2}}', OK),  # nested duplicates are not top-level
    (b'{"a":[1,{"a":2}],"b":"a"}', OK),  # a string value equal to a key is no key
    (b'{"a":"{[","b":"]]]]"}', OK),  # brackets inside strings do not nest
    (b'["a","a"]', OK),  # a top-level array has no keys
    (b'"abc', OK),  # unterminated: left to the decoder
    (b"}}}]]", OK),  # malformed: left to the decoder
    (b'{"a":1,"a', OK),  # unterminated key
    (nested(128), OK),
    (nested(129), TOO_DEEP),
    (b"[" * 129, TOO_DEEP),
    (b"[" * 100_000, TOO_DEEP),
    (b'{"x":1,' + b",".join(b'"k%d":1' % i for i in range(128)) + b"}", MANY),
    (b"{" + b",".join(b'"k%d":1' % i for i in range(128)) + b"}", OK),
]


@pytest.mark.parametrize(("body", "expected"), CASES)
def test_cases(impl: ModuleType, body: bytes, expected: int) -> None:
    """Each hand-written body gets its code."""
    assert impl.check_shape(body, 128) == expected


def test_depth_is_checked_with_escaped_keys(impl: ModuleType) -> None:
    """An escaped key does not stop the depth check."""
    assert impl.check_shape(b'{"\\u0061":' + nested(200) + b"}", 128) == TOO_DEEP


def test_top_level_keys_are_raw_and_in_order(impl: ModuleType) -> None:
    """The rare path's key list keeps escapes and order, and skips nested keys."""
    body = b'{"model":"x","mod\\u0065l":{"model":1},"a\\"b":[{"c":2}]}'
    assert impl.top_level_keys(body) == [b"model", b"mod\\u0065l", b'a\\"b']


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=30,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


@PROPERTY
@given(st.dictionaries(st.text(max_size=6), JSON, max_size=8), st.integers(1, 8))
def test_encoded_objects_agree_with_their_depth(impl: ModuleType, obj: Any, bound: int) -> None:
    """Any encoded object: TOO_DEEP exactly when it nests past the bound, else OK (encoded
    dicts have distinct keys; msgspec escapes only control characters, quotes and \\)."""
    body = msgspec.json.encode(obj)
    got = impl.check_shape(body, bound)
    if depth(obj) > bound:
        assert got == TOO_DEEP
    elif any(b"\\" in msgspec.json.encode(k) for k in obj):
        assert got == ESCAPED
    else:
        assert got == OK


@PROPERTY
@given(st.dictionaries(st.text(max_size=6), JSON, min_size=1, max_size=8), st.data())
def test_a_repeated_key_is_found(impl: ModuleType, obj: Any, data: st.DataObject) -> None:
    """Appending any existing top-level key again is a duplicate (or an escaped key)."""
    key = data.draw(st.sampled_from(sorted(obj)))
    body = msgspec.json.encode(obj)[:-1] + b"," + msgspec.json.encode(key) + b":null}"
    if body.startswith(b"{,"):
        body = b"{" + body[2:]
    assert impl.check_shape(body, 64) in (DUP, ESCAPED, TOO_DEEP)
    if depth(obj) <= 63 and b"\\" not in msgspec.json.encode(key):
        assert impl.check_shape(body, 64) == DUP


@PROPERTY
@given(st.binary(max_size=200), st.integers(1, 6))
def test_twins_agree_on_any_bytes(body: bytes, bound: int) -> None:
    """On arbitrary bytes (malformed included) both twins give the same answer and never
    raise."""
    pure = jsonshape.check_shape(body, bound)
    try:
        compiled = twin("jsonshape", "cython").check_shape(body, bound)
    except pytest.skip.Exception:
        compiled = pure
    assert pure == compiled
