"""The request-side and response-side stages of a proxied request.

A stage is an object built once per config (``fastgw.pipeline.build``) with what it needs bound
as attributes. Request stages are called ``stage.run(ex, scope, proto)`` in pipeline order and
return a true value when they answered the request (through ``fastgw.respond``), which ends
the pipeline; they refuse by raising a ``GatewayError`` and transform by setting fields on the
exchange. A stage whose ``run`` returns a coroutine says so with ``is_async = True`` (it may
also return ``False`` at once, when it has nothing to wait for: no coroutine is made); every
other stage is called without an await (no coroutine per stage). Response stages see a
whole answer (``whole(ex, data) -> data``) or, when ``collects`` and it ``wants(ex)``, the
event payloads of a stream that ended cleanly (``stream_end``). A feature that is off has no
stage: nothing here tests whether it is on.

Cost per request: the runner's loop and the bound-method call, ~40-120 ns per stage (timeit,
2-core EPYC under load); the stage's own work as before it was a stage (identify: a SHA-256
and a dict get; hold: one dict update; admit: one call into the compiled gate; the cache: an
xxh3 and an LRU get on a repeat). ``benchmarks/micro/bench_pipeline.py`` measures the path.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from granian._granian import RSGIProtocolClosed

from ..cache.exact import ResponseCache
from ..cache.replay import assemble, replay, storable
from ..exchange import Exchange
from ..keys import KeyRing
from ..limits import Limiter
from ..relay import send_now
from ..respond import JSON, open_stream, send_bytes
from ..wire import ChatRequest, CompletionRequest, EmbeddingRequest, decode_usage

CACHE_HEADER = "x-fastgw-cache"


class Stage:
    """The shape every request stage has (documentation: stages need not inherit it)."""

    name = "stage"
    is_async = False

    def run(self, ex: Exchange, scope: Any, proto: Any) -> Any:
        raise NotImplementedError


class Identify(Stage):
    """The key: 401 without a valid one. Sets ``ex.key`` and ``ex.team``."""

    name = "identify"

    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys

    def run(self, ex: Exchange, scope: Any, proto: Any) -> None:
        headers = scope.headers
        key = self.keys.authenticate(headers.get("authorization"), headers.get("api-key"))
        ex.key = key
        ex.key_id, ex.team_id = key.id, key.team
        ex.team = self.keys.teams.get(key.team) if key.team is not None else None


class Hold(Stage):
    """A key's ``parallel`` limit, on the request head (before its body is read): 429 when
    the key already has that many requests in this worker (``fastgw.limits.pending``)."""

    name = "hold"

    def __init__(self, limiter: Limiter) -> None:
        self.pending = limiter.pending

    def run(self, ex: Exchange, scope: Any, proto: Any) -> None:
        key = ex.key
        if key.parallel is not None:
            self.pending.enter(key, key.parallel, ex)


class AdmitLocal(Stage):
    """Rate limits and budgets of the key, its team and the model, in this process: 429 when
    over. Before the cache: a hit counts as a request (its tokens are free)."""

    name = "admit"

    def __init__(self, limiter: Limiter) -> None:
        self.admit = limiter.admit_local

    def run(self, ex: Exchange, scope: Any, proto: Any) -> None:
        ex.ticket = self.admit(ex.key, ex.team, ex.request.model, ex.request)


class AdmitShared(Stage):
    """``AdmitLocal`` with the limits shared in Redis (one script per admission)."""

    name = "admit"
    is_async = True

    def __init__(self, limiter: Limiter) -> None:
        self.admit = limiter.admit

    async def run(self, ex: Exchange, scope: Any, proto: Any) -> None:
        ex.ticket = await self.admit(ex.key, ex.team, ex.request.model, ex.request)


class ExactCache(Stage):
    """The exact cache of one model: a hit answers here (plain, or replayed as a stream);
    otherwise ``ex.lookup`` tells ``CacheStore`` where to put the answer."""

    name = "exact_cache"

    def __init__(self, cache: ResponseCache) -> None:
        self.cache = cache

    def run(self, ex: Exchange, scope: Any, proto: Any) -> bool:
        cache, request = self.cache, ex.request
        lookup = cache.lookup(
            ex.model_config, ex.key.namespace, request, ex.body, scope.headers.get("cache-control")
        )
        ex.lookup = lookup
        if lookup is None:
            return False
        found = cache.get(lookup)
        events = None
        if found is not None and ex.stream and not isinstance(request, EmbeddingRequest):
            events = _replayed(request, found[0])  # before any header goes out
            if events is None:  # cannot be replayed: drop it and ask the upstream
                cache.discard(lookup)
                found = None
        ex.cache = lookup.outcome
        ex.extra_headers.append((CACHE_HEADER, lookup.outcome))
        if found is None:
            return False
        _send(ex, proto, found[0], found[1], events)
        return True


class CacheStore:
    """Response stage of a model with the exact cache: stores complete 200 answers (plain, or
    a stream assembled from its events, with the upstream's usage) under ``ex.lookup``."""

    name = "cache_store"
    collects = True  # wants a clean stream's event payloads

    def __init__(self, cache: ResponseCache) -> None:
        self.cache = cache

    def wants(self, ex: Exchange) -> bool:
        """Whether this stream's events are wanted (``stream_end`` will be called)."""
        lookup = ex.lookup
        return lookup is not None and lookup.store

    def whole(self, ex: Exchange, data: bytes, usage: Any) -> bytes:
        lookup = ex.lookup
        if lookup is not None and storable(data, isinstance(ex.request, EmbeddingRequest)):
            self.cache.put(lookup, data, usage)
        return data

    def stream_end(self, ex: Exchange, payloads: list[bytes]) -> None:
        # stored only with the upstream's usage: a later plain hit must report it as OpenAI
        # does (the gateway asks for it even when the client did not)
        lookup = ex.lookup
        if lookup is None:
            return
        completion = assemble(payloads)
        usage = None if completion is None else decode_usage(completion)
        if completion is not None and usage is not None:
            self.cache.put(lookup, completion, usage)


def send_cached(ex: Exchange, proto: Any, body: bytes, usage: Any) -> bool:
    """Answer with a stored completion: whole, or replayed as the stream the request asked
    for. False, with nothing sent, when it cannot be replayed."""
    request = ex.request
    events = None
    if ex.stream and not isinstance(request, EmbeddingRequest):
        events = _replayed(request, body)
        if events is None:
            return False
    _send(ex, proto, body, usage, events)
    return True


def _send(ex: Exchange, proto: Any, body: bytes, usage: Any, events: bytes | None) -> None:
    ex.ttft = time.perf_counter() - ex.start
    ex.set_usage(usage)
    if events is not None:
        transport = open_stream(proto, ex, 200, ex.extra_headers)
        if not send_now(transport, events):
            raise RSGIProtocolClosed("the client went away")
    else:
        send_bytes(proto, ex, 200, [JSON, *ex.extra_headers], body)


def _replayed(request: ChatRequest | CompletionRequest, cached: bytes) -> bytes | None:
    """A stored completion as the SSE body of a streamed answer, or None if it cannot be."""
    include_usage = request.stream_options is not None and request.stream_options.include_usage
    try:
        return b"".join(replay(cached, include_usage))
    except msgspec.DecodeError:
        return None
