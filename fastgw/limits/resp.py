"""A minimal Redis client: one pipelined connection, RESP parsed by hiredis.

Why not redis-py: with its asyncio client a request of the ``limits-redis`` benchmark cost
about 310 µs of worker CPU (a connection checked out of a pool per command, Python-level
bookkeeping), with this one about 160 µs (72 µs with limits off); a command here costs a
future and its share of one write per loop iteration. Numbers in the README's "Redis mode".

Rules this module keeps:
- One connection per worker; commands are matched to replies in order (Redis answers a
  connection's commands in order). Commands sent during one event-loop iteration go out in
  one write at its end (``call_soon``), so the admissions of concurrent requests share a
  syscall and a Redis read. Encoding is ``hiredis.pack_command``, parsing ``hiredis.Reader``.
- One timer per connection, not one per command: it fires at the deadline of the oldest
  command waiting and is armed again for the next one.
- A reply that does not come within ``timeout`` seconds, or a lost connection, fails every
  command waiting on the connection with ``ConnectionError``/``TimeoutError`` and closes it
  (replies could no longer be matched): the caller treats that as Redis being down and
  connects again. A Redis error reply raises ``ReplyError`` for that command only.
- The URL's password is sent with ``AUTH`` and never appears in an exception.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any
from urllib.parse import unquote, urlsplit

import hiredis

ReplyError = hiredis.ReplyError


class RespClient(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.timeout = timeout
        self.transport: asyncio.Transport | None = None
        self._reader = hiredis.Reader()
        # (reply, deadline on the loop's clock), oldest first
        self._waiting: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self._out: list[bytes] = []  # commands packed this iteration, written at its end
        self.closed = False

    @classmethod
    async def connect(cls, url: str, timeout: float) -> RespClient:
        """Connect, authenticate and select the database of ``url``
        (``redis://[user:password@]host[:port][/db]`` or ``unix:///path``)."""
        loop = asyncio.get_running_loop()
        parts = urlsplit(url)
        client = cls(loop, timeout)
        try:
            if parts.scheme == "unix":
                connect = loop.create_unix_connection(lambda: client, parts.path)
            else:
                ssl = parts.scheme == "rediss"
                host, port = parts.hostname or "127.0.0.1", parts.port or 6379
                connect = loop.create_connection(lambda: client, host, port, ssl=ssl or None)
            await asyncio.wait_for(connect, timeout)
        except OSError as exc:  # never the URL: it may hold a password
            raise ConnectionError(f"cannot connect to redis ({exc.strerror or exc})") from None
        if parts.password is not None:
            auth = [unquote(parts.password)]
            if parts.username:
                auth.insert(0, unquote(parts.username))
            await client.call("AUTH", *auth)
        db = parts.path.strip("/") if parts.scheme != "unix" else ""
        if db and db != "0":
            await client.call("SELECT", db)
        return client

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        waiting = self._waiting
        while True:
            reply = reader.gets()
            if reply is False:
                return
            if not waiting:  # a reply nobody asked for: the stream is out of step
                self._fail(ConnectionError("redis sent an unexpected reply"))
                return
            future = waiting.popleft()[0]
            if future.done():
                continue
            if isinstance(reply, ReplyError):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError("the connection to redis was lost"))

    # -- commands -----------------------------------------------------------------------------

    def call(self, *args: Any) -> asyncio.Future[Any]:
        """Send one command; the future is its reply."""
        return self.send([args])[0]

    def send(self, commands: list[tuple[Any, ...]] | list[list[Any]]) -> list[asyncio.Future[Any]]:
        """Send several commands (written with the others of this loop iteration); one future
        per reply, in order."""
        if self.closed or self.transport is None:
            raise ConnectionError("the connection to redis is closed")
        pack = hiredis.pack_command
        out = self._out
        if not out:
            self.loop.call_soon(self._write)
        out.extend(pack(tuple(c)) for c in commands)
        loop = self.loop
        deadline = loop.time() + self.timeout
        waiting = self._waiting
        if not waiting and self._timer is None:
            self._timer = loop.call_at(deadline, self._expire)
        futures = []
        for _ in commands:
            future: asyncio.Future[Any] = loop.create_future()
            waiting.append((future, deadline))
            futures.append(future)
        return futures

    def _write(self) -> None:
        out = self._out
        if out and not self.closed and self.transport is not None:
            self.transport.write(b"".join(out))
        out.clear()

    def _expire(self) -> None:
        """The oldest command's deadline: fail the connection if it is still waiting, else
        wait for the next oldest."""
        self._timer = None
        waiting = self._waiting
        if not waiting:
            return
        deadline = waiting[0][1]  # a reply is owed even if its caller gave up waiting
        if deadline <= self.loop.time():
            self._fail(TimeoutError(f"redis did not answer within {self.timeout}s"))
        else:
            self._timer = self.loop.call_at(deadline, self._expire)

    def _fail(self, exc: Exception) -> None:
        self.closed = True
        self._out.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiting = self._waiting
        while waiting:
            future = waiting.popleft()[0]
            if not future.done():
                future.set_exception(exc)
                future.exception()  # a settlement nobody awaits must not warn
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        self._fail(ConnectionError("the connection to redis was closed"))
