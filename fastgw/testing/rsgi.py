"""An in-process RSGI client: drive a fastgw ``Gateway`` (or any RSGI app) without a socket.

The fakes follow Granian's real objects (``granian._granian`` and its ``src/rsgi`` sources):

- ``scope``: ``proto`` ``"http"``, ``rsgi_version``, ``http_version`` ``"1.1"``, ``server``
  and ``client`` as ``"host:port"``, ``scheme``, ``method`` (upper case), ``path``
  (percent-decoded, without the query), ``query_string``, ``authority`` (``None`` before
  HTTP/2) and ``headers``: lower-case names, ``get(name, default)`` returning the first value,
  ``get_all``, ``keys``/``values``/``items``, ``in``, ``[]``, ``len`` and iteration.
- ``proto``: ``await proto()`` gives the whole body once (a second read, or one after
  ``async for``, raises ``ProtocolError``); ``async for chunk in proto`` gives it in chunks.
  The first ``response_*`` call wins: later ``response_bytes``/``response_str``/
  ``response_empty`` calls are ignored, a later ``response_stream`` raises ``ProtocolError``.
  ``response_stream`` returns a transport whose ``send_bytes``/``send_str`` raise
  ``ProtocolClosed`` once the client has disconnected. ``client_disconnect()`` returns a
  future that resolves only when the test calls ``disconnect()``.
- An app that returns without answering gets Granian's 500 (``RSGIResponse.answered`` is
  false); an exception escaping the app is re-raised to the test instead of being logged.

Lifecycle, as in a Granian worker: ``RSGIClient`` owns a fresh event loop;
``__rsgi_init__(loop)`` is called on entry, before that loop runs; each request runs
``__rsgi__`` as its own task on it (so a disconnect watcher may cancel it, as under Granian);
``__rsgi_del__(loop)`` is called on exit, after the loop stopped, and may
``run_until_complete`` a drain. Because the loop belongs to the client, the client is
synchronous and tests using it are plain functions::

    with RSGIClient(Gateway(config)) as client:
        response = client.post("/v1/chat/completions", json={...}, headers={...})
        assert response.status == 200

To act while a request is in flight (disconnect mid-stream), run a coroutine on the
worker's loop with ``client.run(...)`` and use ``client.start(...)``, which returns an
``InFlight`` whose ``proto`` can be waited on and disconnected.
"""

from __future__ import annotations

import asyncio
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Mapping,
)
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import unquote

import msgspec
from granian._granian import RSGIProtocolClosed as ProtocolClosed
from granian._granian import RSGIProtocolError as ProtocolError

T = TypeVar("T")

RSGI_VERSION = "1.6"
_encode_json = msgspec.json.Encoder().encode


class RSGIHeaders:
    """Request headers as Granian presents them: names are lower case, lookups are not
    case-sensitive, ``get`` returns the first value of a repeated header."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._items = [(name.lower(), value) for name, value in items]

    def get(self, key: str, default: Any = None) -> Any:
        key = key.lower()
        for name, value in self._items:
            if name == key:
                return value
        return default

    def get_all(self, key: str) -> list[str]:
        key = key.lower()
        return [value for name, value in self._items if name == key]

    def keys(self) -> list[str]:
        return list(dict.fromkeys(name for name, _ in self._items))

    def values(self) -> list[str]:
        return [value for _, value in self._items]

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return str(value)

    def __iter__(self) -> Any:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())


class RSGIScope:
    """The HTTP scope of one request."""

    def __init__(
        self,
        method: str,
        target: str,
        headers: Iterable[tuple[str, str]],
        *,
        client: str = "127.0.0.1:50000",
        server: str = "127.0.0.1:8080",
        scheme: str = "http",
        http_version: str = "1.1",
    ) -> None:
        path, _, query = target.partition("?")
        self.proto = "http"
        self.rsgi_version = RSGI_VERSION
        self.http_version = http_version
        self.server = server
        self.client = client
        self.scheme = scheme
        self.method = method.upper()
        self.path = unquote(path)
        self.query_string = query
        self.authority: str | None = None
        self.headers = RSGIHeaders(headers)


class StreamTransport:
    """What ``response_stream`` returns: records what the app sends."""

    def __init__(self, proto: FakeHTTPProtocol) -> None:
        self._proto = proto

    # Like Granian's: synchronous (queued at once), returning an awaitable already settled:
    # done, or failing with ProtocolClosed when awaited once the client is gone.
    def send_bytes(self, data: bytes) -> Settled:
        return self._send(bytes(data))

    def send_str(self, data: str) -> Settled:
        return self._send(data.encode())

    def _send(self, data: bytes) -> Settled:
        try:
            self._proto._send(data)
        except ProtocolClosed as exc:
            return Settled(exc)
        return Settled()


class Settled:
    """Granian's ``PyEmptyAwaitable`` / ``PyErrAwaitable``: an awaitable already settled."""

    __slots__ = ("_error",)

    def __init__(self, error: BaseException | None = None) -> None:
        self._error = error

    def __await__(self) -> Generator[None, None, None]:
        if self._error is not None:
            raise self._error
        return
        yield  # a generator: finishes (or fails) on its first step


class FakeHTTPProtocol:
    """The ``proto`` of one request: the body to read, and what the app answered."""

    def __init__(self, body_chunks: list[bytes], *, drop_after_chunks: int | None = None) -> None:
        self._body_chunks = body_chunks
        self._drop_after = drop_after_chunks
        self._body_taken = False
        self._watchers: list[asyncio.Future[None]] = []
        self._changed = asyncio.Event()
        self.disconnected = False
        self.finished = False
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.body = b""
        self.chunks: list[bytes] | None = None  # set for a streamed response

    # -- the request body ---------------------------------------------------------------------

    def __call__(self) -> Awaitable[bytes]:
        self._take_body()
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        future.set_result(b"".join(self._body_chunks))
        return future

    def __aiter__(self) -> AsyncIterator[bytes]:
        self._take_body()
        return self._iter_body()

    async def _iter_body(self) -> AsyncIterator[bytes]:
        for chunk in self._body_chunks:
            yield chunk

    @property
    def body_read(self) -> bool:
        """Whether the app has started reading the request body."""
        return self._body_taken

    def _take_body(self) -> None:
        if self._body_taken:
            raise ProtocolError("RSGI protocol error")
        self._body_taken = True

    # -- disconnection --------------------------------------------------------------------------

    def client_disconnect(self) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.disconnected:
            future.set_result(None)
        else:
            self._watchers.append(future)
        return future

    def disconnect(self) -> None:
        """The client goes away: watchers resolve and later sends raise ``ProtocolClosed``."""
        self.disconnected = True
        for future in self._watchers:
            if not future.done():
                future.set_result(None)
        self._watchers.clear()
        self._changed.set()

    # -- the response -----------------------------------------------------------------------------

    def response_empty(self, status: int, headers: list[tuple[str, str]]) -> None:
        self._start(status, headers, b"")

    def response_str(self, status: int, headers: list[tuple[str, str]], body: str) -> None:
        self._start(status, headers, body.encode())

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self._start(status, headers, bytes(body))

    def response_stream(self, status: int, headers: list[tuple[str, str]]) -> StreamTransport:
        if not self._start(status, headers, b""):
            raise ProtocolError("RSGI protocol error")
        self.chunks = []
        return StreamTransport(self)

    def _start(self, status: int, headers: list[tuple[str, str]], body: bytes) -> bool:
        if self.status is not None:
            return False
        self.status, self.headers, self.body = status, list(headers), body
        self._changed.set()
        return True

    def _send(self, data: bytes) -> None:
        assert self.chunks is not None
        if self._drop_after is not None and len(self.chunks) >= self._drop_after:
            self.disconnect()
        if self.disconnected:
            raise ProtocolClosed("RSGI transport is closed")
        self.chunks.append(data)
        self.body += data
        self._changed.set()

    async def wait_chunks(self, count: int) -> list[bytes]:
        """Wait until ``count`` chunks were streamed (or the request ended); the chunks so far."""
        while (self.chunks is None or len(self.chunks) < count) and not self.finished:
            self._changed.clear()
            await self._changed.wait()
        return list(self.chunks or [])

    def _finish(self) -> None:
        self.finished = True
        self._changed.set()


class RSGIResponse(msgspec.Struct, frozen=True):
    """What the app answered: status, headers in order, the whole body and, for a streamed
    response, each chunk as sent. ``answered`` is false when the app never responded (Granian
    then sends a 500)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    chunks: list[bytes] | None = None
    answered: bool = True

    def header(self, name: str) -> str | None:
        """The first value of a response header, by case-insensitive name."""
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def json(self) -> Any:
        return msgspec.json.decode(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()

    def sse_data(self) -> list[bytes]:
        """The ``data`` payload of each event of an SSE body, in order."""
        events = self.body.replace(b"\r\n", b"\n").split(b"\n\n")
        out = []
        for event in events:
            lines = [
                line[5:].removeprefix(b" ")
                for line in event.split(b"\n")
                if line.startswith(b"data:")
            ]
            if lines:
                out.append(b"\n".join(lines))
        return out


class InFlight:
    """A request being answered: its ``proto`` and ``task``; await it for the response."""

    def __init__(self, task: asyncio.Task[Any], proto: FakeHTTPProtocol) -> None:
        self.task = task
        self.proto = proto

    def __await__(self) -> Any:
        return self._response().__await__()

    async def _response(self) -> RSGIResponse:
        try:
            await self.task
        finally:
            self.proto._finish()
        proto = self.proto
        if proto.status is None:
            return RSGIResponse(500, [], b"", None, answered=False)
        return RSGIResponse(proto.status, proto.headers, proto.body, proto.chunks)


class RSGIClient:
    """Runs an RSGI app on its own event loop, with Granian's worker lifecycle."""

    def __init__(
        self,
        app: Any,
        *,
        loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
        client: str | None = None,
        server: str = "127.0.0.1:8080",
    ) -> None:
        self.app = app
        self._loop_factory = loop_factory
        # Each request is its own connection (its own client port) unless ``client`` pins one:
        # Granian's disconnect signal belongs to the connection, and so does the fake's.
        self._client = client
        self._ports = iter(range(50000, 1 << 30))
        self._server = server
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "use RSGIClient as a context manager"
        return self._loop

    def __enter__(self) -> RSGIClient:
        self._loop = self._loop_factory()
        init = getattr(self.app, "__rsgi_init__", None)
        if init is not None:
            init(self._loop)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop = self.loop
        try:
            stop = getattr(self.app, "__rsgi_del__", None)
            if stop is not None:
                stop(loop)
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._loop = None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` to completion on the worker's loop."""
        return self.loop.run_until_complete(coro)

    def start(
        self,
        method: str,
        target: str,
        *,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        json: Any = None,
        chunked: bool = False,
        body_chunks: list[bytes] | None = None,
        drop_after_chunks: int | None = None,
    ) -> InFlight:
        """Start a request on the running worker loop (call it from a coroutine given to
        ``run``). ``json`` is encoded as the body with ``content-type: application/json``.
        A ``content-length`` is added unless the caller sent one or ``chunked`` is set (then
        ``transfer-encoding: chunked`` is sent and the body arrives as ``body_chunks``).
        ``drop_after_chunks=n``: the connection drops once ``n`` chunks were streamed, so the
        next send raises ``ProtocolClosed`` (as under Granian when the socket closes while the
        app is sending, before its disconnect watcher has run)."""
        items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        names = {name.lower() for name, _ in items}
        if json is not None:
            body = _encode_json(json)
            if "content-type" not in names:
                items.append(("content-type", "application/json"))
        if body_chunks is None:
            body_chunks = [body] if body else []
        else:
            body = b"".join(body_chunks)
        if chunked:
            items.append(("transfer-encoding", "chunked"))
        elif "content-length" not in names and (body or method.upper() in ("POST", "PUT", "PATCH")):
            items.append(("content-length", str(len(body))))
        client = self._client or f"127.0.0.1:{next(self._ports)}"
        scope = RSGIScope(method, target, items, client=client, server=self._server)
        proto = FakeHTTPProtocol(body_chunks, drop_after_chunks=drop_after_chunks)
        task = asyncio.get_running_loop().create_task(self.app.__rsgi__(scope, proto))
        return InFlight(task, proto)

    async def send(self, method: str, target: str, **kwargs: Any) -> RSGIResponse:
        """A whole request, from a coroutine running on the worker loop."""
        response: RSGIResponse = await self.start(method, target, **kwargs)
        return response

    def request(self, method: str, target: str, **kwargs: Any) -> RSGIResponse:
        """A whole request: start it, run the loop until the app returns, give the response."""
        return self.run(self.send(method, target, **kwargs))

    def get(self, target: str, **kwargs: Any) -> RSGIResponse:
        return self.request("GET", target, **kwargs)

    def post(self, target: str, **kwargs: Any) -> RSGIResponse:
        return self.request("POST", target, **kwargs)
