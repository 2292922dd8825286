"""The per-connection disconnect watch (fastgw/disconnect.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastgw import disconnect
from fastgw.disconnect import Disconnects


class Conn:
    """A client connection as Granian shows it: one disconnect signal, counted calls."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.closed: asyncio.Future[None] = loop.create_future()
        self.calls = 0

    def client_disconnect(self) -> asyncio.Future[None]:
        self.calls += 1
        return self.closed


async def _armed(watch: Any) -> None:
    """Run the loop until the watch's arming timer has fired."""
    while watch._timer is not None:
        await asyncio.sleep(0)


async def test_requests_on_one_connection_share_one_granian_watch(monkeypatch: Any) -> None:
    """Many long requests on one keep-alive connection ask Granian once, not once each
    (each ask lives in Granian until the connection closes)."""
    monkeypatch.setattr(disconnect, "ARM_AFTER_S", 0)
    loop = asyncio.get_running_loop()
    owner, conn = Disconnects(loop), Conn(loop)
    task = asyncio.current_task()
    assert task is not None
    for _ in range(5):
        watch = owner.watch("10.0.0.1:4000", conn, task)
        await _armed(watch)
        watch.cancel()
    assert conn.calls == 1
    assert list(owner.connections) == ["10.0.0.1:4000"]


async def test_closing_a_connection_cancels_only_its_current_request(monkeypatch: Any) -> None:
    """When the connection closes, the request it carries is cancelled; a request on
    another connection is not, and the closed connection's entry is dropped."""
    monkeypatch.setattr(disconnect, "ARM_AFTER_S", 0)
    loop = asyncio.get_running_loop()
    owner = Disconnects(loop)
    a, b = Conn(loop), Conn(loop)
    armed = asyncio.Event()

    async def request(client: str, conn: Conn) -> None:
        task = asyncio.current_task()
        assert task is not None
        watch = owner.watch(client, conn, task)
        await _armed(watch)
        armed.set()
        try:
            await asyncio.sleep(3600)
        finally:
            watch.cancel()

    first = asyncio.ensure_future(request("10.0.0.1:1", a))
    second = asyncio.ensure_future(request("10.0.0.1:2", b))
    while len(owner.connections) < 2:
        await asyncio.sleep(0)
    a.closed.set_result(None)
    await asyncio.wait({first}, timeout=5)
    assert first.cancelled()
    assert not second.done()
    assert list(owner.connections) == ["10.0.0.1:2"]
    second.cancel()


async def test_a_finished_request_is_not_cancelled_by_a_later_close(monkeypatch: Any) -> None:
    """A request that ended before its connection closed is left alone by the close."""
    monkeypatch.setattr(disconnect, "ARM_AFTER_S", 0)
    loop = asyncio.get_running_loop()
    owner, conn = Disconnects(loop), Conn(loop)
    done = loop.create_future()

    async def request() -> str:
        task = asyncio.current_task()
        assert task is not None
        watch = owner.watch("10.0.0.1:9", conn, task)
        await _armed(watch)
        watch.cancel()
        done.set_result(None)
        await conn.closed  # still running when the connection closes, but its watch is over
        return "finished"

    running = asyncio.ensure_future(request())
    await done
    conn.closed.set_result(None)
    assert await running == "finished"
    assert not owner.connections


async def test_a_quick_request_never_asks_granian() -> None:
    """A request answered before ARM_AFTER_S never calls client_disconnect()."""
    loop = asyncio.get_running_loop()
    owner, conn = Disconnects(loop), Conn(loop)
    task = asyncio.current_task()
    assert task is not None
    owner.watch("10.0.0.1:5", conn, task).cancel()
    await asyncio.sleep(disconnect.ARM_AFTER_S * 2)
    assert conn.calls == 0
