"""Deployment health for operators: the rows of ``GET /admin/deployments`` (JSON, admin key,
served by ``fastgw.admin.deployments``) and the
deployment series of ``/metrics`` (``record_metrics``, sampled by each worker and summed
across workers by ``fastgw.metrics``). Labels are configured model and deployment names
only."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import msgspec

from .router import Router

if TYPE_CHECKING:
    from ..metrics import Metrics

_STATES = ("healthy", "cooling", "open", "half_open")


class DeploymentHealth(msgspec.Struct):
    model: str
    deployment: str
    provider: str
    upstream_model: str
    state: str  # healthy | cooling (429 or quota) | open | half_open
    in_flight: int
    requests: int
    failures: int
    circuit_opens: int
    latency_ms: float | None  # moving average, plain answers read whole
    ttft_ms: float | None  # moving average, streams: time to the first token
    ready_in_s: float
    weight: float
    tags: list[str]


class DeploymentList(msgspec.Struct):
    data: list[DeploymentHealth]
    object: str = "list"


def health(router: Router) -> list[DeploymentHealth]:
    now = router.clock()
    rows = []
    for group in router.groups.values():
        for d in group.deployments:
            ready = d.ready_in(now, False)
            rows.append(
                DeploymentHealth(
                    group.name,
                    d.name,
                    d.provider_name,
                    d.model,
                    d.status(now),
                    d.in_flight,
                    d.requests,
                    d.failures,
                    0 if d.breaker is None else d.breaker.opens,
                    None if d.latency is None else round(d.latency * 1000, 3),
                    None if d.ttft is None else round(d.ttft * 1000, 3),
                    round(ready, 3) if math.isfinite(ready) else -1.0,
                    d.weight,
                    sorted(d.tags),
                )
            )
    return rows


def record_metrics(router: Router, metrics: Metrics) -> None:
    """Set the deployment series of ``metrics`` from this worker's router: per deployment its
    state, in-flight requests, attempts, failures, circuit openings and latency moving
    averages (plain answers, streams' first token). The gauges are set anew (a deployment a
    reload removed leaves them); the counters copy the deployment's own totals."""
    state, in_flight = metrics.deployment_state.values, metrics.deployment_in_flight.values
    latency, ttft = metrics.deployment_latency.values, metrics.deployment_ttft.values
    for gauge in (state, in_flight, latency, ttft):
        gauge.clear()
    for r in health(router):
        labels = (r.model, r.deployment)
        for s in _STATES:
            state[(r.model, r.deployment, s)] = float(r.state == s)
        in_flight[labels] = r.in_flight
        metrics.deployment_attempts.observe_total(labels, r.requests)
        metrics.deployment_failures.observe_total(labels, r.failures)
        metrics.deployment_circuit_opens.observe_total(labels, r.circuit_opens)
        if r.latency_ms is not None:
            latency[labels] = r.latency_ms / 1000
        if r.ttft_ms is not None:
            ttft[labels] = r.ttft_ms / 1000
