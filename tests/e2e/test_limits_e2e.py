"""Rate limits, budgets and the Redis backend end to end: real fastgw processes (Granian),
a real ``redis-server``, the official ``openai`` SDK (``max_retries=0``).

Buckets hold one minute's allowance and refill continuously, so a 60 rpm key admits 60 at
once and then one a second: every count below allows for the refill during the elapsed
time instead of waiting a minute.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import msgspec
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from fastgw.keys import hash_key
from fastgw.testing import GatewayProcess, RedisServer
from fastgw.tokens import estimate_messages
from fastgw.wire import Message
from tests.conftest import DEV_KEY, mock_config

pytestmark = pytest.mark.e2e

KEY = "sk-test-limits-key-0123456789"
PROMPT = [{"role": "user", "content": "Say something deterministic."}]
HEADERS = ("limit", "remaining", "reset")
MOCK_TOKENS = 8
# the gateway's estimate of PROMPT, which the mock upstream also reports as its prompt tokens
PROMPT_TOKENS = estimate_messages([Message(**m) for m in PROMPT])


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def _config(key_limits: str, *, redis: RedisServer | None = None, extra: str = "") -> str:
    state = ""
    if redis is not None:
        state = f'[state]\nbackend = "redis"\nredis_url = "{redis.url}"\n'
        state += f'prefix = "t{time.monotonic_ns()}:"\n'  # each test its own counters
    return mock_config(
        extra=f'{state}{extra}\n[[keys]]\nid = "lim"\nhash = "{hash_key(KEY)}"\n{key_limits}\n'
    )


async def _hammer(urls: list[str], n: int, **create: Any) -> tuple[list[Any], float]:
    """``n`` concurrent chat requests spread over ``urls``: each answer's raw response or
    the SDK exception, and the seconds it took."""
    clients = [AsyncOpenAI(base_url=u + "/v1", api_key=KEY, max_retries=0) for u in urls]

    async def one(i: int) -> Any:
        client = clients[i % len(clients)]
        try:
            return await client.chat.completions.with_raw_response.create(
                model="gpt-test",
                messages=PROMPT,
                max_tokens=MOCK_TOKENS,
                **create,  # type: ignore[arg-type]
            )
        except openai.APIStatusError as exc:
            return exc

    start = time.monotonic()
    results = await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.monotonic() - start
    for client in clients:
        await client.close()
    return list(results), elapsed


def _check_rate_limit_answers(results: list[Any], rpm: int) -> int:
    """Every 200 and 429 carries OpenAI's rate-limit headers; every 429 is an OpenAI-shaped
    ``requests`` / ``rate_limit_exceeded`` error with Retry-After. Returns the 200s."""
    ok = 0
    for r in results:
        if isinstance(r, openai.RateLimitError):
            assert (r.status_code, r.type, r.code) == (429, "requests", "rate_limit_exceeded")
            assert set(r.body) == {"message", "type", "param", "code"}  # type: ignore[arg-type]
            headers = r.response.headers
            assert int(headers["retry-after"]) >= 1
            assert headers["x-ratelimit-limit-requests"] == str(rpm)
            assert headers["x-ratelimit-remaining-requests"] == "0"
        else:
            assert not isinstance(r, Exception), r
            assert r.http_response.status_code == 200
            headers = r.http_response.headers
            ok += 1
        for what in HEADERS:
            assert f"x-ratelimit-{what}-requests" in headers
    return ok


@pytest.mark.parametrize("workers", [1, 2])
def test_60_rpm_key_hammered_by_200_requests(
    gateway_factory: Callable[..., GatewayProcess], redis_server: RedisServer, workers: int
) -> None:
    """60 accepted (plus one a second of refill), the rest 429, through one worker (local
    limits) and two workers (Redis)."""
    redis = redis_server if workers > 1 else None
    gw = gateway_factory(_config("rpm = 60", redis=redis), workers=workers)
    results, elapsed = asyncio.run(_hammer([gw.base_url], 200))
    ok = _check_rate_limit_answers(results, 60)
    assert 60 <= ok <= 60 + int(elapsed) + 1, (ok, elapsed)


def test_two_instances_on_one_redis_hold_one_limit(
    gateway_factory: Callable[..., GatewayProcess], redis_server: RedisServer
) -> None:
    """Two fastgw instances sharing one Redis admit one combined limit, within 5%."""
    config = _config("rpm = 100", redis=redis_server)
    a, b = gateway_factory(config), gateway_factory(config)
    results, elapsed = asyncio.run(_hammer([a.base_url, b.base_url], 300))
    ok = _check_rate_limit_answers(results, 100)
    refill = elapsed * 100 / 60
    assert 100 <= ok <= (100 + refill) * 1.05, (ok, elapsed)


@pytest.mark.parametrize("backend", ["local", "redis"])
def test_tokens_settle_to_reported_usage_streams_included(
    gateway_factory: Callable[..., GatewayProcess], redis_server: RedisServer, backend: str
) -> None:
    """A request reserves prompt + max_tokens and settles to the upstream's usage: the next
    request sees exactly the used tokens gone (less a little refill), for plain and streamed
    answers alike: the gateway asks for a stream's usage when its client did not (and that
    client sees none)."""
    tpm = 6000  # 100 tokens a second of refill
    redis = redis_server if backend == "redis" else None
    gw = gateway_factory(_config(f"tpm = {tpm}", redis=redis))
    with OpenAI(base_url=gw.base_url + "/v1", api_key=KEY, max_retries=0) as sdk:
        used = 0
        start = time.monotonic()
        for stream, include_usage in ((False, False), (True, True), (True, True), (True, False)):
            kwargs: dict[str, Any] = {"model": "gpt-test", "messages": PROMPT, "max_tokens": 500}
            if stream:
                kwargs |= {"stream": True, "stream_options": {"include_usage": include_usage}}
            raw = sdk.chat.completions.with_raw_response.create(**kwargs)
            remaining = int(raw.http_response.headers["x-ratelimit-remaining-tokens"])
            if stream:
                usages = [c.usage for c in raw.parse() if c.usage is not None]
                usage = usages[0] if usages else None
            else:
                usage = raw.parse().usage
            prompt = PROMPT_TOKENS
            expected = tpm - used - (prompt + 500)
            refill = (time.monotonic() - start) * tpm / 60 + 2
            assert expected <= remaining <= expected + refill, (remaining, expected)
            if include_usage or not stream:
                assert usage is not None and usage.completion_tokens == MOCK_TOKENS
                assert usage.prompt_tokens == prompt
            else:
                assert usage is None
            used += prompt + MOCK_TOKENS
        raw = sdk.chat.completions.with_raw_response.create(
            model="gpt-test",
            messages=PROMPT,
            max_tokens=500,  # type: ignore[arg-type]
        )
        remaining = int(raw.http_response.headers["x-ratelimit-remaining-tokens"])
        expected = tpm - used - (PROMPT_TOKENS + 500)
        assert expected <= remaining <= expected + (time.monotonic() - start) * tpm / 60 + 2


def _price_toml(per_request: float) -> str:
    # the mock answers with 8 completion tokens: price them so that one request costs
    # ``per_request`` USD (prompt tokens free)
    return f"[prices.mock-gpt]\ninput = 0.0\noutput = {per_request / MOCK_TOKENS * 1e6}\n"


@pytest.mark.parametrize("backend", ["local", "redis"])
def test_budget_stops_spend_within_one_request_under_concurrency(
    gateway_factory: Callable[..., GatewayProcess], redis_server: RedisServer, backend: str
) -> None:
    """A $0.01 daily budget at $0.001 a request, 40 requests at once and then more: spend
    stops within one request of the budget and the refusal says which budget and when."""
    redis = redis_server if backend == "redis" else None
    gw = gateway_factory(
        _config("budget_day_usd = 0.01", redis=redis, extra=_price_toml(0.001)),
        workers=2 if redis else 1,
    )
    results, _ = asyncio.run(_hammer([gw.base_url], 40))
    ok = sum(not isinstance(r, Exception) for r in results)
    refused = [r for r in results if isinstance(r, Exception)]
    for _ in range(5):  # later requests, one at a time, are refused too
        more, _ = asyncio.run(_hammer([gw.base_url], 1))
        ok += sum(not isinstance(r, Exception) for r in more)
        refused += [r for r in more if isinstance(r, Exception)]
    assert 10 <= ok <= 11, ok
    for exc in refused:
        assert isinstance(exc, openai.RateLimitError)
        assert (exc.type, exc.code) == ("insufficient_quota", "insufficient_quota")
        assert "daily budget of key 'lim'" in exc.message
        assert "resets at" in exc.message and "UTC" in exc.message


def _metric(gw: GatewayProcess, name: str) -> float | None:
    with urllib.request.urlopen(gw.base_url + "/metrics", timeout=2) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


@pytest.mark.parametrize("policy", ["fail_open", "fail_closed"])
def test_redis_outage_follows_the_policy_and_recovers(
    gateway_factory: Callable[..., GatewayProcess], policy: str
) -> None:
    """Redis killed mid-run: fail_open serves under local limits (gauge 0, fallbacks
    counted), fail_closed answers 503 state_unavailable; once Redis is back, fastgw uses it
    again by itself and the shared limit holds."""
    with RedisServer() as redis:
        extra = f'on_redis_down = "{policy}"\n'
        config = _config("rpm = 5", redis=redis).replace("[state]\n", f"[state]\n{extra}", 1)
        gw = gateway_factory(config)
        with OpenAI(base_url=gw.base_url + "/v1", api_key=KEY, max_retries=0) as sdk:

            def ask() -> Any:
                return sdk.chat.completions.create(
                    model="gpt-test",
                    messages=PROMPT,  # type: ignore[arg-type]
                )

            ask()
            assert _metric(gw, "fastgw_state_backend_up") == 1
            redis.stop()
            if policy == "fail_open":
                for _ in range(3):
                    ask()
                assert (_metric(gw, "fastgw_state_fallback_total") or 0) >= 3
            else:
                for _ in range(3):
                    with pytest.raises(openai.InternalServerError) as failed:
                        ask()
                    assert failed.value.status_code == 503
                    assert failed.value.code == "state_unavailable"
            assert _metric(gw, "fastgw_state_backend_up") == 0
            assert "unreachable" in gw.log()
            redis.start()  # empty: a new server
            deadline = time.monotonic() + 10
            while _metric(gw, "fastgw_state_backend_up") != 1:  # noticed by its own probes
                assert time.monotonic() < deadline, "fastgw did not reconnect to redis"
                time.sleep(0.02)  # poll interval of the metric, not a wait for a server
            for _ in range(5):
                ask()
            with pytest.raises(openai.RateLimitError):
                ask()
            assert b"lim:r" in redis.command("KEYS", "*")
        assert "hunter" not in gw.log()


def _stream_text(base_url: str, key: str) -> tuple[list[bytes], str]:
    """A streamed chat answer read raw (``include_usage``): its SSE data lines, ``[DONE]``
    included, and the content they carry."""
    body = {
        "model": "gpt-test",
        "messages": PROMPT,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    lines: list[bytes] = []
    with httpx.stream(
        "POST",
        base_url + "/v1/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {key}"},
        timeout=10,
    ) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data: "):
                lines.append(line.encode()[6:])
    content = "".join(
        (choice["delta"].get("content") or "")
        for data in lines
        if data != b"[DONE]"
        for choice in msgspec.json.decode(data)["choices"]
    )
    return lines, content


@pytest.mark.parametrize("backend", ["local", "redis"])
def test_stream_crossing_the_budget_finishes_and_the_next_is_refused(
    gateway_factory: Callable[..., GatewayProcess], redis_server: RedisServer, backend: str
) -> None:
    """A stream admitted under a $0.01 budget (it reserves one completion token, $0.002)
    that costs $0.016 crosses the budget mid-way: it finishes with all its content and
    [DONE]; the next request is refused with insufficient_quota naming the budget and its
    reset, on every worker."""
    redis = redis_server if backend == "redis" else None
    extra = _price_toml(0.016) + "[limits]\ndefault_completion_tokens = 1\n"
    config = _config("budget_day_usd = 0.01", redis=redis, extra=extra)
    config = config.replace("chunk_delay_ms = 0", "chunk_delay_ms = 5", 1)  # a real stream
    gw = gateway_factory(config, workers=2 if redis else 1)
    _, expected = _stream_text(gw.base_url, DEV_KEY)  # the same answer, for an unlimited key
    lines, content = _stream_text(gw.base_url, KEY)
    assert lines[-1] == b"[DONE]"
    assert content == expected and content
    usage = msgspec.json.decode(lines[-2])["usage"]
    assert usage["completion_tokens"] == MOCK_TOKENS
    with OpenAI(base_url=gw.base_url + "/v1", api_key=KEY, max_retries=0) as sdk:
        for _ in range(4):  # on either worker
            with pytest.raises(openai.RateLimitError) as refused:
                sdk.chat.completions.create(model="gpt-test", messages=PROMPT)  # type: ignore[arg-type]
            exc = refused.value
            assert (exc.type, exc.code) == ("insufficient_quota", "insufficient_quota")
            assert "daily budget of key 'lim'" in exc.message
            assert "$0.0160 spent" in exc.message
            assert "resets at" in exc.message and "UTC" in exc.message
            assert int(exc.response.headers["retry-after"]) >= 1
