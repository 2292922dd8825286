"""The OpenAI protocol package, sans-IO: request decoding and its bounds, usage, chunks and
completions written and read back, error bodies, SSE event splitting and the upstream's
rate-limit headers, all with byte literals."""

from __future__ import annotations

import ast
import inspect
import pathlib

import msgspec
import pytest

import fastgw
from fastgw.errors import InvalidRequest, MalformedJSON, UpstreamProtocolError
from fastgw.protocols import sse
from fastgw.protocols.openai import chunks, decode, errors, ratelimit, responses, usage
from fastgw.protocols.openai.requests import ChatRequest, EmbeddingRequest

# -- requests ---------------------------------------------------------------------------------


def test_decode_reads_the_fields_used_and_keeps_bounds() -> None:
    """A chat body decodes to the fields the gateway uses; a number past OpenAI's bound is a
    400 ``invalid_value`` naming the param; a key twice is ``duplicate_parameter``."""
    body = b'{"model":"m","messages":[{"role":"user","content":"hi"}],"n":2,"top_p":1}'
    request = decode.decode_request(ChatRequest, body)
    assert (request.model, request.n, request.messages[0].content) == ("m", 2, "hi")
    with pytest.raises(InvalidRequest) as caught:
        decode.decode_request(ChatRequest, body.replace(b'"n":2', b'"n":129'))
    assert (caught.value.param, caught.value.code) == ("n", "invalid_value")
    with pytest.raises(InvalidRequest) as caught:
        decode.decode_request(ChatRequest, b'{"model":"a","mod\\u0065l":"b","messages":[]}')
    assert caught.value.code == "duplicate_parameter"
    with pytest.raises(InvalidRequest) as caught:
        decode.decode_request(EmbeddingRequest, b'{"model":"m","input":[]}')
    assert (caught.value.param, caught.value.code) == ("input", "invalid_value")


def test_decode_refuses_bodies_too_deep_or_not_json() -> None:
    """Nesting past MAX_JSON_DEPTH and malformed JSON are 400s, never a RecursionError."""
    deep = b'{"model":"m","messages":[],"metadata":{"a":' + b"[" * 200 + b"]" * 200 + b"}}"
    with pytest.raises(MalformedJSON, match="levels deep"):
        decode.decode_request(ChatRequest, deep)
    with pytest.raises(MalformedJSON):
        decode.decode_request(ChatRequest, b'{"model":')


# -- usage --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            b'{"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}',
            usage.Usage(3, 4, 7),
        ),
        (
            b'{"id":"x","usage":{"prompt_tokens":3,"prompt_tokens_details":{"cached_tokens":2}}}',
            usage.Usage(3, prompt_tokens_details=usage.PromptTokensDetails(2)),
        ),
        (b'{"usage":null}', None),
        (b'{"choices":[]}', None),
        (b'{"usage":{"prompt_tokens":-1}}', None),  # a refund: unreadable
        (b'{"usage":{"prompt_tokens":1099511627777}}', None),  # past MAX_USAGE_TOKENS
        (b"not json", None),
        (b"", None),
        (None, None),
    ],
)
def test_decode_usage(payload: bytes | None, expected: usage.Usage | None) -> None:
    """Only a well-formed, bounded usage object is read; anything else is None."""
    assert usage.decode_usage(payload) == expected


# -- chunks -------------------------------------------------------------------------------------

OPENAI_CHUNK = (
    b'{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,'
    b'"model":"gpt-4o","system_fingerprint":"fp_1","choices":[{"index":0,'
    b'"delta":{"role":"assistant","content":"Hi"},"logprobs":null,"finish_reason":null}]}'
)


def test_chunk_is_written_as_openai_writes_it() -> None:
    """finish_reason and logprobs always present, the delta only with what it carries,
    usage absent unless set."""
    chunk = chunks.Chunk(
        "c", "chat.completion.chunk", 1, "m", [chunks.ChunkChoice(0, chunks.Delta(content="hi"))]
    )
    assert chunks.chunk_event(chunk) == (
        b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
        b'"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null,'
        b'"logprobs":null}],"system_fingerprint":null}\n\n'
    )
    text = chunks.Chunk("c", "text_completion", 1, "m", [chunks.ChunkChoice(0, text="hi")], None)
    assert b'"choices":[{"index":0,"text":"hi","finish_reason":null' in chunks.chunk_event(text)
    final = chunks.Chunk("c", "x", 1, "m", [], None, usage.Usage(1, 2, 3))
    assert chunks.chunk_event(final).endswith(
        b'"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}\n\n'
    )


def test_chunk_round_trip_and_lenient_reading() -> None:
    """OpenAI's chunk bytes decode, re-encode and decode to the same chunk; Azure's leading
    chunk without choices and a chunk with null usage decode too."""
    chunk = chunks.decode_chunk(OPENAI_CHUNK)
    delta = chunk.choices[0].delta
    assert isinstance(delta, chunks.Delta) and (delta.role, delta.content) == ("assistant", "Hi")
    assert chunk.choices[0].text is msgspec.UNSET and chunk.usage is msgspec.UNSET
    again = chunks.chunk_event(chunk)
    assert again.startswith(b"data: ") and again.endswith(b"\n\n")
    assert chunks.decode_chunk(again[6:-2]) == chunk
    azure = chunks.decode_chunk(
        b'{"id":"","object":"","created":0,"model":"","choices":[],"prompt_filter_results":[]}'
    )
    assert azure.choices == []
    assert chunks.decode_chunk(b'{"choices":[],"usage":null}').usage is None
    with pytest.raises(msgspec.DecodeError):
        chunks.decode_chunk(b'{"choices":[{"index":"zero"}]}')


def test_completion_round_trip_and_kind() -> None:
    """A plain completion written by the Structs reads back equal; its kind is read without
    decoding it; an embeddings answer is read with its vectors left raw."""
    message = responses.AssistantMessage(content="hi")
    completion = responses.Completion(
        "c", "chat.completion", 1, "m", [responses.ChatChoice(0, message, "stop")]
    )
    body = msgspec.json.encode(completion)
    assert b'"message":{"role":"assistant","content":"hi","refusal":null}' in body
    assert responses.chat_decoder.decode(body) == completion
    assert responses.completion_kind(body) == "chat.completion"
    assert responses.completion_kind(b'{"object":"text_completion"}') == "text_completion"
    listed = responses.embeddings_decoder.decode(
        b'{"object":"list","data":[{"index":0,"embedding":[0.5]}],"model":"e"}'
    )
    assert bytes(listed.data[0]) == b'{"index":0,"embedding":[0.5]}' and listed.model == "e"


# -- errors -------------------------------------------------------------------------------------


def test_error_body_written_and_read() -> None:
    """The one error shape, every field written; upstream errors read leniently."""
    assert errors.error_body("no", "invalid_request_error", "n") == (
        b'{"error":{"message":"no","type":"invalid_request_error","param":"n","code":null}}'
    )
    assert errors.error_event(b"{}") == b"event: error\ndata: {}\n\n"
    assert errors.read_error(b'{"error":"context length exceeded"}').error == (
        "context length exceeded"
    )
    detail = errors.read_error(b'{"error":{"code":"content_filter"}}').error
    assert isinstance(detail, errors.ErrorDetail) and detail.code == "content_filter"
    assert errors.is_error_body(b' {"error": {}}') and not errors.is_error_body(b'{"id":1}')
    assert fastgw.GatewayError("boom").body() == errors.error_body(
        "boom", "server_error", code="internal_error"
    )


# -- SSE events ---------------------------------------------------------------------------------


def test_sse_parser_splits_events_across_any_chunking() -> None:
    """The same events whatever the chunk boundaries: CRLF and CR endings, a CRLF split
    between chunks, multi-line data, comments, named events, an event without data."""
    stream = (
        b': keep-alive\r\n\r\ndata: {"a":1}\r\n\r\nevent: error\ndata: one\ndata: two\n\n'
        b"event: ping\n\ndata:[DONE]\r\r"
    )
    expected = [
        sse.Event("message", b'{"a":1}'),
        sse.Event("error", b"one\ntwo"),
        sse.Event("message", b"[DONE]"),
    ]
    for size in (1, 2, 3, 7, len(stream)):
        parser = sse.SSEParser()
        events: list[sse.Event] = []
        for i in range(0, len(stream), size):
            events += parser.feed(stream[i : i + size])
        assert events == expected, size


def test_sse_parser_bounds_an_incomplete_event() -> None:
    """An event that never ends cannot make the gateway buffer without limit."""
    parser = sse.SSEParser()
    assert parser.feed(b"data: " + b"x" * (sse.MAX_EVENT_BYTES - 6)) == []  # at the bound
    with pytest.raises(UpstreamProtocolError):
        parser.feed(b"x")


# -- the upstream's rate-limit headers -----------------------------------------------------------


def test_ratelimit_headers_renamed_only_when_present() -> None:
    """Present x-ratelimit-* headers come out renamed; none gives the shared empty tuple."""
    headers = [
        (b"content-type", b"application/json"),
        (b"x-ratelimit-limit-requests", b"10000"),
        (b"x-ratelimit-reset-tokens", b"6m0.5s"),
        (b"x-request-id", b"req_1"),
    ]
    assert ratelimit.upstream_ratelimit_headers(headers) == [
        ("x-upstream-ratelimit-limit-requests", "10000"),
        ("x-upstream-ratelimit-reset-tokens", "6m0.5s"),
    ]
    none = ratelimit.upstream_ratelimit_headers(headers[:1] + headers[3:])
    assert none == () and none is ratelimit.upstream_ratelimit_headers([])


def test_ratelimit_headers_drop_hostile_values() -> None:
    """Odd names, values that are no rate-limit value, the secret, and more than
    MAX_HEADERS are dropped."""
    secret = b"sk-upstream-secret-0001"
    headers = [
        (b"x-ratelimit-a_b", b"1"),
        (b"x-ratelimit-", b"1"),
        (b"x-ratelimit-x", b"1 2"),
        (b"x-ratelimit-e", b""),
        (b"x-ratelimit-" + b"n" * 49, b"1"),
        (b"x-ratelimit-y", b"\xff"),
        (b"x-ratelimit-z", b"9" * (ratelimit.MAX_VALUE + 1)),
        (b"x-ratelimit-key", b"Bearer" + secret),
        (b"x-ratelimit-key2", secret),
    ] + [(b"x-ratelimit-n%d" % i, b"%d" % i) for i in range(40)]
    out = ratelimit.upstream_ratelimit_headers(headers, secret)
    assert [name for name, _ in out] == [
        f"x-upstream-ratelimit-n{i}" for i in range(ratelimit.MAX_HEADERS)
    ]


# -- one copy of each Struct --------------------------------------------------------------------

ROOT = pathlib.Path(fastgw.__file__).parent


@pytest.mark.parametrize("module", ["cache/replay.py", "providers/mock.py", "wire.py"])
def test_no_wire_struct_outside_the_protocol_package(module: str) -> None:
    """The cache's replay, the mock and wire.py define no msgspec Struct: they use the
    protocol package's."""
    tree = ast.parse((ROOT / module).read_text())
    structs = [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any("Struct" in ast.unparse(base) for base in node.bases)
    ]
    assert structs == []


def test_protocol_package_is_sans_io() -> None:
    """No module of fastgw.protocols imports asyncio, sockets or Granian."""
    for path in (ROOT / "protocols").rglob("*.py"):
        source = path.read_text()
        for banned in ("asyncio", "socket", "granian"):
            assert f"import {banned}" not in source, (path, banned)
    assert inspect.getmodule(sse.SSEParser) is sse
