"""The routing shell: sends a request to the deployments a ``GroupPlan`` picks, waits the
waits it asks for, and hands back the first answer worth relaying.

Rules this module keeps:
- Decisions live in ``plan``, ``classify``, ``breaker`` and ``policy``; one attempt (send,
  read up to what may be relayed, latency) lives in ``attempt``. This module only sequences
  attempts, sleeps, and records what happened on the deployment (breaker, cooling, quotas)
  and on the exchange (``ex.attempts``, the model that answered).
- A failed attempt never sets usage on the exchange: only the answer returned is billed.
- A model with one deployment and no routing options (``Group.simple``) is one send, with
  no plan, breaker or quota; everything is decided when the worker starts.
"""

from __future__ import annotations

import asyncio
import math
import random as _random
import time
from collections.abc import Callable
from typing import Any

import msgspec

from ..config import (
    CircuitConfig,
    Config,
    ModelConfig,
    RetryConfig,
    TimeoutOverrides,
    Timeouts,
    deployment_names,
)
from ..errors import (
    GatewayError,
    InvalidRequest,
    ServiceUnavailable,
    UpstreamError,
)
from ..exchange import Exchange
from ..metrics import Metrics
from ..providers import Call, Provider
from .attempt import Answer, exchange
from .breaker import CLOSED
from .classify import Failure, classify, retry_after
from .deployment import DeploymentState
from .plan import Group, GroupPlan

ATTEMPTS_HEADER = "x-fastgw-attempts"
_NO_RETRY = RetryConfig()
_DEFAULT_CIRCUIT = CircuitConfig()


class Router:
    """Every model's ``Group`` for one worker, and the coroutine that answers with them."""

    def __init__(
        self,
        config: Config,
        providers: dict[str, Provider],
        *,
        metrics: Metrics | None = None,
        random: Callable[[], float] = _random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.random = random
        self.clock = clock
        self.groups: dict[str, Group] = {}
        for model in config.models:
            retry = model.retry or _NO_RETRY
            circuit = model.circuit
            if circuit is None and _routed(model):
                circuit = _DEFAULT_CIRCUIT  # breakers are on wherever there is a choice
            deployments = [
                DeploymentState(
                    dep,
                    name,
                    model.name,
                    providers[dep.provider],
                    _timeouts(config, model, dep.provider, dep.timeouts),
                    retry,
                    circuit,
                )
                for dep, name in zip(model.deployments, deployment_names(model), strict=True)
            ]
            self.groups[model.name] = Group(model, deployments, retry)
        for model in config.models:
            self.groups[model.name].link(model, self.groups)

    async def answer(
        self, ex: Exchange, group: Group, call: Call, stream: bool, tags: frozenset[str] | None
    ) -> Answer:
        """The answer to relay (status 200, or the last upstream error when every attempt
        failed). Raises the last ``UpstreamError`` when the last attempt got no answer, and
        ``ServiceUnavailable`` / ``InvalidRequest`` when no deployment could be tried."""
        if group.simple and not tags:
            deployment = group.deployments[0]
            deployment.requests += 1
            try:
                answer = await exchange(deployment, call, stream, ex, self.metrics)
            except UpstreamError as exc:
                ex.attempts = f"{deployment.label}:{exc.code}"
                exc.headers.append((ATTEMPTS_HEADER, ex.attempts))
                deployment.failures += 1
                raise
            ex.attempts = (
                deployment.label_ok
                if answer.response.status == 200
                else f"{deployment.label}:{answer.response.status}"
            )
            return answer
        if not tags and group.quota_free:
            # every deployment healthy (closed circuit, not cooling): one pick, one attempt,
            # none of the planning below; a failure hands the attempt to the planner
            now = self.clock()
            for deployment in group.deployments:
                breaker = deployment.breaker
                if deployment.cooling_until > now or (
                    breaker is not None and breaker.state != CLOSED
                ):
                    break
            else:
                group.turn += 1
                deployment = group.choose(group.deployments, group.turn, self.random, stream)
                deployment.requests += 1
                try:
                    first: Answer | GatewayError = await exchange(
                        deployment, call, stream, ex, self.metrics
                    )
                except UpstreamError as exc:
                    first = exc
                if isinstance(first, Answer) and first.response.status == 200:
                    ex.attempts = deployment.label_ok
                    if deployment.breaker is not None:
                        deployment.breaker.success(self.clock())
                    return first
                return await self._route(ex, group, call, stream, tags, (deployment, first), now)
        return await self._route(ex, group, call, stream, tags)

    async def _route(
        self,
        ex: Exchange,
        group: Group,
        call: Call,
        stream: bool,
        tags: frozenset[str] | None,
        first: tuple[DeploymentState, Answer | GatewayError] | None = None,
        started: float | None = None,
    ) -> Answer:
        """The planner. ``first``: an attempt already made (the healthy fast path's, begun at
        ``started``) whose failure it takes over as its own first attempt."""
        clock, random = self.clock, self.random
        deadline = (clock() if started is None else started) + group.retry.budget_s
        path: list[str] = []
        last: Answer | GatewayError | None = None
        kind: Failure | None = None
        matched = False
        attempts = 0
        current: Group | None = group
        queue = list(group.fallbacks)
        visited = [group]
        while current is not None:
            plan = GroupPlan(current, tags, stream)
            matched = matched or bool(plan.candidates)
            switch: tuple[Group, ...] | None = None
            while attempts < group.max_attempts:
                answer: Answer | GatewayError
                if first is not None:
                    deployment, answer = first
                    first = None
                    breaker = deployment.breaker
                    plan.tried.append(deployment)
                    attempts += 1
                else:
                    step = plan.next(clock(), deadline, random)
                    if step is None:
                        break
                    deployment, wait = step
                    if wait > 0:
                        await asyncio.sleep(wait)
                    now = clock()
                    breaker = deployment.breaker
                    if breaker is not None and not breaker.acquire(now):
                        plan.tried.append(deployment)  # another request holds its probe
                        continue
                    if deployment in plan.tried:
                        deployment.retries.take(now)
                    plan.tried.append(deployment)
                    attempts += 1
                    deployment.requests += 1
                    if deployment.rpm is not None:
                        deployment.rpm.add(now)
                    try:
                        answer = await exchange(deployment, call, stream, ex, self.metrics)
                    except UpstreamError as exc:
                        answer = exc
                    except BaseException:
                        if breaker is not None:
                            breaker.release()  # cancelled: the probe had no result
                        raise
                last = answer
                if isinstance(answer, Answer) and answer.response.status == 200:
                    path.append(deployment.label_ok)
                    ex.attempts = ", ".join(path)
                    if breaker is not None:
                        breaker.success(clock())
                    if current is not group:
                        ex.served_model = current.name
                    return answer
                kind = self._record_failure(deployment, answer, path)
                if kind is Failure.INVALID:
                    break
                if kind is Failure.CONTEXT_LENGTH:
                    switch = group.context_fallbacks
                    break
                if kind is Failure.CONTENT_POLICY:
                    switch = group.content_policy_fallbacks
                    break
                if kind is Failure.DEPLOYMENT:
                    plan.banned.append(deployment)
            if switch is not None:
                queue = list(switch)
            elif kind is Failure.INVALID:
                break  # the request itself is wrong: no fallback will take it
            current = None
            while queue:
                candidate = queue.pop(0)
                if candidate not in visited:
                    visited.append(candidate)
                    current = candidate
                    break
        ex.attempts = ", ".join(path) if path else None
        if last is None:
            raise self._unavailable(group, visited, tags, matched)
        if isinstance(last, GatewayError):
            if ex.attempts is not None:
                last.headers.append((ATTEMPTS_HEADER, ex.attempts))
            raise last
        return last

    def _record_failure(
        self, deployment: DeploymentState, answer: Answer | GatewayError, path: list[str]
    ) -> Failure:
        now = self.clock()
        breaker = deployment.breaker
        if isinstance(answer, GatewayError):
            path.append(f"{deployment.label}:{answer.code}")
            kind = Failure.TRANSIENT
        else:
            response = answer.response
            response.close()
            answer.release()
            path.append(f"{deployment.label}:{response.status}")
            kind = classify(response.status, answer.body)
            if kind is Failure.RATE_LIMITED:
                wait = retry_after(
                    response.header(b"retry-after"), response.header(b"retry-after-ms"), time.time()
                )
                if wait is not None:
                    deployment.cooling_until = max(deployment.cooling_until, now + wait)
        if kind in (Failure.TRANSIENT, Failure.DEPLOYMENT):
            deployment.failures += 1
            if breaker is not None:
                breaker.failure(now)
        elif breaker is not None:
            breaker.success(now)  # it answered (a 429 or a 4xx): alive
        return kind

    def _unavailable(
        self, group: Group, visited: list[Group], tags: frozenset[str] | None, matched: bool
    ) -> GatewayError:
        if not matched:
            wanted = ", ".join(sorted(tags or ()))
            return InvalidRequest(
                f"No deployment of the model '{group.name}' has the tags asked for ({wanted}).",
                code="no_matching_deployment",
            )
        now = self.clock()
        waits = [d.ready_in(now, False) for g in visited for d in g.candidates(tags)]
        finite = [w for w in waits if math.isfinite(w)]
        retry = str(max(1, math.ceil(min(finite)))) if finite else "1"
        return ServiceUnavailable(
            f"No deployment of the model '{group.name}' can take a request now "
            "(circuit open or at its rate limit); retry later.",
            code="no_available_deployment",
            headers=[("retry-after", retry)],
        )


def _routed(model: ModelConfig) -> bool:
    """Whether the model has anything to route: several deployments, retries, fallbacks,
    quotas or health checks (which act through the breaker). A model without is one send to
    its deployment (``Group.simple``)."""
    return (
        len(model.deployments) > 1
        or model.retry is not None
        or model.health_check is not None
        or bool(model.fallbacks or model.context_fallbacks or model.content_policy_fallbacks)
        or any(d.rpm is not None or d.tpm is not None for d in model.deployments)
    )


def _timeouts(
    config: Config, model: ModelConfig, provider: str, deployment: TimeoutOverrides | None
) -> Timeouts:
    """The provider's timeouts, overridden by the model's, then by the deployment's."""
    base = getattr(config.providers[provider], "timeouts", None) or Timeouts()
    for overrides in (model.timeouts, deployment):
        if overrides is not None:
            changes: dict[str, Any] = {
                k: v for k, v in msgspec.structs.asdict(overrides).items() if v is not None
            }
            base = msgspec.structs.replace(base, **changes)
    return base
