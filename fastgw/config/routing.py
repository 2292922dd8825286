"""The routing tables of a model: ``retry``, ``circuit``, ``health_check`` and ``cache``.

Rules this module keeps:
- Each table is optional on a model; left out, the router uses the named defaults below.
- ``check_routing_tables`` range-checks the tables of one model; the references between
  models (fallbacks) are checked in ``models.py``.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from ._base import STRUCT

DEFAULT_RETRIES = 0
DEFAULT_RETRY_BUDGET_S = 60.0
DEFAULT_BACKOFF_S = 0.5
DEFAULT_BACKOFF_MAX_S = 8.0
DEFAULT_JITTER = 0.5
DEFAULT_RETRIES_PER_S = 10.0
DEFAULT_BREAKER_FAILURES = 5
DEFAULT_BREAKER_WINDOW_S = 30.0
DEFAULT_BREAKER_MIN_REQUESTS = 10
DEFAULT_BREAKER_COOLDOWN_S = 30.0
DEFAULT_HEALTH_INTERVAL_S = 30.0
DEFAULT_HEALTH_TIMEOUT_S = 10.0
DEFAULT_CACHE_TTL_S = 3600.0


class RetryConfig(msgspec.Struct, **STRUCT):
    """The per-request retry budget of one model (its fallbacks keep their own attempts but
    share the requested model's time budget)."""

    retries: int = DEFAULT_RETRIES  # attempts beyond one per deployment, with backoff
    max_attempts: int | None = None  # cap on upstream attempts, fallbacks included
    budget_s: float = DEFAULT_RETRY_BUDGET_S  # no attempt or wait starts past this
    backoff_s: float = DEFAULT_BACKOFF_S  # first backoff; doubles per retry
    backoff_max_s: float = DEFAULT_BACKOFF_MAX_S
    jitter: float = DEFAULT_JITTER  # a backoff is drawn from [(1 - jitter) * d, d]
    max_retries_per_s: float = DEFAULT_RETRIES_PER_S  # retries sent to one deployment


class CircuitConfig(msgspec.Struct, **STRUCT):
    """When a deployment is taken out of rotation, and how it comes back."""

    enabled: bool = True
    failures: int = DEFAULT_BREAKER_FAILURES  # consecutive failures that open the circuit
    error_ratio: float | None = None  # or: this share of failures within window_s...
    window_s: float = DEFAULT_BREAKER_WINDOW_S
    min_requests: int = DEFAULT_BREAKER_MIN_REQUESTS  # ...once it saw this many requests
    cooldown_s: float = DEFAULT_BREAKER_COOLDOWN_S  # then one probe request is let through


class HealthCheckConfig(msgspec.Struct, **STRUCT):
    """Active health checks: a one-token chat request to each deployment every interval."""

    interval_s: float = DEFAULT_HEALTH_INTERVAL_S
    timeout_s: float = DEFAULT_HEALTH_TIMEOUT_S


class ModelCacheConfig(msgspec.Struct, **STRUCT):
    """The exact-match response cache for one public model."""

    enabled: bool = True
    ttl_s: float = DEFAULT_CACHE_TTL_S
    # "deterministic": only requests with temperature == 0 or a seed; "always": every request
    when: Literal["deterministic", "always"] = "deterministic"


def check_routing_tables(
    path: str,
    retry: RetryConfig | None,
    circuit: CircuitConfig | None,
    check: HealthCheckConfig | None,
    cache: ModelCacheConfig | None,
) -> list[str]:
    """The errors of one model's routing tables (``path``: the model's key path)."""
    errors: list[str] = []
    if retry is not None:
        if retry.retries < 0:
            errors.append(f"{path}.retry.retries: cannot be negative")
        if retry.max_attempts is not None and retry.max_attempts < 1:
            errors.append(f"{path}.retry.max_attempts: must be at least 1")
        for field in ("budget_s", "backoff_max_s", "max_retries_per_s"):
            if getattr(retry, field) <= 0:
                errors.append(f"{path}.retry.{field}: must be above 0")
        if retry.backoff_s < 0:
            errors.append(f"{path}.retry.backoff_s: cannot be negative")
        if not 0 <= retry.jitter <= 1:
            errors.append(f"{path}.retry.jitter: must be between 0 and 1")
    if circuit is not None:
        if circuit.failures < 1:
            errors.append(f"{path}.circuit.failures: must be at least 1")
        if circuit.error_ratio is not None and not 0 < circuit.error_ratio <= 1:
            errors.append(f"{path}.circuit.error_ratio: must be above 0 and at most 1")
        if circuit.window_s <= 0 or circuit.cooldown_s <= 0:
            errors.append(f"{path}.circuit: window_s and cooldown_s must be above 0")
        if circuit.min_requests < 1:
            errors.append(f"{path}.circuit.min_requests: must be at least 1")
    if check is not None and (check.interval_s <= 0 or check.timeout_s <= 0):
        errors.append(f"{path}.health_check: interval_s and timeout_s must be above 0")
    if check is not None and circuit is not None and not circuit.enabled:
        errors.append(
            f"{path}.health_check: health checks act through the circuit breaker; "
            "remove circuit.enabled = false or the health_check table"
        )
    if cache is not None and cache.ttl_s <= 0:
        errors.append(f"{path}.cache.ttl_s: must be above 0")
    return errors
