"""Active health checks in-process: the real OpenAI provider against a FakeUpstream on the
test's loop. A failing deployment is taken out of rotation by the checks alone, comes back
when its upstream answers, and a 429 or a 4xx reads as alive, as for a client's attempt."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from fastgw.config import CircuitConfig, ConfigError, parse_config
from fastgw.providers import build_provider
from fastgw.routing import Router
from fastgw.routing import health as routing_health
from fastgw.routing.breaker import CLOSED, OPEN, CircuitBreaker
from fastgw.routing.classify import Failure
from fastgw.testing import FakeUpstream, Fault


def config_text(base_url: str, extra: str = "") -> str:
    return f"""
[providers.up]
type = "openai"
base_url = "{base_url}"
timeouts = {{ connect_s = 1, first_byte_s = 1, total_s = 5 }}

[[models]]
name = "checked"
strategy = "ordered"
deployments = [{{ provider = "up", model = "chk-a" }}, {{ provider = "up", model = "chk-b" }}]
circuit = {{ failures = 2, cooldown_s = 60 }}
health_check = {{ interval_s = 0.05, timeout_s = 0.5 }}

[[models]]
name = "solo"
deployments = [{{ provider = "up", model = "solo-up" }}]
health_check = {{ interval_s = 60 }}

[[models]]
name = "unchecked"
deployments = [{{ provider = "up", model = "plain-up" }}]
{extra}
"""


class Rig:
    def __init__(self, up: FakeUpstream, router: Router, providers: dict[str, Any]) -> None:
        self.up, self.router, self.providers = up, router, providers

    async def probe(self, model: str = "checked", index: int = 0) -> bool:
        deployment = self.router.groups[model].deployments[index]
        return await routing_health.probe(self.router, deployment, 0.5)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with FakeUpstream() as up:
        config = parse_config(config_text(up.base_url), env={})
        loop = asyncio.get_running_loop()
        providers: Any = {n: build_provider(n, c, loop) for n, c in config.providers.items()}
        try:
            yield Rig(up, Router(config, providers), providers)
        finally:
            for provider in providers.values():
                await provider.close()


async def test_failing_checks_open_the_circuit_and_a_passing_one_closes_it(rig: Rig) -> None:
    """Without client traffic: two failed checks (circuit.failures) take the deployment out;
    a check failing while open neither counts a new opening nor lets it back; the first check
    answered closes the circuit at once (no wait for the 60 s cool-down)."""
    a = rig.router.groups["checked"].deployments[0]
    assert a.breaker is not None
    rig.up.fail_always(Fault.error(503))
    assert not await rig.probe()
    assert a.status(rig.router.clock()) == "healthy"
    assert not await rig.probe()
    assert a.status(rig.router.clock()) == "open" and a.breaker.opens == 1
    assert not await rig.probe()
    assert a.breaker.state == OPEN and a.breaker.opens == 1 and a.failures == 3
    rig.up.fail_always(None)
    assert await rig.probe()
    assert a.status(rig.router.clock()) == "healthy" and a.requests == 0  # no client attempt
    request = rig.up.requests[-1]
    assert request.headers["x-request-id"] == routing_health.REQUEST_ID
    assert request.json()["model"] == "chk-a" and request.json()["max_tokens"] == 1


async def test_no_answer_within_the_check_timeout_is_a_failure(rig: Rig) -> None:
    """A reset or a silent upstream counts against the deployment, within the check's timeout."""
    a = rig.router.groups["checked"].deployments[0]
    rig.up.fail_next(Fault(close=True))
    rig.up.fail_next(Fault(stall=True))
    assert not await rig.probe()
    assert not await asyncio.wait_for(rig.probe(), 2.0)
    assert a.breaker is not None and a.breaker.state == OPEN


async def test_429_and_4xx_read_as_alive(rig: Rig) -> None:
    """A 429 is an alive but busy deployment: it cools down for its Retry-After and its
    circuit is not counted against; a 400 (say, a model refusing max_tokens) is alive too."""
    a = rig.router.groups["checked"].deployments[0]
    assert a.breaker is not None
    a.breaker.failure(rig.router.clock())
    rig.up.fail_next(Fault.error(429, headers={"retry-after": "30"}))
    assert await rig.probe()
    now = rig.router.clock()
    assert a.breaker.consecutive == 0 and a.status(now) == "cooling"
    assert 29 < a.cooling_until - now <= 30
    rig.up.fail_next(Fault.error(400))
    assert await rig.probe()
    assert a.breaker.state == CLOSED and a.failures == 0


async def test_checks_run_by_themselves_and_skip_a_cooling_deployment(rig: Rig) -> None:
    """``start`` runs one task per model with a health_check table; every interval it checks
    each deployment not cooling down after a 429."""
    loop = asyncio.get_running_loop()
    config = parse_config(config_text(rig.up.base_url), env={})
    a = rig.router.groups["checked"].deployments[0]
    a.cooling_until = rig.router.clock() + 60
    tasks = routing_health.start(rig.router, config, loop)
    try:
        assert len(tasks) == 2  # "checked" and "solo", not "unchecked"
        await rig.up.until(lambda up: len(up.requests) >= 4)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert {r.json()["model"] for r in rig.up.requests} == {"chk-b"}


async def test_a_single_deployment_with_health_checks_has_a_breaker(rig: Rig) -> None:
    """Health checks act through the breaker, so a one-deployment model that has them gets
    one (and leaves the no-decision fast path); one without keeps the fast path."""
    solo, plain = rig.router.groups["solo"], rig.router.groups["unchecked"]
    assert solo.deployments[0].breaker is not None and not solo.simple
    assert plain.deployments[0].breaker is None and plain.simple


def test_health_check_with_the_breaker_disabled_is_rejected() -> None:
    extra = """
[[models]]
name = "off"
deployments = [{ provider = "up", model = "x" }]
circuit = { enabled = false }
health_check = {}
"""
    with pytest.raises(ConfigError, match=r"models\[3\]\.health_check: health checks act"):
        parse_config(config_text("http://127.0.0.1:9/v1", extra), env={})


@pytest.mark.parametrize(
    ("kind", "alive"),
    [
        (None, True),
        (Failure.RATE_LIMITED, True),
        (Failure.INVALID, True),
        (Failure.CONTEXT_LENGTH, True),
        (Failure.TRANSIENT, False),
        (Failure.DEPLOYMENT, False),
    ],
)
def test_record_maps_each_result_to_the_breaker(kind: Failure | None, alive: bool) -> None:
    """What one health result does to the deployment, without I/O."""
    from tests.test_routing import group

    d = group(1, circuit=CircuitConfig(failures=1)).deployments[0]
    assert routing_health.record(d, kind, 5.0) is alive
    assert d.breaker is not None
    assert d.breaker.state == (CLOSED if alive else OPEN)
    assert d.failures == (0 if alive else 1)


def test_breaker_counts_openings_not_failures_while_open() -> None:
    """A failure reported while open restarts the cool-down but is not a new opening."""
    b = CircuitBreaker(CircuitConfig(failures=1, cooldown_s=5))
    b.failure(0)
    b.failure(3)
    assert b.opens == 1 and b.retry_in(3) == 5
    assert b.acquire(8)  # half-open
    b.failure(8.1)
    assert b.opens == 2
