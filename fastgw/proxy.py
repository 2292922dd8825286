"""The proxied endpoints: chat completions, completions and embeddings.

For each request: authenticate the key, read and bound the body, decode the few fields the
gateway uses, resolve the public model name, check the key may use it, then ask the model's
router (``fastgw.routing``: strategies, retries, fallbacks, breakers) for an answer. The
answer is relayed: whole for plain requests, chunk by chunk for streams once their first
event arrived. A client that disconnects cancels the handler, which aborts the upstream
connection.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import msgspec

from .cache.replay import assemble, replay, storable
from .errors import ModelNotFound, PayloadTooLarge, error_body
from .exchange import Exchange
from .keys import KeyRing
from .providers import Call
from .relay import relay_stream
from .routing import ATTEMPTS_HEADER, Answer
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
    limit = state.config.server.max_body_bytes
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) <= limit:
        body: bytes = await proto()  # the common case, inline: the server reads just that much
    else:
        body = await read_body(proto, declared, limit)
    request = decode_request(cls, body)
    ex.model = request.model
    model = state.models.get(request.model)
    if model is None:
        raise ModelNotFound(
            f"The model '{request.model}' does not exist or you do not have access to it.",
            param="model",
        )
    team = state.keys.teams.get(key.team) if key.team is not None else None
    KeyRing.check_model(key, request.model, team)
    limiter = state.limiter
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
        tags = _tags(headers.get("x-fastgw-tags"), request)
        answer = await state.router.answer(ex, state.groups[model.name], call, stream, tags)
        upstream = answer.response
        base.append((ATTEMPTS_HEADER, ex.attempts or ""))
        if stream and upstream.status == 200:
            transport = proto.response_stream(200, [*_SSE_HEADERS, *base])
            ex.status, ex.responded = 200, True
            collect = plan is not None and plan.store
            n = 1 if isinstance(request, EmbeddingRequest) else request.n
            payloads = await relay_stream(transport, upstream, ex, collect, n, answer.head)
            # stored only with its usage: a later plain hit must report it as OpenAI does,
            # so a stream is cached when the client asked for include_usage
            if (
                payloads is not None
                and ex.prompt_tokens is not None
                and plan is not None
                and state.cache is not None
            ):
                completion = assemble(payloads)
                if completion is not None:
                    state.cache.put(plan, completion, decode_usage(completion))
            return
        data = answer.body
        ex.ttft = time.perf_counter() - ex.start
        content_type = (upstream.header(b"content-type") or b"application/json").decode("latin-1")
        status = upstream.status
        if status == 200:
            usage = decode_usage(data)
            ex.set_usage(usage)
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
        elif not _is_openai_error(data):
            data = error_body(
                f"The upstream answered {upstream.status}: {data[:300].decode('utf-8', 'replace')}",
                "upstream_error" if upstream.status >= 500 else "invalid_request_error",
            )
            content_type = "application/json"
        ex.status, ex.responded = status, True
        if upstream.status != 200:
            ex.error = f"upstream_{upstream.status}"
            retry_after = upstream.header(b"retry-after")
            if retry_after is not None:
                base.append(("retry-after", retry_after.decode("latin-1")))
        proto.response_bytes(status, [("content-type", content_type), *base], data)
    finally:
        watcher.cancel()
        if answer is not None:
            answer.response.close()
            answer.finish(ex)


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
