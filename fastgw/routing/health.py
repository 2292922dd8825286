"""Optional active health checks: every ``interval_s``, a one-token chat request to each
deployment of a model that has ``[models.health_check]``. A success closes the deployment's
circuit (it is back in rotation without waiting for a client's probe); a failure counts
against it like a client's failed attempt. Nothing runs for models without the table."""

from __future__ import annotations

import asyncio
import contextlib

import msgspec

from ..config import Config
from ..errors import UpstreamError
from ..providers import Call
from ..wire import ChatRequest, Message, encode
from .deployment import DeploymentState
from .router import Router

_PROMPT = [Message("user", "ping")]


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
        await asyncio.gather(*(probe(router, d, timeout) for d in deployments))


async def probe(router: Router, deployment: DeploymentState, timeout: float) -> bool:
    """Send one health request; record and return whether the deployment answered 200."""
    request = ChatRequest(deployment.model, _PROMPT, max_tokens=1)
    timeouts = msgspec.structs.replace(
        deployment.timeouts,
        connect_s=min(deployment.timeouts.connect_s, timeout),
        first_byte_s=min(deployment.timeouts.first_byte_s, timeout),
        total_s=min(deployment.timeouts.total_s, timeout),
    )
    call = Call("/chat/completions", encode(request), request, deployment.model, "health-check")
    call.timeouts = timeouts
    ok = False
    with contextlib.suppress(UpstreamError):
        response = await deployment.provider.send(call)
        try:
            await response.read()
            ok = response.status == 200
        finally:
            response.close()
    breaker = deployment.breaker
    now = router.clock()
    if ok:
        if breaker is not None:
            breaker.success(now)
    else:
        deployment.failures += 1
        if breaker is not None:
            breaker.failure(now)
    return ok


__all__ = ["probe", "start"]
