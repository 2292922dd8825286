"""The runner of a proxied endpoint: its head stages, the body, the codec, then the pipeline of
the public model the request names.

``EndpointPipeline(scope, proto, ex)`` is the handler of one endpoint (``/chat/completions``,
``/completions``, ``/embeddings``) for one config. Rules it keeps:
- Head stages (identify, hold) run before the body is read and are never awaited; the body is
  read inline (the common case is one ``await proto()``) under ``server.body_timeout_s``
  (``fastgw.bodies``); the endpoint's codec decodes it; the model's pipeline is a dict get.
- A model pipeline is a tuple of ``(run, is_async)`` pairs, bound at build time: a plain loop,
  an await only for a stage that needs one, nothing for a feature that is off. The first
  stage that answers ends it; otherwise its terminal ``Route`` answers.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..bodies import BodyDeadlines, read_body
from ..config import ModelConfig
from ..errors import ModelNotFound
from ..exchange import Exchange, loggable
from ..keys import KeyRing
from ..proxy import Route
from ..wire import ChatRequest, CompletionRequest, EmbeddingRequest, decode_request

RequestClass = type[ChatRequest] | type[CompletionRequest] | type[EmbeddingRequest]


class ModelPipeline:
    """The stages of one (endpoint, public model), in order, ending with its route."""

    __slots__ = ("model", "route", "stages", "steps")

    def __init__(self, model: ModelConfig, stages: tuple[Any, ...], route: Route) -> None:
        self.model = model
        self.stages = stages
        self.steps = tuple((stage.run, stage.is_async) for stage in stages)
        self.route = route

    @property
    def names(self) -> tuple[str, ...]:
        """The stage names, request side then route then response side (for tests, logs)."""
        response = tuple(s.name for s in self.route.response_stages)
        return (*(s.name for s in self.stages), self.route.name, *response)


class EndpointPipeline:
    """One proxied endpoint of one config: see the module docstring."""

    def __init__(
        self,
        endpoint: str,
        cls: RequestClass,
        head: tuple[Any, ...],
        models: dict[str, ModelPipeline],
        bodies: BodyDeadlines,
        max_body_bytes: int,
    ) -> None:
        self.endpoint = endpoint
        self.cls = cls
        self.head_stages = head
        self.head = tuple(stage.run for stage in head)  # sync by contract: no await
        self.models = models
        self.bodies = bodies
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Any, proto: Any, ex: Exchange) -> None:
        for run in self.head:
            run(ex, scope, proto)
        limit = self.max_body_bytes
        declared = scope.headers.get("content-length")
        task, reading = ex.task, self.bodies.reading  # cut at server.body_timeout_s
        reading[task] = ex
        try:
            if declared is not None and declared.isdigit() and int(declared) <= limit:
                body: bytes = await proto()  # the common case, inline: the server reads that much
            else:
                body = await read_body(proto, declared, limit)
        except asyncio.CancelledError:
            timeout = self.bodies.timed_out(ex)
            if timeout is None:
                raise
            raise timeout from None
        finally:
            del reading[task]
        request = decode_request(self.cls, body)
        model = request.model
        ex.model = model
        pipeline = self.models.get(model)
        if pipeline is None:
            ex.model = loggable(model)  # any string the client sent: bounded for the log
            raise ModelNotFound(
                f"The model '{model}' does not exist or you do not have access to it.",
                param="model",
            )
        KeyRing.check_model(ex.key, model, ex.team)
        ex.body, ex.request, ex.model_config = body, request, pipeline.model
        ex.stream = not isinstance(request, EmbeddingRequest) and request.stream
        ex.extra_headers, ex.lookup, ex.semantic = [], None, None
        for run, is_async in pipeline.steps:
            done = run(ex, scope, proto)
            if is_async and done is not False:  # an async stage may say False at once
                done = await done
            if done:
                return
        await pipeline.route.run(ex, scope, proto)
