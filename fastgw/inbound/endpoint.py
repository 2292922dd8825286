"""The handler of an inbound API's endpoint: the chat completions pipeline behind an ``Edge``.

``InboundEndpoint(make_front, chat, aliases, limit)`` is the route handler of one inbound
path (``/v1/messages``, ``/v1/responses``). Per request it makes the API's ``Front``, runs the
chat completions ``EndpointPipeline`` with Granian's protocol object replaced by an ``Edge``
(``fastgw.inbound.edge``), and answers every ``GatewayError`` through the edge, so the client
gets it in its own API's shape. Rules it keeps:
- The pipeline is the chat completions one of the same config, unchanged: identify, hold,
  body, admit, caches, coalescing, routing, relay, accounting. The access log and the usage
  log record the inbound path (``ex.path``).
- Headers an inbound API names differently are read through ``aliases`` (Anthropic's
  ``x-api-key`` answers for ``api-key``); nothing else of the request is changed.
- After the response: the stream's end is sent (``EdgeTransport.close``) and the front's
  ``finish`` runs (the Responses API stores what it answered there).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from granian._granian import RSGIProtocolClosed

from ..errors import GatewayError
from ..exchange import Exchange
from ..respond import send_error
from .edge import Edge, Front


class HeadersView:
    """A request's headers with aliases: ``get(name)`` falls back to ``aliases[name]``."""

    __slots__ = ("_aliases", "_inner")

    def __init__(self, inner: Any, aliases: Mapping[str, str]) -> None:
        self._inner = inner
        self._aliases = aliases

    def get(self, name: str, default: Any = None) -> Any:
        value = self._inner.get(name)
        if value is None:
            alias = self._aliases.get(name)
            if alias is not None:
                value = self._inner.get(alias)
        return default if value is None else value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class ScopeView:
    """Granian's scope with ``HeadersView`` headers."""

    __slots__ = ("_inner", "headers")

    def __init__(self, inner: Any, aliases: Mapping[str, str]) -> None:
        self._inner = inner
        self.headers = HeadersView(inner.headers, aliases) if aliases else inner.headers

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


FrontFactory = Callable[[Any, Exchange], Front]


class InboundEndpoint:
    """See the module docstring."""

    def __init__(
        self,
        make_front: FrontFactory,
        chat: Callable[[Any, Any, Exchange], Any],
        aliases: Mapping[str, str],
        limit: int,
    ) -> None:
        self.make_front = make_front
        self.chat = chat
        self.aliases = dict(aliases)
        self.limit = limit

    async def __call__(self, scope: Any, proto: Any, ex: Exchange) -> None:
        front = self.make_front(scope, ex)
        edge = Edge(proto, front, self.limit)
        try:
            await self.chat(ScopeView(scope, self.aliases), edge, ex)
        except GatewayError as exc:
            send_error(edge, ex, exc)
        stream = edge.stream
        if stream is not None:
            with contextlib.suppress(RSGIProtocolClosed, RuntimeError):  # the client left
                await stream.close()
        await front.finish(ex)


__all__ = ["FrontFactory", "HeadersView", "InboundEndpoint", "ScopeView"]
