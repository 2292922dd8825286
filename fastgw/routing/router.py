"""The routing shell: sends a request to the deployments a ``GroupPlan`` picks, waits the
waits it asks for, and hands back the first answer worth relaying.

Rules this module keeps:
- Decisions live in ``plan``, ``breaker`` and ``policy``; what a failed answer means is the
  provider's word (``Provider.classify``, ``Provider.cooldown``), so routing never reads a
  protocol's statuses or error bodies; one attempt (send, read up to what may be relayed,
  latency, the outcome recorded) lives in ``attempt``. This module only sequences attempts,
  sleeps, and records what happened on the deployment (breaker, cooling, quotas) and on the
  exchange (``ex.attempts``, the model that answered).
- One attempt is written once (``attempt.attempt``: send, read, record the outcome): the
  plain model's single send, the healthy fast path's pick and every planner step all make
  their attempts with it.
- A failed attempt never sets usage on the exchange: only the answer returned is billed.
- A model with one deployment and no routing options (``Group.simple``) is one attempt, with
  no plan, breaker or quota, its answer relayed whatever it is; everything is decided when
  the worker starts.
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
)
from ..exchange import Exchange
from ..metrics import Metrics
from ..protocols.failure import Failure
from ..providers import Call, Provider
from .attempt import Answer, attempt
from .breaker import CLOSED
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
            # one deployment, nothing to route: one attempt, relayed whatever it is
            deployment = group.deployments[0]
            result, kind = await attempt(deployment, call, stream, ex, self.metrics, self.clock)
            if kind is None:
                ex.attempts = deployment.label_ok
                return result  # type: ignore[return-value]  # kind None: an Answer
            ex.attempts = _outcome(deployment, result)
            return _answer_or_raise(result, ex.attempts)
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
                result, kind = await attempt(deployment, call, stream, ex, self.metrics, self.clock)
                if kind is None:
                    ex.attempts = deployment.label_ok
                    return result  # type: ignore[return-value]  # kind None: an Answer
                first = (deployment, result, kind)
                return await self._route(ex, group, call, stream, tags, first, now)
        return await self._route(ex, group, call, stream, tags)

    async def _route(
        self,
        ex: Exchange,
        group: Group,
        call: Call,
        stream: bool,
        tags: frozenset[str] | None,
        first: tuple[DeploymentState, Answer | GatewayError, Failure] | None = None,
        started: float | None = None,
    ) -> Answer:
        """The planner. ``first``: an attempt already made and recorded (the healthy fast
        path's, begun at ``started``) which it takes as its own first attempt."""
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
                if first is not None:
                    deployment, result, kind = first
                    first = None
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
                    result, kind = await attempt(
                        deployment, call, stream, ex, self.metrics, self.clock
                    )
                plan.tried.append(deployment)
                attempts += 1
                last = result
                if kind is None:
                    path.append(deployment.label_ok)
                    ex.attempts = ", ".join(path)
                    if current is not group:
                        ex.served_model = current.name
                    return result  # type: ignore[return-value]  # kind None: an Answer
                path.append(_outcome(deployment, result))
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
        return _answer_or_raise(last, ex.attempts)

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


def _outcome(deployment: DeploymentState, result: Answer | GatewayError) -> str:
    """An attempt as ``x-fastgw-attempts`` lists it: ``model/deployment:status-or-code``."""
    if isinstance(result, GatewayError):
        return f"{deployment.label}:{result.code}"
    return f"{deployment.label}:{result.response.status}"


def _answer_or_raise(result: Answer | GatewayError, attempts: str | None) -> Answer:
    """The last attempt's answer to relay, or its error raised with the attempts header."""
    if isinstance(result, GatewayError):
        if attempts is not None:
            result.headers.append((ATTEMPTS_HEADER, attempts))
        raise result
    return result


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
