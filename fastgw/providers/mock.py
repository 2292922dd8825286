"""The embedded ``mock`` provider: deterministic OpenAI answers without a network.

The same request always gets the same answer: the words are chosen by an xxhash of the
prompt. Usage is realistic (prompt tokens estimated from the messages, completion tokens
counted from the answer); ``max_tokens`` truncates with ``finish_reason: "length"``; streams
honour ``stream_options.include_usage`` as OpenAI does (``usage: null`` on every chunk, then
one usage chunk with ``choices: []``; when only the gateway asks, ``Call.stream_usage``, just
that last chunk, which the relay leaves out) and pace their chunks with the configured delays;
embeddings are unit vectors, as floats or base64 (the Python SDK asks for base64).

Rules this module keeps (the mock is the default provider, so its work is a client's to ask):
- The work of one request is bounded: the wire already bounds ``n`` (128) and the embedding
  inputs (2048), the config bounds ``tokens`` and ``embedding_dims``, and ``dimensions`` above
  the configured ``embedding_dims`` is refused with a 400 as OpenAI refuses it past a model's
  size.
- It never holds the event loop for long: answers, embeddings and stream events are built in
  slices of about ``_SLICE_WORK`` words or floats (a few ms), with a yield to the loop between
  two slices; stream events are built as they are sent, not all up front.
- Plain chat stays the benchmark baseline: a request with none of the fields the mock reads
  beyond ``ChatRequest`` (``mock_request.read_extras``: tools, response format, stop,
  logprobs, ``mock_response``, ``mock_error``) takes the path it always took. The others are
  answered by ``_send_extras``: what to answer is decided in ``mock_answer`` (schemas filled
  by ``mock_schema``), bounded there, and each choice built is counted as work between yields;
  logprobs are refused with a 400 past ``MAX_LOGPROB_ENTRIES`` entries a request.
- A request OpenAI would refuse (malformed tools, an unusable schema) is a 400 in OpenAI's
  error shape, and ``mock_error`` answers the error asked for; neither is an exception.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import struct
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

import msgspec
import xxhash

from ..config import MockProvider as MockConfig
from ..protocols.openai.chunks import DONE, Chunk, ChunkChoice, Delta, chunk_event
from ..protocols.openai.errors import error_body
from ..protocols.openai.requests import ChatRequest, CompletionRequest, EmbeddingRequest
from ..protocols.openai.responses import (
    AssistantMessage,
    ChatChoice,
    Completion,
    Embedding,
    TextChoice,
)
from ..protocols.openai.usage import Usage
from ..tokens import estimate_messages, estimate_prompt, estimate_text, message_text
from .base import Call, Response
from .mock_answer import (
    Answer,
    CallOut,
    TokenLogprob,
    cut,
    format_content,
    json_tokens,
    planned_tools,
    schema_problem,
    text_tokens,
    token_logprobs,
    tool_call,
    words,
)
from .mock_request import MOCK_ERRORS, Extras, RequestError, read_extras
from .mock_schema import SchemaError
from .mock_stream import assistant_message, choice_logprobs, extras_stream
from .openai_wire import OpenAIWire

_FINGERPRINT = "fp_fastgw_mock"
_SSE_HEADERS = ((b"content-type", b"text/event-stream"),)
_JSON_HEADERS = ((b"content-type", b"application/json"),)
encode = msgspec.json.Encoder().encode

# Words or floats built between two yields to the event loop: about 10 ms of work (a float
# of an embedding costs about 0.3 us to draw and encode, a word of an answer less).
_SLICE_WORK = 32_768
# logprob entries (tokens x (1 + top_logprobs), all choices) one request may ask for: ~15 MB
# of JSON, a few hundred ms of work
MAX_LOGPROB_ENTRIES = 262_144


class MockResponse:
    """A canned response, read whole or chunk by chunk with the configured pacing. ``chunks``
    may be built lazily (a generator): each is built when it is asked for. Without pacing,
    the loop is yielded to every ``_SLICE_WORK`` bytes sent, so a long stream does not hold
    it."""

    def __init__(
        self,
        chunks: Iterable[bytes],
        first_delay: float,
        gap: float,
        sse: bool,
        status: int = 200,
    ) -> None:
        self.status = status
        self._chunks: Iterator[bytes] = iter(chunks)
        self._started = False
        self._first_delay = first_delay
        self._gap = gap
        self.headers = _SSE_HEADERS if sse else _JSON_HEADERS
        self._unyielded = 0  # bytes handed out since the loop was last yielded to

    def header(self, name: bytes) -> bytes | None:
        return self.headers[0][1] if name == b"content-type" else None

    async def next_chunk(self) -> bytes | None:
        chunk = next(self._chunks, None)
        if chunk is None:
            return None
        delay = self._gap if self._started else self._first_delay
        self._started = True
        if delay > 0:
            await asyncio.sleep(delay)
            self._unyielded = 0
        else:
            self._unyielded += len(chunk)
            if self._unyielded >= 8 * _SLICE_WORK:
                self._unyielded = 0
                await asyncio.sleep(0)  # a yield to the loop between slices of a long stream
        return chunk

    async def pump(self, sink: Callable[[bytes], bool]) -> bool:
        while (chunk := await self.next_chunk()) is not None:
            if not sink(chunk):
                return False
        return True

    async def read(self) -> bytes:
        if self._first_delay > 0:
            await asyncio.sleep(self._first_delay)
        parts = []
        size = 0
        for chunk in self._chunks:
            parts.append(chunk)
            size += len(chunk)
            if size >= 8 * _SLICE_WORK:
                size = 0
                await asyncio.sleep(0)  # a yield to the loop between slices of a long body
        return b"".join(parts)

    def close(self) -> None:
        self._chunks = iter(())


class MockProvider(OpenAIWire):
    """The embedded provider: answers as an OpenAI upstream would, with no network."""

    def __init__(self, name: str, config: MockConfig) -> None:
        self.name = name
        self.config = config
        self._first = config.first_token_delay_ms / 1000
        self._gap = config.chunk_delay_ms / 1000

    async def send(self, call: Call) -> MockResponse:
        request = call.request
        if isinstance(request, EmbeddingRequest):
            return await self._embeddings(request, call.upstream_model)
        try:
            extras = read_extras(call.body, isinstance(request, ChatRequest))
        except RequestError as exc:
            return self._error(400, exc.message, exc.param, exc.code)
        if extras is not None:
            return await self._send_extras(call, request, extras)
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
        answers: list[list[str]] = []
        work = 0
        for i in range(max(request.n, 1)):
            answers.append(words(seed + i, count))
            work += count
            if work >= _SLICE_WORK:
                work = 0
                await asyncio.sleep(0)  # a yield to the loop between slices of the work
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
        completion: Completion[ChatChoice] | Completion[TextChoice]
        if kind == "chat.completion":
            completion = Completion(
                ident,
                kind,
                created,
                call.upstream_model,
                [
                    ChatChoice(i, AssistantMessage(content="".join(words)), finish)
                    for i, words in enumerate(answers)
                ],
                _FINGERPRINT,
                usage,
            )
        else:
            completion = Completion(
                ident,
                kind,
                created,
                call.upstream_model,
                [TextChoice(i, "".join(words), finish) for i, words in enumerate(answers)],
                _FINGERPRINT,
                usage,
            )
        body = encode(completion)
        return MockResponse([body], self._first, 0, False)

    def _error(
        self, status: int, message: str, param: str | None = None, code: str | None = None
    ) -> MockResponse:
        """An answer in OpenAI's error shape; a 400's type is ``invalid_request_error``."""
        kind = MOCK_ERRORS[status][0] if status != 400 else "invalid_request_error"
        body = error_body(message, kind, param, code)
        return MockResponse([body], self._first, 0, False, status=status)

    async def _send_extras(
        self, call: Call, request: ChatRequest | CompletionRequest, extras: Extras
    ) -> MockResponse:
        """A chat or text completion with tools, a response format, stop, logprobs, a fixed
        answer or an error asked for (see ``mock_answer`` for what is answered)."""
        if extras.mock_error is not None:
            kind, code = MOCK_ERRORS[extras.mock_error]
            message = f"The mock answered {extras.mock_error}, as the request's mock_error asked."
            body = error_body(message, kind, None, code)
            return MockResponse([body], self._first, 0, False, status=extras.mock_error)
        chat = isinstance(request, ChatRequest)
        if isinstance(request, ChatRequest):
            text = " ".join(message_text(m) for m in request.messages)
            prompt_tokens = estimate_messages(request.messages)
            limit = request.max_completion_tokens or request.max_tokens
            last_role = request.messages[-1].role if request.messages else None
        else:
            text = request.prompt if isinstance(request.prompt, str) else str(request.prompt)
            prompt_tokens = estimate_prompt(request.prompt)
            limit = request.max_tokens
            last_role = None
        seed = xxhash.xxh64_intdigest(text.encode())
        stops = extras.stops
        top = extras.top_logprobs or 0
        fmt = extras.response_format
        tools = extras.tools or []
        answers: list[Answer] = []
        logprobs: list[list[TokenLogprob]] = []
        completion_tokens = work = 0
        for i in range(max(request.n, 1)):
            choice_seed = seed + i
            calls: list[CallOut] = []
            if extras.mock_response is not None:
                tokens, finish = text_tokens(extras.mock_response), "stop"
            else:
                planned = planned_tools(extras, choice_seed, last_role) if chat else []
                try:
                    calls = [tool_call(tools[t], choice_seed, k) for k, t in enumerate(planned)]
                    content = format_content(fmt, choice_seed)
                except SchemaError as exc:
                    return self._error(400, *schema_problem(exc, extras, planned))
                if calls:
                    tokens, finish = [], "tool_calls"
                elif content is not None:
                    tokens, finish = cut(json_tokens(content), limit, stops)
                else:
                    count = min(self.config.tokens, limit) if limit else self.config.tokens
                    short = "length" if count < self.config.tokens else "stop"
                    tokens, finish = cut(words(choice_seed, count), None, stops, short)
            answers.append(Answer(tokens, calls, finish))
            completion_tokens += len(tokens) + sum(estimate_text(c.arguments) + 1 for c in calls)
            work += len(tokens) + sum(len(c.arguments) for c in calls)
            if work >= _SLICE_WORK:
                work = 0
                await asyncio.sleep(0)  # a yield to the loop between slices of the work
        if extras.logprobs:  # counted before any is built: a refusal costs nothing
            if sum(len(a.tokens) for a in answers) * (1 + top) > MAX_LOGPROB_ENTRIES:
                message = (
                    f"The mock gives logprobs for at most {MAX_LOGPROB_ENTRIES} entries a "
                    "request (tokens x (1 + top_logprobs), all choices); ask for fewer "
                    "tokens, choices or top_logprobs."
                )
                return self._error(400, message, "logprobs", "invalid_value")
            for i, answer in enumerate(answers):
                logprobs.append(token_logprobs(answer.tokens, seed + i, top))
                work += len(answer.tokens) * (1 + top)
                if work >= _SLICE_WORK:
                    work = 0
                    await asyncio.sleep(0)  # a yield to the loop between slices of the work
        usage = Usage(prompt_tokens, completion_tokens, prompt_tokens + completion_tokens)
        ident = f"{'chatcmpl' if chat else 'cmpl'}-mock{seed & 0xFFFFFFFF:08x}"
        created = int(time.time())
        model = call.upstream_model
        with_logprobs = logprobs if extras.logprobs else None
        if request.stream:
            asked = request.stream_options is not None and request.stream_options.include_usage
            events = extras_stream(
                Chunk(
                    ident,
                    "chat.completion.chunk" if chat else "text_completion",
                    created,
                    model,
                    [],
                    _FINGERPRINT,
                    None if asked else msgspec.UNSET,
                ),
                chat,
                answers,
                with_logprobs,
                usage if asked or call.stream_usage else None,
            )
            return MockResponse(events, self._first, self._gap, True)
        completion: Completion[ChatChoice] | Completion[TextChoice]
        if chat:
            completion = Completion(
                ident,
                "chat.completion",
                created,
                model,
                [
                    ChatChoice(
                        i,
                        assistant_message(answer),
                        answer.finish,
                        None
                        if with_logprobs is None
                        else choice_logprobs(answer, with_logprobs[i]),
                    )
                    for i, answer in enumerate(answers)
                ],
                _FINGERPRINT,
                usage,
            )
        else:
            completion = Completion(
                ident,
                "text_completion",
                created,
                model,
                [TextChoice(i, "".join(a.tokens), a.finish) for i, a in enumerate(answers)],
                _FINGERPRINT,
                usage,
            )
        return MockResponse([encode(completion)], self._first, 0, False)

    async def _embeddings(self, request: EmbeddingRequest, model: str) -> MockResponse:
        """The embeddings of every input, built and encoded a slice of inputs at a time (the
        vectors of a slice are dropped once encoded), with a yield to the loop between
        slices; ``dimensions`` past the configured size is a 400, as OpenAI answers it."""
        inputs = [request.input] if isinstance(request.input, str) else request.input
        native = self.config.embedding_dims
        dims = request.dimensions or native
        if dims > native:
            message = (
                f"This model's embeddings have {native} dimensions; 'dimensions' must be "
                f"at most {native}, got {dims}."
            )
            body = error_body(message, "invalid_request_error", "dimensions", "invalid_value")
            return MockResponse([body], self._first, 0, False, status=400)
        base64_format = request.encoding_format == "base64"
        per_slice = max(1, _SLICE_WORK // dims)
        parts: list[bytes] = [b'{"data":[']  # joined once, by read (up to ~65 MB)
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
            if base64_format:
                value = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
            if i:
                parts.append(b",")
            parts.append(encode(Embedding(i, value)))
            if (i + 1) % per_slice == 0:
                await asyncio.sleep(0)  # a yield to the loop between slices of the work
        parts += (b'],"model":', encode(model), b',"usage":', encode(Usage(tokens, 0, tokens)))
        parts.append(b',"object":"list"}')
        return MockResponse(parts, self._first, 0, False)

    def upstream_headers(self, response: Response) -> Sequence[tuple[str, str]]:
        return ()  # no upstream, no upstream limits: nothing to scan

    async def close(self) -> None:
        return None


def _unit_vector(seed: int, dims: int) -> list[float]:
    """A unit vector of ``dims`` floats drawn from ``seed`` (SHAKE-128 output read as 16-bit
    integers: a few times faster than ``random.gauss`` per float, and just as deterministic)."""
    raw = hashlib.shake_128(seed.to_bytes(8, "little")).digest(2 * dims)
    values = struct.unpack(f"<{dims}h", raw)
    norm = math.hypot(*values) or 1.0
    return [v / norm for v in values]


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
) -> Iterator[bytes]:
    """The SSE events of a streamed answer, each built when it is asked for; ``include_usage``:
    the client asked (every chunk carries ``usage: null``, as OpenAI's do); ``usage_event``: end
    with the usage-only event (also when only the gateway asked: the relay leaves it out, so
    chunks stay as without it)."""
    chat = kind == "chat.completion"
    obj = "chat.completion.chunk" if chat else "text_completion"
    unset_usage: msgspec.UnsetType | None = None if include_usage else msgspec.UNSET

    def event(choices: list[ChunkChoice]) -> bytes:
        return chunk_event(Chunk(ident, obj, created, model, choices, _FINGERPRINT, unset_usage))

    if chat:
        yield event(
            [ChunkChoice(i, Delta(role="assistant", content="")) for i in range(len(answers))]
        )
    for position in range(len(answers[0])):
        if chat:
            yield event([ChunkChoice(i, Delta(content=a[position])) for i, a in enumerate(answers)])
        else:
            yield event([ChunkChoice(i, text=a[position]) for i, a in enumerate(answers)])
    if chat:
        yield event([ChunkChoice(i, Delta(), finish_reason=finish) for i in range(len(answers))])
    else:
        yield event([ChunkChoice(i, text="", finish_reason=finish) for i in range(len(answers))])
    if usage_event:
        yield chunk_event(Chunk(ident, obj, created, model, [], _FINGERPRINT, usage))
    yield DONE
