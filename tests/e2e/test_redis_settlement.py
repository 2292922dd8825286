"""Settlements in Redis mode, against a real ``redis-server``: a settlement that cannot be
applied as it is never drops the others of its batch, and no parallel slot is left taken.

Each test admits one request for each of several keys (parallel limit 1, so every key's
counter holds 1), poisons one settlement, settles all of them in one batch (they are queued
in one loop iteration, so one script call carries them) and reads the counters back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from fastgw.config import parse_config
from fastgw.keys import KeyRecord
from fastgw.limits.local import LocalLimiter
from fastgw.limits.periods import Periods
from fastgw.limits.redis_backend import RedisLimiter
from fastgw.limits.ticket import Ticket
from fastgw.metrics import Metrics
from fastgw.testing import RedisServer

pytestmark = pytest.mark.e2e

KEYS = 5
POISONED = 2


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def _limiter(redis: RedisServer) -> RedisLimiter:
    prefix = f"t{time.monotonic_ns()}:"  # each test its own counters
    config = parse_config(
        f'[state]\nbackend = "redis"\nredis_url = "{redis.url}"\nprefix = "{prefix}"\n'
        "timeout_s = 2\n",
        env={},
    )
    metrics = Metrics()
    periods = Periods("UTC")
    local = LocalLimiter(periods, metrics)
    return RedisLimiter(config.state, redis.url, local, periods, metrics)


def _key(i: int) -> KeyRecord:
    return KeyRecord(
        id=f"k{i}", digest=b"", models=None, namespace=f"k{i}", tpm=100_000, parallel=1
    )


def _counter(redis: RedisServer, limiter: RedisLimiter, i: int) -> bytes:
    return redis.command("GET", f"{limiter.prefix}key:k{i}:p")


async def _admit_all(redis: RedisServer, limiter: RedisLimiter) -> list[Ticket]:
    tickets = [await limiter.admit([("key", f"k{i}", _key(i))], 100, 0.0) for i in range(KEYS)]
    assert all(t.backend == "redis" for t in tickets)
    for i in range(KEYS):
        assert _counter(redis, limiter, i) == b"$1\r\n1\r\n"  # one slot taken per key
    return tickets


def _assert_all_slots_free(redis: RedisServer, limiter: RedisLimiter) -> None:
    held = {i: _counter(redis, limiter, i) for i in range(KEYS) if i != POISONED}
    assert held == {i: b"$1\r\n0\r\n" for i in held}, held


async def test_a_wrapped_token_count_does_not_drop_the_batch(redis_server: RedisServer) -> None:
    """A ticket that reserved -2^63 tokens (what a wrapped max_tokens x n admitted) settles
    with the others: its bucket correction is clamped (and the bucket's expiry with it), so
    the script does not fail, and every key's parallel slot is freed, its own included."""
    limiter = _limiter(redis_server)
    tickets = await _admit_all(redis_server, limiter)
    tickets[POISONED].tokens = -(2**63)
    for ticket in tickets:
        limiter.settle(ticket, 120, 0.0)
    await limiter.close()  # waits for the flusher, then sends what is left
    _assert_all_slots_free(redis_server, limiter)
    assert _counter(redis_server, limiter, POISONED) == b"$1\r\n0\r\n"
    ttl = redis_server.command("PTTL", f"{limiter.prefix}key:k{POISONED}:t")
    assert ttl.startswith(b":") and 0 < int(ttl[1:]) <= 10**12 + 60_000


async def test_a_counter_redis_refuses_costs_only_its_own_update(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """One key's parallel counter has become a list (WRONGTYPE for DECRBY): the other keys'
    slots are still freed, and the refusal is logged."""
    limiter = _limiter(redis_server)
    tickets = await _admit_all(redis_server, limiter)
    poisoned = f"{limiter.prefix}key:k{POISONED}:p"
    redis_server.command("DEL", poisoned)
    redis_server.command("RPUSH", poisoned, "not a counter")
    for ticket in tickets:
        limiter.settle(ticket, 120, 0.0)
    await limiter.close()
    _assert_all_slots_free(redis_server, limiter)
    assert "WRONGTYPE" in caplog.text


async def test_a_settlement_the_script_refuses_is_sent_alone(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A settlement whose numbers the script refuses outright (a budget expiry that is not a
    finite number: the script then writes nothing) makes the batch be sent one settlement at
    a time: every other one applies, and the refused one still frees its parallel slot."""
    limiter = _limiter(redis_server)
    tickets = await _admit_all(redis_server, limiter)
    bad = tickets[POISONED]
    bad.budgets = [(f"{limiter.prefix}key:k{POISONED}:s:x", "v", float("inf"))]
    bad.estimated_cost = 0.5
    for ticket in tickets:
        limiter.settle(ticket, 120, 0.0)
    await limiter.close()
    _assert_all_slots_free(redis_server, limiter)
    assert _counter(redis_server, limiter, POISONED) == b"$1\r\n0\r\n"
    assert "each sent alone" in caplog.text
    assert "only its parallel slots are freed" in caplog.text
