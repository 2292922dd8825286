"""Anthropic's Messages API inbound: ``POST /v1/messages`` and ``/v1/messages/count_tokens``.

``/v1/messages`` is the chat completions pipeline behind the edge (``fastgw.inbound.edge``):
``MessagesFront`` translates the client's body into a chat completion, and the answer, the
stream and every error back into Anthropic's shapes (the sans-IO work is in
``fastgw.protocols.anthropic.front_*``). Rules this module keeps:
- The key is read from ``x-api-key`` (Anthropic's header) as well as fastgw's own
  ``authorization: Bearer`` and ``api-key``; ``anthropic-version`` and ``anthropic-beta`` are
  accepted whatever they say and not read.
- The client's body is kept on the exchange (``ex.inbound``, passed on as ``Call.inbound``):
  an ``anthropic`` upstream is sent it as written, only the model renamed
  (``protocols.anthropic.front_passthrough``); every other upstream gets the translation.
  Both answers come back as OpenAI's and are written as Anthropic's here.
- ``count_tokens`` is answered here, never by an upstream: the same key check, the same
  translation (``max_tokens`` not required), the gateway's own estimate
  (``fastgw.tokens``) of the translated messages and tool definitions. An estimate, not
  Anthropic's tokenizer.
- Every error of both endpoints is Anthropic's ``{"type": "error", ...}`` with its status.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from ..bodies import read_body
from ..errors import GatewayError, ModelNotFound
from ..exchange import Exchange, loggable
from ..keys import KeyRing
from ..protocols.anthropic.front_answer import error_body, error_status, error_type
from ..protocols.anthropic.front_answer import translate_answer as answer_of
from ..protocols.anthropic.front_request import chat_body, read_request, translate_request
from ..protocols.anthropic.front_stream import MessagesFrontStream
from ..respond import JSON, send_bytes
from ..tokens import estimate_request, estimate_text
from ..wire import ChatRequest, decode_request
from .endpoint import HeadersView, InboundEndpoint

ALIASES = {"api-key": "x-api-key"}
_encode = msgspec.json.Encoder().encode


class MessagesFront:
    """One ``/v1/messages`` request's translation (a ``fastgw.inbound.edge.Front``)."""

    __slots__ = ("ex",)

    def __init__(self, scope: Any, ex: Exchange) -> None:
        self.ex = ex

    async def request(self, body: bytes) -> bytes:
        chat = translate_request(body)[1]  # checked and translated for every upstream
        self.ex.inbound = ("anthropic", body)  # an anthropic upstream gets it as written
        return chat

    def answer(self, status: int, body: bytes) -> tuple[int, bytes]:
        return answer_of(status, body)

    def stream(self) -> MessagesFrontStream:
        request = getattr(self.ex, "request", None)
        estimate = estimate_request(request) if isinstance(request, ChatRequest) else 0
        return MessagesFrontStream(estimate)

    async def finish(self, ex: Any) -> None:
        return None


def make_front(scope: Any, ex: Exchange) -> MessagesFront:
    return MessagesFront(scope, ex)


def estimate_tokens(chat: dict[str, Any]) -> int:
    """The gateway's estimate of a translated chat body's input tokens: its messages as
    the limiter estimates them, plus its tool definitions' JSON at four characters a token."""
    request = decode_request(ChatRequest, _encode(chat))
    tools = chat.get("tools")
    return estimate_request(request) + (estimate_text(_encode(tools).decode()) if tools else 0)


class CountTokens:
    """``POST /v1/messages/count_tokens``: see the module rules."""

    def __init__(self, pipes: Any) -> None:
        self.keys: KeyRing = pipes.keys
        self.chat = pipes.endpoints["/chat/completions"]
        self.limit: int = pipes.config.server.max_body_bytes

    async def __call__(self, scope: Any, proto: Any, ex: Exchange) -> None:
        try:
            body = _encode({"input_tokens": await self._count(scope, proto, ex)})
        except GatewayError as exc:
            ex.error = exc.code or exc.type
            status = error_status(exc.status)
            body = error_body(error_type(status), exc.message)
            send_bytes(proto, ex, status, [JSON, *exc.headers], body)
            return
        send_bytes(proto, ex, 200, [JSON], body)

    async def _count(self, scope: Any, proto: Any, ex: Exchange) -> int:
        headers = HeadersView(scope.headers, ALIASES)
        key = self.keys.authenticate(headers.get("authorization"), headers.get("api-key"))
        ex.key_id, ex.team_id = key.id, key.team
        team = self.keys.teams.get(key.team) if key.team is not None else None
        body = await self._body(scope, proto, ex)
        req = read_request(body)
        ex.model = loggable(req.model)
        if req.model not in self.chat.models:
            raise ModelNotFound(
                f"The model '{req.model}' does not exist or you do not have access to it.",
                param="model",
            )
        KeyRing.check_model(key, req.model, team)
        return estimate_tokens(chat_body(req, need_max_tokens=False))

    async def _body(self, scope: Any, proto: Any, ex: Exchange) -> bytes:
        """The body under the gateway's limit and body deadline (as the proxied endpoints)."""
        bodies = self.chat.bodies
        task, reading = ex.task, bodies.reading
        reading[task] = ex
        try:
            return await read_body(proto, scope.headers.get("content-length"), self.limit)
        except asyncio.CancelledError:
            timeout = bodies.timed_out(ex)
            if timeout is None:
                raise
            raise timeout from None
        finally:
            del reading[task]


def routes(pipes: Any) -> list[tuple[str, str, Any]]:
    chat = pipes.endpoints["/chat/completions"]
    limit = pipes.config.server.max_body_bytes
    messages = InboundEndpoint(make_front, chat, ALIASES, limit)
    return [("/messages", "POST", messages), ("/messages/count_tokens", "POST", CountTokens(pipes))]


__all__ = ["ALIASES", "CountTokens", "MessagesFront", "estimate_tokens", "make_front", "routes"]
