"""Cancelling a request when its client goes away, with one watch per connection.

Granian's ``client_disconnect()`` resolves when the *connection* closes, and every call spawns
a task in Granian that lives until then; cancelling the Python future does not end it. On a
keep-alive connection that carries thousands of requests, one call per request grows the
worker's memory without bound (measured: ~1.8 KB per stream). So a worker asks once per
connection, keyed by the client's address and port (``scope.client``, unique while the
connection lives), and the connection's future cancels whichever request it carries when it
resolves. The entry is dropped when the connection closes.

Asking still costs a crossing into Granian and a thread wake-up, so a request arms the watch
only after it has waited ``ARM_AFTER_S``: answers faster than that never pay, and a client
that leaves sooner is noticed when the watch arms, or at the next write to it.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

ARM_AFTER_S = 0.05


class _Connection:
    __slots__ = ("future", "task")

    def __init__(self, future: asyncio.Future[Any]) -> None:
        self.future: asyncio.Future[Any] | None = future
        self.task: asyncio.Task[Any] | None = None


class Disconnects:
    """The worker's connections that have a disconnect watch."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.connections: dict[str, _Connection] = {}

    def watch(self, client: str, proto: Any, task: asyncio.Task[Any]) -> Watch:
        return Watch(self, client, proto, task)

    def _attach(self, client: str, proto: Any, task: asyncio.Task[Any]) -> _Connection:
        conn = self.connections.get(client)
        if conn is None or conn.future is None or conn.future.done():  # a new connection
            future: asyncio.Future[Any] = asyncio.ensure_future(proto.client_disconnect())
            conn = _Connection(future)
            self.connections[client] = conn
            future.add_done_callback(partial(self._closed, client, conn))
        conn.task = task
        return conn

    def _closed(self, client: str, conn: _Connection, future: asyncio.Future[Any]) -> None:
        # Break future -> callback -> conn -> future: Granian's future is not tracked by
        # Python's cycle collector, so a cycle through it would never be freed.
        conn.future = None
        if self.connections.get(client) is conn:
            del self.connections[client]
        task, conn.task = conn.task, None
        if task is not None and not future.cancelled():
            task.cancel()


class Watch:
    """One request's part of its connection's watch; ``cancel`` when the request is done."""

    __slots__ = ("_client", "_conn", "_owner", "_proto", "_task", "_timer")

    def __init__(
        self, owner: Disconnects, client: str, proto: Any, task: asyncio.Task[Any]
    ) -> None:
        self._owner = owner
        self._client = client
        self._proto = proto
        self._task = task
        self._conn: _Connection | None = None
        self._timer: asyncio.TimerHandle | None = owner.loop.call_later(ARM_AFTER_S, self._arm)

    def _arm(self) -> None:
        self._timer = None
        self._conn = self._owner._attach(self._client, self._proto, self._task)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        conn = self._conn
        if conn is not None and conn.task is self._task:
            conn.task = None  # the connection stays watched for its next request
