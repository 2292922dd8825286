"""Routing decisions without I/O: error classification, Retry-After, the circuit breaker, the
backoff schedule, per-minute quotas, strategies and the attempt plan, on a fake clock with
injected randomness."""

from __future__ import annotations

import math
from typing import Any

import pytest

from fastgw.config import CircuitConfig, Deployment, ModelConfig, RetryConfig, Timeouts
from fastgw.routing.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from fastgw.routing.classify import Failure, classify, retry_after
from fastgw.routing.deployment import DeploymentState
from fastgw.routing.plan import Group, GroupPlan
from fastgw.routing.policy import MinuteWindow, RateBucket, backoff
from fastgw.routing.strategies import STRATEGIES
from fastgw.testing import openai_error

# -- classify -------------------------------------------------------------------------------------


def err(code: str | None, message: str = "no", kind: str = "invalid_request_error") -> bytes:
    body = openai_error(400, message)
    return body.replace(b'"code":null', b'"code":"%s"' % code.encode()) if code else body


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (429, b"", Failure.RATE_LIMITED),
        (500, b"", Failure.TRANSIENT),
        (502, b"<html>", Failure.TRANSIENT),
        (503, b"", Failure.TRANSIENT),
        (504, b"", Failure.TRANSIENT),
        (408, b"", Failure.TRANSIENT),
        (401, b"", Failure.DEPLOYMENT),
        (403, b"", Failure.DEPLOYMENT),
        (404, openai_error(404), Failure.INVALID),
        (400, err("context_length_exceeded"), Failure.CONTEXT_LENGTH),
        (400, err("content_policy_violation"), Failure.CONTENT_POLICY),
        (400, err("content_filter"), Failure.CONTENT_POLICY),  # Azure
        (
            400,
            err(None, "This model's maximum context length is 8192 tokens"),
            Failure.CONTEXT_LENGTH,
        ),
        (400, err(None, "flagged by our content management policy"), Failure.CONTENT_POLICY),
        (400, err("invalid_value", "temperature is out of range"), Failure.INVALID),
        (400, b"maximum context length exceeded (not JSON)", Failure.CONTEXT_LENGTH),
        (400, b'{"error": "context length exceeded"}', Failure.CONTEXT_LENGTH),
        (422, err(None, "bad tools"), Failure.INVALID),
    ],
)
def test_classify(status: int, body: bytes, kind: Failure) -> None:
    """Each upstream answer maps to the routing decision it calls for; codes before messages."""
    assert classify(status, body) is kind


def test_code_wins_over_message() -> None:
    """A known code decides even when the message reads like another kind."""
    body = err("content_filter", "maximum context length")
    assert classify(400, body) is Failure.CONTENT_POLICY


@pytest.mark.parametrize(
    ("seconds", "millis", "expected"),
    [
        (b"2", None, 2.0),
        (b" 0.5 ", None, 0.5),
        (b"-3", None, 0.0),
        (b"2", b"150", 0.15),
        (None, b"1500", 1.5),
        (None, b"junk", None),
        (b"Sun, 22 Nov 2026 10:00:30 GMT", None, 30.0),
        (b"Sun, 22 Nov 2026 09:59:00 GMT", None, 0.0),
        (b"soon", None, None),
        (b"inf", None, None),
        (b"nan", None, None),
        (None, None, None),
    ],
)
def test_retry_after(seconds: bytes | None, millis: bytes | None, expected: float | None) -> None:
    """Retry-After as seconds or an HTTP date, retry-after-ms preferred; junk is ignored."""
    now = 1795341600.0  # Sun, 22 Nov 2026 10:00:00 GMT
    assert retry_after(seconds, millis, now) == expected


# -- breaker --------------------------------------------------------------------------------------


def test_breaker_opens_after_consecutive_failures_and_probes_once() -> None:
    """N consecutive failures open it; after the cool-down exactly one probe goes through;
    its success closes the circuit."""
    b = CircuitBreaker(CircuitConfig(failures=3, cooldown_s=10))
    for t in range(2):
        b.failure(t)
    b.success(2.5)  # a success resets the count
    for t in (3, 4, 5):
        assert b.acquire(t)
        b.failure(t)
    assert b.state == OPEN and b.opens == 1
    assert not b.available(14.9) and b.retry_in(14.9) == pytest.approx(0.1)
    assert not b.acquire(14.9)
    assert b.acquire(15.0) and b.state == HALF_OPEN
    assert not b.acquire(15.1) and not b.available(15.1)  # the probe is out
    b.success(15.2)
    assert b.state == CLOSED and b.acquire(15.3)


def test_breaker_failed_probe_reopens_and_released_probe_is_retaken() -> None:
    """A failed probe opens the circuit for another cool-down; a probe without a result
    (cancelled) gives the turn back."""
    b = CircuitBreaker(CircuitConfig(failures=1, cooldown_s=5))
    b.failure(0)
    assert b.acquire(5)
    b.release()
    assert b.acquire(5.1)
    b.failure(6)
    assert b.state == OPEN and b.opens == 2
    assert not b.acquire(10.9) and b.acquire(11)


def test_breaker_error_ratio_in_window() -> None:
    """With error_ratio, it opens once the window saw min_requests and the failure share
    reaches the ratio; a new window starts the count again."""
    b = CircuitBreaker(CircuitConfig(failures=100, error_ratio=0.5, window_s=10, min_requests=4))
    b.failure(0)
    b.success(1)
    b.failure(2)
    assert b.state == CLOSED  # 2 of 3: below min_requests
    b.success(3)
    b.failure(4)  # 3 of 5 >= 0.5
    assert b.state == OPEN
    c = CircuitBreaker(CircuitConfig(failures=100, error_ratio=0.5, window_s=10, min_requests=4))
    for t in (0, 1, 2):
        c.failure(t)
        c.success(t + 0.5)
    c.success(11)  # a new window: the old failures are forgotten
    c.failure(12)
    assert c.state == CLOSED


# -- policy ---------------------------------------------------------------------------------------


def test_backoff_doubles_caps_and_jitters_down() -> None:
    """Exponential from backoff_s, capped at backoff_max_s; jitter only shortens it."""
    config = RetryConfig(backoff_s=0.1, backoff_max_s=0.5, jitter=0.5)
    assert [backoff(config, n, lambda: 0.0) for n in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    assert backoff(config, 1, lambda: 1.0) == pytest.approx(0.1)
    assert backoff(RetryConfig(backoff_s=0.2, jitter=0), 0, lambda: 0.9) == 0.2


def test_minute_window_slides() -> None:
    """60 requests fill an rpm of 60; the estimate decays as the previous minute slides out."""
    w = MinuteWindow(60)
    for _ in range(60):
        w.add(0.0)
    assert w.full(30.0) and w.free_in(30.0) == pytest.approx(30.0)
    assert w.level(60.0) == pytest.approx(60.0)
    assert w.full(60.0)
    assert w.level(90.0) == pytest.approx(30.0) and not w.full(90.0)
    assert 0 < w.free_in(60.0) <= 1.1
    assert w.level(300.0) == 0.0


def test_rate_bucket() -> None:
    """At most ``rate`` per second after the burst."""
    b = RateBucket(2.0)
    b.take(0.0)
    b.take(0.0)
    assert not b.ready(0.0) and b.ready_in(0.0) == pytest.approx(0.5)
    assert b.ready(0.5)


# -- strategies and plans -------------------------------------------------------------------------


def group(
    n: int = 3,
    strategy: Any = "round-robin",
    retry: RetryConfig | None = None,
    circuit: CircuitConfig | None = None,
    **dep: Any,
) -> Group:
    deps = [Deployment(provider=f"p{i}", model=f"m{i}", **dep) for i in range(n)]
    model = ModelConfig(name="m", deployments=deps, strategy=strategy, retry=retry)
    r = retry or RetryConfig()
    states = [
        DeploymentState(d, f"p{i}", "m", None, Timeouts(), r, circuit) for i, d in enumerate(deps)
    ]
    return Group(model, states, r)


def names(picks: list[DeploymentState]) -> list[str]:
    return [d.name for d in picks]


def test_round_robin_and_ordered() -> None:
    g = group()
    d = g.deployments
    assert names([STRATEGIES["round-robin"](d, t, lambda: 0.0) for t in range(4)]) == [
        "p0",
        "p1",
        "p2",
        "p0",
    ]
    assert STRATEGIES["ordered"](d, 7, lambda: 0.9).name == "p0"


def test_weighted_follows_weights() -> None:
    """The random point falls in a deployment's share of the total weight."""
    g = group(2)
    a, b = g.deployments
    a.weight, b.weight = 1.0, 3.0
    pick = STRATEGIES["weighted"]
    assert pick([a, b], 0, lambda: 0.2).name == "p0"
    assert pick([a, b], 0, lambda: 0.3).name == "p1"


def test_least_in_flight_latency_and_cost() -> None:
    g = group(3)
    a, b, c = g.deployments
    a.in_flight, b.in_flight, c.in_flight = 3, 1, 2
    assert STRATEGIES["least-in-flight"](g.deployments, 0, lambda: 0.0) is b
    a.latency, b.latency, c.latency = 0.3, 0.2, None
    assert STRATEGIES["lowest-latency"](g.deployments, 0, lambda: 0.0) is c  # never measured
    c.observe_latency(0.5, False)
    c.observe_latency(0.0, False)
    assert c.latency == pytest.approx(0.4) and c.ttft is None
    assert STRATEGIES["lowest-latency"](g.deployments, 0, lambda: 0.0) is b
    a.cost, b.cost, c.cost = 1.0, 2.0, 0.5
    assert STRATEGIES["lowest-cost"](g.deployments, 0, lambda: 0.0) is c


def test_lowest_latency_routes_plain_on_latency_and_streams_on_ttft() -> None:
    """Two moving averages per deployment: a plain request goes where whole answers are
    quickest, a stream where the first token comes quickest; each falls back to the other
    average while it has no sample."""
    pick = STRATEGIES["lowest-latency"]
    g = group(2, strategy="lowest-latency")
    slow_start, quick_start = g.deployments  # quick to answer whole / quick to first token
    slow_start.latency, slow_start.ttft = 1.0, 0.8
    quick_start.latency, quick_start.ttft = 2.0, 0.1
    assert pick(g.deployments, 0, lambda: 0.0, False) is slow_start
    assert pick(g.deployments, 0, lambda: 0.0, True) is quick_start
    # no stream measured on quick_start yet: its plain latency (2.0) stands in, and loses
    quick_start.ttft = None
    assert pick(g.deployments, 0, lambda: 0.0, True) is slow_start
    # no plain answer measured on slow_start: its ttft (0.8) stands in, and wins a plain pick
    slow_start.latency, quick_start.latency = None, 0.9
    assert pick(g.deployments, 0, lambda: 0.0, False) is slow_start
    # the plan hands the request's kind to the strategy
    slow_start.latency, slow_start.ttft = 1.0, 0.8
    quick_start.latency, quick_start.ttft = 2.0, 0.1
    assert GroupPlan(g, None, stream=True).next(0.0, 10.0, lambda: 0.0) == (quick_start, 0.0)
    assert GroupPlan(g, None).next(0.0, 10.0, lambda: 0.0) == (slow_start, 0.0)


def test_latency_samples_feed_their_own_average() -> None:
    """A stream's time to first token moves only the TTFT average; a plain answer only the
    latency average (weight LATENCY_WEIGHT for the newest sample)."""
    d = group(1).deployments[0]
    d.observe_latency(1.0, True)
    assert (d.latency, d.ttft) == (None, 1.0)
    d.observe_latency(2.0, False)
    d.observe_latency(0.0, True)
    assert d.latency == 2.0 and d.ttft == pytest.approx(0.8)
    assert d.expected_latency(True) == pytest.approx(0.8) and d.expected_latency(False) == 2.0


def test_plan_fails_over_without_waiting_then_stops_without_retries() -> None:
    """Each deployment once, no wait; with retries = 0 the plan then ends."""
    g = group(2)
    plan = GroupPlan(g, None)
    first = plan.next(0.0, 10.0, lambda: 0.0)
    assert first is not None and first[1] == 0.0
    plan.tried.append(first[0])
    second = plan.next(0.0, 10.0, lambda: 0.0)
    assert second is not None and second[1] == 0.0 and second[0] is not first[0]
    plan.tried.append(second[0])
    assert plan.next(0.0, 10.0, lambda: 0.0) is None


def test_plan_retries_with_backoff_within_the_deadline() -> None:
    """Retries wait the backoff schedule and stop at the retry count or the deadline."""
    retry = RetryConfig(retries=2, backoff_s=0.1, jitter=0)
    g = group(1, retry=retry)
    plan = GroupPlan(g, None)
    step = plan.next(0.0, 10.0, lambda: 0.0)
    assert step is not None
    plan.tried.append(step[0])
    assert plan.next(0.0, 10.0, lambda: 0.0) == (step[0], 0.1)
    assert plan.next(0.1, 10.0, lambda: 0.0) == (step[0], 0.2)
    assert plan.next(0.3, 10.0, lambda: 0.0) is None
    late = GroupPlan(g, None)
    late.tried.append(step[0])
    assert late.next(9.95, 10.0, lambda: 0.0) is None  # the backoff would pass the deadline


def test_plan_honours_retry_after_or_moves_on() -> None:
    """A deployment cooling after a 429 is skipped while another is ready; alone, the wait is
    its Retry-After when that beats the backoff, and beyond the deadline there is none."""
    retry = RetryConfig(retries=1, backoff_s=0.05, jitter=0)
    g = group(2, strategy="ordered", retry=retry)
    a, b = g.deployments
    a.cooling_until = 5.0
    plan = GroupPlan(g, None)
    assert plan.next(0.0, 10.0, lambda: 0.0) == (b, 0.0)
    plan.tried.append(b)
    assert plan.next(0.0, 10.0, lambda: 0.0) == (b, 0.05)  # b after backoff beats a's 5 s
    solo = group(1, retry=retry)
    (c,) = solo.deployments
    c.cooling_until = 1.0
    p = GroupPlan(solo, None)
    assert p.next(0.0, 10.0, lambda: 0.0) == (c, 1.0)
    c.cooling_until = 20.0
    assert GroupPlan(solo, None).next(0.0, 10.0, lambda: 0.0) is None


def test_plan_skips_open_circuits_and_quota() -> None:
    """Open circuits and deployments at their rpm get no traffic while another can take it."""
    g = group(3, strategy="ordered", circuit=CircuitConfig(failures=1), rpm=1)
    a, b, c = g.deployments
    assert a.breaker is not None and a.rpm is not None
    a.breaker.failure(0.0)
    b.rpm.add(0.0)
    assert GroupPlan(g, None).next(1.0, 10.0, lambda: 0.0) == (c, 0.0)
    assert a.status(1.0) == "open" and b.status(1.0) == "cooling" and c.status(1.0) == "healthy"


def test_plan_filters_by_tags() -> None:
    g = group(2)
    a, b = g.deployments
    b.tags = frozenset({"eu", "fast"})
    assert g.candidates(frozenset({"eu"})) == [b]
    assert g.candidates(frozenset({"us"})) == []
    assert g.candidates(None) == [a, b]


def test_banned_deployment_is_never_retried() -> None:
    retry = RetryConfig(retries=3, backoff_s=0.0, jitter=0)
    g = group(1, retry=retry)
    plan = GroupPlan(g, None)
    (a,) = g.deployments
    plan.tried.append(a)
    plan.banned.append(a)
    assert plan.next(0.0, 10.0, lambda: 0.0) is None


def test_simple_is_decided_at_start() -> None:
    """One deployment without routing options is the fast path; anything else is not."""
    assert not group(1, retry=RetryConfig()).simple
    assert not group(1, circuit=CircuitConfig()).simple
    deps = [Deployment(provider="p", model="m")]
    plain = Group(
        ModelConfig(name="m", deployments=deps),
        [DeploymentState(deps[0], "p", "m", None, Timeouts(), RetryConfig(), None)],
        RetryConfig(),
    )
    assert plain.simple
    assert not group(2).simple
    assert math.isinf(GroupPlan(plain, None).group.max_attempts)


def test_router_builds_at_start_what_each_model_needs() -> None:
    """A single plain deployment is the fast path without a breaker; a model with a choice
    gets breakers by default; timeouts merge deployment > model > provider."""
    from fastgw.config import parse_config
    from fastgw.providers.mock import MockProvider
    from fastgw.routing import Router

    config = parse_config(
        """
[providers.m]
type = "mock"
[providers.o]
type = "openai"
base_url = "http://127.0.0.1:9/v1"
timeouts = { connect_s = 3, idle_s = 7 }
[[models]]
name = "one"
deployments = [{ provider = "m", model = "x" }]
[[models]]
name = "two"
timeouts = { idle_s = 2, first_token_s = 4 }
[[models.deployments]]
provider = "o"
model = "x"
timeouts = { idle_s = 1 }
[[models.deployments]]
provider = "m"
model = "y"
""",
        env={},
    )
    mock: Any = config.providers["m"]
    providers: Any = {"m": MockProvider("m", mock), "o": object()}
    router = Router(config, providers)
    one, two = router.groups["one"], router.groups["two"]
    assert one.simple and one.deployments[0].breaker is None
    assert not two.simple and all(d.breaker is not None for d in two.deployments)
    t = two.deployments[0].timeouts
    assert (t.connect_s, t.idle_s, t.first_token_s) == (3, 1, 4)
    assert two.deployments[1].timeouts.idle_s == 2  # the mock has no timeouts of its own
    assert [d.label for d in two.deployments] == ["two/o", "two/m"]
