"""OpenAI's Responses API inbound: ``POST /v1/responses`` served by the chat completions
pipeline (``fastgw.inbound.endpoint``), and ``GET``/``DELETE /v1/responses/{id}`` and ``GET
/v1/responses/{id}/input_items`` on the responses it stored.

Rules this module keeps:
- Translation is ``fastgw.protocols.responses`` (sans-IO); this module only wires it to the
  edge (``ResponsesFront``) and to the store (``fastgw.inbound.response_store``).
- Errors keep OpenAI's shape and statuses (the Responses API's own), so the SDK raises the
  exception it raises against OpenAI; ``previous_response_id`` that this key has not stored
  (unknown, expired, deleted, another key's) is OpenAI's 404 ``previous_response_not_found``.
- ``store`` (true unless the request says false) keeps the response once it was answered
  with a 200 and did not fail (``finish``): the whole answer or the stream's last response
  object, with the conversation's input items, under the key that asked. With ``[responses]
  store = false`` (or a conversation past ``max_stored_bytes``) nothing is kept and the
  response says ``store: false``.
- The store is the process's (``runtime.responses``: SQLite on one host, Redis with ``[state]
  backend = "redis"``). A request with ``previous_response_id`` reads it once before its
  answer (a store that cannot be reached is a 503); a request without it touches no store
  before its answer.
- Native upstreams (an ``openai`` provider with ``responses = true``): when the config has
  one, the front also writes the body such an upstream is sent (``ex.inbound``:
  ``protocols.responses.native.upstream_body``: the client's, ``store`` false, a
  continuation's stored items before its input). Every request is still checked and
  translated as above, so routing may pick either kind of deployment, and fall back from
  one to the other. When the answer is native (``ex.native``) it goes to the client as the
  upstream wrote it (``NativeStream`` watches a stream), and the gateway keeps it as it
  keeps a translated one, under the upstream's id: the store stays the gateway's, so
  conversations go on across native and translated deployments, and per key.
- ``POST /v1/responses/{id}/cancel``: only background responses can be cancelled, and the
  gateway runs none (``background: true`` is a 400): the key's own stored response is a 400
  saying so, any other id a 404.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Awaitable
from functools import partial
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import msgspec

from ..errors import InvalidRequest, MethodNotAllowed, NotFound, StateUnavailable
from ..exchange import Exchange
from ..protocols.openai.errors import error_body
from ..protocols.responses.answer import encode, error_answer, from_completion, new_id
from ..protocols.responses.items import input_item_list
from ..protocols.responses.native import read_answer, storable_id, upstream_body
from ..protocols.responses.native_stream import NativeStream
from ..protocols.responses.request import Item, decode_items, encode_items, read_request, to_chat
from ..protocols.responses.stream import EventStream
from ..respond import send_json
from .endpoint import InboundEndpoint
from .response_store import Store, Stored

log = logging.getLogger("fastgw")
T = TypeVar("T")


class _Output(msgspec.Struct):
    output: list[Item] = []


_output = msgspec.json.Decoder(_Output).decode


class ResponsesFront:
    """One ``POST /v1/responses`` (see ``fastgw.inbound.edge.Front``)."""

    __slots__ = (
        "_config",
        "_ex",
        "_keep",
        "_native",
        "_store",
        "_stream",
        "echo",
        "final",
        "id",
        "items",
        "model",
        "native_final",
    )

    def __init__(self, pipes: Any, store: Store | None, ex: Exchange, native: bool) -> None:
        self._ex = ex  # its key is known by the time the body is read (identify runs first)
        self._config = pipes.config.responses
        self._store = store if self._config.store else None
        self._native = native  # some provider of this config speaks the Responses API
        self._keep = False
        self._stream: EventStream | NativeStream | None = None
        self.id = new_id("resp_")
        self.echo: dict[str, Any] = {}
        self.items: list[Item] = []
        self.model = ""
        self.final: dict[str, Any] | None = None
        self.native_final: bytes | None = None  # a native upstream's whole answer

    async def request(self, body: bytes) -> bytes:
        request = read_request(body)
        history: list[Item] = []
        if request.previous_response_id is not None:
            history = await self._history(request.previous_response_id, self._ex.key_id or "")
        chat = to_chat(request, history)
        self.echo, self.items, self.model = chat.echo, chat.items, request.model
        self._keep = request.store and self._store is not None
        if not self._keep:
            self.echo["store"] = False
        if self._native:  # a native upstream gets this (the provider renames the model)
            self._ex.inbound = ("responses", upstream_body(body, history))
        return chat.body

    async def _history(self, previous: str, key_id: str) -> list[Item]:
        """The stored conversation ``previous`` continues: its input items, then its output."""
        store = self._store
        found = await _read(store.get(previous, key_id)) if store is not None else None
        if found is not None:
            try:
                return [*decode_items(found.items), *_output(found.response).output]
            except msgspec.DecodeError:  # a row this version cannot read: as good as gone
                pass
        raise NotFound(
            f"Previous response with id '{previous}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )

    def answer(self, status: int, body: bytes) -> tuple[int, bytes]:
        if status != 200:
            return status, error_answer(status, body)
        if self._ex.native:  # the upstream's own response object: relayed as written
            try:
                read_answer(body)
            except (msgspec.DecodeError, RecursionError):
                message = "The upstream's answer could not be read as a response object."
                return 502, error_body(message, "upstream_error", None, "upstream_protocol_error")
            self.native_final = body
            return 200, body
        try:
            self.final = from_completion(body, self.id, int(time.time()), self.model, self.echo)
        except (msgspec.DecodeError, RecursionError):
            message = "The upstream's answer could not be read as a chat completion."
            return 502, error_body(message, "upstream_error", None, "upstream_protocol_error")
        return 200, encode(self.final)

    def stream(self) -> EventStream | NativeStream:
        kind = NativeStream if self._ex.native else EventStream
        self._stream = kind(self.id, int(time.time()), self.model, self.echo)
        return self._stream

    def _kept(self) -> tuple[str, bytes] | None:
        """The id and response object to store: a completed or incomplete answer's."""
        stream = self._stream
        if isinstance(stream, NativeStream) or self.native_final is not None:
            final = stream.final if isinstance(stream, NativeStream) else self.native_final
            if final is None:  # a native stream's final is set only when it did not fail
                return None
            try:
                id, status = read_answer(final)
            except (msgspec.DecodeError, RecursionError):
                return None
            if status == "failed" or not storable_id(id):
                log.info("responses: an upstream's response %.64r not stored", id)
                return None
            return id, final
        answer = stream.final if stream is not None else self.final
        if answer is None or answer["status"] == "failed":
            return None
        return self.id, encode(answer)

    async def finish(self, ex: Exchange) -> None:
        store = self._store
        if not self._keep or store is None or ex.status != 200:
            return
        kept = self._kept()
        if kept is None:
            return
        id, response = kept
        stored = Stored(response, encode_items(self.items))
        if len(stored.response) + len(stored.items) > self._config.max_stored_bytes:
            log.info("responses: %s not stored, larger than max_stored_bytes", id)
            return
        try:
            await store.put(
                id,
                ex.key_id or "",
                stored,
                self._config.store_ttl_s,
                self._config.max_per_key,
            )
        except (sqlite3.Error, OSError, TimeoutError) as exc:
            # the client has its answer: only reading it back or continuing it will fail
            log.error("responses: could not store %s: %s", id, exc)


async def _read(call: Awaitable[T]) -> T:
    """A store call whose answer the client waits for: a store that cannot be reached is a
    503 the SDK retries."""
    try:
        return await call
    except (sqlite3.Error, OSError, TimeoutError):
        raise StateUnavailable(
            "The gateway's response store cannot be reached; retry the request."
        ) from None


def _make_front(pipes: Any, store: Store | None, native: bool, scope: Any, ex: Exchange) -> Any:
    return ResponsesFront(pipes, store, ex, native)


async def _stored(pipes: Any, store: Store | None, scope: Any, proto: Any, ex: Exchange) -> None:
    """``GET`` and ``DELETE /v1/responses/{id}``, ``GET /v1/responses/{id}/input_items``: the
    key's own stored responses only."""
    headers = scope.headers
    key = pipes.keys.authenticate(headers.get("authorization"), headers.get("api-key"))
    ex.key_id, ex.team_id = key.id, key.team
    id, _, rest = scope.path.partition("/responses/")[2].partition("/")
    listing = rest == "input_items"
    cancel = rest == "cancel"
    allowed = "GET" if listing else "POST" if cancel else "GET, DELETE"
    if scope.method not in allowed.split(", "):
        raise MethodNotAllowed(
            f"Method {scope.method} is not allowed for {scope.path}; use {allowed}.",
            headers=[("allow", allowed)],
        )
    if not id or (rest and not listing and not cancel):
        raise NotFound(
            f"Invalid URL ({scope.method} {scope.path}): this gateway serves GET and DELETE "
            "/v1/responses/{id}, GET /v1/responses/{id}/input_items and POST "
            "/v1/responses/{id}/cancel.",
            code=None,
        )
    missing = NotFound(f"Response with id '{id}' not found.", param="response_id", code=None)
    if store is None or not pipes.config.responses.store:
        raise missing
    if cancel:
        if await _read(store.get(id, key.id)) is None:
            raise missing
        raise InvalidRequest(
            "Cannot cancel a synchronous response: only responses created with "
            "background=true can be cancelled, and this gateway runs none.",
            code=None,
        )
    if scope.method == "DELETE":
        if not await _read(store.delete(id, key.id)):
            raise missing
        send_json(proto, ex, 200, encode({"id": id, "object": "response", "deleted": True}))
        return
    found = await _read(store.get(id, key.id))
    if found is None:
        raise missing
    if not listing:
        send_json(proto, ex, 200, found.response)
        return
    params = dict(parse_qsl(scope.query_string or "", keep_blank_values=True))
    page = input_item_list(id, decode_items(found.items), params)
    send_json(proto, ex, 200, encode(page))


def routes(pipes: Any) -> list[tuple[str, str, Any]]:
    store: Store | None = pipes.runtime.responses
    chat = pipes.endpoints["/chat/completions"]
    limit = pipes.config.server.max_body_bytes
    native = any("responses" in getattr(p, "native", ()) for p in pipes.providers.values())
    endpoint = InboundEndpoint(partial(_make_front, pipes, store, native), chat, {}, limit)
    return [
        ("/responses", "POST", endpoint),
        ("/responses/", "*", partial(_stored, pipes, store)),
    ]


__all__ = ["ResponsesFront", "routes"]
