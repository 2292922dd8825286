"""``send_now`` (fastgw/relay.py) against transports shaped like Granian's: what it answers,
and that a failed send leaves no reference cycle behind (Granian's failed awaitable is
invisible to the garbage collector, so a cycle through it is never freed)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from granian._granian import RSGIProtocolClosed

from fastgw.relay import send_now


class Settled:
    """What Granian's ``send_bytes`` returns: an awaitable that is already settled. A failed
    one keeps the error it raises (as Granian's ``PyErrAwaitable`` does)."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error

    def __await__(self) -> Iterator[None]:
        return self  # type: ignore[return-value]

    def __iter__(self) -> Settled:
        return self

    def __next__(self) -> None:
        # Granian raises from native code: no frame of the awaitable is in the traceback.
        # Here one is, so it must hold neither the awaitable nor the error when it raises.
        error = self.error
        del self
        if error is None:
            raise StopIteration
        try:
            raise error
        finally:
            del error


class Pending:
    """An awaitable that is not settled at once (not Granian's semantics)."""

    def __await__(self) -> Iterator[None]:
        yield None


class Transport:
    def __init__(self, make: Any) -> None:
        self.make = make
        self.sent: list[bytes] = []
        self.last: Any = None

    def send_bytes(self, chunk: bytes) -> Any:
        self.sent.append(chunk)
        self.last = self.make()
        return self.last


def test_a_sent_chunk_is_true() -> None:
    """A send that succeeded answers True, once per chunk."""
    transport = Transport(lambda: Settled(None))
    assert send_now(transport, b"data: 1\n\n")
    assert transport.sent == [b"data: 1\n\n"]


def test_a_closed_transport_is_false() -> None:
    """A send that failed because the client went away answers False (no exception)."""
    transport = Transport(lambda: Settled(RSGIProtocolClosed("closed")))
    assert not send_now(transport, b"data: 1\n\n")


def test_a_failed_send_is_freed_without_the_collector() -> None:
    """After a failed send, the failed awaitable (and with it the error, its traceback and
    the caller's frames) is freed by reference counting alone: with the collector off, as
    for Granian's untraversable awaitable, nothing of it stays alive."""
    transport = Transport(lambda: Settled(RSGIProtocolClosed("closed")))
    enabled = gc.isenabled()
    gc.disable()
    try:
        assert not send_now(transport, b"data: 1\n\n")
        awaitable = weakref.ref(transport.last)
        error = weakref.ref(transport.last.error)
        transport.last = None
        assert awaitable() is None
        assert error() is None
    finally:
        if enabled:
            gc.enable()


def test_an_awaitable_that_does_not_settle_is_refused() -> None:
    """The relay relies on Granian settling sends at once; anything else fails loudly."""
    transport = Transport(Pending)
    with pytest.raises(RuntimeError, match="did not settle"):
        send_now(transport, b"x")
