"""``[[models]]``: the public model names, their deployments, strategy and fallbacks.

Rules this module keeps:
- A model name is unique; a model has at least one deployment, each on a known provider.
- Deployment names (``deployment_names``) are unique within a model: logs, metrics and
  ``x-fastgw-attempts`` tell deployments apart by them.
- Fallbacks name other known models, never the model itself.
- References are checked against ``Known`` names, which include entries dropped for a shape
  error, so one typo is reported once rather than again at every reference to it.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from ._base import STRUCT
from .known import Known
from .providers import TimeoutOverrides, check_overrides
from .routing import (
    CircuitConfig,
    HealthCheckConfig,
    ModelCacheConfig,
    RetryConfig,
    check_routing_tables,
)
from .semantic import SemanticCacheConfig, check_semantic

DEFAULT_STRATEGY: Final = "weighted"

Strategy = Literal[
    "weighted", "round-robin", "least-in-flight", "lowest-latency", "lowest-cost", "ordered"
]


class Deployment(msgspec.Struct, **STRUCT):
    provider: str
    model: str
    weight: float = 1.0
    name: str | None = None  # in logs, metrics, x-fastgw-attempts; default "provider/model"
    tags: list[str] = []  # a request asking for tags goes only to deployments with all of them
    rpm: int | None = None  # the provider's quotas: a deployment at its limit gets no traffic
    tpm: int | None = None
    input_cost_per_mtok: float = 0.0  # for strategy "lowest-cost" (per million tokens)
    output_cost_per_mtok: float = 0.0
    timeouts: TimeoutOverrides | None = None


class ModelConfig(msgspec.Struct, **STRUCT):
    name: str
    deployments: list[Deployment]
    cache: ModelCacheConfig | None = None
    semantic_cache: SemanticCacheConfig | None = None
    # identical requests in flight at once share one upstream call (fastgw.pipeline.coalesce):
    # those the exact cache would accept (temperature 0 or a seed, or its when = "always")
    coalesce: bool = True
    strategy: Strategy = DEFAULT_STRATEGY
    fallbacks: list[str] = []  # other models, in order, once these deployments are exhausted
    context_fallbacks: list[str] = []  # after a context-length 400 (a larger-context model)
    content_policy_fallbacks: list[str] = []  # after a content-policy 400 (none by default)
    retry: RetryConfig | None = None
    circuit: CircuitConfig | None = None
    timeouts: TimeoutOverrides | None = None
    health_check: HealthCheckConfig | None = None


def deployment_names(model: ModelConfig) -> list[str]:
    """The names a model's deployments go by in logs, metrics and ``x-fastgw-attempts``:
    ``name`` if set, else the provider's name, or ``provider/model`` when the model has
    several deployments on that provider."""
    providers = [d.provider for d in model.deployments]
    return [
        d.name
        if d.name is not None
        else d.provider
        if providers.count(d.provider) == 1
        else f"{d.provider}/{d.model}"
        for d in model.deployments
    ]


def check_models(models: list[ModelConfig], known: Known) -> list[str]:
    errors: list[str] = []
    seen: set[str] = set()
    providers = ", ".join(known.providers) or "(none defined)"
    for i, model in enumerate(models):
        path = f"models[{i}]"
        if model.name in seen:
            errors.append(f"{path}.name: {model.name!r} is defined twice; model names are unique")
        seen.add(model.name)
        if not model.deployments:
            errors.append(f"{path}.deployments: add at least one deployment")
        for j, dep in enumerate(model.deployments):
            if dep.provider not in known.providers:
                errors.append(
                    f"{path}.deployments[{j}].provider: unknown provider {dep.provider!r}; "
                    f"define [providers.{dep.provider}] or use one of: {providers}"
                )
            if dep.weight <= 0:
                errors.append(f"{path}.deployments[{j}].weight: must be above 0")
        errors.extend(_check_deployments(path, model))
        errors.extend(_check_fallbacks(path, model, known))
        errors.extend(
            check_routing_tables(path, model.retry, model.circuit, model.health_check, model.cache)
        )
        errors.extend(check_semantic(path, model.semantic_cache))
    return errors


def _check_deployments(path: str, model: ModelConfig) -> list[str]:
    errors: list[str] = []
    names: set[str] = set()
    for j, (dep, name) in enumerate(zip(model.deployments, deployment_names(model), strict=True)):
        at = f"{path}.deployments[{j}]"
        if name in names:
            errors.append(
                f"{at}: another deployment of this model is also named {name!r}; "
                "give each a unique name"
            )
        names.add(name)
        for field in ("rpm", "tpm"):
            value = getattr(dep, field)
            if value is not None and value < 1:
                errors.append(f"{at}.{field}: must be at least 1 (leave it out for no limit)")
        if dep.input_cost_per_mtok < 0 or dep.output_cost_per_mtok < 0:
            errors.append(f"{at}: costs cannot be negative")
        errors.extend(check_overrides(f"{at}.timeouts", dep.timeouts))
    errors.extend(check_overrides(f"{path}.timeouts", model.timeouts))
    return errors


def _check_fallbacks(path: str, model: ModelConfig, known: Known) -> list[str]:
    errors: list[str] = []
    for field in ("fallbacks", "context_fallbacks", "content_policy_fallbacks"):
        for k, name in enumerate(getattr(model, field)):
            if name == model.name:
                errors.append(f"{path}.{field}[{k}]: a model cannot fall back to itself")
            elif name not in known.models:
                errors.append(f"{path}.{field}[{k}]: unknown model {name!r}; use a [[models]] name")
    return errors
