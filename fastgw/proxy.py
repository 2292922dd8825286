"""The proxied endpoints: chat completions, completions and embeddings.

For each request: authenticate the key, read and bound the body, decode the few fields the
gateway uses, resolve the public model name, check the key may use it, then ask the model's
router (``fastgw.routing``: strategies, retries, fallbacks, breakers) for an answer. The
answer is relayed: whole for plain requests, chunk by chunk for streams once their first
event arrived. A client that disconnects cancels the handler, which aborts the upstream
connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import msgspec

from .cache.replay import assemble, replay, storable
from .errors import ModelNotFound, PayloadTooLarge, error_body
from .exchange import Exchange, loggable
from .keys import KeyRing
from .providers import Call
from .relay import relay_stream
from .routing import ATTEMPTS_HEADER, Answer
from .tokens import counted_usage
from .wire import ChatRequest, CompletionRequest, EmbeddingRequest, decode_request, decode_usage

if TYPE_CHECKING:
    from .app import WorkerState

log = logging.getLogger("fastgw")
_JSON = ("content-type", "application/json")
_SSE_HEADERS = [("content-type", "text/event-stream"), ("cache-control", "no-cache")]


async def proxy(
    state: WorkerState,
    scope: Any,
    proto: Any,
    ex: Exchange,
    endpoint: str,
    cls: type[ChatRequest] | type[CompletionRequest] | type[EmbeddingRequest],
) -> None:
    headers = scope.headers
    key = state.keys.authenticate(headers.get("authorization"), headers.get("api-key"))
    ex.key_id, ex.team_id = key.id, key.team
    limiter = state.limiter
    if limiter is not None and key.parallel is not None:  # before the body (limits.pending)
        limiter.pending.enter(key, key.parallel, ex)
    limit = state.config.server.max_body_bytes
    declared = headers.get("content-length")
    task, reading = ex.task, state.bodies.reading  # cut at server.body_timeout_s (bodies.py)
    reading[task] = ex
    try:
        if declared is not None and declared.isdigit() and int(declared) <= limit:
            body: bytes = await proto()  # the common case, inline: the server reads that much
        else:
            body = await read_body(proto, declared, limit)
    except asyncio.CancelledError:
        timeout = state.bodies.timed_out(ex)
        if timeout is None:
            raise
        raise timeout from None
    finally:
        del reading[task]
    request = decode_request(cls, body)
    ex.model = request.model
    model = state.models.get(request.model)
    if model is None:
        ex.model = loggable(request.model)  # any string the client sent: bounded for the log
        raise ModelNotFound(
            f"The model '{request.model}' does not exist or you do not have access to it.",
            param="model",
        )
    team = state.keys.teams.get(key.team) if key.team is not None else None
    KeyRing.check_model(key, request.model, team)
    if limiter is not None:  # before the cache: a hit counts as a request (its tokens are free)
        if limiter.remote is None:
            ex.ticket = limiter.admit_local(key, team, request.model, request)
        else:
            ex.ticket = await limiter.admit(key, team, request.model, request)
    stream = not isinstance(request, EmbeddingRequest) and request.stream
    ex.stream = stream
    base = [("x-request-id", ex.request_id)]
    if ex.ticket is not None:
        base.extend(ex.ticket.headers)

    plan = None
    if state.cache is not None:
        plan = state.cache.plan(model, key.namespace, request, body, headers.get("cache-control"))
        if plan is not None:
            found = state.cache.get(plan)
            events = None
            if found is not None and stream and not isinstance(request, EmbeddingRequest):
                events = _replayed(request, found[0])  # before any header goes out
                if events is None:  # cannot be replayed: drop it and ask the upstream
                    state.cache.discard(plan)
                    found = None
            ex.cache = plan.outcome
            base.append(("x-fastgw-cache", plan.outcome))
            if found is not None:
                ex.ttft = time.perf_counter() - ex.start
                ex.status, ex.responded = 200, True
                ex.set_usage(found[1])
                if events is not None:
                    transport = proto.response_stream(200, [*_SSE_HEADERS, *base])
                    await transport.send_bytes(events)
                else:
                    proto.response_bytes(200, [_JSON, *base], found[0])
                return

    watcher = state.disconnects.watch(scope.client, proto, ex.task)
    answer: Answer | None = None
    try:
        call = Call(endpoint, body, request, "", ex.request_id)
        # a stream is settled on its usage: asked for when the client did not, and then
        # left out of what the client receives
        strip = stream and not _asked_usage(request)
        call.stream_usage = strip
        tags = _tags(headers.get("x-fastgw-tags"), request)
        answer = await state.router.answer(ex, state.groups[model.name], call, stream, tags)
        upstream = answer.response
        base.append((ATTEMPTS_HEADER, ex.attempts or ""))
        base.extend(answer.upstream_headers())  # x-upstream-ratelimit-*: the upstream's limits
        if stream and upstream.status == 200:
            transport = proto.response_stream(200, [*_SSE_HEADERS, *base])
            ex.status, ex.responded = 200, True
            collect = plan is not None and plan.store
            text = None if isinstance(request, EmbeddingRequest) else request
            n = 1 if text is None else text.n
            payloads = await relay_stream(
                transport, upstream, ex, collect, n, answer.head, strip, text, state.redactor
            )
            # stored only with the upstream's usage: a later plain hit must report it as
            # OpenAI does (the gateway asks for it even when the client did not)
            if payloads is not None and plan is not None and state.cache is not None:
                completion = assemble(payloads)
                usage = None if completion is None else decode_usage(completion)
                if completion is not None and usage is not None:
                    state.cache.put(plan, completion, usage)
            return
        data = answer.body
        ex.ttft = time.perf_counter() - ex.start
        content_type = (upstream.header(b"content-type") or b"application/json").decode("latin-1")
        status = upstream.status
        if state.redactor is not None:  # an upstream may quote the request's headers
            data = state.redactor.scrub(data)
        if status == 200:
            usage = decode_usage(data)
            ex.set_usage(usage if usage is not None else counted_usage(request, data))
            embeddings = isinstance(request, EmbeddingRequest)
            if plan is not None and state.cache is not None and storable(data, embeddings):
                state.cache.put(plan, data, usage)
        elif status in (401, 403):
            # the upstream refused *our* credentials: the operator's problem, not the client's
            # (and OpenAI's message quotes the end of the upstream key)
            log.warning("upstream %s answered %d: check its api_key_env", ex.provider, status)
            data = error_body(
                f"The upstream provider refused the gateway's credentials ({status}).",
                "upstream_error",
                code="upstream_auth_failed",
            )
            status = 502
            content_type = "application/json"
        else:
            if state.redactor is not None:
                content_type = state.redactor.scrub_text(content_type)
            if not _is_openai_error(data):
                data = error_body(
                    f"The upstream answered {upstream.status}: "
                    f"{data[:300].decode('utf-8', 'replace')}",
                    "upstream_error" if upstream.status >= 500 else "invalid_request_error",
                )
                content_type = "application/json"
        ex.status, ex.responded = status, True
        if upstream.status != 200:
            ex.error = f"upstream_{upstream.status}"
            retry_after = upstream.header(b"retry-after")
            if retry_after is not None:
                if state.redactor is not None:
                    retry_after = state.redactor.scrub(retry_after)
                base.append(("retry-after", retry_after.decode("latin-1")))
        proto.response_bytes(status, [("content-type", content_type), *base], data)
    finally:
        watcher.cancel()
        if answer is not None:
            answer.response.close()
            answer.finish(ex)


def _asked_usage(request: ChatRequest | CompletionRequest | EmbeddingRequest) -> bool:
    """Whether a stream's client asked for its usage event (``stream_options.include_usage``)."""
    options = getattr(request, "stream_options", None)
    return options is not None and options.include_usage


def _replayed(request: ChatRequest | CompletionRequest, cached: bytes) -> bytes | None:
    """A stored completion as the SSE body of a streamed answer, or None if it cannot be."""
    include_usage = request.stream_options is not None and request.stream_options.include_usage
    try:
        return b"".join(replay(cached, include_usage))
    except msgspec.DecodeError:
        return None


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


async def read_body(proto: Any, declared: str | None, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit``: from
    its content-length before reading, or while reading a chunked body (never buffered
    past the limit)."""
    if declared is not None and declared.isdigit():
        if int(declared) > limit:
            raise _too_large(limit)
        body: bytes = await proto()  # the server reads at most content-length bytes
        return body
    parts = []
    size = 0
    async for chunk in proto:
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        parts.append(chunk)
    return b"".join(parts)


def _is_openai_error(data: bytes) -> bool:
    return data.lstrip()[:1] == b"{" and b'"error"' in data[:64]


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than the gateway's limit of {limit} bytes.")
