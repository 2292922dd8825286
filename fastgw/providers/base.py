"""What a provider is given (``Call``) and what it gives back (``Response``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import msgspec

from ..config import Timeouts
from ..wire import ChatRequest, CompletionRequest, EmbeddingRequest

Request = ChatRequest | CompletionRequest | EmbeddingRequest


class Call(msgspec.Struct):
    """One upstream call: the endpoint (``/chat/completions``), the client's original body,
    what the gateway decoded from it, the upstream model name, the request id, the
    deployment's timeouts (``None``: the provider's own), and ``stream_usage``: the gateway
    wants the stream's usage event though the client did not ask for it (the relay leaves it
    out of what the client receives)."""

    endpoint: str
    body: bytes
    request: Request
    upstream_model: str
    request_id: str
    timeouts: Timeouts | None = None
    stream_usage: bool = False


class Response(Protocol):
    status: int

    def header(self, name: bytes) -> bytes | None: ...

    async def next_chunk(self) -> bytes | None: ...

    async def read(self) -> bytes: ...

    async def pump(self, sink: Callable[[bytes], bool]) -> bool: ...

    def close(self) -> None: ...


class Provider(Protocol):
    name: str

    async def send(self, call: Call) -> Response: ...

    async def close(self) -> None: ...
