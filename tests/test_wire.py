"""The OpenAI wire module: request decoding, its errors, ``with_model`` and ``decode_usage``."""

from __future__ import annotations

import msgspec
import pytest

from fastgw.errors import InvalidRequest, MalformedJSON
from fastgw.wire import (
    ChatRequest,
    CompletionRequest,
    EmbeddingRequest,
    Message,
    ModelCard,
    ModelList,
    PromptTokensDetails,
    StreamOptions,
    Usage,
    decode_request,
    decode_usage,
    encode,
    with_model,
    with_stream_usage,
)

# -- decoding each request type -----------------------------------------------------------------


def test_chat_request_fields() -> None:
    """A chat body gives the fields the gateway uses; unknown fields are ignored, not lost."""
    body = (
        b'{"model":"gpt-4o","messages":[{"role":"system","content":"be brief"},'
        b'{"role":"user","content":[{"type":"text","text":"hi"}]},{"role":"assistant"}],'
        b'"stream":true,"stream_options":{"include_usage":true},"max_tokens":5,'
        b'"max_completion_tokens":6,"n":2,"temperature":0.5,"seed":7,'
        b'"tools":[{"type":"function"}],"user":"u1"}'
    )
    request = decode_request(ChatRequest, body)
    assert request == ChatRequest(
        model="gpt-4o",
        messages=[
            Message("system", "be brief"),
            Message("user", [{"type": "text", "text": "hi"}]),
            Message("assistant", None),
        ],
        stream=True,
        stream_options=StreamOptions(include_usage=True),
        max_tokens=5,
        max_completion_tokens=6,
        n=2,
        temperature=0.5,
        seed=7,
    )


def test_chat_request_defaults() -> None:
    """Omitted optional fields take OpenAI's defaults: no stream, n=1, nothing else set."""
    request = decode_request(ChatRequest, b'{"model":"m","messages":[]}')
    assert (request.stream, request.stream_options, request.n) == (False, None, 1)
    assert (request.max_tokens, request.temperature, request.seed) == (None, None, None)


@pytest.mark.parametrize(
    "prompt, expected",
    [
        (b'"once upon"', "once upon"),
        (b'["a","b"]', ["a", "b"]),
        (b"[1,2,3]", [1, 2, 3]),
        (b"[[1,2],[3]]", [[1, 2], [3]]),
    ],
)
def test_completion_prompt_shapes(prompt: bytes, expected: object) -> None:
    """A completion prompt may be a string, strings, token ids or lists of token ids."""
    request = decode_request(
        CompletionRequest, b'{"model":"m","prompt":' + prompt + b',"max_tokens":3}'
    )
    assert request.prompt == expected
    assert request.max_tokens == 3


@pytest.mark.parametrize(
    "body, expected",
    [
        (b'{"model":"e","input":"text"}', EmbeddingRequest("e", "text")),
        (
            b'{"model":"e","input":["a",[1,2]],"encoding_format":"base64","dimensions":8}',
            EmbeddingRequest("e", ["a", [1, 2]], "base64", 8),
        ),
    ],
)
def test_embedding_request(body: bytes, expected: EmbeddingRequest) -> None:
    """An embeddings body: input as text or tokens, encoding_format defaulting to float."""
    assert decode_request(EmbeddingRequest, body) == expected


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls, body, param",
    [
        (ChatRequest, b'{"messages":[]}', "model"),
        (ChatRequest, b'{"model":"m"}', "messages"),
        (ChatRequest, b'{"model":"m","messages":[{"content":"x"}]}', "messages[0].role"),
        (
            ChatRequest,
            b'{"model":"m","messages":[{"role":"user"},{"content":"x"}]}',
            "messages[1].role",
        ),
        (CompletionRequest, b'{"model":"m"}', "prompt"),
        (EmbeddingRequest, b'{"model":"m"}', "input"),
        (EmbeddingRequest, b'{"input":"x"}', "model"),
    ],
)
def test_missing_required_parameter(cls: type, body: bytes, param: str) -> None:
    """A missing field is a 400 naming its OpenAI param path, code missing_required_parameter."""
    with pytest.raises(InvalidRequest) as info:
        decode_request(cls, body)
    error = info.value
    assert type(error) is InvalidRequest
    assert (error.status, error.param, error.code) == (400, param, "missing_required_parameter")
    assert error.message == f"Missing required parameter: '{param}'."


@pytest.mark.parametrize(
    "cls, body, param",
    [
        (ChatRequest, b'{"model":1,"messages":[]}', "model"),
        (ChatRequest, b'{"model":"m","messages":{}}', "messages"),
        (ChatRequest, b'{"model":"m","messages":[{"role":1}]}', "messages[0].role"),
        (
            ChatRequest,
            b'{"model":"m","messages":[{"role":"user","content":5}]}',
            "messages[0].content",
        ),
        (ChatRequest, b'{"model":"m","messages":[],"stream":"yes"}', "stream"),
        (
            ChatRequest,
            b'{"model":"m","messages":[],"stream_options":{"include_usage":1}}',
            "stream_options.include_usage",
        ),
        (ChatRequest, b'{"model":"m","messages":[],"max_tokens":1.5}', "max_tokens"),
        (ChatRequest, b'{"model":"m","messages":[],"n":"2"}', "n"),
        (ChatRequest, b'{"model":"m","messages":[],"temperature":"hot"}', "temperature"),
        (CompletionRequest, b'{"model":"m","prompt":[1.5]}', "prompt[0]"),
        (EmbeddingRequest, b'{"model":"m","input":null}', "input"),
        (EmbeddingRequest, b'{"model":"m","input":[[1,"a"]]}', "input[0][1]"),
        (EmbeddingRequest, b'{"model":"m","input":"x","dimensions":"8"}', "dimensions"),
    ],
)
def test_invalid_type(cls: type, body: bytes, param: str) -> None:
    """An ill-typed field is a 400 naming its OpenAI param path, code invalid_type, with
    msgspec's expected/got in the message."""
    with pytest.raises(InvalidRequest) as info:
        decode_request(cls, body)
    error = info.value
    assert (error.status, error.param, error.code) == (400, param, "invalid_type")
    assert error.message.startswith(f"Invalid type for '{param}': expected ")
    assert ", got " in error.message
    assert " - at " not in error.message  # msgspec's path suffix is turned into the param


def test_body_not_an_object() -> None:
    """A JSON array is valid JSON but no request: invalid_type without a param."""
    with pytest.raises(InvalidRequest) as info:
        decode_request(ChatRequest, b"[]")
    error = info.value
    assert type(error) is InvalidRequest
    assert (error.param, error.code) == (None, "invalid_type")
    assert error.message == "Invalid request body: Expected `object`, got `array`."


@pytest.mark.parametrize("body", [b"", b"{", b'{"model":', b"not json", b'{"model":"m",}', b"\xff"])
def test_malformed_json(body: bytes) -> None:
    """Bytes that are not JSON raise MalformedJSON: 400, code invalid_json, no param."""
    with pytest.raises(MalformedJSON) as info:
        decode_request(ChatRequest, body)
    error = info.value
    assert (error.status, error.type, error.param, error.code) == (
        400,
        "invalid_request_error",
        None,
        "invalid_json",
    )
    assert error.message.startswith("We could not parse the JSON body of your request (")


def test_error_body_is_openai_shaped() -> None:
    """The error a bad field raises renders as OpenAI's error object."""
    with pytest.raises(InvalidRequest) as info:
        decode_request(ChatRequest, b'{"model":"m","messages":[{"content":"x"}]}')
    assert msgspec.json.decode(info.value.body()) == {
        "error": {
            "message": "Missing required parameter: 'messages[0].role'.",
            "type": "invalid_request_error",
            "param": "messages[0].role",
            "code": "missing_required_parameter",
        }
    }


# -- with_model ---------------------------------------------------------------------------------


def test_with_model_keeps_other_raw_values_and_order() -> None:
    """Only ``model`` changes; every other value keeps its exact bytes (number spelling,
    escapes, inner whitespace) and the keys keep their order."""
    body = (
        b'{"temperature": 0.50, "model" : "public",'
        b' "messages": [ {"role":"user", "content":"caf\\u00e9 \\"q\\""} ],'
        b' "n":1e0, "logit_bias": {"50256": -100}, "stream": true}'
    )
    out = with_model(body, "upstream-1")
    assert out == (
        b'{"temperature":0.50,"model":"upstream-1",'
        b'"messages":[ {"role":"user", "content":"caf\\u00e9 \\"q\\""} ],'
        b'"n":1e0,"logit_bias":{"50256": -100},"stream":true}'
    )


def test_with_model_adds_model_when_absent() -> None:
    """A body without ``model`` gets it appended after the other keys."""
    assert with_model(b'{"input":"x"}', "m") == b'{"input":"x","model":"m"}'


def test_with_model_escapes_the_name() -> None:
    """The new model name is JSON-encoded, so quotes in it cannot break the body."""
    out = with_model(b'{"model":"a"}', 'we"ird')
    assert msgspec.json.decode(out) == {"model": 'we"ird'}


def test_with_model_result_decodes_to_the_same_request() -> None:
    """The rewritten body decodes to the same request except for the model."""
    body = b'{"model":"a","messages":[{"role":"user","content":"hi"}],"max_tokens":3,"seed":1}'
    before = decode_request(ChatRequest, body)
    after = decode_request(ChatRequest, with_model(body, "b"))
    assert after == msgspec.structs.replace(before, model="b")


# -- decode_usage and the gateway's own bodies ---------------------------------------------------


def test_decode_usage_from_response() -> None:
    """The usage of a response body, cached tokens included; other details are ignored."""
    payload = (
        b'{"id":"x","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,'
        b'"total_tokens":7,"prompt_tokens_details":{"cached_tokens":2},'
        b'"completion_tokens_details":{"reasoning_tokens":1}}}'
    )
    assert decode_usage(payload) == Usage(3, 4, 7, PromptTokensDetails(cached_tokens=2))


@pytest.mark.parametrize(
    "payload",
    [
        None,
        b"",
        b'{"usage":null}',
        b'{"choices":[]}',
        b"[DONE]",
        b"{",
        b'{"usage":{"prompt_tokens":"x"}}',
        b'{"usage":{"prompt_tokens":3,"completion_tokens":-1000000}}',
        b'{"usage":{"completion_tokens":99999999999999999999999}}',
        b'{"usage":{"completion_tokens":1099511627777}}',
        b'{"usage":{"prompt_tokens_details":{"cached_tokens":-5}}}',
    ],
)
def test_decode_usage_absent_or_unreadable(payload: bytes | None) -> None:
    """No usage, null usage, [DONE], truncated, ill-typed or out-of-range usage (a negative
    count would refund a budget) all give None, never raise."""
    assert decode_usage(payload) is None


def test_usage_encoding_omits_defaults() -> None:
    """Usage encodes without the details it does not have."""
    assert encode(Usage(1, 2, 3)) == b'{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}'


def test_model_list_shape() -> None:
    """``GET /v1/models`` bodies have OpenAI's list and model shapes."""
    body = encode(ModelList([ModelCard("gpt-4o", 1700000000, "fastgw")]))
    assert msgspec.json.decode(body) == {
        "data": [{"id": "gpt-4o", "created": 1700000000, "owned_by": "fastgw", "object": "model"}],
        "object": "list",
    }


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b'{"model":"m","messages":[],"max_tokens":0}', "max_tokens"),
        (b'{"model":"m","messages":[],"max_completion_tokens":-5}', "max_completion_tokens"),
        (b'{"model":"m","messages":[],"n":0}', "n"),
    ],
)
def test_counts_below_one_are_invalid_values(body: bytes, param: str) -> None:
    """max_tokens, max_completion_tokens and n below 1 are refused with invalid_value naming
    the param, as OpenAI does, before any upstream is asked."""
    with pytest.raises(InvalidRequest) as caught:
        decode_request(ChatRequest, body)
    assert (caught.value.param, caught.value.code) == (param, "invalid_value")


def test_embedding_dimensions_below_one_are_invalid() -> None:
    """Embeddings with dimensions below 1 are refused with a 400 naming dimensions."""
    with pytest.raises(InvalidRequest) as caught:
        decode_request(EmbeddingRequest, b'{"model":"m","input":"x","dimensions":0}')
    assert caught.value.param == "dimensions"


# -- asking for a stream's usage -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"model":"m","stream":true} \n', {"model": "m", "stream": True}),
        (b'{"model":"m","stream_options":null}', {"model": "m"}),
        (
            b'{"model":"m","stream_options":{"include_usage":false,"include_obfuscation":false}}',
            {"model": "m", "stream_options": {"include_obfuscation": False}},
        ),
        (b'{"stream_options":{},"model":"m"}', {"model": "m"}),
    ],
    ids=["appended", "null", "other-options-kept", "empty"],
)
def test_with_stream_usage_asks_for_usage_and_keeps_the_rest(
    body: bytes, expected: dict[str, object]
) -> None:
    """The body asks for include_usage; every other field and stream option is kept."""
    for model in (None, "up"):
        decoded = msgspec.json.decode(with_stream_usage(body, model))
        options = decoded.pop("stream_options")
        assert options == {**expected.get("stream_options", {}), "include_usage": True}  # type: ignore[dict-item]
        want = {k: v for k, v in expected.items() if k != "stream_options"}
        assert decoded == {**want, "model": model or "m"}


def test_with_stream_usage_appends_without_decoding() -> None:
    """Without stream_options and a model to rename, the field is appended to the bytes,
    which are otherwise the client's own."""
    body = b'{"model":"m", "messages":[{"role":"user","content":"x"}]}'
    assert with_stream_usage(body) == body[:-1] + b',"stream_options":{"include_usage":true}}'
