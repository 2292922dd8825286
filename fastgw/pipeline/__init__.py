"""Pipelines: everything one config builds, from the config and the process's runtime.

``Pipelines(config, runtime)`` is built when a worker starts and again at every reload; the
application holds one reference to the newest and each request keeps the one it started on,
so a reload is one reference swap and requests in flight finish on the pipelines they began
with. Rules this package keeps:
- For each proxied endpoint and public model, an ordered tuple of stage objects
  (``ModelPipeline.stages``), built here. A feature that is off is not in it:

      identify → hold → [body, decode] → admit → exact_cache → semantic_cache → coalesce
        → route → cache_store → semantic_store
      (hold and admit: only with limits; exact_cache and cache_store: only on a model whose
      cache is on; semantic_cache and semantic_store: only on a model whose
      ``semantic_cache`` is on, for chat and completions; coalesce: unless the model sets
      ``coalesce = false``, and it runs the route itself; the redactor and usage stripping:
      stream filters inside ``fastgw.relay``)

  then ``Account`` once the response is over.
- Adding a stage is one class (``fastgw.pipeline.stages``: ``name``, ``is_async``,
  ``run(ex, scope, proto)``) and one line in ``_model_stages`` or ``_response_stages``.
- Process state (pools, deployment health, limiter tables, metrics, logs) comes from the
  runtime, which carries it across configs (``fastgw.runtime``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..config import Config, ModelConfig, semantic_on
from ..keys import KeyRing
from ..limits import Limiter
from ..pricing import PriceTable
from ..providers import Provider
from ..proxy import Route
from ..records.refresh import KeyRefresher
from ..redact import build_redactor
from ..routing import Router
from ..routing import health as routing_health
from ..runtime import Runtime
from ..stream_filters import StreamFilter
from ..wire import ChatRequest, CompletionRequest, EmbeddingRequest
from .account import Account
from .coalesce import Coalesce, Coalescing, LeaderWatches, wait_bound
from .endpoint import EndpointPipeline, ModelPipeline, RequestClass
from .semantic import SemanticLookup, SemanticStore
from .stages import AdmitLocal, AdmitShared, CacheStore, ExactCache, Hold, Identify

__all__ = ["ENDPOINTS", "EndpointPipeline", "ModelPipeline", "Pipelines"]

log = logging.getLogger("fastgw")

Handler = Callable[[Any, Any, Any], Awaitable[None]]

#: The proxied endpoints: path (after ``/v1``) and the request class of its codec.
ENDPOINTS: dict[str, RequestClass] = {
    "/chat/completions": ChatRequest,
    "/completions": CompletionRequest,
    "/embeddings": EmbeddingRequest,
}


class Pipelines:
    """What one config builds (see the module docstring)."""

    def __init__(self, config: Config, runtime: Runtime) -> None:
        self.config = config
        self.runtime = runtime
        loop = runtime.loop
        self.models: dict[str, ModelConfig] = {m.name: m for m in config.models}
        self.keys = KeyRing(config.keys, config.teams)
        self.refresher = KeyRefresher(runtime.store, self.keys, loop)
        self.providers, self.dropped = runtime.providers_for(config)
        self.router = Router(config, self.providers, metrics=runtime.metrics)
        runtime.adopt(self.router)
        self.groups = self.router.groups
        self.health_checks = routing_health.start(self.router, config, loop)
        self.prices = PriceTable(config.prices)
        self.limiter = runtime.limiter_for(config, self.prices)
        self.cache = runtime.cache_for(config)
        self.semantic = runtime.semantic_for(config)
        self.redactor = build_redactor(config)
        self.coalescing = Coalescing()
        self.account = Account(
            self.models, self.prices, self.limiter, runtime.metrics, runtime.usage, runtime.access
        )
        head: tuple[Any, ...] = (Identify(self.keys),)
        if self.limiter is not None:
            head = (*head, Hold(self.limiter))
        self.endpoints = {
            endpoint: EndpointPipeline(
                endpoint,
                cls,
                head,
                {m.name: self._model_pipeline(endpoint, m) for m in config.models},
                runtime.bodies,
                config.server.max_body_bytes,
            )
            for endpoint, cls in ENDPOINTS.items()
        }
        #: path -> (method, handler): filled by the application (``fastgw.app.routes``), with
        #: the prefixes of inbound APIs' paths (``/v1/responses/``)
        self.routes: dict[str, tuple[str, Handler]] = {}
        self.prefix_routes: tuple[tuple[str, tuple[str, Handler]], ...] = ()

    def _model_pipeline(self, endpoint: str, model: ModelConfig) -> ModelPipeline:
        response = self._response_stages(endpoint, model)
        disconnects = self.runtime.disconnects
        route = Route(
            endpoint,
            self.router,
            self.groups[model.name],
            LeaderWatches(disconnects) if model.coalesce else disconnects,
            response,
            self.redactor,
            self._stream_filters(model),
        )
        return ModelPipeline(model, self._model_stages(endpoint, model, route), route)

    def _model_stages(self, endpoint: str, model: ModelConfig, route: Route) -> tuple[Any, ...]:
        stages: list[Any] = []
        limiter: Limiter | None = self.limiter
        if limiter is not None:
            stages.append(AdmitLocal(limiter) if limiter.remote is None else AdmitShared(limiter))
        cache = self.cache if _caches(model) else None
        cached = cache is not None
        if cache is not None:
            stages.append(ExactCache(cache))
        semantic = model.semantic_cache
        if self.semantic is not None and semantic is not None and _semantic(endpoint, model):
            stages.append(SemanticLookup(self.semantic, semantic, self.runtime.metrics))
        if model.coalesce:
            wait_s = wait_bound(route.group)
            disconnects = self.runtime.disconnects
            stages.append(Coalesce(self.coalescing, route, disconnects.watch, cached, wait_s))
        return tuple(stages)

    def _response_stages(self, endpoint: str, model: ModelConfig) -> tuple[Any, ...]:
        stages: list[Any] = []
        if self.cache is not None and _caches(model):
            stages.append(CacheStore(self.cache))
        semantic = model.semantic_cache
        if self.semantic is not None and semantic is not None and _semantic(endpoint, model):
            stages.append(SemanticStore(self.semantic, semantic))
        return tuple(stages)

    def _stream_filters(self, model: ModelConfig) -> tuple[StreamFilter, ...]:
        """The filters that see this model's stream events (``fastgw.stream_filters``): none yet
        (output guardrails and translation add theirs here), so streams stay zero-copy."""
        return ()

    def retire(self, still_running: Callable[[], bool]) -> None:
        """This config was replaced: stop its timers now; close the providers the new one
        dropped once no request of this config is left (``still_running`` says)."""
        self.refresher.close()
        for task in self.health_checks:
            task.cancel()
        if self.dropped:
            self.runtime.loop.create_task(_close_when_idle(self.dropped, still_running))

    async def close(self) -> None:
        """The worker stops: timers of the current config (the runtime closes the rest)."""
        self.refresher.close()
        for task in self.health_checks:
            task.cancel()


def _caches(model: ModelConfig) -> bool:
    return model.cache is not None and model.cache.enabled


def _semantic(endpoint: str, model: ModelConfig) -> bool:
    """The semantic tier answers questions: chat and completions, not embeddings."""
    return endpoint != "/embeddings" and semantic_on(model.semantic_cache)


#: How often a retired config checks whether its last request finished, and for how long
#: at most (a stream may run long; past that its dropped providers are closed anyway).
_IDLE_POLL_S = 1.0
_IDLE_MAX_S = 3600.0


async def _close_when_idle(providers: list[Provider], still_running: Callable[[], bool]) -> None:
    waited = 0.0
    while still_running() and waited < _IDLE_MAX_S:
        await asyncio.sleep(_IDLE_POLL_S)
        waited += _IDLE_POLL_S
    for provider in providers:
        await provider.close()
