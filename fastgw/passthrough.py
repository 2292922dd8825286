"""Passthrough by path: an OpenAI-compatible endpoint fastgw does not implement (moderations,
images, audio), forwarded as it is to the ``openai`` provider a ``[[passthrough]]`` entry names.

``Passthrough(scope, proto, ex)`` is the route-table handler of one entry for one config
(``fastgw.app.routes`` registers one per entry; with no entry there is none). Rules it keeps:
- The upstream path is the entry's, exact, and the host is the provider's ``base_url``
  (``fastgw.config.passthrough``): no client text reaches either, so it is never an open proxy.
- A valid gateway key is required (401) and, when the entry lists ``keys``, one of those
  (403); the key's ``parallel`` limit holds (429). Rate and token limits, budgets, caching,
  routing and retries do not apply: the gateway does not decode what it forwards, so it
  cannot count it. Operators who need them there leave the path out.
- The body is read bounded (``server.max_body_bytes``: 413) within ``server.body_timeout_s``
  (408) and forwarded untouched with the client's content type (JSON or multipart); the
  client's credentials stay here, the provider's key and headers go instead.
- A success (status below 400) is relayed chunk by chunk as it arrives, whatever its type
  (JSON, audio, images), with the upstream's content type, content length and content
  disposition: with a length, a body cut short by an upstream failure reaches the client as
  a broken response (the server closes the connection), never as a shorter complete one.
  An error answer is read whole, scrubbed of secrets when the redactor is on and relayed; a
  401 or 403 from the upstream (the gateway's own credentials refused) is answered 502.
- The provider's timeouts apply (connect, first byte, idle gap, total). A client that goes
  away cancels the request, which aborts the upstream connection.
- The access line records it (method, path, status, key, provider, error); no usage row.
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial
from typing import Any

from .bodies import BodyDeadlines, read_body
from .errors import GatewayError, InvalidRequest, PermissionDenied, error_body
from .exchange import Exchange
from .keys import KeyRing
from .limits.pending import PendingKeys
from .providers.openai import OpenAIProvider
from .redact import Redactor
from .relay import send_now
from .respond import open_body, send_bytes

log = logging.getLogger("fastgw")

#: The longest client content type forwarded (a multipart boundary is at most 70 characters).
MAX_CONTENT_TYPE_CHARS = 256
#: Headers of a successful upstream answer relayed to the client (besides its rate limits).
RELAYED_HEADERS = (b"content-type", b"content-length", b"content-disposition")


class Passthrough:
    """One ``[[passthrough]]`` entry of one config: see the module docstring."""

    def __init__(
        self,
        path: str,
        upstream_path: str,
        provider: OpenAIProvider,
        keys: KeyRing,
        allowed: frozenset[str] | None,
        pending: PendingKeys | None,
        bodies: BodyDeadlines,
        max_body_bytes: int,
        redactor: Redactor | None,
        disconnects: Any,
    ) -> None:
        self.path = path
        self.upstream_path = upstream_path
        self.provider = provider
        self.keys = keys
        self.allowed = allowed
        self.pending = pending
        self.bodies = bodies
        self.max_body_bytes = max_body_bytes
        self.redactor = redactor
        self.watch = disconnects.watch

    async def __call__(self, scope: Any, proto: Any, ex: Exchange) -> None:
        headers = scope.headers
        key = self.keys.authenticate(headers.get("authorization"), headers.get("api-key"))
        ex.key = key
        ex.key_id, ex.team_id = key.id, key.team
        if self.allowed is not None and key.id not in self.allowed:
            raise PermissionDenied(
                f"This key may not call {self.path}.", code="endpoint_not_allowed"
            )
        if self.pending is not None and key.parallel is not None:
            self.pending.enter(key, key.parallel, ex)
        content_type = headers.get("content-type")
        if content_type is not None and not _safe_header(content_type):
            raise InvalidRequest("The content-type header cannot be forwarded.")
        body = await self._body(scope, proto, ex)
        ex.provider = self.provider.name
        watcher = self.watch(scope.client, proto, ex.task)
        response: Any = None
        try:
            response = await self.provider.forward(
                scope.method, self.upstream_path, content_type, body, ex.request_id
            )
            ex.ttft = time.perf_counter() - ex.start  # the upstream's head arrived
            if response.status >= 400:
                await self._relay_error(ex, proto, response)
            else:
                await self._relay_body(ex, proto, response)
        finally:
            watcher.cancel()
            if response is not None:
                response.close()

    async def _body(self, scope: Any, proto: Any, ex: Exchange) -> bytes:
        task, reading = ex.task, self.bodies.reading  # cut at server.body_timeout_s
        reading[task] = ex
        try:
            return await read_body(proto, scope.headers.get("content-length"), self.max_body_bytes)
        except asyncio.CancelledError:
            timeout = self.bodies.timed_out(ex)
            if timeout is None:
                raise
            raise timeout from None
        finally:
            del reading[task]

    async def _relay_body(self, ex: Exchange, proto: Any, response: Any) -> None:
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in response.headers
            if name in RELAYED_HEADERS
        ]
        headers.extend(self.provider.upstream_headers(response))
        transport = open_body(proto, ex, response.status, headers)
        try:
            if not await response.pump(partial(send_now, transport)):
                ex.error = "client_disconnected"
        except GatewayError as exc:
            # answered already: recorded, and the body ends short (see the module rules).
            # The traceback goes: the upstream connection keeps the error, and its traceback
            # this frame and the transport, a cycle that would keep the response open until
            # the garbage collector ran (Granian ends it when the transport is freed).
            exc.with_traceback(None)
            ex.error = exc.code or exc.type
            log.warning("passthrough %s: the upstream answer broke off: %s", self.path, exc)

    async def _relay_error(self, ex: Exchange, proto: Any, response: Any) -> None:
        status = response.status
        data: bytes = await response.read()
        ex.error = f"upstream_{status}"
        if status in (401, 403):
            log.warning("upstream %s answered %d: check its api_key_env", ex.provider, status)
            data = error_body(
                f"The upstream provider refused the gateway's credentials ({status}).",
                "upstream_error",
                code="upstream_auth_failed",
            )
            send_bytes(proto, ex, 502, [("content-type", "application/json")], data)
            return
        if self.redactor is not None:
            data = self.redactor.scrub(data)
        content_type = (response.header(b"content-type") or b"application/json").decode("latin-1")
        headers = [("content-type", content_type)]
        retry_after = response.header(b"retry-after")
        if retry_after is not None:
            if self.redactor is not None:
                retry_after = self.redactor.scrub(retry_after)
            headers.append(("retry-after", retry_after.decode("latin-1")))
        headers.extend(self.provider.upstream_headers(response))
        send_bytes(proto, ex, status, headers, data)


def _safe_header(value: str) -> bool:
    """Visible ASCII and spaces only, bounded: nothing that could split an upstream header."""
    return len(value) <= MAX_CONTENT_TYPE_CHARS and value.isascii() and value.isprintable()
