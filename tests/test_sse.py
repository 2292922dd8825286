"""SSEFramer, the pure-Python and the compiled twin alike: every test runs against both."""

from __future__ import annotations

import importlib
import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastgw._core
from tests.twins import twin

# -- a realistic OpenAI chat stream with include_usage ------------------------------------------

_HEAD = b'{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o",'
_HEAD += b'"choices":'
_NO_USAGE = b',"usage":null}\n\n'
ROLE = b"data: " + _HEAD + b'[{"index":0,"delta":{"role":"assistant","content":""}}]' + _NO_USAGE
WORDS = [
    b"data: " + _HEAD + b'[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]' + _NO_USAGE,
    # escaped quotes, an escaped newline and non-ASCII text inside the content
    b"data: "
    + _HEAD
    + b'[{"index":0,"delta":{"content":" \\"w\\u00f6rld\\"\\n"},"finish_reason":null}]'
    + _NO_USAGE,
    b"data: "
    + _HEAD
    + '[{"index":0,"delta":{"content":" caf\u00e9 \u2615"},"finish_reason":null}]'.encode()
    + _NO_USAGE,
]
FINISH = b"data: " + _HEAD + b'[{"index":0,"delta":{},"finish_reason":"stop"}]' + _NO_USAGE
USAGE_DATA = _HEAD + b'[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}'
USAGE = b"data: " + USAGE_DATA + b"\n\n"
DONE = b"data: [DONE]\n\n"
KEEPALIVE = b": keep-alive\n\n"
ERROR_EVENT = b'event: error\ndata: {"error":\ndata: {"message":"cut"}}\n\n'
STREAM = ROLE + WORDS[0] + KEEPALIVE + WORDS[1] + WORDS[2] + FINISH + USAGE + DONE
FAILED_STREAM = ROLE + WORDS[0] + ERROR_EVENT  # an upstream that fails mid-answer


def _endings(data: bytes, eol: bytes) -> bytes:
    return data.replace(b"\n", eol)


@pytest.fixture(scope="module", params=["python", "cython"])
def Framer(request: pytest.FixtureRequest) -> Any:
    """Each twin's SSEFramer class; the compiled one is skipped only when it is not built."""
    if request.param == "python":
        return importlib.import_module("fastgw._core.sse").SSEFramer
    try:
        return importlib.import_module("fastgw._core.sse_c").SSEFramer
    except ImportError:
        pytest.skip("the compiled core is not built (run `make build`)")


def _state(framer: Any) -> tuple[Any, ...]:
    return (
        framer.events,
        framer.done,
        framer.finish_reason,
        framer.usage_payload,
        framer.error_payload,
        framer.pending,
    )


def _feed_all(Framer: Any, chunks: list[bytes]) -> tuple[Any, ...]:
    framer = Framer()
    counted = sum(framer.feed(chunk) for chunk in chunks)
    assert counted == framer.events
    return _state(framer)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = [0, *sorted(set(cuts)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points)]


# -- the whole stream ---------------------------------------------------------------------------


def test_selector_names_the_active_twin() -> None:
    """The selector exposes which implementation it picked, and it is one of the two."""
    assert fastgw._core.IMPLEMENTATION in ("cython", "python", "python (compiled build missing)")
    assert fastgw._core.SSEFramer.__module__.startswith("fastgw._core.sse")


def test_whole_stream(Framer: Any) -> None:
    """A complete stream: every event counted (comments too), [DONE], the finish reason and
    the usage chunk's raw payload, nothing pending."""
    framer = Framer()
    assert framer.feed(STREAM) == 8
    assert framer.events == 8
    assert framer.done is True
    assert framer.finish_reason == "stop"
    assert framer.usage_payload == USAGE_DATA
    assert framer.error_payload is None
    assert framer.pending is False


def test_fresh_framer(Framer: Any) -> None:
    """A new framer has seen nothing."""
    assert _state(Framer()) == (0, False, None, None, None, False)


def test_empty_chunk_changes_nothing(Framer: Any) -> None:
    """Feeding b"" completes no event and leaves the state as it was."""
    framer = Framer()
    framer.feed(ROLE[:20])
    before = _state(framer)
    assert framer.feed(b"") == 0
    assert _state(framer) == before


@pytest.mark.parametrize("stream", [STREAM, FAILED_STREAM], ids=["complete", "failed"])
@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_every_two_way_split(Framer: Any, eol: bytes, stream: bytes) -> None:
    """Cutting a stream at any single byte gives the same result as feeding it whole, for
    LF, CRLF and CR line endings (a CRLF cut between its CR and LF included)."""
    data = _endings(stream, eol)
    expected = _feed_all(Framer, [data])
    assert expected == _feed_all(Framer, [stream])
    for cut in range(len(data) + 1):
        assert _feed_all(Framer, [data[:cut], data[cut:]]) == expected, cut


def test_byte_at_a_time(Framer: Any) -> None:
    """One byte per chunk: the same events, finish reason and usage as the whole stream."""
    data = _endings(STREAM, b"\r\n")
    assert _feed_all(Framer, [data[i : i + 1] for i in range(len(data))]) == _feed_all(
        Framer, [STREAM]
    )


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=len(STREAM) * 2), max_size=40),
    eol=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    tail=st.sampled_from([b"", b'data: {"partial', b"data: x\n", ERROR_EVENT]),
)
def test_random_splits(Framer: Any, cuts: list[int], eol: bytes, tail: bytes) -> None:
    """Any set of chunk boundaries, any line ending, with or without a trailing partial
    or multi-line error event: the framer ends as when fed the bytes in one piece."""
    data = _endings(STREAM + tail, eol)
    cuts = [c % (len(data) + 1) for c in cuts]
    assert _feed_all(Framer, _split(data, cuts)) == _feed_all(Framer, [data])


# -- line endings and multi-line data -------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\r\n", b"\r"], ids=["CRLF", "CR"])
def test_crlf_and_cr_endings(Framer: Any, eol: bytes) -> None:
    """CRLF and bare-CR streams frame exactly like LF ones."""
    framer = Framer()
    assert framer.feed(_endings(FINISH + USAGE + DONE, eol)) == 3
    assert (framer.finish_reason, framer.usage_payload, framer.done) == ("stop", USAGE_DATA, True)


def test_crlf_split_between_cr_and_lf_is_one_line_ending(Framer: Any) -> None:
    """A CRLF cut after its CR is one line ending: ``event:`` and ``data:`` stay one event."""
    framer = Framer()
    assert framer.feed(b"event: error\r") == 0
    assert framer.feed(b'\ndata: {"message":"boom"}\r\n\r\n') == 1
    assert framer.events == 1
    assert framer.error_payload == b'{"message":"boom"}'


def test_cr_then_lf_chunks_then_blank_line(Framer: Any) -> None:
    """CR | LF | LF in three chunks is a CRLF then an LF: the blank line ends the event."""
    framer = Framer()
    framer.feed(b"data: [DONE]\r")
    assert framer.feed(b"\n") == 0
    assert framer.feed(b"\n") == 1
    assert framer.done is True


def test_multi_line_data_is_joined_with_newlines(Framer: Any) -> None:
    """Several ``data:`` lines form one payload joined by LF; the optional space after the
    colon is removed once."""
    framer = Framer()
    framer.feed(b'event: error\ndata: {"error":\ndata:  {"message":"x"}}\n\n')
    assert framer.events == 1
    assert framer.error_payload == b'{"error":\n {"message":"x"}}'


def test_comment_and_field_only_events_count_but_carry_nothing(Framer: Any) -> None:
    """Comments and events without data are counted as events and change nothing else."""
    framer = Framer()
    assert framer.feed(b": ping\n\nid: 7\nretry: 100\n\n") == 2
    assert _state(framer)[1:] == (False, None, None, None, False)


def test_extra_blank_lines_are_not_events(Framer: Any) -> None:
    """Runs of blank lines between events do not count as events."""
    framer = Framer()
    assert framer.feed(b"\n\n\n\n" + FINISH + b"\n\n\n" + DONE) == 2
    assert framer.pending is False


# -- what the payloads say ----------------------------------------------------------------------


def test_done(Framer: Any) -> None:
    """``data: [DONE]`` sets done and is not mistaken for usage or an error."""
    framer = Framer()
    framer.feed(DONE)
    assert (framer.done, framer.usage_payload, framer.error_payload) == (True, None, None)


def test_done_without_space(Framer: Any) -> None:
    """``data:[DONE]`` (no space after the colon) is [DONE] too."""
    framer = Framer()
    framer.feed(b"data:[DONE]\n\n")
    assert framer.done is True


def test_usage_null_chunks_are_not_usage(Framer: Any) -> None:
    """Chunks with ``"usage":null`` (include_usage streams) never become the usage payload."""
    framer = Framer()
    framer.feed(ROLE + WORDS[0] + FINISH)
    assert framer.usage_payload is None
    framer.feed(USAGE)
    assert framer.usage_payload == USAGE_DATA
    framer.feed(WORDS[1])  # a later usage: null chunk does not erase the usage seen
    assert framer.usage_payload == USAGE_DATA


def test_last_usage_object_wins(Framer: Any) -> None:
    """With several usage objects, the payload of the last one is kept."""
    later = USAGE_DATA.replace(b'"total_tokens":12', b'"total_tokens":13')
    framer = Framer()
    framer.feed(USAGE + b"data: " + later + b"\n\n")
    assert framer.usage_payload == later


def test_usage_with_space_before_null(Framer: Any) -> None:
    """``"usage": null`` with whitespace is still null."""
    framer = Framer()
    framer.feed(b'data: {"choices":[],"usage" :  null}\n\n')
    assert framer.usage_payload is None


def test_finish_reason_null_is_ignored_and_last_non_null_wins(Framer: Any) -> None:
    """``finish_reason: null`` leaves the value alone; a later non-null reason replaces it."""
    framer = Framer()
    framer.feed(WORDS[0])
    assert framer.finish_reason is None
    framer.feed(FINISH.replace(b'"stop"', b'"length"'))
    assert framer.finish_reason == "length"
    framer.feed(WORDS[1])
    assert framer.finish_reason == "length"
    framer.feed(FINISH.replace(b'"stop"', b'"tool_calls"'))
    assert framer.finish_reason == "tool_calls"


def test_finish_reason_with_spaces(Framer: Any) -> None:
    """Whitespace around the colon does not hide the finish reason."""
    framer = Framer()
    framer.feed(b'data: {"choices":[{"finish_reason" : "content_filter"}]}\n\n')
    assert framer.finish_reason == "content_filter"


def test_quoted_key_inside_content_is_not_a_field(Framer: Any) -> None:
    """Content that mentions "finish_reason" or "usage" (escaped in JSON) is not read as them."""
    framer = Framer()
    framer.feed(
        b'data: {"choices":[{"delta":{"content":'
        b'"say \\"usage\\": {1} \\"finish_reason\\": \\"x\\""}}]}\n\n'
    )
    assert (framer.finish_reason, framer.usage_payload) == (None, None)


def test_error_event(Framer: Any) -> None:
    """``event: error`` marks its data as the error payload, whatever its shape."""
    framer = Framer()
    framer.feed(
        WORDS[0] + b'event: error\ndata: {"message":"overloaded","type":"server_error"}\n\n'
    )
    assert framer.error_payload == b'{"message":"overloaded","type":"server_error"}'
    assert framer.done is False


def test_error_object_payload(Framer: Any) -> None:
    """A payload whose top-level object opens with ``"error"`` is an error without a name."""
    payload = b' { "error": {"message":"rate limited","type":"rate_limit_error"}}'
    framer = Framer()
    framer.feed(b"data:" + payload + b"\n\n")
    assert framer.error_payload == payload[1:]  # the one space after "data:" is not data
    assert framer.usage_payload is None


def test_error_key_elsewhere_is_not_an_error(Framer: Any) -> None:
    """An ``"error"`` key that is not the first key of the object is not an error event."""
    framer = Framer()
    framer.feed(b'data: {"id":"x","error":null,"choices":[]}\n\n')
    assert framer.error_payload is None


def test_error_payload_does_not_set_usage_or_finish(Framer: Any) -> None:
    """An error event is only an error, even if it mentions usage or a finish reason."""
    framer = Framer()
    framer.feed(b'event: error\ndata: {"finish_reason":"stop","usage":{"total_tokens":1}}\n\n')
    assert (framer.finish_reason, framer.usage_payload) == (None, None)
    assert framer.error_payload is not None


# -- pending partial events ---------------------------------------------------------------------


def test_pending_partial_event(Framer: Any) -> None:
    """Bytes of an unfinished event are pending until its blank line arrives."""
    framer = Framer()
    assert framer.feed(FINISH[:-1]) == 0
    assert framer.pending is True
    assert framer.finish_reason is None
    assert framer.feed(b"\n") == 1
    assert framer.pending is False
    assert framer.finish_reason == "stop"


def test_pending_ignores_trailing_whitespace(Framer: Any) -> None:
    """A lone line ending after the last event is not a pending event."""
    framer = Framer()
    framer.feed(DONE + b"\n")
    assert framer.pending is False
    framer.feed(b"\r\n ")
    assert framer.pending is False


def test_event_without_final_blank_line_is_not_counted(Framer: Any) -> None:
    """A stream cut after ``data: [DONE]\\n`` has not completed that event."""
    framer = Framer()
    framer.feed(b"data: [DONE]\n")
    assert (framer.events, framer.done, framer.pending) == (0, False, True)


# -- relay: what a client that did not ask for usage receives -----------------------------------

STRIPPED = STREAM.replace(USAGE, b"")


def _relay_all(framer: Any, chunks: list[bytes]) -> bytes:
    return b"".join(framer.relay(chunk) for chunk in chunks) + framer.held()


def test_relay_without_strip_gives_complete_chunks_back_uncopied(Framer: Any) -> None:
    """A chunk that ends on an event boundary comes back as the very same object."""
    framer = Framer()
    for event in (ROLE, WORDS[0], FINISH, USAGE, DONE):
        assert framer.relay(event) is event
    assert (framer.stripped, framer.usage_payload) == (0, USAGE_DATA)


def test_relay_strips_the_usage_only_event(Framer: Any) -> None:
    """Under strip_usage the usage-only event is left out of what is relayed, and still read
    as the stream's usage; everything else goes through unchanged and in order."""
    framer = Framer(strip_usage=True)
    assert framer.relay(STREAM) == STRIPPED
    assert (framer.stripped, framer.usage_payload, framer.done) == (1, USAGE_DATA, True)
    assert framer.relay(ROLE) is ROLE  # nothing left out, nothing held: no copy


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"], ids=["LF", "CRLF"])
def test_relay_strips_across_every_two_way_split(Framer: Any, eol: bytes) -> None:
    """Wherever the stream is cut, the client gets every event but the usage-only one (line
    endings folded to LF) and the usage is read."""
    data = _endings(STREAM, eol)
    for cut in range(len(data) + 1):
        framer = Framer(strip_usage=True)
        assert _relay_all(framer, [data[:cut], data[cut:]]) == STRIPPED, cut
        assert (framer.stripped, framer.usage_payload) == (1, USAGE_DATA)


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12),
    eol=st.sampled_from([b"\n", b"\r\n", b"\r"]),
)
def test_relay_strips_under_any_split(Framer: Any, cuts: list[int], eol: bytes) -> None:
    """Any split of the stream, any line ending: the usage-only event is the only thing
    dropped (line endings folded to LF), an incomplete event is held (never half sent), and
    nothing is lost."""
    data = _endings(STREAM, eol)
    framer = Framer(strip_usage=True)
    out = b""
    for chunk in _split(data, [c % (len(data) + 1) for c in cuts]):
        sent = framer.relay(chunk)
        assert not sent or sent.endswith(b"\n\n")  # whole events only
        out += sent
    assert out + framer.held() == STRIPPED
    assert framer.stripped == 1


def test_relay_holds_an_incomplete_event_until_it_completes(Framer: Any) -> None:
    """Half an event is held, not sent: it may turn out to be the usage event."""
    framer = Framer(strip_usage=True)
    assert framer.relay(FINISH + USAGE[:30]) == FINISH
    assert framer.held() == USAGE[:30] and framer.pending
    assert framer.relay(USAGE[30:] + DONE) == DONE


@pytest.mark.parametrize(
    "event",
    [
        b'data: {"choices":[{"index":0,"delta":{}}],"usage":{"total_tokens":3}}\n\n',
        b'data: {"choices":[],"usage":null}\n\n',
        b'data: {"usage":{"total_tokens":3}}\n\n',
        b'event: error\ndata: {"error":{},"choices":[],"usage":{}}\n\n',
    ],
    ids=["usage-with-choices", "null-usage", "no-choices-key", "error"],
)
def test_relay_keeps_events_that_are_not_usage_only(Framer: Any, event: bytes) -> None:
    """Only an event with ``choices: []`` and a usage object is left out."""
    framer = Framer(strip_usage=True)
    assert framer.relay(event) == event
    assert framer.stripped == 0


def test_relay_strips_usage_event_with_spaces(Framer: Any) -> None:
    """``"choices": [ ]`` written with spaces is still an empty list."""
    event = b'data: {"id":"x", "choices" : [ ], "usage": {"total_tokens": 3}}\n\n'
    framer = Framer(strip_usage=True)
    assert framer.relay(ROLE + event + DONE) == ROLE + DONE
    assert framer.usage_payload == event[6:-2]


# -- the answer text, measured -------------------------------------------------------------------


def test_text_is_measured_as_sent(Framer: Any) -> None:
    """``text_bytes`` counts the bytes of the content strings as sent (escapes included),
    ``text_events`` the events that carried some; empty content counts nothing."""
    framer = Framer()
    framer.feed(STREAM)
    hi, escaped, cafe = 2, len(b' \\"w\\u00f6rld\\"\\n'), len(" caf\u00e9 \u2615".encode())
    assert (framer.text_bytes, framer.text_events) == (hi + escaped + cafe, 3)


@pytest.mark.parametrize(
    ("payload", "size"),
    [
        (b'{"choices":[{"delta":{"reasoning_content":"abcd"}}]}', 4),
        (b'{"choices":[{"text":"abc","index":0}]}', 3),
        (b'{"choices":[{"delta":{"refusal":"no"}}]}', 2),
        (b'{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"{\\"a\\":1}"}}]}}]}', 9),
        (b'{"choices":[{"delta":{"content" : "my content"},"logprobs":{"content":[]}}]}', 10),
        (b'{"choices":[{"delta":{"content":"ends in \\\\"}}]}', 10),
        (b'{"choices":[{"delta":{"content":null}}]}', 0),
        (b'{"choices":[{"delta":{"content":"cut', 0),
    ],
    ids=[
        "reasoning",
        "text",
        "refusal",
        "arguments",
        "values-and-arrays",
        "backslash",
        "null",
        "cut",
    ],
)
def test_text_keys_and_values(Framer: Any, payload: bytes, size: int) -> None:
    """Text is the string values of content (reasoning_content too), text, refusal and tool
    arguments; a key-like value, an array, null or an unterminated string adds nothing."""
    framer = Framer()
    framer.feed(b"data: " + payload + b"\n\n")
    assert framer.text_bytes == size


_PIECES = [b'"', b"\\", b":", b" ", b"{", b"}", b",", b"a", b"\xc3\xa9", b"content", b"text"]
_PIECES += [b"arguments", b"refusal", b"reasoning_", b"null", b"[", b"]", b"\n"]


@settings(max_examples=500, deadline=None, database=None, derandomize=True)
@given(pieces=st.lists(st.sampled_from(_PIECES), max_size=40))
def test_text_length_twins_agree_on_any_bytes(pieces: list[bytes]) -> None:
    """The compiled walk over the quotes and the pure search per name measure the same text
    on any bytes, JSON or not (escapes, unterminated strings, stray colons)."""
    payload = b"".join(pieces)
    pure = importlib.import_module("fastgw._core.sse").text_length(payload)
    try:
        compiled = importlib.import_module("fastgw._core.sse_c").text_length
    except ImportError:
        pytest.skip("the compiled core is not built")
    assert compiled(payload) == pure


# -- validation: every event's data is [DONE] or JSON ------------------------------------------

BAD = b'data: {"choices":[{"index":0,"delta":{"content":"half\n\n'  # a chunk cut mid-string
BAD_DATA = BAD[6:-2]
BEFORE = ROLE + WORDS[0] + KEEPALIVE  # what a stream with BAD after it relays
BROKEN = BEFORE + BAD + WORDS[1] + FINISH + USAGE + DONE


@pytest.fixture(scope="module", params=["python", "cython"])
def sse(request: pytest.FixtureRequest) -> Any:
    """Each twin's module (``is_json``); the compiled one is skipped when not built."""
    return twin("sse", request.param)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"a":[1,-2.5e3,true,false,null,"x\\u00e9\\n\\"\\\\\\/"]}',
        b'"\\ud83d\\ude00"',  # a surrogate pair
        b"1e400",  # out of a double's range, but JSON
        b" \t\n[]\n ",
        '{"c":"caf\u00e9 \u2615"}'.encode(),
        b"[" * 200 + b"]" * 200,
        USAGE_DATA,
    ],
    ids=["values", "pair", "big-number", "whitespace", "utf8", "nested", "usage"],
)
def test_is_json_accepts_json(sse: Any, payload: bytes) -> None:
    """Any one JSON text in UTF-8 passes, whatever its values."""
    assert sse.is_json(payload) is True


@pytest.mark.parametrize(
    "payload",
    [
        b'{"a":[1,2',
        b'{"a":"abc',
        b'{"a":1} x',
        b'{"a":1}{"b":2}',
        b'{"a":"\\x41"}',
        b'{"a":"\\u12G4"}',
        b'{"a":"\\ud800"}',
        b'{"a":"\\udc00"}',
        b'{"a":"\\ud800x"}',
        b'{"a":NaN}',
        b'{"a":-Infinity}',
        b'{"a":"x\ny"}',
        b"{'a':1}",
        b'{"a":1,}',
        b'{"a":01}',
        b"   ",
        b"hello",
        b"[DONE] ",
        b'{"a":"\xff"}',
        b'{"a":"\xc0\xaf"}',
        b'{"a":"\xed\xa0\x80"}',
        b"\xef\xbb\xbf{}",
        b"[" * 5000 + b"]" * 5000,
    ],
    ids=[
        "truncated-object",
        "truncated-string",
        "trailing-garbage",
        "two-values",
        "invalid-escape",
        "invalid-unicode-escape",
        "lone-high-surrogate",
        "lone-low-surrogate",
        "high-surrogate-then-char",
        "nan",
        "infinity",
        "raw-newline-in-string",
        "single-quotes",
        "trailing-comma",
        "leading-zero",
        "whitespace-only",
        "plain-text",
        "done-with-trailing-space",
        "invalid-utf8",
        "overlong-utf8",
        "utf8-encoded-surrogate",
        "bom",
        "nested-too-deep",
    ],
)
def test_is_json_rejects_what_is_not(sse: Any, payload: bytes) -> None:
    """Malformed JSON, non-JSON literals, several values, text that is not UTF-8 and nesting
    past the parser's limit all fail (never an exception)."""
    assert sse.is_json(payload) is False


_JSON_PIECES = [b'"', b"\\", b"u", b"d800", b"dc00", b"00e9", b":", b",", b"{", b"}", b"[", b"]"]
_JSON_PIECES += [b"1", b"-", b"e", b".", b"null", b"NaN", b" ", b"\n", b"\xc3\xa9", b"\xff", b"a"]


@settings(max_examples=500, deadline=None, database=None, derandomize=True)
@given(pieces=st.lists(st.sampled_from(_JSON_PIECES), max_size=30))
def test_is_json_twins_agree_on_any_bytes(pieces: list[bytes]) -> None:
    """The compiled and the pure validator answer the same on any bytes."""
    payload = b"".join(pieces)
    pure = twin("sse", "python").is_json(payload)
    assert twin("sse", "cython").is_json(payload) is pure


def test_relay_stops_at_an_event_that_is_not_json(Framer: Any) -> None:
    """The events before an invalid one go out; it and everything after never do; the
    framer records its data and stops: no [DONE], no usage or finish reason read past it."""
    framer = Framer(collect=True)
    assert framer.relay(BROKEN) == BEFORE
    assert framer.invalid_payload == BAD_DATA
    assert (framer.events, framer.done, framer.finish_reason, framer.usage_payload) == (
        3,
        False,
        None,
        None,
    )
    assert framer.payloads == [ROLE[6:-2], WORDS[0][6:-2]]
    assert framer.pending is False and framer.held() == b""
    assert framer.relay(DONE) == b"" and framer.feed(DONE) == 0 and not framer.done


def test_feed_stops_at_an_event_that_is_not_json(Framer: Any) -> None:
    """``feed`` validates too: it counts the events before the invalid one and no more."""
    framer = Framer()
    assert framer.feed(BROKEN) == 3
    assert framer.invalid_payload == BAD_DATA and framer.done is False
    assert framer.feed(FINISH) == 0 and framer.finish_reason is None


def test_valid_events_come_back_uncopied(Framer: Any) -> None:
    """A chunk of whole, valid events is relayed as the very same object, whatever it holds:
    one event, several, comments, an upstream error event, non-ASCII text."""
    framer = Framer()
    for chunk in (ROLE, WORDS[0] + KEEPALIVE + WORDS[1], WORDS[2], ERROR_EVENT, USAGE + DONE):
        assert framer.relay(chunk) is chunk
    assert framer.invalid_payload is None and framer.error_payload is not None


@pytest.mark.parametrize("stream", [STREAM, BROKEN], ids=["valid", "invalid"])
@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
@pytest.mark.parametrize("strip", [False, True], ids=["as-is", "strip-usage"])
def test_relay_validates_across_every_two_way_split(
    Framer: Any, stream: bytes, eol: bytes, strip: bool
) -> None:
    """Cut anywhere, in any line ending: whole events only go out, the same ones as when
    relayed in one piece (LF endings), up to the invalid event and never past it."""
    data = _endings(stream, eol)
    whole = Framer(strip_usage=strip)
    expected = whole.relay(data)
    assert expected == (BEFORE if stream is BROKEN else STRIPPED if strip else STREAM)
    for cut in range(len(data) + 1):
        framer = Framer(strip_usage=strip)
        first, second = framer.relay(data[:cut]), framer.relay(data[cut:])
        assert first + second == expected, cut
        assert not first or first.endswith(b"\n\n"), cut
        assert framer.invalid_payload == whole.invalid_payload, cut
        assert framer.done == whole.done and framer.pending is False, cut


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=len(BROKEN) * 2), max_size=30),
    eol=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    at=st.integers(min_value=0, max_value=7),
    bad=st.sampled_from(
        [BAD, b"data: x\n\n", b"event: error\ndata: oops\n\n", b"data:\ndata:\n\n"]
    ),
)
def test_relay_validates_under_any_split(
    Framer: Any, cuts: list[int], eol: bytes, at: int, bad: bytes
) -> None:
    """An invalid event anywhere in the stream, any chunking, any line ending: exactly the
    events before it reach the client, in whole events, and the framer stops on it."""
    events = [ROLE, WORDS[0], KEEPALIVE, WORDS[1], WORDS[2], FINISH, USAGE, DONE]
    data = _endings(b"".join([*events[:at], bad, *events[at:]]), eol)
    framer = Framer()
    out = b""
    for chunk in _split(data, [c % (len(data) + 1) for c in cuts]):
        sent = framer.relay(chunk)
        assert not sent or sent.endswith(b"\n\n")
        out += sent
    assert out == b"".join(events[:at])
    assert framer.invalid_payload is not None and framer.done is False


def test_an_incomplete_event_is_held_not_judged(Framer: Any) -> None:
    """Half an event is held (it cannot be validated yet): it goes out whole once it turns
    out valid, and never if it turns out invalid."""
    framer = Framer()
    assert framer.relay(ROLE + FINISH[:40]) == ROLE
    assert framer.pending and framer.held() == FINISH[:40] and framer.invalid_payload is None
    assert framer.relay(FINISH[40:]) == FINISH
    assert framer.relay(BAD[:20]) == b"" and framer.invalid_payload is None
    assert framer.relay(BAD[20:] + DONE) == b""
    assert framer.invalid_payload == BAD_DATA and not framer.done


def test_a_stream_cut_mid_event_leaves_it_held(Framer: Any) -> None:
    """An upstream that ends mid-event: the partial event is only ever held (the relay drops
    it), even when what arrived of it would parse as JSON."""
    framer = Framer()
    assert framer.relay(ROLE + b'data: {"choices":[]}\n') == ROLE
    assert framer.pending and framer.invalid_payload is None


@pytest.mark.parametrize(
    "event",
    [
        b": keep-alive\n\n",
        b":\n\n",
        b"id: 7\nretry: 100\n\n",
        b"event: ping\n\n",
        b"data:\n\n",
        b"data: \n\n",
        b"event: ping\ndata: {}\n\n",
        b'event: error\ndata: {"error":\ndata: {"message":"x"}}\n\n',
        b"data: [1,\ndata: 2]\n\n",
        b"data: [DONE]\n\n",
    ],
    ids=[
        "comment",
        "bare-colon",
        "fields-only",
        "event-only",
        "empty-data",
        "space-data",
        "named",
        "error-multi-line",
        "multi-line",
        "done",
    ],
)
def test_events_that_pass(Framer: Any, event: bytes) -> None:
    """Events without data (comments, keep-alives, lone fields), an empty data line (a client
    dispatches nothing), [DONE] and JSON over several data lines pass unchanged."""
    framer = Framer()
    assert framer.relay(event) is event
    assert framer.invalid_payload is None


@pytest.mark.parametrize(
    ("event", "data"),
    [
        (b"event: error\ndata: upstream exploded\n\n", b"upstream exploded"),
        (b'data: {"a":\ndata: }\n\n', b'{"a":\n}'),
        (b"data:\ndata:\n\n", b"\n"),
        (b"data: [DONE]x\n\n", b"[DONE]x"),
        (b'data: {"a":1}\ndata: {"b":2}\n\n', b'{"a":1}\n{"b":2}'),
    ],
    ids=["error-event-text", "multi-line-broken", "two-empty-lines", "done-suffix", "two-values"],
)
def test_events_that_do_not_pass(Framer: Any, event: bytes, data: bytes) -> None:
    """An error event is validated like any other; data lines are judged joined (two empty
    ones are a newline a client would dispatch); [DONE] is only the exact literal."""
    framer = Framer()
    assert framer.relay(ROLE + event + DONE) == ROLE
    assert framer.invalid_payload == data and framer.error_payload is None


def test_an_event_that_never_ends_is_not_held_past_8_mib(Framer: Any) -> None:
    """An upstream cannot make the relay buffer without end: an incomplete event past 8 MiB
    stops the framer like an invalid one, and what came before still goes out."""
    framer = Framer()
    first = b'data: {"choices": []}\n\n'
    assert framer.relay(first + b'data: {"x": "') == first
    piece = b"a" * (1024 * 1024)
    out = [framer.relay(piece) for _ in range(9)]
    assert out[-1] == b"" and framer.held() == b""
    assert framer.invalid_payload is not None and framer.done is False
    assert framer.relay(b'"}\n\n') == b""  # stopped: nothing after it is an event
