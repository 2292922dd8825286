"""The embedded ``mock`` provider: deterministic OpenAI answers without a network.

The same request always gets the same answer: the words are chosen by an xxhash of the
prompt. Usage is realistic (prompt tokens estimated from the messages, completion tokens
counted from the answer); ``max_tokens`` truncates with ``finish_reason: "length"``; streams
honour ``stream_options.include_usage`` as OpenAI does (``usage: null`` on every chunk, then
one usage chunk with ``choices: []``; when only the gateway asks, ``Call.stream_usage``, just
that last chunk, which the relay leaves out) and pace their chunks with the configured delays;
embeddings are unit vectors, as floats or base64 (the Python SDK asks for base64).
"""

from __future__ import annotations

import asyncio
import base64
import math
import random
import struct
import time
from collections.abc import Callable

import msgspec
import xxhash

from ..config import MockProvider as MockConfig
from ..tokens import estimate_messages, estimate_prompt, estimate_text, message_text
from ..wire import ChatRequest, EmbeddingRequest, Usage, encode
from .base import Call

_WORDS = [
    "the",
    "gateway",
    "answers",
    "every",
    "request",
    "quickly",
    "and",
    "the",
    "mock",
    "provider",
    "keeps",
    "each",
    "reply",
    "deterministic",
    "so",
    "tests",
    "can",
    "compare",
    "streams",
    "plain",
    "answers",
    "embeddings",
    "and",
    "usage",
    "exactly",
    "while",
    "latency",
    "stays",
    "low",
    "under",
    "heavy",
    "load",
    "across",
    "many",
    "keys",
    "models",
    "and",
    "deployments",
]


class _Content(msgspec.Struct):
    role: str
    content: str
    refusal: None = None


class _Choice(msgspec.Struct):
    index: int
    message: _Content
    finish_reason: str
    logprobs: None = None


class _Delta(msgspec.Struct, omit_defaults=True):
    role: str | None = None
    content: str | None = None


class _ChunkChoice(msgspec.Struct):
    index: int
    delta: _Delta
    finish_reason: str | None = None
    logprobs: None = None


class _TextChoice(msgspec.Struct):
    index: int
    text: str
    finish_reason: str | None = None
    logprobs: None = None


class _Body(msgspec.Struct):
    id: str
    object: str
    created: int
    model: str
    choices: list[_Choice] | list[_ChunkChoice] | list[_TextChoice]
    system_fingerprint: str = "fp_fastgw_mock"
    usage: Usage | msgspec.UnsetType | None = msgspec.UNSET


class _Embedding(msgspec.Struct):
    index: int
    embedding: list[float] | str
    object: str = "embedding"


class _EmbeddingList(msgspec.Struct):
    data: list[_Embedding]
    model: str
    usage: Usage
    object: str = "list"


class MockResponse:
    """A canned response, read whole or chunk by chunk with the configured pacing."""

    def __init__(self, chunks: list[bytes], first_delay: float, gap: float, sse: bool) -> None:
        self.status = 200
        self._chunks = chunks
        self._index = 0
        self._first_delay = first_delay
        self._gap = gap
        self._type = b"text/event-stream" if sse else b"application/json"

    def header(self, name: bytes) -> bytes | None:
        return self._type if name == b"content-type" else None

    async def next_chunk(self) -> bytes | None:
        if self._index >= len(self._chunks):
            return None
        delay = self._first_delay if self._index == 0 else self._gap
        if delay > 0:
            await asyncio.sleep(delay)
        chunk = self._chunks[self._index]
        self._index += 1
        return chunk

    async def pump(self, sink: Callable[[bytes], bool]) -> bool:
        while (chunk := await self.next_chunk()) is not None:
            if not sink(chunk):
                return False
        return True

    async def read(self) -> bytes:
        if self._first_delay > 0:
            await asyncio.sleep(self._first_delay)
        self._index = len(self._chunks)
        return b"".join(self._chunks)

    def close(self) -> None:
        self._index = len(self._chunks)


class MockProvider:
    def __init__(self, name: str, config: MockConfig) -> None:
        self.name = name
        self.config = config
        self._first = config.first_token_delay_ms / 1000
        self._gap = config.chunk_delay_ms / 1000

    async def send(self, call: Call) -> MockResponse:
        request = call.request
        if isinstance(request, EmbeddingRequest):
            return MockResponse(
                [self._embeddings(request, call.upstream_model)], self._first, 0, False
            )
        if isinstance(request, ChatRequest):
            text = " ".join(message_text(m) for m in request.messages)
            prompt_tokens = estimate_messages(request.messages)
            limit = request.max_completion_tokens or request.max_tokens
            kind = "chat.completion"
        else:
            text = request.prompt if isinstance(request.prompt, str) else str(request.prompt)
            prompt_tokens = estimate_prompt(request.prompt)
            limit = request.max_tokens
            kind = "text_completion"
        count = min(self.config.tokens, limit) if limit else self.config.tokens
        finish = "length" if count < self.config.tokens else "stop"
        seed = xxhash.xxh64_intdigest(text.encode())
        answers = [_answer(seed + i, count) for i in range(max(request.n, 1))]
        usage = Usage(prompt_tokens, count * len(answers), prompt_tokens + count * len(answers))
        ident = f"{'chatcmpl' if kind == 'chat.completion' else 'cmpl'}-mock{seed & 0xFFFFFFFF:08x}"
        created = int(time.time())
        if request.stream:
            asked = request.stream_options is not None and request.stream_options.include_usage
            events = _stream(
                ident,
                kind,
                created,
                call.upstream_model,
                answers,
                finish,
                usage,
                asked,
                asked or call.stream_usage,
            )
            return MockResponse(events, self._first, self._gap, True)
        if kind == "chat.completion":
            choices: list[_Choice] | list[_TextChoice] = [
                _Choice(i, _Content("assistant", "".join(words)), finish)
                for i, words in enumerate(answers)
            ]
        else:
            choices = [_TextChoice(i, "".join(words), finish) for i, words in enumerate(answers)]
        body = encode(_Body(ident, kind, created, call.upstream_model, choices, usage=usage))
        return MockResponse([body], self._first, 0, False)

    def _embeddings(self, request: EmbeddingRequest, model: str) -> bytes:
        inputs = [request.input] if isinstance(request.input, str) else request.input
        dims = request.dimensions or self.config.embedding_dims
        data = []
        tokens = 0
        for i, item in enumerate(inputs):
            text = item if isinstance(item, str) else str(item)
            tokens += (
                estimate_text(text)
                if isinstance(item, str)
                else (1 if isinstance(item, int) else len(item))
            )
            vector = _unit_vector(xxhash.xxh64_intdigest(text.encode()), dims)
            value: list[float] | str = vector
            if request.encoding_format == "base64":
                value = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
            data.append(_Embedding(i, value))
        return encode(_EmbeddingList(data, model, Usage(tokens, 0, tokens)))

    async def close(self) -> None:
        return None


def _answer(seed: int, count: int) -> list[str]:
    """``count`` words, one token each; the first has no leading space."""
    n = len(_WORDS)
    words = [
        _WORDS[(seed >> (i % 48)) % n if i < 48 else (seed + i * 7919) % n] for i in range(count)
    ]
    return [words[0], *(" " + w for w in words[1:])]


def _unit_vector(seed: int, dims: int) -> list[float]:
    rng = random.Random(seed)
    vector = [rng.gauss(0.0, 1.0) for _ in range(dims)]
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def _stream(
    ident: str,
    kind: str,
    created: int,
    model: str,
    answers: list[list[str]],
    finish: str,
    usage: Usage,
    include_usage: bool,
    usage_event: bool,
) -> list[bytes]:
    """The stream's events; ``include_usage``: the client asked (every chunk carries
    ``usage: null``, as OpenAI's do); ``usage_event``: end with the usage-only event (also
    when only the gateway asked: the relay leaves it out, so chunks stay as without it)."""
    chat = kind == "chat.completion"
    obj = "chat.completion.chunk" if chat else "text_completion"
    unset_usage: msgspec.UnsetType | None = None if include_usage else msgspec.UNSET
    events: list[bytes] = []

    def event(choices: list[_ChunkChoice] | list[_TextChoice]) -> bytes:
        body = _Body(ident, obj, created, model, choices, usage=unset_usage)
        return b"data: " + encode(body) + b"\n\n"

    if chat:
        events.append(
            event(
                [_ChunkChoice(i, _Delta(role="assistant", content="")) for i in range(len(answers))]
            )
        )
    for position in range(len(answers[0])):
        if chat:
            events.append(
                event([_ChunkChoice(i, _Delta(content=a[position])) for i, a in enumerate(answers)])
            )
        else:
            events.append(event([_TextChoice(i, a[position]) for i, a in enumerate(answers)]))
    if chat:
        events.append(event([_ChunkChoice(i, _Delta(), finish) for i in range(len(answers))]))
    else:
        events.append(event([_TextChoice(i, "", finish) for i in range(len(answers))]))
    if usage_event:
        final = _Body(ident, obj, created, model, [], usage=usage)
        events.append(b"data: " + encode(final) + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return events
