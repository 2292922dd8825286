"""An HTTP/1.1 client for upstream calls: asyncio protocol, httptools (llhttp) parser.

Rules this module keeps:
- One write per request (head and body together); response body chunks are handed on as the
  parser produces them, never joined for streams.
- Timeouts are timer callbacks on the waiting future, not ``wait_for`` tasks: connect, first
  byte (the response head), idle gap between body chunks, and a total deadline.
- A connection goes back to the pool only after a complete response that allows keep-alive;
  anything else (an error, a timeout, an unread body, a cancelled request) aborts it, so the
  upstream sees the request go away.
- A request is retried once, on a fresh connection, only when it went out on a reused idle
  connection that closed before a single response byte arrived (the server had closed it).
- Foreign exceptions (OSError, ssl, parser errors) are mapped to fastgw's upstream errors here.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from typing import Any
from urllib.parse import urlsplit

import httptools

from ..config import PoolConfig, Timeouts
from ..errors import (
    GatewayError,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnreachable,
)

_HIGH_WATER = 64  # pending body chunks before reading from the upstream is paused
_LOW_WATER = 8


class _Connection(asyncio.Protocol):
    """One upstream connection; carries one exchange at a time."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.reused = False
        self.idle_since = 0.0
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.received = 0
        self.chunks: collections.deque[bytes] = collections.deque()
        self.error: GatewayError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamProtocolError(f"The upstream sent a malformed response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool._forget(self)
        if self.complete:
            return
        if self.head_done and not self.parser.should_keep_alive() and self._length_unknown():
            self.complete = True  # body delimited by the connection closing
            self._wake()
        elif self.received == 0:
            self._fail(UpstreamUnreachable("The upstream closed the connection without answering."))
        else:
            self._fail(UpstreamProtocolError("The upstream connection was cut mid-response."))

    def pause_writing(self) -> None:  # request bodies are written at once; nothing to pause
        pass

    # -- httptools callbacks ------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.head_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        if len(self.chunks) >= _HIGH_WATER and not self._paused and self.transport:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()
        self._wake()

    # -- waiting ----------------------------------------------------------------------------

    def _length_unknown(self) -> bool:
        names = {n for n, _ in self.headers}
        return b"content-length" not in names and b"transfer-encoding" not in names

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: GatewayError) -> None:
        if self.error is None:
            self.error = error
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self.transport is not None:
            self.transport.abort()

    async def wait(self, timeout: float, what: str) -> None:
        """Wait for the next parser event, at most ``timeout`` seconds."""
        waiter = self.loop.create_future()
        self._waiter = waiter
        handle = self.loop.call_later(timeout, _expire, waiter)
        try:
            await waiter  # raises _Expired when the timer fired first
        except _Expired:
            raise UpstreamTimeout(
                f"The upstream did not answer in time ({what}, {timeout:.3g}s)."
            ) from None
        finally:
            handle.cancel()
            self._waiter = None

    def take_chunk(self) -> bytes:
        chunk = self.chunks.popleft()
        if self._paused and len(self.chunks) <= _LOW_WATER and self.transport:
            self._paused = False
            self.transport.resume_reading()
        return chunk


class _Expired(Exception):
    pass


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(_Expired())


class UpstreamResponse:
    """The response to one upstream request. Call ``close`` when done with it."""

    __slots__ = ("_conn", "_deadline", "_timeouts", "headers", "status")

    def __init__(self, conn: _Connection, timeouts: Timeouts, deadline: float) -> None:
        self._conn: _Connection | None = conn
        self._timeouts = timeouts
        self._deadline = deadline
        self.status = conn.status
        self.headers = conn.headers

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    async def next_chunk(self) -> bytes | None:
        """The next body chunk as received, or ``None`` at the end of the body."""
        conn = self._conn
        if conn is None:
            return None
        while True:
            if conn.chunks:
                return conn.take_chunk()
            if conn.error is not None:
                raise conn.error
            if conn.complete:
                return None
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise UpstreamTimeout("The upstream response exceeded the total timeout.")
            if self._timeouts.idle_s < remaining:
                await conn.wait(self._timeouts.idle_s, "idle gap between chunks")
            else:
                await conn.wait(remaining, "total")

    async def read(self) -> bytes:
        """The whole body."""
        parts = []
        while (chunk := await self.next_chunk()) is not None:
            parts.append(chunk)
        return b"".join(parts)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.pool._release(conn)


class Pool:
    """Keep-alive connections to one upstream origin (scheme, host, port)."""

    def __init__(
        self,
        base_url: str,
        pool: PoolConfig,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        self.loop = loop or asyncio.get_running_loop()
        self.host = parts.hostname or "localhost"
        tls = parts.scheme == "https"
        self.port = parts.port or (443 if tls else 80)
        self.base_path = parts.path.rstrip("/")
        self.ssl: ssl.SSLContext | None = ssl.create_default_context() if tls else None
        default_port = self.port == (443 if tls else 80)
        self.host_header = self.host if default_port else f"{self.host}:{self.port}"
        self.max_connections = pool.max_connections
        self.keepalive_expiry = pool.keepalive_expiry_s
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closed = False

    @property
    def in_use(self) -> int:
        return len(self._open) - len(self._idle)

    async def request(
        self,
        method: str,
        path: str,
        headers: list[tuple[str, str]],
        body: bytes,
        timeouts: Timeouts,
    ) -> UpstreamResponse:
        """Send one request; return once the response head arrived."""
        start = time.monotonic()
        deadline = start + timeouts.total_s
        head = self._head(method, path, headers, len(body))
        for _ in range(2):
            conn = await self._acquire(timeouts, deadline)
            conn._reset()
            assert conn.transport is not None
            conn.transport.write(head + body if body else head)
            try:
                while not conn.head_done:
                    if conn.error is not None:
                        raise conn.error
                    remaining = deadline - time.monotonic()
                    await conn.wait(min(timeouts.first_byte_s, remaining), "time to first byte")
            except UpstreamUnreachable:
                self._discard(conn)
                if conn.reused and conn.received == 0:
                    continue  # the idle connection was closed by the server: never reached it
                raise
            except BaseException:
                self._discard(conn)
                raise
            return UpstreamResponse(conn, timeouts, deadline)
        raise UpstreamUnreachable("The upstream closed the connection without answering.")

    def _head(self, method: str, path: str, headers: list[tuple[str, str]], length: int) -> bytes:
        lines = [f"{method} {self.base_path}{path} HTTP/1.1", f"host: {self.host_header}"]
        lines.extend(f"{k}: {v}" for k, v in headers)
        lines.append(f"content-length: {length}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _acquire(self, timeouts: Timeouts, deadline: float) -> _Connection:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if (
                conn.transport is None
                or conn.transport.is_closing()
                or now - conn.idle_since > self.keepalive_expiry
            ):
                self._discard(conn)
                continue
            conn.reused = True
            return conn
        while len(self._open) >= self.max_connections:
            waiter = self.loop.create_future()
            self._waiters.append(waiter)
            handle = self.loop.call_later(max(deadline - time.monotonic(), 0), _expire, waiter)
            try:
                await waiter
            except _Expired:
                raise UpstreamTimeout("No upstream connection became free in time.") from None
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # woken, then cancelled before running: pass the turn on
                raise
            finally:
                handle.cancel()
            if self._idle:
                return await self._acquire(timeouts, deadline)
        return await self._connect(timeouts)

    async def _connect(self, timeouts: Timeouts) -> _Connection:
        conn = _Connection(self)
        self._open.add(conn)
        try:
            await asyncio.wait_for(
                self.loop.create_connection(
                    lambda: conn,
                    self.host,
                    self.port,
                    ssl=self.ssl,
                    server_hostname=self.host if self.ssl else None,
                ),
                timeouts.connect_s,
            )
        except TimeoutError:
            self._forget(conn)
            raise UpstreamTimeout(
                f"Connecting to the upstream timed out ({timeouts.connect_s:.3g}s)."
            ) from None
        except (OSError, ssl.SSLError) as exc:
            self._forget(conn)
            raise UpstreamUnreachable(
                f"Could not connect to the upstream {self.host}:{self.port}: {exc.strerror or exc}"
            ) from None
        except BaseException:
            self._forget(conn)
            raise
        return conn

    def _release(self, conn: _Connection) -> None:
        if conn.complete and conn.keep_alive and conn.error is None and not self._closed:
            transport = conn.transport
            if transport is not None and not transport.is_closing():
                conn.chunks.clear()  # complete but unread: drop it, and read again if paused
                if conn._paused:
                    conn._paused = False
                    transport.resume_reading()
                conn.idle_since = time.monotonic()
                self._idle.append(conn)
                self._wake_one()
                return
        self._discard(conn)

    def _discard(self, conn: _Connection) -> None:
        if conn.transport is not None:
            conn.transport.abort()
        self._forget(conn)

    def _forget(self, conn: _Connection) -> None:
        if conn in self._open:
            self._open.discard(conn)
            self._wake_one()
        if conn in self._idle:
            self._idle.remove(conn)

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def close(self) -> None:
        self._closed = True
        for conn in list(self._open):
            self._discard(conn)

    def stats(self) -> dict[str, Any]:
        return {"open": len(self._open), "idle": len(self._idle)}
