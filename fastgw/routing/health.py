"""Optional active health checks: every ``interval_s``, a one-token chat request to each
deployment of a model that has ``[models.health_check]``.

Rules this module keeps:
- An answer means what it means for a client's attempt (``Provider.classify``): a 200, a 429 or a
  4xx shows the deployment alive and closes its circuit (back in rotation without waiting
  for a client's probe; a 429 also cools it down for its Retry-After); a 5xx, a 401/403 or no
  answer counts against it like a client's failed attempt, and enough of them open the
  circuit without any client traffic.
- A deployment cooling down after a 429 is not checked: the provider asked for quiet.
- A model with health checks always has breakers (``router._routed``); nothing runs for
  models without the table.
"""

from __future__ import annotations

import asyncio
import contextlib

import msgspec

from ..config import Config
from ..errors import UpstreamError
from ..protocols.failure import Failure
from ..protocols.openai.requests import ChatRequest, Message
from ..protocols.openai.rewrite import encode
from ..providers import Call
from .deployment import DeploymentState
from .router import Router

_PROMPT = [Message("user", "ping")]
REQUEST_ID = "health-check"  # the x-request-id upstreams see on a health request


def start(
    router: Router, config: Config, loop: asyncio.AbstractEventLoop
) -> list[asyncio.Task[None]]:
    """One task per model with health checks; cancel them when the worker stops."""
    tasks = []
    for model in config.models:
        check = model.health_check
        if check is not None:
            deployments = router.groups[model.name].deployments
            tasks.append(
                loop.create_task(_run(router, deployments, check.interval_s, check.timeout_s))
            )
    return tasks


async def _run(
    router: Router, deployments: list[DeploymentState], interval: float, timeout: float
) -> None:
    while True:
        await asyncio.sleep(interval)
        now = router.clock()
        due = [d for d in deployments if d.cooling_until <= now]
        await asyncio.gather(*(probe(router, d, timeout) for d in due))


async def probe(router: Router, deployment: DeploymentState, timeout: float) -> bool:
    """Send one health request and record its result on the deployment; return whether the
    deployment is alive (it answered, see the module rules)."""
    request = ChatRequest(deployment.model, _PROMPT, max_tokens=1)
    timeouts = msgspec.structs.replace(
        deployment.timeouts,
        connect_s=min(deployment.timeouts.connect_s, timeout),
        first_byte_s=min(deployment.timeouts.first_byte_s, timeout),
        total_s=min(deployment.timeouts.total_s, timeout),
    )
    call = Call("/chat/completions", encode(request), request, deployment.model, REQUEST_ID)
    call.timeouts = timeouts
    kind: Failure | None = Failure.TRANSIENT  # no answer
    with contextlib.suppress(UpstreamError):
        response = await deployment.provider.send(call)
        try:
            body = await response.read()
            provider = deployment.provider
            kind = None if response.status == 200 else provider.classify(response, body)
            if kind is Failure.RATE_LIMITED:
                wait = provider.cooldown(response)
                if wait is not None:
                    until = router.clock() + wait
                    deployment.cooling_until = max(deployment.cooling_until, until)
        finally:
            response.close()
    return record(deployment, kind, router.clock())


def record(deployment: DeploymentState, kind: Failure | None, now: float) -> bool:
    """Apply one health result (``None``: a 200) to the deployment; whether it is alive
    (``DeploymentState.record``: the same rule as for a client's attempt)."""
    return deployment.record(kind, now)


__all__ = ["REQUEST_ID", "probe", "record", "start"]
