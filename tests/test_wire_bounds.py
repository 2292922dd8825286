"""Every number a client sends is range-checked at decode (``fastgw.wire``): OpenAI's documented
bounds, a 400 ``invalid_value`` naming the param for anything outside them, whatever its size."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastgw.errors import InvalidRequest
from fastgw.wire import (
    MAX_CHOICES,
    MAX_DIMENSIONS,
    MAX_EMBEDDING_INPUTS,
    MAX_TOKENS,
    ChatRequest,
    CompletionRequest,
    EmbeddingRequest,
    decode_request,
)
from tests.twins import PROPERTY

CHAT = b'{"model":"m","messages":[{"role":"user","content":"hi"}],'
COMPLETION = b'{"model":"m","prompt":"hi",'
EMBEDDING = b'{"model":"m","input":"hi",'

# (request type, body start, field, lowest accepted, highest accepted)
BOUNDED: list[tuple[type[msgspec.Struct], bytes, str, float, float]] = [
    (ChatRequest, CHAT, "max_tokens", 1, MAX_TOKENS),
    (ChatRequest, CHAT, "max_completion_tokens", 1, MAX_TOKENS),
    (ChatRequest, CHAT, "n", 1, MAX_CHOICES),
    (ChatRequest, CHAT, "seed", -(2**63), 2**63 - 1),
    (ChatRequest, CHAT, "temperature", 0, 2),
    (ChatRequest, CHAT, "top_p", 0, 1),
    (ChatRequest, CHAT, "frequency_penalty", -2, 2),
    (ChatRequest, CHAT, "presence_penalty", -2, 2),
    (ChatRequest, CHAT, "top_logprobs", 0, 20),
    (CompletionRequest, COMPLETION, "max_tokens", 1, MAX_TOKENS),
    (CompletionRequest, COMPLETION, "n", 1, MAX_CHOICES),
    (CompletionRequest, COMPLETION, "seed", -(2**63), 2**63 - 1),
    (CompletionRequest, COMPLETION, "temperature", 0, 2),
    (CompletionRequest, COMPLETION, "top_p", 0, 1),
    (CompletionRequest, COMPLETION, "frequency_penalty", -2, 2),
    (CompletionRequest, COMPLETION, "presence_penalty", -2, 2),
    (CompletionRequest, COMPLETION, "best_of", 0, 20),
    (CompletionRequest, COMPLETION, "logprobs", 0, 5),
    (EmbeddingRequest, EMBEDDING, "dimensions", 1, MAX_DIMENSIONS),
]
HUGE = [2**63, 2**64, 2**64 + 1, 10**30, -(2**63) - 1, -(2**64), 1e308, -1e308]
IDS = [f"{cls.__name__}.{field}" for cls, _b, field, _l, _h in BOUNDED]
_FLOATS = {"temperature", "top_p", "frequency_penalty", "presence_penalty"}


def _body(start: bytes, field: str, value: object) -> bytes:
    return start + f'"{field}":'.encode() + msgspec.json.encode(value) + b"}"


def _refused(cls: type[msgspec.Struct], body: bytes, param: str) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        decode_request(cls, body)
    error = caught.value
    assert (error.status, error.param) == (400, param), error.message
    return error


@pytest.mark.parametrize(("cls", "start", "field", "low", "high"), BOUNDED, ids=IDS)
def test_each_bound_is_inclusive_and_one_step_past_is_refused(
    cls: type[msgspec.Struct], start: bytes, field: str, low: float, high: float
) -> None:
    """The documented ends are accepted; one step past either end is a 400 invalid_value
    naming the field (a step is 1 for an integer field, a hair for a fractional one)."""
    for value in (low, high):
        assert getattr(decode_request(cls, _body(start, field, value)), field) == value
    step = 1 if isinstance(low, int) and isinstance(high, int) and field not in _FLOATS else 1e-9
    for value in (low - step, high + step):
        assert _refused(cls, _body(start, field, value), field).code == "invalid_value"


@pytest.mark.parametrize("value", HUGE, ids=[repr(v) for v in HUGE])
@pytest.mark.parametrize(("cls", "start", "field", "low", "high"), BOUNDED, ids=IDS)
def test_huge_values_are_refused_as_invalid_values(
    cls: type[msgspec.Struct], start: bytes, field: str, low: float, high: float, value: float
) -> None:
    """2^63, 2^64, -2^63-1, 1e308...: a 400 naming the field, never an overflow (a float
    where an integer belongs is an invalid_type)."""
    error = _refused(cls, _body(start, field, value), field)
    expected = "invalid_type" if isinstance(value, float) and field not in _FLOATS else None
    assert error.code == (expected or "invalid_value")


@pytest.mark.parametrize(("cls", "start"), [(ChatRequest, CHAT), (CompletionRequest, COMPLETION)])
@pytest.mark.parametrize("text", [b"1e999", b"-1e999", b"1e400"])
def test_numbers_past_a_double_are_invalid_values(
    cls: type[msgspec.Struct], start: bytes, text: bytes
) -> None:
    """A JSON number no double can hold is out of range, not a 500."""
    error = _refused(cls, start + b'"temperature":' + text + b"}", "temperature")
    assert error.code == "invalid_value"


@pytest.mark.parametrize("text", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_literals_are_malformed_json(text: bytes) -> None:
    """JSON has no NaN or Infinity: such a body is a 400 invalid_json."""
    with pytest.raises(InvalidRequest) as caught:
        decode_request(ChatRequest, CHAT + b'"temperature":' + text + b"}")
    assert (caught.value.status, caught.value.code) == (400, "invalid_json")


@pytest.mark.parametrize("text", ['"NaN"', '"1e400"', '"9223372036854775808"', "true", "[1]"])
def test_numbers_as_strings_or_other_types_are_invalid_types(text: str) -> None:
    error = _refused(ChatRequest, CHAT + f'"n":{text}}}'.encode(), "n")
    assert error.code == "invalid_type"


def test_logit_bias_values_are_bounded_and_named_by_the_map() -> None:
    """logit_bias maps token ids to -100..100; a value outside names ``logit_bias``."""
    ok = decode_request(ChatRequest, CHAT + b'"logit_bias":{"50256":-100,"11":100}}')
    assert ok.logit_bias == {"50256": -100, "11": 100}
    for value in (b"101", b"-100.5", b"1e308"):
        body = CHAT + b'"logit_bias":{"5":' + value + b"}}"
        assert _refused(ChatRequest, body, "logit_bias").code == "invalid_value"


def test_embedding_inputs_are_one_to_2048_items() -> None:
    """OpenAI's limit of inputs per embeddings request (strings, tokens or token arrays)."""
    for item in (b'"a"', b"1", b"[1,2]"):
        most = b'{"model":"m","input":[' + b",".join([item] * MAX_EMBEDDING_INPUTS) + b"]}"
        assert len(decode_request(EmbeddingRequest, most).input) == MAX_EMBEDDING_INPUTS
        past = b'{"model":"m","input":[' + b",".join([item] * 20_000) + b"]}"
        assert _refused(EmbeddingRequest, past, "input").code == "invalid_value"
    assert _refused(EmbeddingRequest, b'{"model":"m","input":[]}', "input").code == (
        "invalid_value"
    )


@pytest.mark.parametrize(
    ("cls", "body", "param"),
    [
        (EmbeddingRequest, b'{"model":"m","input":[[1,4294967296]]}', "input[0][1]"),
        (EmbeddingRequest, b'{"model":"m","input":[-1]}', "input[0]"),
        (CompletionRequest, b'{"model":"m","prompt":[18446744073709551616]}', "prompt[0]"),
        (CompletionRequest, b'{"model":"m","prompt":[[]]}', "prompt[0]"),
    ],
)
def test_token_ids_are_bounded(cls: type[msgspec.Struct], body: bytes, param: str) -> None:
    """A token given as an integer is 0..2^32-1; a token array is not empty."""
    assert _refused(cls, body, param).code == "invalid_value"


@PROPERTY
@given(
    field=st.sampled_from(BOUNDED),
    value=st.one_of(
        st.integers(min_value=-(2**80), max_value=2**80),
        st.floats(allow_nan=False, allow_infinity=False),
    ),
)
def test_any_number_decodes_within_its_bounds_or_is_a_400(
    field: tuple[type[msgspec.Struct], bytes, str, float, float], value: float
) -> None:
    """Whatever number a field is given, decoding yields it within the field's bounds or
    raises InvalidRequest naming the field: never another exception."""
    cls, start, name, low, high = field
    try:
        request = decode_request(cls, _body(start, name, value))
    except InvalidRequest as error:
        assert error.param == name and error.code in ("invalid_value", "invalid_type")
    else:
        assert low <= getattr(request, name) <= high
