"""Fuzzing the byte parsers a hostile upstream or client reaches: the SSE framer, the upstream
HTTP/1.1 response parser (``Connection`` over httptools) and the cache canonicaliser.

Each property feeds arbitrary bytes (random, or a soup of the protocol's own tokens so that
deep states are reached) cut at arbitrary points, on both twins, and asserts:
- no exception but the documented ones;
- the state after the last piece does not depend on where the bytes were cut;
- the compiled and the pure twin end in the same state after every piece (differential).
The atheris harness in ``benchmarks/fuzz/`` (``make fuzz``) runs the same checks open-ended.
"""

from __future__ import annotations

import itertools
from types import ModuleType
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fastgw.cache.canonical import cache_key, canonical_chat, canonical_completion
from fastgw.errors import UpstreamProtocolError, UpstreamUnreachable
from tests.twins import twin

FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at ``cuts`` (taken modulo its length + 1)."""
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def soup(tokens: list[bytes], size: int = 60) -> st.SearchStrategy[bytes]:
    """Up to ``size`` protocol tokens and runs of random bytes, in any order."""
    return st.lists(st.sampled_from(tokens) | st.binary(max_size=12), max_size=size).map(b"".join)


def mostly(
    usual: st.SearchStrategy[bytes], odd: st.SearchStrategy[bytes]
) -> st.SearchStrategy[bytes]:
    """``usual`` three times in four, else ``odd`` (``one_of`` would draw ``odd`` far more)."""
    return st.integers(0, 3).flatmap(lambda i: odd if i == 3 else usual)


cut_points = st.lists(st.integers(min_value=0, max_value=4096), max_size=30)

# -- SSE framer ---------------------------------------------------------------------------------

SSE_FIELDS = [b"data:", b"data: ", b"event: ", b"event: error", b"id: ", b":", b"retry: ", b""]
SSE_VALUES = [
    b"[DONE]",
    b"{",
    b"}",
    b'"',
    b":",
    b" ",
    b"null",
    b'{"error":',
    b'"finish_reason":',
    b'"finish_reason":"',
    b'"finish_reason":null',
    b'"usage":',
    b'"usage":{"prompt_tokens":1}',
    b'"usage":null',
    b'"stop"',
    b"\xff",
    b"\xc3",
    b"\xa9",
    b"\xed\xa0\x80",  # an encoded lone surrogate: not UTF-8
]
EOLS = [b"\n", b"\r\n", b"\r"]
sse_line = st.tuples(st.sampled_from(SSE_FIELDS), soup(SSE_VALUES, 8)).map(b"".join)
sse_event = st.tuples(st.lists(sse_line, max_size=4), st.sampled_from(EOLS)).map(
    lambda lines_eol: lines_eol[1].join(lines_eol[0]) + lines_eol[1] * 2
)
sse_bytes = mostly(
    st.tuples(st.lists(sse_event, max_size=8).map(b"".join), soup(SSE_VALUES + EOLS, 8)).map(
        b"".join
    ),
    st.binary(max_size=300),
)


def framer_state(framer: Any) -> tuple[Any, ...]:
    return (
        framer.events,
        framer.done,
        framer.finish_reason,
        framer.usage_payload,
        framer.error_payload,
        framer.pending,
        framer.payloads,
    )


def framed(sse: ModuleType, chunks: list[bytes]) -> tuple[Any, ...]:
    framer = sse.SSEFramer(True)
    counted = sum(framer.feed(chunk) for chunk in chunks)
    assert counted == framer.events
    return framer_state(framer)


@pytest.fixture(scope="module", params=["python", "cython"])
def sse(request: pytest.FixtureRequest) -> ModuleType:
    return twin("sse", request.param)


@FUZZ
@given(data=sse_bytes, cuts=cut_points)
def test_sse_any_bytes_any_cut_frames_as_whole(
    sse: ModuleType, data: bytes, cuts: list[int]
) -> None:
    """Any bytes, cut anywhere, never raise, and frame exactly as when fed in one piece."""
    assert framed(sse, pieces(data, cuts)) == framed(sse, [data])


@FUZZ
@given(data=sse_bytes, cuts=cut_points)
def test_sse_twins_agree_after_every_chunk(data: bytes, cuts: list[int]) -> None:
    """The compiled and the pure framer return the same counts and hold the same state after
    every chunk of any input."""
    pure, compiled = twin("sse", "python").SSEFramer(True), twin("sse", "cython").SSEFramer(True)
    for chunk in pieces(data, cuts):
        assert pure.feed(chunk) == compiled.feed(chunk)
        assert framer_state(pure) == framer_state(compiled)


@pytest.mark.parametrize(
    "event",
    [
        b'data: {"choices":[{"finish_reason":"\xff\xfe"}]}\n\n',
        b'data: {"choices":[{"finish_reason":"st\xed\xa0\x80op"}]}\n\n',
    ],
    ids=["invalid-utf8", "encoded-surrogate"],
)
def test_sse_event_that_is_not_utf8_is_invalid_and_does_not_raise(
    sse: ModuleType, event: bytes
) -> None:
    """An upstream event whose JSON is not UTF-8 (a bad finish_reason here) never raises (it
    raised UnicodeDecodeError mid-relay once): it is an invalid event, which stops the framer
    so the relay ends the stream with an error event instead of relaying it."""
    framer = sse.SSEFramer()
    assert framer.feed(event) == 0
    assert framer.invalid_payload == event[6:-2] and framer.finish_reason is None


# -- the upstream HTTP/1.1 response parser ------------------------------------------------------


class Pool:
    """What a Connection calls back on its pool."""

    def __init__(self) -> None:
        self.forgotten = 0

    def _forget(self, conn: Any) -> None:
        self.forgotten += 1

    def _release(self, conn: Any) -> None:
        raise AssertionError("no response is released here")


class Transport:
    """Records what the protocol asks of its transport (the parser is driven directly)."""

    def __init__(self) -> None:
        self.aborted = False
        self.paused = False

    def abort(self) -> None:
        self.aborted = True

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def is_closing(self) -> bool:
        return self.aborted


STATUS_LINES = [
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 500 Internal Server Error\r\n",
    b"HTTP/1.0 200 OK\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\n",
    b"HTTP/1.1 204 No Content\r\n",
    b"HTTP/1.1 999 X\r\n",
    b"HTTP/2 200\r\n",
    b"HTTP/1.1 20 OK\r\n",
]
HEADER_LINES = [
    b"content-length: 0\r\n",
    b"content-length: 5\r\n",
    b"content-length: 12\r\n",
    b"content-length: 18446744073709551616\r\n",
    b"content-length: -1\r\n",
    b"transfer-encoding: chunked\r\n",
    b"transfer-encoding: gzip, chunked\r\n",
    b"connection: close\r\n",
    b"connection: keep-alive\r\n",
    b"connection: upgrade\r\nupgrade: websocket\r\n",
    b"content-type: text/event-stream\r\n",
    b"x: \xff\x00\r\n",
    b" folded\r\n",
]
header_line = (
    st.sampled_from(HEADER_LINES)
    | st.sampled_from(HEADER_LINES)
    | st.tuples(
        st.text("abcxyz-_.~!", min_size=1, max_size=8).map(str.encode),
        st.binary(max_size=12) | st.text(max_size=12).map(str.encode),
    ).map(lambda nv: nv[0] + b": " + nv[1] + b"\r\n")
)
BODY_TOKENS = [
    b"0\r\n\r\n",
    b"5\r\nhello\r\n",
    b"ffffffffffffffffff\r\n",
    b"1;ext=1\r\nx\r\n",
    b"3\r\nab",
    b"\r\n",
    b"data: {}\n\n",
    b"HTTP/1.1 200 OK\r\n\r\n",
]
response_head = st.tuples(
    mostly(st.sampled_from(STATUS_LINES), st.binary(max_size=20)),
    st.lists(header_line, max_size=6).map(b"".join),
    st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n", b""]),
).map(b"".join)
response_bytes = mostly(
    st.tuples(response_head, soup(BODY_TOKENS, 12)).map(b"".join), st.binary(max_size=300)
)


def parsed(http1: ModuleType, chunks: list[bytes], close: bool) -> tuple[Any, ...]:
    """Feed ``chunks`` to a fresh Connection as its transport would (nothing more after an
    abort), then the connection closing if ``close``; the outcome a caller can observe."""
    conn = http1.Connection(Pool(), None)
    transport = Transport()
    conn.connection_made(transport)
    for chunk in chunks:
        if transport.aborted:
            break
        conn.data_received(chunk)
    if close and not transport.aborted:
        conn.connection_lost(None)
    error = conn.error
    assert error is None or isinstance(error, UpstreamProtocolError | UpstreamUnreachable)
    assert error is None or transport.aborted  # a failed connection is never reused
    return (
        conn.status,
        # before the head is complete, which headers httptools has handed over when an error
        # stops it depends on where the bytes were cut; no caller sees them then
        conn.headers if conn.head_done else None,
        conn.head_done,
        conn.complete,
        conn.keep_alive if conn.complete else None,
        b"".join(conn.chunks),
        type(error).__name__ if error is not None else None,
        transport.aborted,
    )


@pytest.fixture(scope="module", params=["python", "cython"])
def http1(request: pytest.FixtureRequest) -> ModuleType:
    return twin("http1", request.param)


@FUZZ
@given(data=response_bytes, cuts=cut_points, close=st.booleans())
@example(  # a header line without a colon after a complete one: an error mid-head
    data=b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n0\r\n\r\n", cuts=[52], close=False
)
def test_http1_any_bytes_any_cut_parse_as_whole(
    http1: ModuleType, data: bytes, cuts: list[int], close: bool
) -> None:
    """Any response bytes, cut anywhere, with or without the connection closing after them:
    only upstream errors (protocol error, unreachable), a failed connection is aborted, and
    status, headers, body and completeness do not depend on the cuts."""
    assert parsed(http1, pieces(data, cuts), close) == parsed(http1, [data], close)


@FUZZ
@given(data=response_bytes, cuts=cut_points, close=st.booleans())
def test_http1_twins_agree(data: bytes, cuts: list[int], close: bool) -> None:
    """The compiled and the pure Connection observe the same response from any bytes."""
    chunks = pieces(data, cuts)
    assert parsed(twin("http1", "python"), chunks, close) == parsed(
        twin("http1", "cython"), chunks, close
    )


# -- the cache canonicaliser --------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=25,
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
    b"1e999",
    b"-0",
    b"\\u",
    b"\\ud800",
]
canonical_input = (
    st.dictionaries(st.text(max_size=8), json_values, max_size=6).map(msgspec.json.encode)
    | soup(JSON_TOKENS)
    | st.binary(max_size=200)
)


@FUZZ
@given(body=canonical_input, model=st.text(max_size=20))
def test_canonical_form_of_any_bytes(body: bytes, model: str) -> None:
    """Any bytes give a canonical form or the documented ``msgspec.DecodeError`` (a
    ``ValueError``); a form is a fixpoint and its key is 16 bytes."""
    for canonical in (canonical_chat, canonical_completion):
        try:
            form = canonical(body, model)
        except msgspec.DecodeError:
            continue
        tag, _, json = form.partition(b"\n")
        assert canonical(json, model) == form
        assert msgspec.json.decode(json)["model"] == model
        assert len(cache_key(tag.decode(), form)) == 16


def test_canonical_deep_nesting_is_a_decode_error() -> None:
    """A value nested 100,000 levels deep is refused like any other malformed body."""
    body = b'{"messages":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(msgspec.DecodeError):
        canonical_chat(body, "m")
