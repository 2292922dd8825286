"""Keep-alive pools of upstream HTTP/1.1 connections.

The per-exchange work (protocol, httptools parser callbacks, waiting, reading) is the
compiled ``fastgw._core`` ``Connection`` / ``UpstreamResponse``; this module decides which
connection carries a request.

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

from .._core import Connection, UpstreamResponse
from .._core.http1 import Expired, expire, request_head
from ..config import PoolConfig, Timeouts
from ..errors import UpstreamTimeout, UpstreamUnreachable


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
        self._idle: list[Connection] = []
        self._open: set[Connection] = set()
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
        head = request_head(method, self.base_path + path, self.host_header, headers, len(body))
        for _ in range(2):
            conn = await self._acquire(timeouts, deadline)
            conn.reset()
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
            return UpstreamResponse(conn, timeouts.idle_s, deadline)
        raise UpstreamUnreachable("The upstream closed the connection without answering.")

    async def _acquire(self, timeouts: Timeouts, deadline: float) -> Connection:
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
            handle = self.loop.call_later(max(deadline - time.monotonic(), 0), expire, waiter)
            try:
                await waiter
            except Expired:
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

    async def _connect(self, timeouts: Timeouts) -> Connection:
        conn = Connection(self, self.loop)
        self._open.add(conn)
        try:
            await asyncio.wait_for(
                self.loop.create_connection(  # type: ignore[type-var]  # duck-typed Protocol
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

    def _release(self, conn: Connection) -> None:
        if not self._closed and conn.prepare_idle():
            self._idle.append(conn)
            self._wake_one()
            return
        self._discard(conn)

    def _discard(self, conn: Connection) -> None:
        if conn.transport is not None:
            conn.transport.abort()
        self._forget(conn)

    def _forget(self, conn: Connection) -> None:
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
