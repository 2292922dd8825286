"""Reading an admin request's body and sending its JSON answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from ..bodies import read_body
from ..exchange import Exchange
from ..respond import send_json

if TYPE_CHECKING:
    from .context import AdminContext

_encode = msgspec.json.Encoder().encode


async def body(state: AdminContext, scope: Any, proto: Any) -> bytes:
    """The request body, bounded by ``server.max_body_bytes`` (413 past it)."""
    return await read_body(
        proto, scope.headers.get("content-length"), state.config.server.max_body_bytes
    )


def send(proto: Any, ex: Exchange, status: int, value: Any) -> None:
    """Answer ``value`` as JSON, through the response seam (``fastgw.respond``)."""
    send_json(proto, ex, status, _encode(value))
