"""A fake OpenAI-compatible upstream: HTTP/1.1 on asyncio, requests parsed by httptools.

``FakeUpstream`` answers ``POST /v1/chat/completions``, ``/v1/completions`` and
``/v1/embeddings`` with realistic bodies and ``usage``; a request with ``"stream": true`` gets
an SSE stream of ``chunks`` content events paced by ``chunk_delay`` seconds, a finish event,
a usage event when ``stream_options.include_usage`` is set, and ``data: [DONE]``. Each SSE
event is written as its own HTTP chunk. For passthrough tests it also answers
``POST /v1/moderations`` (flagged when the input contains "flag") and ``/v1/audio/speech``
(``SPEECH_CHUNKS``, binary, as ``audio/mpeg`` HTTP chunks).

Why one module past 600 lines: it is a test double whose parts (the server loop, the fault
modes and the canned OpenAI bodies) only make sense together; each fault mode is a field of
``Fault`` read in one place, ``_answer``. Its bodies are written by hand on purpose, not with
fastgw's protocol Structs: a fake must not share code with what it tests. A next protocol's
fake upstream goes in a module of its own: a subclass that overrides ``_respond`` (a request
no fault replaced) and ``error_body`` (its protocol's error shape), reusing the server loop,
the recording and the fault modes (``_stream`` sends any protocol's events as HTTP chunks).

Rules this module keeps:
- Everything it saw and sent is recorded: ``requests`` (method, path, query, headers, raw
  body, status and body bytes sent), ``connections`` accepted, and ``disconnects``: exchanges
  whose connection the *client* closed before the response was complete.
- ``headers`` are sent with every answer (``RATELIMIT_HEADERS``: OpenAI's rate-limit ones),
  after the defaults and before a fault's own.
- ``hold()`` keeps answers at a gate until ``release()``: before the response head, or
  with ``after_events`` a stream after that many events (for tests that need requests to
  overlap, without sleeping).
- Misbehaviour is a ``Fault`` (a frozen value) queued for the next requests (``fail_next``)
  or set for every request (``fail_always``); a new fault mode is a new field, read in
  ``_answer``.
- Two ways to run it: ``async with FakeUpstream() as up`` on the running loop, or
  ``with FakeUpstream.in_thread() as up`` on its own loop in a background thread. Waiting for
  something to happen is ``await up.until(pred)`` on its loop, ``up.wait(pred)`` elsewhere;
  both are woken by events, never by polling.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import http
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httptools
import msgspec

_encode = msgspec.json.Encoder().encode
_WORDS = ("The", " fake", " upstream", " answers", " every", " request", " the", " same")
_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


def openai_error(status: int, message: str | None = None) -> bytes:
    """The OpenAI error body an upstream answers ``status`` with."""
    default = ("server_error" if status >= 500 else "invalid_request_error", None)
    kind, code = _ERROR_TYPES.get(status, default)
    text = message or f"Fake upstream error {status}."
    return _encode({"error": {"message": text, "type": kind, "param": None, "code": code}})


class Fault(msgspec.Struct, frozen=True, kw_only=True):
    """How to answer one request instead of normally. Fields combine (``head_delay`` with a
    stream fault, say); the constructors below name the common cases.

    - ``status``/``body``/``headers``: answer with this status and body (default body: the
      OpenAI error for the status); ``body`` may be anything, JSON or not.
    - ``close``: close the connection once the request is read, before any response byte.
    - ``stall``: read the request and never answer.
    - ``head_delay``: seconds to wait before the response head.
    - ``raw``: send these bytes as the whole response, then close (malformed heads, cut bodies).
    - ``cut_after``: stream: close the connection after this many SSE events.
    - ``stall_after``: stream: stop after this many events, keeping the connection open.
    - ``malformed_after``: stream: after this many events send a broken HTTP chunk and close.
    - ``done`` / ``finish_reason``: stream: whether ``data: [DONE]`` and the event carrying
      ``finish_reason`` are sent; without them the chunked body still ends cleanly.
    - ``first_event_delay``: stream: seconds between the response head and the first event
      (a slow first token).
    - ``echo_headers``: the error answer quotes the request's headers (as some upstreams and
      proxies in front of them do), the gateway's upstream key included: an OpenAI error
      whose message lists them, or ``body`` followed by them when ``body`` is given.
    - ``error_event_after``: stream: after this many events send an ``event: error`` event
      (quoting the request's headers with ``echo_headers``) and end the stream.
    - ``split_after``: stream: the error event goes out as two HTTP chunks, split just after
      the first occurrence of these bytes, the second ``SPLIT_PAUSE_S`` after the first.
    - ``usage``: false for an upstream that reports no usage: no ``usage`` in a plain answer,
      and in a stream no ``usage`` field and no usage event whatever ``include_usage`` says.
    - ``invalid_after``: stream: after this many events send an event whose data is not JSON
      (``NOT_JSON``: a chunk object cut short, as a buggy upstream or proxy sends), then the
      rest of the stream as usual, ``[DONE]`` included.
    """

    status: int = 200
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    close: bool = False
    stall: bool = False
    head_delay: float = 0.0
    raw: bytes | None = None
    cut_after: int | None = None
    stall_after: int | None = None
    malformed_after: int | None = None
    done: bool = True
    finish_reason: bool = True
    first_event_delay: float = 0.0
    echo_headers: bool = False
    error_event_after: int | None = None
    split_after: bytes | None = None
    usage: bool = True
    invalid_after: int | None = None

    @classmethod
    def error(
        cls, status: int, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Fault:
        return cls(status=status, body=body, headers=tuple((headers or {}).items()))

    @classmethod
    def cut(cls, after: int) -> Fault:
        return cls(cut_after=after)

    @classmethod
    def stall_stream(cls, after: int) -> Fault:
        return cls(stall_after=after)

    @classmethod
    def no_done(cls, *, finish_reason: bool = True) -> Fault:
        return cls(done=False, finish_reason=finish_reason)


class RecordedRequest(msgspec.Struct, kw_only=True):
    """One request as received, and what was sent back (body bytes without HTTP framing)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool
    status: int = 0
    response: list[bytes] = msgspec.field(default_factory=list)
    completed: bool = False
    disconnected: bool = False

    @property
    def sent(self) -> bytes:
        return b"".join(self.response)

    def json(self) -> Any:
        return msgspec.json.decode(self.body)


class _Request(msgspec.Struct):
    model: str = "fake-model"
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    messages: list[dict[str, Any]] = []
    prompt: Any = ""
    input: Any = ""
    encoding_format: str = "float"
    dimensions: int = 8


_decode_request = msgspec.json.Decoder(_Request).decode


class _Connection(asyncio.Protocol):
    def __init__(self, up: FakeUpstream) -> None:
        self.up = up
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.queue: collections.deque[RecordedRequest] = collections.deque()
        self.current: RecordedRequest | None = None
        self.task: asyncio.Task[None] | None = None
        self.closing = False
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.up.connections += 1
        self.up._open.add(self)
        self.up._notify()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.up._open.discard(self)
        if self.task is not None:
            self.task.cancel()
        unfinished = [r for r in (self.current, *self.queue) if r is not None and not r.completed]
        if unfinished and not self.closing and not self.up._stopping:
            self.up.disconnects += 1
            for rec in unfinished:
                rec.disconnected = True
        self.up._notify()

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        if not self.transport.is_closing():
            self.transport.write(data)

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url, self._headers, self._body = b"", {}, []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        path, _, query = self._url.decode("latin-1").partition("?")
        rec = RecordedRequest(
            method=self.parser.get_method().decode(),
            path=path,
            query=query,
            headers=self._headers,
            body=b"".join(self._body),
            keep_alive=self.parser.should_keep_alive(),
        )
        self.up.requests.append(rec)
        self.queue.append(rec)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._serve())
        self.up._notify()

    async def _serve(self) -> None:
        while self.queue and not self.closing:
            self.current = rec = self.queue.popleft()
            await self.up._answer(self, rec, self.up._take_fault())
            if self.closing:
                return
            rec.completed = True
            self.up._notify()
            if not rec.keep_alive:
                self.close()


class FakeUpstream:
    """A fake OpenAI-compatible server on 127.0.0.1. See the module docstring."""

    def __init__(
        self,
        *,
        chunks: int = 5,
        chunk_delay: float = 0.0,
        port: int = 0,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.chunks = chunks
        self.headers = headers  # sent with every answer (``RATELIMIT_HEADERS``: as OpenAI does)
        self.chunk_delay = chunk_delay
        self.port = port
        self.requests: list[RecordedRequest] = []
        self.connections = 0
        self.disconnects = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._open: set[_Connection] = set()
        self._faults: collections.deque[Fault] = collections.deque()
        self._always: Fault | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._held: int | None = None  # the gate (``hold``): -1 before the head, else events

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- faults --------------------------------------------------------------------------------

    def fail_next(self, fault: Fault, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``fault`` (after any already queued)."""
        self._faults.extend([fault] * times)

    def fail_always(self, fault: Fault | None) -> None:
        """Answer every request with ``fault`` once the queued ones are used; ``None`` stops."""
        self._always = fault

    def reset(self) -> None:
        """Forget faults, recorded requests and counters."""
        self._faults.clear()
        self._always = None
        self.requests.clear()
        self.connections = self.disconnects = 0

    def hold(self, after_events: int | None = None) -> None:
        """Keep answers at a gate until ``release``: before the response head, or a stream
        after ``after_events`` events (flushed to the client)."""
        self._held = -1 if after_events is None else after_events

    def release(self) -> None:
        """Open the gate: every held answer goes on (callable from any thread)."""

        def go() -> None:
            self._held = None
            self._notify()

        if self.loop is not None and self._thread is not None:
            self.loop.call_soon_threadsafe(go)
        else:
            go()

    async def _gate(self, at: int) -> None:
        if self._held == at:
            await self.until(lambda up: up._held != at, timeout=60)

    def _take_fault(self) -> Fault | None:
        return self._faults.popleft() if self._faults else self._always

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> FakeUpstream:
        self.loop = asyncio.get_running_loop()
        self._server = await self.loop.create_server(
            lambda: _Connection(self), "127.0.0.1", self.port
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.close()
        tasks = [c.task for c in self._open if c.task is not None]
        for conn in list(self._open):
            if conn.transport is not None:
                conn.transport.abort()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        await asyncio.sleep(0)  # let the aborted transports run connection_lost

    async def __aenter__(self) -> FakeUpstream:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @classmethod
    @contextlib.contextmanager
    def in_thread(cls, **kwargs: Any) -> Iterator[FakeUpstream]:
        """Run a ``FakeUpstream`` on its own event loop in a background thread."""
        up = cls(**kwargs)
        loop = asyncio.new_event_loop()
        up._thread = threading.Thread(target=loop.run_forever, name="fake-upstream", daemon=True)
        up._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(up.start(), loop).result(10)
            yield up
        finally:
            asyncio.run_coroutine_threadsafe(up.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            up._thread.join(10)
            loop.close()

    def close_idle(self) -> None:
        """Close every connection that has no request in progress, as a server's keep-alive
        timeout does (call it from the thread that runs the server's loop)."""
        for conn in list(self._open):
            if not conn.queue and (conn.current is None or conn.current.completed):
                conn.close()

    # -- waiting -------------------------------------------------------------------------------

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def until(self, predicate: Callable[[FakeUpstream], bool], timeout: float = 5.0) -> None:
        """Return once ``predicate(self)`` holds; raise ``TimeoutError`` after ``timeout``.
        Await it on the server's own loop."""
        async with asyncio.timeout(timeout):
            while not predicate(self):
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                await waiter

    def wait(self, predicate: Callable[[FakeUpstream], bool], timeout: float = 5.0) -> None:
        """``until`` for code outside the server's thread (sync tests with ``in_thread``)."""
        assert self.loop is not None and self._thread is not None, "use await up.until(...)"
        asyncio.run_coroutine_threadsafe(self.until(predicate, timeout), self.loop).result()

    # -- answering -----------------------------------------------------------------------------

    async def _answer(self, conn: _Connection, rec: RecordedRequest, fault: Fault | None) -> None:
        fault = fault or _NORMAL
        if fault.close:
            conn.close()
            return
        if fault.stall:
            await asyncio.get_running_loop().create_future()
        await self._gate(-1)
        if fault.head_delay:
            await asyncio.sleep(fault.head_delay)
        if fault.raw is not None:
            conn.write(fault.raw)
            conn.close()
            return
        if fault.status != 200 or fault.body is not None:
            body = fault.body if fault.body is not None else self.error_body(fault.status)
            if fault.echo_headers:
                echo = _quoted_headers(rec)
                body = (
                    fault.body + echo.encode()
                    if fault.body is not None
                    else self.error_body(fault.status, f"Invalid request; headers were {echo}")
                )
            self._send(conn, rec, fault.status, body, fault.headers)
            return
        await self._respond(conn, rec, fault)

    # -- the protocol: what a subclass for another provider's protocol overrides -------------

    def error_body(self, status: int, message: str | None = None) -> bytes:
        """The error body this protocol answers ``status`` with."""
        return openai_error(status, message)

    async def _respond(self, conn: _Connection, rec: RecordedRequest, fault: Fault) -> None:
        """Answer a request no fault replaced (``fault`` may still shape a stream)."""
        endpoint = rec.path.removeprefix("/v1")
        if rec.method == "POST" and endpoint == "/moderations":
            self._send(conn, rec, 200, _moderation(rec.body), fault.headers)
            return
        if rec.method == "POST" and endpoint == "/audio/speech":
            await self._stream(conn, rec, list(SPEECH_CHUNKS), fault, "audio/mpeg")
            return
        if rec.method != "POST" or endpoint not in _KINDS:
            status = 404 if endpoint not in _KINDS else 405
            self._send(conn, rec, status, openai_error(status))
            return
        try:
            request = _decode_request(rec.body)
        except msgspec.DecodeError as exc:
            self._send(conn, rec, 400, openai_error(400, str(exc)))
            return
        kind = _KINDS[endpoint]
        if kind == "embedding":
            self._send(conn, rec, 200, _embeddings(request), fault.headers)
        elif not request.stream:
            body = _completion(kind, request, self.chunks, len(self.requests), fault.usage)
            self._send(conn, rec, 200, body, fault.headers)
        else:
            events = _events(kind, request, self.chunks, len(self.requests), fault)
            if fault.error_event_after is not None:
                text = "The upstream failed mid-stream"
                if fault.echo_headers:
                    text += f"; headers were {_quoted_headers(rec)}"
                error = b"event: error\ndata: " + openai_error(500, text) + b"\n\n"
                events = [*events[: fault.error_event_after], error]
            if fault.invalid_after is not None:
                at = fault.invalid_after
                events = [*events[:at], b"data: " + NOT_JSON + b"\n\n", *events[at:]]
            await self._stream(conn, rec, events, fault)

    def _send(
        self,
        conn: _Connection,
        rec: RecordedRequest,
        status: int,
        body: bytes,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        kind = "application/json" if body.lstrip()[:1] == b"{" else "text/plain"
        extra = [("content-type", kind), ("content-length", str(len(body))), *self.headers]
        extra += headers
        rec.status = status  # recorded before writing: a test may look as soon as it reads
        rec.response.append(body)
        conn.write(_head(status, extra, rec.keep_alive) + body)

    async def _stream(
        self,
        conn: _Connection,
        rec: RecordedRequest,
        events: list[bytes],
        fault: Fault,
        content_type: str = "text/event-stream",
    ) -> None:
        """Send ``events`` as HTTP chunks; bytes are written in one batch up to each pause,
        so an unpaced stream reaches the client in as few reads as the kernel allows."""
        headers = [
            ("content-type", content_type),
            ("cache-control", "no-cache"),
            ("transfer-encoding", "chunked"),
            *self.headers,
            *fault.headers,
        ]
        out = [_head(200, headers, rec.keep_alive)]
        rec.status = 200
        if fault.first_event_delay:
            conn.write(out.pop())
            await asyncio.sleep(fault.first_event_delay)
        for i, event in enumerate(events):
            if i in (fault.cut_after, fault.malformed_after):
                if i == fault.malformed_after:
                    out.append(b"zz\r\nnot a chunk\r\n")
                conn.write(b"".join(out))
                conn.close()
                return
            if i == self._held:
                conn.write(b"".join(out))
                out.clear()
                await self._gate(i)
            if i == fault.stall_after or (i and self.chunk_delay):
                conn.write(b"".join(out))
                out.clear()
                if i == fault.stall_after:
                    await asyncio.get_running_loop().create_future()
                await asyncio.sleep(self.chunk_delay)
            marker = fault.split_after
            if marker is not None and event.startswith(b"event: error") and marker in event:
                cut = event.index(marker) + len(marker)
                first, event = event[:cut], event[cut:]
                out.append(b"%x\r\n%s\r\n" % (len(first), first))
                rec.response.append(first)
                conn.write(b"".join(out))
                out.clear()
                await asyncio.sleep(SPLIT_PAUSE_S)  # the gateway reads the halves apart
            out.append(b"%x\r\n%s\r\n" % (len(event), event))
            rec.response.append(event)
        out.append(b"0\r\n\r\n")
        conn.write(b"".join(out))


_NORMAL = Fault()
#: the data of ``Fault.invalid_after``'s event: a content chunk cut off mid-string
NOT_JSON = b'{"id":"chatcmpl-fake","object":"chat.completion.chunk","choices":[{"index":0,"delta":'
NOT_JSON += b'{"content":" half an ev'
#: The rate-limit headers OpenAI sends with every answer (values from its rate-limit guide):
#: ``FakeUpstream(headers=RATELIMIT_HEADERS)`` answers like it.
RATELIMIT_HEADERS = (
    ("x-ratelimit-limit-requests", "10000"),
    ("x-ratelimit-limit-tokens", "150000"),
    ("x-ratelimit-remaining-requests", "9999"),
    ("x-ratelimit-remaining-tokens", "149984"),
    ("x-ratelimit-reset-requests", "6ms"),
    ("x-ratelimit-reset-tokens", "6m0.5s"),
)
SPLIT_PAUSE_S = 0.05


def _quoted_headers(rec: RecordedRequest) -> str:
    return "; ".join(f"{name}: {value}" for name, value in rec.headers.items())


_KINDS = {"/chat/completions": "chat", "/completions": "text", "/embeddings": "embedding"}
#: What ``/v1/audio/speech`` answers: bytes that are no text (NUL, 0xFF, CR LF, invalid UTF-8).
SPEECH_CHUNKS = (b"ID3\x04\x00\x00", bytes(range(256)), b"\r\n\xff\xfe\x00end")


def _moderation(body: bytes) -> bytes:
    flagged = b"flag" in body
    result = {
        "flagged": flagged,
        "categories": {"harassment": flagged, "violence": False},
        "category_scores": {"harassment": 0.9 if flagged else 0.001, "violence": 0.0002},
    }
    return _encode({"id": "modr-fake", "model": "omni-moderation-latest", "results": [result]})


def _head(status: int, headers: list[tuple[str, str]], keep_alive: bool) -> bytes:
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers)]
    if not keep_alive:
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _tokens(value: Any) -> int:
    """A rough token count (4 characters a token) of a prompt, message list or input."""
    if isinstance(value, str):
        return max(1, len(value) // 4)
    if isinstance(value, list):
        return sum(_tokens(v) for v in value) or 1
    if isinstance(value, dict):
        return 4 + _tokens(value.get("content") or "")
    return 1


def _head_fields(chat: bool, request: _Request, n: int, obj: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-fake{n:06d}" if chat else f"cmpl-fake{n:06d}",
        "object": obj,
        "created": int(time.time()),
        "model": request.model,
        "system_fingerprint": "fp_fake",
    }


def _usage(chat: bool, request: _Request, completion: int) -> dict[str, int]:
    prompt = _tokens(request.messages) + 3 if chat else _tokens(request.prompt)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _completion(kind: str, request: _Request, chunks: int, n: int, usage: bool = True) -> bytes:
    chat = kind == "chat"
    text = "".join(_WORDS[i % len(_WORDS)] for i in range(chunks))
    choice: dict[str, Any] = {"index": 0, "logprobs": None, "finish_reason": "stop"}
    if chat:
        choice["message"] = {"role": "assistant", "content": text, "refusal": None}
    else:
        choice["text"] = text
    fields = _head_fields(chat, request, n, "chat.completion" if chat else "text_completion")
    if not usage:
        return _encode({**fields, "choices": [choice]})
    return _encode({**fields, "choices": [choice], "usage": _usage(chat, request, chunks)})


def _events(kind: str, request: _Request, chunks: int, n: int, fault: Fault) -> list[bytes]:
    """The SSE events of a stream: role (chat), ``chunks`` content events, finish, usage
    (when asked for), ``[DONE]``; ``fault.finish_reason``/``fault.done`` drop the last ones."""
    chat = kind == "chat"
    include = bool((request.stream_options or {}).get("include_usage")) and fault.usage
    base = _head_fields(chat, request, n, "chat.completion.chunk" if chat else "text_completion")
    if include:
        base["usage"] = None

    def event(delta: dict[str, str], finish: str | None = None) -> bytes:
        choice: dict[str, Any] = {"index": 0, "logprobs": None, "finish_reason": finish}
        choice.update({"delta": delta} if chat else {"text": delta.get("content", "")})
        return b"data: " + _encode({**base, "choices": [choice]}) + b"\n\n"

    events = [event({"role": "assistant", "content": ""})] if chat else []
    events += [event({"content": _WORDS[i % len(_WORDS)]}) for i in range(chunks)]
    if fault.finish_reason:
        events.append(event({}, "stop"))
    if include:
        final = {**base, "choices": [], "usage": _usage(chat, request, chunks)}
        events.append(b"data: " + _encode(final) + b"\n\n")
    if fault.done:
        events.append(b"data: [DONE]\n\n")
    return events


def _embeddings(request: _Request) -> bytes:
    inputs = request.input if isinstance(request.input, list) else [request.input]
    data = []
    for i in range(len(inputs)):
        vector = [round(((i + 1) * (d + 3) % 17) / 17 - 0.5, 6) for d in range(request.dimensions)]
        value: Any = vector
        if request.encoding_format == "base64":
            value = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": value})
    tokens = _tokens(inputs)
    return _encode(
        {
            "object": "list",
            "data": data,
            "model": request.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


__all__ = ["RATELIMIT_HEADERS", "FakeUpstream", "Fault", "RecordedRequest", "openai_error"]
