"""Deployment health for operators: the rows of ``GET /admin/deployments`` (JSON, admin key,
served by ``fastgw.admin.deployments``) and the
deployment lines of ``/metrics``. Labels are configured model and deployment names only."""

from __future__ import annotations

import math

import msgspec

from ..metrics import _labels
from .router import Router

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


def render_metrics(router: Router) -> bytes:
    """Prometheus lines: per deployment its state, in-flight requests, attempts, failures,
    circuit openings and latency moving averages (plain answers, streams' first token)."""
    rows = health(router)
    out = [
        "# HELP fastgw_deployment_state 1 for the deployment's current routing state.",
        "# TYPE fastgw_deployment_state gauge",
    ]
    for r in rows:
        for s in _STATES:
            labels = _labels(("model", "deployment", "state"), (r.model, r.deployment, s))
            out.append(f"fastgw_deployment_state{labels} {int(r.state == s)}")
    for name, kind, help, value in (
        ("in_flight", "gauge", "Requests under way on the deployment.", "in_flight"),
        ("attempts_total", "counter", "Upstream attempts sent.", "requests"),
        (
            "failures_total",
            "counter",
            "Attempts that failed (5xx, 401/403, none).",
            "failures",
        ),
        ("circuit_opens_total", "counter", "Times the circuit breaker opened.", "circuit_opens"),
        ("latency_seconds", "gauge", "Moving average time to a whole plain answer.", "latency_ms"),
        ("ttft_seconds", "gauge", "Moving average time to a stream's first token.", "ttft_ms"),
    ):
        out.append(f"# HELP fastgw_deployment_{name} {help}")
        out.append(f"# TYPE fastgw_deployment_{name} {kind}")
        for r in rows:
            v = getattr(r, value)
            if v is None:
                continue
            if value in ("latency_ms", "ttft_ms"):
                v = v / 1000
            labels = _labels(("model", "deployment"), (r.model, r.deployment))
            out.append(f"fastgw_deployment_{name}{labels} {v}")
    return ("\n".join(out) + "\n").encode()
