"""Which deployment a request tries next, and after what wait: the routing decisions.

Rules this module keeps:
- No I/O: a ``Group`` (one public model, built once per worker) and a ``GroupPlan`` (one
  request's progress through it) answer ``next(now, deadline, random)`` with a deployment and
  the seconds to wait before sending, or ``None`` when the group is exhausted.
- First every deployment that can take a request now and was not tried yet, chosen by the
  model's strategy, without waiting (a failover is immediate). Then, while ``retry.retries``
  allows, the one that is ready soonest (a tried one, one cooling down after a 429, one at
  its quota), waiting for the longer of its readiness and the exponential backoff; never
  past the request's deadline, never one that refused our credentials.
"""

from __future__ import annotations

import math

from ..config import ModelConfig, RetryConfig
from .deployment import DeploymentState
from .policy import backoff
from .strategies import STRATEGIES, Random


class Group:
    """One public model's deployments and routing options."""

    __slots__ = (
        "choose",
        "content_policy_fallbacks",
        "context_fallbacks",
        "deployments",
        "fallbacks",
        "max_attempts",
        "name",
        "quota_free",
        "retry",
        "simple",
        "turn",
    )

    def __init__(
        self, model: ModelConfig, deployments: list[DeploymentState], retry: RetryConfig
    ) -> None:
        self.name = model.name
        self.deployments = deployments
        self.retry = retry
        self.choose = STRATEGIES[model.strategy]
        self.turn = 0
        self.max_attempts = retry.max_attempts if retry.max_attempts is not None else math.inf
        # wired by ``link`` once every group exists
        self.fallbacks: tuple[Group, ...] = ()
        self.context_fallbacks: tuple[Group, ...] = ()
        self.content_policy_fallbacks: tuple[Group, ...] = ()
        # one deployment, nothing to decide: the shell sends straight to it
        # no deployment has an rpm/tpm quota: the healthy fast path need not check them
        self.quota_free = all(d.rpm is None and d.tpm is None for d in deployments)
        self.simple = (
            len(deployments) == 1
            and model.retry is None
            and not model.fallbacks
            and not model.context_fallbacks
            and not model.content_policy_fallbacks
            and deployments[0].breaker is None
            and deployments[0].rpm is None
            and deployments[0].tpm is None
        )

    def link(self, model: ModelConfig, groups: dict[str, Group]) -> None:
        self.fallbacks = tuple(groups[n] for n in model.fallbacks)
        self.context_fallbacks = tuple(groups[n] for n in model.context_fallbacks)
        self.content_policy_fallbacks = tuple(groups[n] for n in model.content_policy_fallbacks)
        if self.fallbacks or self.context_fallbacks or self.content_policy_fallbacks:
            self.simple = False

    def candidates(self, tags: frozenset[str] | None) -> list[DeploymentState]:
        """The deployments that carry every tag asked for (all of them without tags)."""
        if not tags:
            return self.deployments
        return [d for d in self.deployments if tags <= d.tags]


class GroupPlan:
    """One request's progress through one group."""

    __slots__ = ("banned", "candidates", "group", "retries", "stream", "tried")

    def __init__(self, group: Group, tags: frozenset[str] | None, stream: bool = False) -> None:
        self.group = group
        self.stream = stream  # the strategy may weigh a stream differently (lowest-latency)
        self.candidates = group.candidates(tags)
        self.tried: list[DeploymentState] = []
        self.banned: list[DeploymentState] = []  # refused our credentials: never again
        self.retries = 0

    def next(
        self, now: float, deadline: float, random: Random
    ) -> tuple[DeploymentState, float] | None:
        """The deployment to try next and the seconds to wait first; ``None`` when none is
        left within the retry count and the deadline."""
        group = self.group
        tried = self.tried
        ready = [d for d in self.candidates if d not in tried and d.ready_in(now, False) <= 0]
        if ready:
            group.turn += 1
            return group.choose(ready, group.turn, random, self.stream), 0.0
        if self.retries >= group.retry.retries:
            return None
        delay = backoff(group.retry, self.retries, random)
        best: list[DeploymentState] = []
        best_wait = math.inf
        for deployment in self.candidates:
            if deployment in self.banned:
                continue
            wait = max(delay, deployment.ready_in(now, deployment in tried))
            if wait < best_wait:
                best, best_wait = [deployment], wait
            elif wait == best_wait:
                best.append(deployment)
        if not best or now + best_wait > deadline:
            return None
        self.retries += 1
        group.turn += 1
        return group.choose(best, group.turn, random, self.stream), best_wait
