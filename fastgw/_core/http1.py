"""The upstream HTTP/1.1 exchange: one connection's protocol, its parser callbacks, and the
response a caller reads. Compiled by Cython as ``fastgw._core.http1_c`` (``http1_c.pxd``).

Rules this module keeps:
- One write per request: ``request_head`` builds the head, the caller writes head and body
  together.
- Response body chunks are handed on as the parser produces them, never joined for streams;
  past ``HIGH_WATER`` unread chunks reading from the upstream pauses, and resumes below
  ``LOW_WATER`` (a slow client slows its upstream instead of filling memory).
- Waiting is a plain future woken by the parser callbacks, bounded by a timer callback that
  fails it with ``Expired`` (no ``wait_for`` tasks); callers turn that into
  ``UpstreamTimeout`` naming the phase.
- ``pump(sink)`` relays a body without a loop iteration per chunk: the parser callback hands
  each chunk to ``sink`` at once, and the waiting coroutine wakes only for the end, an error,
  a sink that refuses (its consumer went away) or a timeout; the idle timeout is measured
  from the last chunk, so no timer is made per chunk.
- Any protocol failure aborts the transport; the pool never reuses such a connection. A 101
  (protocol switch) is such a failure; other 1xx responses (103 Early Hints) are skipped:
  the answer is the final response after them.
- The connection knows its pool only through ``pool._forget(conn)`` (the connection is gone)
  and ``pool._release(conn)`` (the caller is done with the response).
"""

import asyncio
import collections
import time
from collections.abc import Callable

try:
    import cython
except ImportError:  # Cython builds the core; the pure twin runs without it (see the shim)
    from . import _cython_shim as cython
import httptools

from ..errors import GatewayError, UpstreamProtocolError, UpstreamTimeout, UpstreamUnreachable

HIGH_WATER = 64
LOW_WATER = 8


def _switched() -> UpstreamProtocolError:
    return UpstreamProtocolError("The upstream switched protocols instead of answering.")


class Expired(Exception):
    """A wait's timer fired before the parser had news."""


def expire(waiter: object) -> None:
    if not waiter.done():  # type: ignore[attr-defined]
        waiter.set_exception(Expired())  # type: ignore[attr-defined]


def request_head(
    method: str, path: str, host: str, headers: list[tuple[str, str]], length: int
) -> bytes:
    """The request line and headers of an upstream request, ending with the blank line."""
    parts = [method, " ", path, " HTTP/1.1\r\nhost: ", host, "\r\n"]
    for name, value in headers:
        parts.append(name)
        parts.append(": ")
        parts.append(value)
        parts.append("\r\n")
    parts.append("content-length: ")
    parts.append(str(length))
    parts.append("\r\n\r\n")
    return "".join(parts).encode("latin-1")


class Connection:
    """One upstream connection (an asyncio protocol); carries one exchange at a time."""

    def __init__(self, pool: object, loop: asyncio.AbstractEventLoop) -> None:
        self.pool = pool
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.reused = False
        self.idle_since = 0.0
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.received = 0
        self.chunks: collections.deque[bytes] = collections.deque()
        self.error: GatewayError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._interim = False
        self.paused = False
        self.sink: Callable[[bytes], bool] | None = None
        self.sink_open = True
        self.last_body = 0.0

    def reset(self) -> None:
        """Ready for the next exchange on this connection."""
        self.status = 0
        self.headers = []
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.received = 0
        self.chunks.clear()
        self.error = None
        self._waiter = None
        self._interim = False

    # -- asyncio protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamProtocolError(f"The upstream sent a malformed response: {exc}"))
        except httptools.HttpParserUpgrade:  # not an HttpParserError: it escaped to the loop
            self._fail(_switched())

    def eof_received(self) -> bool:
        return False  # let the transport close; connection_lost decides what that meant

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool._forget(self)  # type: ignore[attr-defined]
        if self.complete:
            return
        if self.head_done and not self.parser.should_keep_alive() and self._length_unknown():
            self.complete = True  # body delimited by the connection closing
            self._wake()
        elif self.received == 0:
            self._fail(UpstreamUnreachable("The upstream closed the connection without answering."))
        else:
            self._fail(UpstreamProtocolError("The upstream connection was cut mid-response."))

    def pause_writing(self) -> None:  # request bodies are written at once
        pass

    def resume_writing(self) -> None:
        pass

    # -- httptools callbacks --------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status: cython.int = self.parser.get_status_code()
        if status < 200:
            if status == 101:  # a protocol switch is no answer to the request sent
                self._fail(_switched())
            else:  # an interim response (103 Early Hints...): the answer follows it
                self.headers = []
                self._interim = True
            return
        self.status = status
        self.head_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        sink = self.sink
        if sink is not None:  # pumping: hand it on now, wake nobody
            self.last_body = time.monotonic()
            if not sink(body):
                self.sink = None
                self.sink_open = False
                self._wake()
            return
        self.chunks.append(body)
        if len(self.chunks) >= HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()
        self._wake()

    # -- waiting --------------------------------------------------------------------------

    def _length_unknown(self) -> bool:
        for name, _ in self.headers:
            if name == b"content-length" or name == b"transfer-encoding":
                return False
        return True

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: GatewayError) -> None:
        if self.error is None:
            self.error = error
        self._wake()
        if self.transport is not None:
            self.transport.abort()

    async def wait_event(self, timeout: float) -> bool:
        """Wait for the next parser event, at most ``timeout`` seconds; False if none came."""
        waiter = self.loop.create_future()
        self._waiter = waiter
        handle = self.loop.call_later(timeout, expire, waiter)
        try:
            await waiter
        except Expired:
            return False
        finally:
            handle.cancel()
            self._waiter = None
        return True

    async def wait(self, timeout: float, what: str) -> None:
        """Wait for the next parser event, at most ``timeout`` seconds; ``UpstreamTimeout``
        naming ``what`` when the time runs out."""
        if not await self.wait_event(timeout):
            raise UpstreamTimeout(f"The upstream did not answer in time ({what}, {timeout:.3g}s).")

    def take_chunk(self) -> bytes:
        chunk: bytes = self.chunks.popleft()
        if self.paused and len(self.chunks) <= LOW_WATER and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return chunk

    def prepare_idle(self) -> bool:
        """After a complete exchange: drop unread chunks, resume reading, and say whether the
        connection can be reused."""
        transport = self.transport
        if not (self.complete and self.keep_alive and self.error is None):
            return False
        if transport is None or transport.is_closing():
            return False
        self.chunks.clear()
        if self.paused:
            self.paused = False
            transport.resume_reading()
        self.idle_since = time.monotonic()
        return True


class UpstreamResponse:
    """The response to one upstream request: ``status``, ``headers`` (lower-case names),
    the body whole (``read``) or chunk by chunk as received (``next_chunk``). Call
    ``close`` when done: the connection goes back to its pool or is aborted."""

    def __init__(self, conn: Connection, idle_s: float, deadline: float) -> None:
        self._conn: Connection | None = conn
        self._idle_s = idle_s
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
        remaining: cython.double
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
            if self._idle_s < remaining:
                await conn.wait(self._idle_s, "idle gap between chunks")
            else:
                await conn.wait(remaining, "total")

    async def pump(self, sink: Callable[[bytes], bool]) -> bool:
        """Hand every remaining body chunk to ``sink`` as it is parsed (queued ones first).
        True when the body ended; False when ``sink`` returned False (its consumer went
        away: close the response, which aborts the connection unless the body was complete).
        Raises ``UpstreamTimeout`` (idle gap, total) and the connection's errors."""
        conn = self._conn
        if conn is None:
            return True
        while conn.chunks:
            if not sink(conn.take_chunk()):
                return False
        now: cython.double = time.monotonic()
        conn.last_body = now
        conn.sink_open = True
        conn.sink = sink
        try:
            while True:
                if conn.error is not None:
                    raise conn.error
                if not conn.sink_open:
                    return False
                if conn.complete:
                    return True
                now = time.monotonic()
                total_left: cython.double = self._deadline - now
                idle_left: cython.double = conn.last_body + self._idle_s - now
                if total_left <= 0:
                    raise UpstreamTimeout("The upstream response exceeded the total timeout.")
                if idle_left <= 0:
                    raise UpstreamTimeout(
                        f"The upstream did not answer in time (idle gap between chunks, "
                        f"{self._idle_s:.3g}s)."
                    )
                await conn.wait_event(min(idle_left, total_left))
        finally:
            conn.sink = None

    async def read(self) -> bytes:
        """The whole body."""
        conn = self._conn
        if conn is not None and conn.complete and conn.error is None and len(conn.chunks) == 1:
            return conn.take_chunk()  # the common case: one chunk, already here
        parts = []
        while True:
            chunk = await self.next_chunk()
            if chunk is None:
                break
            parts.append(chunk)
        return b"".join(parts)

    def close(self) -> None:
        conn = self._conn
        self._conn = None
        if conn is not None:
            conn.pool._release(conn)  # type: ignore[attr-defined]
