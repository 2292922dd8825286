"""The last stages of a proxied request: route (through the model's router to a provider) and
relay (the answer whole, or its stream), with the response stages in between.

For each request the router (``fastgw.routing``: strategies, retries, fallbacks, breakers)
returns an answer. A plain answer is read whole, passed through the response stages (the
cache's store) and sent; a stream is relayed chunk by chunk once its first event arrived
(``fastgw.relay``: zero-copy unless the redactor or the usage stripping must see the bytes).
A client that disconnects cancels the handler, which aborts the upstream connection.
Every response starts at ``fastgw.respond``.

An answer from an upstream that speaks the client's inbound API natively
(``providers.answers_natively``: the Responses API to an ``openai`` upstream with ``responses
= true``) is in that API's protocol, not OpenAI's chat: ``ex.native`` tells the inbound edge
to relay it untranslated; its usage is read in that protocol; the response stages (the
caches, which keep chat answers) do not see it; a stream ends by its own rules (the edge's
watch, ``relay.StreamEnd``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from .errors import error_body
from .exchange import Exchange
from .protocols.responses.native import usage_of as native_usage
from .providers import Call, answers_natively
from .redact import Redactor
from .relay import relay_stream
from .respond import open_stream, send_bytes
from .routing import ATTEMPTS_HEADER, Answer, Router
from .routing.plan import Group
from .stream_filters import StreamFilter
from .tokens import counted_usage
from .wire import ChatRequest, CompletionRequest, EmbeddingRequest, decode_usage

log = logging.getLogger("fastgw")


class Route:
    """Route and relay for one (endpoint, model): the pipeline's terminal stage."""

    name = "route"

    def __init__(
        self,
        endpoint: str,
        router: Router,
        group: Group,
        disconnects: Any,
        response_stages: tuple[Any, ...],
        redactor: Redactor | None,
        stream_filters: tuple[StreamFilter, ...] = (),
    ) -> None:
        self.endpoint = endpoint
        self.router = router
        self.group = group
        self.watch = disconnects.watch
        self.response_stages = response_stages
        self.collectors = tuple(s for s in response_stages if getattr(s, "collects", False))
        self.redactor = redactor
        self.stream_filters = stream_filters

    async def run(self, ex: Exchange, scope: Any, proto: Any) -> None:
        request, stream = ex.request, ex.stream
        watcher = self.watch(scope.client, proto, ex.task)
        answer: Answer | None = None
        try:
            call = Call(self.endpoint, ex.body, request, "", ex.request_id)
            call.inbound = ex.inbound  # None unless an inbound API (fastgw.inbound) set it
            # a stream is settled on its usage: asked for when the client did not, and then
            # left out of what the client receives
            strip = stream and not _asked_usage(request)
            call.stream_usage = strip
            tags = _tags(scope.headers.get("x-fastgw-tags"), request)
            answer = await self.router.answer(ex, self.group, call, stream, tags)
            if call.inbound is not None and answers_natively(answer.deployment.provider, call):
                ex.native = True
            upstream = answer.response
            headers = ex.extra_headers
            headers.append((ATTEMPTS_HEADER, ex.attempts or ""))
            headers.extend(answer.upstream_headers())  # x-upstream-ratelimit-*: its limits
            if stream and upstream.status == 200:
                await self._relay_stream(ex, proto, answer, strip)
                return
            self._relay_whole(ex, proto, answer)
        finally:
            watcher.cancel()
            if answer is not None:
                answer.response.close()
                answer.complete(ex)

    async def _relay_stream(self, ex: Exchange, proto: Any, answer: Answer, strip: bool) -> None:
        transport = open_stream(proto, ex, 200, ex.extra_headers)
        request = ex.request
        text = None if isinstance(request, EmbeddingRequest) else request
        n = 1 if text is None else text.n
        collect = False
        ending = None
        if ex.native:  # the inbound edge's watch of a stream in its own protocol
            ending, strip = transport.ending, False
        else:
            for stage in self.collectors:  # usually none; the cache stores when they file it
                if stage.wants(ex):
                    collect = True
                    break
        payloads = await relay_stream(
            transport,
            answer.response,
            ex,
            collect,
            n,
            answer.head,
            strip,
            text,
            self.redactor,
            self.stream_filters,
            ending,
        )
        if payloads is not None:
            for stage in self.collectors:
                stage.stream_end(ex, payloads)

    def _relay_whole(self, ex: Exchange, proto: Any, answer: Answer) -> None:
        upstream, data, redactor = answer.response, answer.body, self.redactor
        ex.ttft = time.perf_counter() - ex.start
        content_type = (upstream.header(b"content-type") or b"application/json").decode("latin-1")
        status = upstream.status
        if redactor is not None:  # an upstream may quote the request's headers
            data = redactor.scrub(data)
        headers = ex.extra_headers
        if status == 200:
            usage = native_usage(data) if ex.native else decode_usage(data)
            ex.set_usage(usage if usage is not None else counted_usage(ex.request, data))
            if not ex.native:
                for stage in self.response_stages:
                    data = stage.whole(ex, data, usage)
        else:
            status, data, content_type = self._upstream_error(ex, upstream, data, content_type)
            retry_after = upstream.header(b"retry-after")
            if retry_after is not None:
                if redactor is not None:
                    retry_after = redactor.scrub(retry_after)
                headers.append(("retry-after", retry_after.decode("latin-1")))
        send_bytes(proto, ex, status, [("content-type", content_type), *headers], data)

    def _upstream_error(
        self, ex: Exchange, upstream: Any, data: bytes, content_type: str
    ) -> tuple[int, bytes, str]:
        status = upstream.status
        ex.error = f"upstream_{status}"
        if status in (401, 403):
            # the upstream refused *our* credentials: the operator's problem, not the client's
            # (and OpenAI's message quotes the end of the upstream key)
            log.warning("upstream %s answered %d: check its api_key_env", ex.provider, status)
            body = error_body(
                f"The upstream provider refused the gateway's credentials ({status}).",
                "upstream_error",
                code="upstream_auth_failed",
            )
            return 502, body, "application/json"
        if self.redactor is not None:
            content_type = self.redactor.scrub_text(content_type)
        if not _is_openai_error(data):
            data = error_body(
                f"The upstream answered {status}: {data[:300].decode('utf-8', 'replace')}",
                "upstream_error" if status >= 500 else "invalid_request_error",
            )
            content_type = "application/json"
        return status, data, content_type


def _asked_usage(request: ChatRequest | CompletionRequest | EmbeddingRequest) -> bool:
    """Whether a stream's client asked for its usage event (``stream_options.include_usage``)."""
    options = getattr(request, "stream_options", None)
    return options is not None and options.include_usage


def _tags(header: str | None, request: Any) -> frozenset[str] | None:
    """The deployment tags a request asks for: ``x-fastgw-tags: a,b`` or, without that
    header, ``metadata.tags`` (a comma-separated string or a list)."""
    raw: Any = header
    if raw is None:
        metadata = getattr(request, "metadata", None)
        if not metadata:
            return None
        raw = metadata.get("tags")
        if raw is None:
            return None
    items = raw.split(",") if isinstance(raw, str) else raw if isinstance(raw, list) else []
    tags = frozenset(t.strip() for t in items if isinstance(t, str) and t.strip())
    return tags or None


def _is_openai_error(data: bytes) -> bool:
    return data.lstrip()[:1] == b"{" and b'"error"' in data[:64]
