"""Routing and resilience through a real fastgw server, driven by the official openai SDK
(``max_retries=0``: every retry seen here is the gateway's) in front of two fault-injecting
FakeUpstreams ``a`` and ``b``. Each test asserts the upstream attempts, the time taken, what
the client received (and ``x-fastgw-attempts``), and that the next request is answered.

Timing bounds: lower bounds are tight (a backoff or Retry-After must really be waited),
upper bounds loose (the machine is shared)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from fastgw.testing import FakeUpstream, Fault, GatewayProcess, openai_error
from tests.conftest import DEV_KEY, mock_config
from tests.promtext import value

pytestmark = pytest.mark.e2e

HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hi"}]
ANSWER = "The fake upstream answers every"  # FakeUpstream: chunks=5 words
ADMIN_KEY = "admin-secret-for-tests"
SLACK = 3.0  # loose upper bound added to expected durations


def config(a: FakeUpstream, b: FakeUpstream) -> str:
    timeouts = "{ connect_s = 1, first_byte_s = 0.5, idle_s = 0.5, total_s = 10 }"
    quick = "{ retries = 2, backoff_s = 0.1, jitter = 0, budget_s = 5 }"
    return mock_config(
        extra=f"""
[providers.a]
type = "openai"
base_url = "{a.base_url}"
timeouts = {timeouts}

[providers.b]
type = "openai"
base_url = "{b.base_url}"
timeouts = {timeouts}

[[models]]
name = "solo"
deployments = [{{ provider = "a", model = "solo-up" }}]
retry = {quick}

[[models]]
name = "solo-budget"
deployments = [{{ provider = "a", model = "solo-up" }}]
retry = {{ retries = 5, backoff_s = 0.1, jitter = 0, budget_s = 1 }}

[[models]]
name = "pair"
strategy = "ordered"
deployments = [{{ provider = "a", model = "pair-a" }}, {{ provider = "b", model = "pair-b" }}]

[[models]]
name = "small"
deployments = [{{ provider = "a", model = "small-up" }}]
context_fallbacks = ["large"]
retry = {quick}

[[models]]
name = "large"
deployments = [{{ provider = "b", model = "large-up" }}]

[[models]]
name = "guarded"
deployments = [{{ provider = "a", model = "guarded-up" }}]
retry = {quick}

[[models]]
name = "guarded-fb"
deployments = [{{ provider = "a", model = "guarded-up" }}]
content_policy_fallbacks = ["large"]

[[models]]
name = "primary"
deployments = [{{ provider = "a", model = "primary-up" }}]
fallbacks = ["backup"]
retry = {{ retries = 1, backoff_s = 0.05, jitter = 0 }}

[[models]]
name = "backup"
deployments = [{{ provider = "b", model = "backup-up" }}]

[[models]]
name = "ttft"
strategy = "ordered"
deployments = [
    {{ provider = "a", model = "ttft-a", timeouts = {{ first_token_s = 0.3 }} }},
    {{ provider = "b", model = "ttft-b" }},
]

[[models]]
name = "breaker"
strategy = "ordered"
deployments = [{{ provider = "a", model = "brk-a" }}, {{ provider = "b", model = "brk-b" }}]
circuit = {{ failures = 2, cooldown_s = 2.0 }}  # long enough for a busy machine

[[models]]
name = "rr"
strategy = "round-robin"
deployments = [{{ provider = "a", model = "rr-a" }}, {{ provider = "b", model = "rr-b" }}]

[[models]]
name = "tagged"
deployments = [
    {{ provider = "a", model = "us-up", tags = ["us"] }},
    {{ provider = "b", model = "eu-up", tags = ["eu"] }},
]

[[models]]
name = "timed"
strategy = "lowest-latency"
deployments = [{{ provider = "a", model = "timed-a" }}, {{ provider = "b", model = "timed-b" }}]

[[models]]
name = "quota"
strategy = "ordered"
deployments = [{{ provider = "a", model = "q-a", rpm = 2 }}, {{ provider = "b", model = "q-b" }}]
"""
    )


@pytest.fixture(scope="module")
def ups() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    with FakeUpstream.in_thread() as a, FakeUpstream.in_thread() as b:
        yield a, b


@pytest.fixture(scope="module")
def gw(ups: tuple[FakeUpstream, FakeUpstream]) -> Iterator[GatewayProcess]:
    with GatewayProcess(config(*ups), env={"FASTGW_ADMIN_KEY": ADMIN_KEY}) as process:
        yield process


@pytest.fixture
def a(ups: tuple[FakeUpstream, FakeUpstream]) -> FakeUpstream:
    ups[0].reset()
    return ups[0]


@pytest.fixture
def b(ups: tuple[FakeUpstream, FakeUpstream]) -> FakeUpstream:
    ups[1].reset()
    return ups[1]


@pytest.fixture
def sdk(gw: GatewayProcess, a: FakeUpstream, b: FakeUpstream) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=gw.base_url + "/v1", api_key=DEV_KEY, max_retries=0, timeout=20
    ) as client:
        yield client


def chat(sdk: openai.OpenAI, model: str, **kwargs: Any) -> tuple[httpx.Headers, Any, float]:
    """(headers, parsed completion, seconds) of one plain chat request."""
    start = time.monotonic()
    raw = sdk.chat.completions.with_raw_response.create(model=model, messages=HI, **kwargs)
    return raw.headers, raw.parse(), time.monotonic() - start


def failing(sdk: openai.OpenAI, model: str, **kwargs: Any) -> tuple[openai.APIStatusError, float]:
    """(the SDK's error, seconds) of a chat request that must fail."""
    start = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model=model, messages=HI, **kwargs)
    return caught.value, time.monotonic() - start


def attempts(headers: httpx.Headers) -> list[str]:
    return headers["x-fastgw-attempts"].split(", ")


def next_ok(sdk: openai.OpenAI, model: str = "solo") -> None:
    """The gateway answers the next request normally."""
    headers, completion, _ = chat(sdk, model)
    assert completion.choices[0].message.content == ANSWER
    assert len(attempts(headers)) == 1


def stream(sdk: openai.OpenAI, model: str, **kwargs: Any) -> tuple[str, Any, Any, float]:
    """(text, usage, the error that ended the iteration or None, seconds) of a stream."""
    start = time.monotonic()
    text, usage, error = [], None, None
    response = sdk.chat.completions.create(
        model=model, messages=HI, stream=True, stream_options={"include_usage": True}, **kwargs
    )
    try:
        for chunk in response:
            if chunk.usage is not None:
                usage = chunk.usage
            if chunk.choices:
                text.append(chunk.choices[0].delta.content or "")
    except openai.APIError as exc:
        error = exc
    return "".join(text), usage, error, time.monotonic() - start


# -- retries on one deployment -------------------------------------------------------------------


def test_500_once_then_healthy_is_retried_after_the_backoff(a: FakeUpstream, sdk: Any) -> None:
    a.fail_next(Fault.error(500))
    headers, completion, elapsed = chat(sdk, "solo")
    assert len(a.requests) == 2
    assert 0.1 <= elapsed < 0.1 + SLACK
    assert completion.choices[0].message.content == ANSWER
    assert completion.usage is not None and completion.usage.completion_tokens == 5
    assert attempts(headers) == ["solo/a:500", "solo/a:200"]
    next_ok(sdk)


def test_persistent_503_exhausts_the_retries_and_passes_the_last_error(
    a: FakeUpstream, sdk: Any
) -> None:
    a.fail_always(Fault.error(503, openai_error(503, "overloaded")))
    error, elapsed = failing(sdk, "solo")
    a.fail_always(None)
    assert len(a.requests) == 3
    assert 0.1 + 0.2 <= elapsed < 0.3 + SLACK  # two backoffs: 0.1, then 0.2
    assert error.status_code == 503 and "overloaded" in error.message
    assert attempts(error.response.headers) == ["solo/a:503"] * 3
    next_ok(sdk)


@pytest.mark.parametrize(
    ("headers", "wait"),
    [({"retry-after": "0.4"}, 0.4), ({"retry-after-ms": "300"}, 0.3), ({}, 0.1)],
    ids=["retry-after", "retry-after-ms", "no-retry-after"],
)
def test_429_waits_for_retry_after_or_the_backoff(
    a: FakeUpstream, sdk: Any, headers: dict[str, str], wait: float
) -> None:
    a.fail_next(Fault.error(429, headers=headers))
    response_headers, completion, elapsed = chat(sdk, "solo")
    assert len(a.requests) == 2
    assert wait <= elapsed < wait + SLACK
    assert completion.choices[0].message.content == ANSWER
    assert attempts(response_headers) == ["solo/a:429", "solo/a:200"]
    next_ok(sdk)


def test_429_asking_past_the_budget_answers_at_once_with_its_retry_after(
    a: FakeUpstream, sdk: Any
) -> None:
    a.fail_next(Fault.error(429, headers={"retry-after": "30"}))
    error, elapsed = failing(sdk, "solo-budget")
    assert len(a.requests) == 1
    assert elapsed < 0.9  # no wait: 30 s is past the 1 s budget
    assert isinstance(error, openai.RateLimitError)
    assert error.response.headers["retry-after"] == "30"
    assert attempts(error.response.headers) == ["solo-budget/a:429"]
    next_ok(sdk, "pair")


def test_reset_before_headers_is_retried(a: FakeUpstream, sdk: Any) -> None:
    """Connections closed before any response byte: the pool retries a reused connection once
    at once (the server may have closed it idle); the second close is a failed attempt,
    retried by the gateway after the backoff."""
    next_ok(sdk)  # leaves an idle keep-alive connection to a
    a.reset()
    a.fail_next(Fault(close=True), times=2)
    headers, completion, elapsed = chat(sdk, "solo")
    assert len(a.requests) == 3
    assert 0.1 <= elapsed < 0.1 + SLACK
    assert completion.choices[0].message.content == ANSWER
    assert attempts(headers) == ["solo/a:upstream_unreachable", "solo/a:200"]
    next_ok(sdk)


def test_no_response_times_out_and_is_retried(a: FakeUpstream, sdk: Any) -> None:
    """No response head within first_byte_s (0.5 s): the attempt is dropped and retried."""
    a.fail_next(Fault(stall=True))
    headers, completion, elapsed = chat(sdk, "solo")
    assert len(a.requests) == 2
    assert 0.5 + 0.1 <= elapsed < 0.6 + SLACK
    assert completion.choices[0].message.content == ANSWER
    assert attempts(headers) == ["solo/a:upstream_timeout", "solo/a:200"]
    a.wait(lambda u: u.disconnects == 1)
    next_ok(sdk)


# -- 400s that will not change -------------------------------------------------------------------


def test_context_length_goes_to_the_context_fallback_never_the_same_deployment(
    a: FakeUpstream, b: FakeUpstream, sdk: Any
) -> None:
    body = openai_error(400, "This model's maximum context length is 8192 tokens.")
    body = body.replace(b'"code":null', b'"code":"context_length_exceeded"')
    a.fail_next(Fault.error(400, body))
    headers, completion, elapsed = chat(sdk, "small")
    assert (len(a.requests), len(b.requests)) == (1, 1)
    assert elapsed < SLACK
    assert completion.model == "large-up"  # the model that answered
    assert b.requests[0].json()["model"] == "large-up"
    assert attempts(headers) == ["small/a:400", "large/b:200"]
    next_ok(sdk, "small")


def test_content_policy_is_not_retried_and_has_no_fallback_by_default(
    a: FakeUpstream, sdk: Any
) -> None:
    body = openai_error(400, "flagged").replace(b'"code":null', b'"code":"content_filter"')
    a.fail_next(Fault.error(400, body))
    error, elapsed = failing(sdk, "guarded")
    assert len(a.requests) == 1
    assert elapsed < SLACK
    assert isinstance(error, openai.BadRequestError) and error.code == "content_filter"
    assert attempts(error.response.headers) == ["guarded/a:400"]
    next_ok(sdk, "guarded")


def test_content_policy_fallback_when_configured(
    a: FakeUpstream, b: FakeUpstream, sdk: Any
) -> None:
    body = openai_error(400, "x").replace(b'"code":null', b'"code":"content_policy_violation"')
    a.fail_next(Fault.error(400, body))
    headers, completion, _ = chat(sdk, "guarded-fb")
    assert (len(a.requests), len(b.requests)) == (1, 1)
    assert completion.model == "large-up"
    assert attempts(headers) == ["guarded-fb/a:400", "large/b:200"]
    next_ok(sdk, "guarded-fb")


def test_invalid_request_is_answered_once(a: FakeUpstream, sdk: Any) -> None:
    a.fail_next(Fault.error(400, openai_error(400, "bad tools")))
    error, _ = failing(sdk, "solo")
    assert len(a.requests) == 1
    assert isinstance(error, openai.BadRequestError) and error.message.endswith("bad tools")
    next_ok(sdk)


# -- failover and fallbacks ----------------------------------------------------------------------


def test_failover_to_the_next_deployment_is_immediate(
    a: FakeUpstream, b: FakeUpstream, sdk: Any
) -> None:
    a.fail_next(Fault.error(503))
    headers, completion, elapsed = chat(sdk, "pair")
    assert (len(a.requests), len(b.requests)) == (1, 1)
    assert elapsed < SLACK
    assert completion.model == "pair-b"
    assert attempts(headers) == ["pair/a:503", "pair/b:200"]
    next_ok(sdk, "pair")


def test_fallback_model_answers_when_the_primary_is_exhausted(
    a: FakeUpstream, b: FakeUpstream, sdk: Any
) -> None:
    a.fail_always(Fault.error(502))
    headers, completion, elapsed = chat(sdk, "primary")
    a.fail_always(None)
    assert (len(a.requests), len(b.requests)) == (2, 1)
    assert 0.05 <= elapsed < 0.05 + SLACK
    assert completion.model == "backup-up"
    assert attempts(headers) == ["primary/a:502", "primary/a:502", "backup/b:200"]
    next_ok(sdk, "primary")


# -- streams -------------------------------------------------------------------------------------


def test_slow_first_token_fails_over_before_anything_reaches_the_client(
    a: FakeUpstream, b: FakeUpstream, sdk: Any
) -> None:
    a.fail_next(Fault(first_event_delay=3))
    text, usage, error, elapsed = stream(sdk, "ttft")
    assert (len(a.requests), len(b.requests)) == (1, 1)
    assert 0.3 <= elapsed < 2.5
    assert error is None and text == ANSWER and usage.completion_tokens == 5
    a.wait(lambda u: u.disconnects == 1)  # the slow upstream request was dropped
    next_ok(sdk, "ttft")


def test_stream_cut_before_its_first_event_is_failed_over(
    a: FakeUpstream, b: FakeUpstream, sdk: Any
) -> None:
    a.fail_next(Fault.cut(0))
    text, usage, error, elapsed = stream(sdk, "pair")
    assert (len(a.requests), len(b.requests)) == (1, 1)
    assert elapsed < SLACK
    assert error is None and text == ANSWER and usage.completion_tokens == 5
    next_ok(sdk, "pair")


def test_stream_whose_first_event_is_not_json_is_failed_over(
    a: FakeUpstream, b: FakeUpstream, sdk: Any
) -> None:
    """A broken first event relayed nothing: the next deployment answers the stream."""
    a.fail_next(Fault(invalid_after=0))
    text, usage, error, elapsed = stream(sdk, "pair")
    assert (len(a.requests), len(b.requests)) == (1, 1)
    assert elapsed < SLACK
    assert error is None and text == ANSWER and usage.completion_tokens == 5
    next_ok(sdk, "pair")


@pytest.mark.parametrize(
    ("fault", "code", "least"),
    [
        (Fault.cut(3), "upstream_protocol_error", 0.0),
        (Fault.stall_stream(3), "upstream_timeout", 0.5),
        (Fault(malformed_after=3), "upstream_protocol_error", 0.0),
        (Fault(invalid_after=3), "upstream_protocol_error", 0.0),
    ],
    ids=["cut", "stall", "malformed-chunk", "event-not-json"],
)
def test_stream_failing_after_the_first_chunk_ends_with_an_error_event(
    a: FakeUpstream, b: FakeUpstream, sdk: Any, fault: Fault, code: str, least: float
) -> None:
    """Once chunks went out there is no failover: an SSE error event, never [DONE]."""
    a.fail_next(fault)
    text, usage, error, elapsed = stream(sdk, "pair")
    assert (len(a.requests), len(b.requests)) == (1, 0)
    assert least <= elapsed < least + SLACK
    assert isinstance(error, openai.APIError) and error.code == code
    assert text.startswith("The fake") and text != ANSWER and usage is None
    next_ok(sdk, "pair")


def test_stream_ending_without_done_is_finalised_with_usage(
    a: FakeUpstream, b: FakeUpstream, sdk: Any
) -> None:
    a.fail_next(Fault.no_done())
    text, usage, error, elapsed = stream(sdk, "pair")
    assert (len(a.requests), len(b.requests)) == (1, 0)
    assert elapsed < SLACK
    assert error is None and text == ANSWER and usage.completion_tokens == 5
    next_ok(sdk, "pair")


# -- breakers, balancing, tags, quotas, health ---------------------------------------------------


def test_breaker_takes_a_failing_deployment_out_and_returns_it_after_a_probe(
    a: FakeUpstream, b: FakeUpstream, sdk: Any, gw: GatewayProcess
) -> None:
    """Down for a while, then recovers: two failures open a's circuit; while open a gets no
    traffic; after the 2 s cool-down one probe goes to a and, answered, closes it."""
    a.fail_always(Fault.error(503))
    for _ in range(2):
        opened = time.monotonic()  # before the request whose failure opens the circuit
        headers, _, _ = chat(sdk, "breaker")
        assert attempts(headers) == ["breaker/a:503", "breaker/b:200"]
    headers, _, _ = chat(sdk, "breaker")
    assert attempts(headers) == ["breaker/b:200"] and len(a.requests) == 2
    admin = httpx.get(
        gw.base_url + "/admin/deployments", headers={"authorization": f"Bearer {ADMIN_KEY}"}
    )
    states = {(d["model"], d["deployment"]): d for d in admin.json()["data"]}
    assert states[("breaker", "a")]["state"] == "open"
    assert states[("breaker", "a")]["circuit_opens"] == 1
    assert states[("breaker", "b")]["state"] == "healthy"
    metrics = httpx.get(gw.base_url + "/metrics").text
    state = value(metrics, "fastgw_deployment_state", model="breaker", deployment="a", state="open")
    assert state == 1
    a.fail_always(None)  # a recovers
    deadline = time.monotonic() + 10
    while True:  # b answers until the cool-down has passed, then a is probed
        headers, _, _ = chat(sdk, "breaker")
        if attempts(headers) == ["breaker/a:200"]:
            break
        assert attempts(headers) == ["breaker/b:200"] and time.monotonic() < deadline
    assert time.monotonic() - opened >= 2.0
    assert len(a.requests) == 3
    next_ok(sdk, "breaker")


def test_admin_deployments_shows_latency_and_ttft_averages_apart(
    a: FakeUpstream, b: FakeUpstream, sdk: Any, gw: GatewayProcess
) -> None:
    """lowest-latency keeps two averages per deployment: a plain answer measures
    ``latency_ms`` only, a stream's first token ``ttft_ms`` only; both show in the admin API
    and /metrics. (Unmeasured deployments go first, so the first two plain requests measure
    each deployment once; a stream then goes where the measured averages point.)"""
    url = gw.base_url + "/admin/deployments"
    auth = {"authorization": f"Bearer {ADMIN_KEY}"}

    def rows() -> dict[str, Any]:
        data = httpx.get(url, headers=auth).json()["data"]
        return {r["deployment"]: r for r in data if r["model"] == "timed"}

    assert all(r["latency_ms"] is None and r["ttft_ms"] is None for r in rows().values())
    for _ in range(2):
        chat(sdk, "timed")
    assert (len(a.requests), len(b.requests)) == (1, 1)
    assert all(r["latency_ms"] > 0 and r["ttft_ms"] is None for r in rows().values())
    for _ in range(2):
        text, _, error, _ = stream(sdk, "timed")
        assert text == ANSWER and error is None
    after = rows()
    for name, up in (("a", a), ("b", b)):
        streamed = any(r.json().get("stream") for r in up.requests)
        assert (after[name]["ttft_ms"] is not None) == streamed
        assert after[name]["ttft_ms"] is None or after[name]["ttft_ms"] > 0
    assert len(a.requests) + len(b.requests) == 4
    metrics = httpx.get(gw.base_url + "/metrics").text
    assert any(
        value(metrics, "fastgw_deployment_ttft_seconds", model="timed", deployment=d) for d in "ab"
    )


def test_admin_deployments_needs_the_admin_key(gw: GatewayProcess) -> None:
    url = gw.base_url + "/admin/deployments"
    assert httpx.get(url).status_code == 401
    wrong = httpx.get(url, headers={"authorization": f"Bearer {DEV_KEY}"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_admin_key"


def test_round_robin_spreads_requests(a: FakeUpstream, b: FakeUpstream, sdk: Any) -> None:
    for _ in range(4):
        chat(sdk, "rr")
    assert (len(a.requests), len(b.requests)) == (2, 2)


def test_tags_from_header_or_metadata_pick_deployments(
    a: FakeUpstream, b: FakeUpstream, sdk: Any
) -> None:
    headers, completion, _ = chat(sdk, "tagged", extra_headers={"x-fastgw-tags": "eu"})
    assert completion.model == "eu-up" and attempts(headers) == ["tagged/b:200"]
    _, completion, _ = chat(sdk, "tagged", metadata={"tags": "us"})
    assert completion.model == "us-up"
    error, _ = failing(sdk, "tagged", extra_headers={"x-fastgw-tags": "mars"})
    assert error.status_code == 400 and error.code == "no_matching_deployment"
    assert (len(a.requests), len(b.requests)) == (1, 1)


def test_rpm_limit_steers_traffic_before_the_provider_says_429(
    a: FakeUpstream, b: FakeUpstream, sdk: Any
) -> None:
    for _ in range(3):
        chat(sdk, "quota")
    assert (len(a.requests), len(b.requests)) == (2, 1)


def test_health_checks_take_a_failing_deployment_out_and_return_it_without_traffic() -> None:
    """Active health checks (every 0.05 s) on their own gateway and upstreams: with no client
    request, a failing upstream's deployment goes ``open`` in /admin/deployments and a client
    is sent straight to the other one; once the upstream answers again a check closes the
    circuit long before the 60 s cool-down, and client traffic returns to it."""
    with FakeUpstream.in_thread() as c, FakeUpstream.in_thread() as d:
        text = mock_config(
            extra=f"""
[providers.c]
type = "openai"
base_url = "{c.base_url}"
[providers.d]
type = "openai"
base_url = "{d.base_url}"
[[models]]
name = "checked"
strategy = "ordered"
deployments = [{{ provider = "c", model = "chk-c" }}, {{ provider = "d", model = "chk-d" }}]
circuit = {{ failures = 2, cooldown_s = 60 }}
health_check = {{ interval_s = 0.05, timeout_s = 0.5 }}
"""
        )
        c.fail_always(Fault.error(503))
        with GatewayProcess(text, env={"FASTGW_ADMIN_KEY": ADMIN_KEY}) as gw:
            url = gw.base_url + "/admin/deployments"
            auth = {"authorization": f"Bearer {ADMIN_KEY}"}

            def state(deployment: str) -> dict[str, Any]:
                rows = httpx.get(url, headers=auth).json()["data"]
                key = ("checked", deployment)
                return next(r for r in rows if (r["model"], r["deployment"]) == key)

            def until(deployment: str, wanted: str) -> dict[str, Any]:
                deadline = time.monotonic() + 10
                while (row := state(deployment))["state"] != wanted:
                    assert time.monotonic() < deadline, row
                    time.sleep(0.02)  # poll interval, not a wait for the gateway
                return row

            row = until("c", "open")
            assert row["requests"] == 0 and row["failures"] >= 2 and row["circuit_opens"] == 1
            assert {r.headers["x-request-id"] for r in c.requests} == {"health-check"}
            assert until("d", "healthy")["failures"] == 0
            with openai.OpenAI(
                base_url=gw.base_url + "/v1", api_key=DEV_KEY, max_retries=0, timeout=20
            ) as client:
                headers, completion, _ = chat(client, "checked")
                assert attempts(headers) == ["checked/d:200"] and completion.model == "chk-d"
                started = time.monotonic()
                c.fail_always(None)  # c recovers
                until("c", "healthy")
                assert time.monotonic() - started < 5  # the checks, not the 60 s cool-down
                headers, completion, _ = chat(client, "checked")
                assert attempts(headers) == ["checked/c:200"] and completion.model == "chk-c"
            assert state("c")["circuit_opens"] == 1
