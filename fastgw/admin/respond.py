"""Reading an admin request's body and sending its JSON answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from ..exchange import Exchange
from ..proxy import read_body

if TYPE_CHECKING:
    from ..app import WorkerState

_encode = msgspec.json.Encoder().encode


async def body(state: WorkerState, scope: Any, proto: Any) -> bytes:
    """The request body, bounded by ``server.max_body_bytes`` (413 past it)."""
    return await read_body(
        proto, scope.headers.get("content-length"), state.config.server.max_body_bytes
    )


def send(proto: Any, ex: Exchange, status: int, value: Any) -> None:
    ex.status, ex.responded = status, True
    proto.response_bytes(
        status,
        [("content-type", "application/json"), ("x-request-id", ex.request_id)],
        _encode(value),
    )
