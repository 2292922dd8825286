"""The bounds on what one client connection may hold, in process: the body deadline
(``fastgw.bodies``), a key's parallel limit on its head (``fastgw.limits.pending``), the
``[server]`` keys that configure them and the open-file limit ``fastgw serve`` raises.
(``tests/adversarial/test_connections.py`` drives the same against a real server.)"""

from __future__ import annotations

import asyncio
import math
import resource
import time
from typing import Any

import pytest

from fastgw import Gateway, parse_config
from fastgw.bodies import BODY_TIMEOUT, BodyDeadlines
from fastgw.config import (
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_HEADER_TIMEOUT_S,
    DEFAULT_MAX_CONNECTIONS,
    ConfigError,
)
from fastgw.errors import RateLimited, RequestTimeout
from fastgw.exchange import Exchange
from fastgw.keys import KeyRecord, hash_key
from fastgw.limits.pending import PendingKeys
from fastgw.metrics import Metrics
from fastgw.server import raise_fd_limit
from fastgw.testing.rsgi import RSGIClient
from tests.conftest import mock_config

PAR_KEY = "sk-test-parallel-key-0123456789"
PAR = {"authorization": f"Bearer {PAR_KEY}"}
CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "Say hello"}]}


# -- config -------------------------------------------------------------------------------------


def test_server_bounds_have_named_defaults() -> None:
    """Left out, the keys take the named defaults."""
    server = parse_config("", "t.toml", {}).server
    assert server.header_timeout_s == DEFAULT_HEADER_TIMEOUT_S
    assert server.body_timeout_s == DEFAULT_BODY_TIMEOUT_S
    assert server.max_connections == DEFAULT_MAX_CONNECTIONS


@pytest.mark.parametrize(
    "line, error",
    [
        ("header_timeout_s = 0", "server.header_timeout_s: 0.0 is out of range"),
        ("header_timeout_s = nan", "server.header_timeout_s: nan is not a finite number"),
        ("body_timeout_s = inf", "server.body_timeout_s: inf is not a finite number"),
        ("body_timeout_s = 3601", "server.body_timeout_s: 3601.0 is out of range"),
        ("max_connections = 0", "server.max_connections: 0 is out of range"),
        ("max_connections = 9223372036854775807", "server.max_connections: 9223372036854775807"),
    ],
)
def test_server_bounds_are_range_checked(line: str, error: str) -> None:
    """Out-of-range timeouts and caps are refused at start, with the key and the range."""
    with pytest.raises(ConfigError) as caught:
        parse_config(f"[server]\n{line}\n", "t.toml", {})
    assert len(caught.value.errors) == 1
    assert caught.value.errors[0].startswith(error)


def test_fd_limit_is_raised_towards_what_max_connections_needs() -> None:
    """``raise_fd_limit`` lifts the soft limit up to the hard one, never lowers it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        lower = min(soft, 256)
        resource.setrlimit(resource.RLIMIT_NOFILE, (lower, hard))
        assert raise_fd_limit(lower + 100) == lower + 100
        assert raise_fd_limit(10) == lower + 100  # never lowered
        if hard != resource.RLIM_INFINITY:
            assert raise_fd_limit(hard + 1) == hard  # capped, with a warning
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# -- the body deadline --------------------------------------------------------------------------


def _exchange(task: Any, started_ago_s: float) -> Exchange:
    ex = Exchange("req_test", "POST", "/v1/chat/completions", task)
    ex.start = time.perf_counter() - started_ago_s
    return ex


def test_sweep_cuts_only_overdue_bodies_and_names_the_cause() -> None:
    """A request past its body deadline is cancelled and marked; a younger one, or one
    already being cancelled for another reason (client gone), is left alone; the marked one
    turns into a 408 and its cancellation is withdrawn."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        deadlines = BodyDeadlines(loop, 0.5)
        try:
            forever = [loop.create_task(asyncio.sleep(3600)) for _ in range(3)]
            overdue, young, leaving = forever
            leaving.cancel()
            reading = deadlines.reading
            reading[overdue] = ex_overdue = _exchange(overdue, 1.0)
            reading[young] = ex_young = _exchange(young, 0.0)
            reading[leaving] = ex_leaving = _exchange(leaving, 1.0)
            deadlines._sweep()
            assert overdue.cancelling() == 1 and ex_overdue.error == BODY_TIMEOUT
            assert young.cancelling() == 0 and ex_young.error is None
            assert ex_leaving.error is None and deadlines.timed_out(ex_leaving) is None
            timeout = deadlines.timed_out(ex_overdue)
            assert isinstance(timeout, RequestTimeout) and timeout.status == 408
            assert overdue.cancelling() == 0  # uncancelled: the 408 can still be sent
            for task in forever:
                task.cancel()
            await asyncio.gather(*forever, return_exceptions=True)
        finally:
            deadlines.close()

    asyncio.run(scenario())


def test_sweep_interval_follows_the_timeout() -> None:
    """A sweep runs ten times per timeout, at least once a second."""

    async def scenario() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        short, long = BodyDeadlines(loop, 0.5), BodyDeadlines(loop, 30.0)
        short.close()
        long.close()
        return short.interval_s, long.interval_s

    short, long = asyncio.run(scenario())
    assert math.isclose(short, 0.05) and long == 1.0


# -- a key's parallel limit on its head ---------------------------------------------------------


def _key(parallel: int) -> KeyRecord:
    return KeyRecord(id="k", digest=b"", models=None, namespace="key:k", parallel=parallel)


def test_pending_refuses_past_the_limit_and_gives_back() -> None:
    """The request past ``parallel`` is refused (429, counted as a parallel rejection);
    every ``leave`` frees one place and a key with none in progress keeps no entry."""
    metrics = Metrics()
    pending = PendingKeys(metrics)
    key = _key(2)
    exchanges = [_exchange(None, 0.0) for _ in range(3)]
    pending.enter(key, 2, exchanges[0])
    pending.enter(key, 2, exchanges[1])
    with pytest.raises(RateLimited) as caught:
        pending.enter(key, 2, exchanges[2])
    assert caught.value.status == 429 and caught.value.type == "requests"
    assert exchanges[2].pending_key is None  # refused: nothing to give back
    assert metrics.rejections.values[("key", "parallel")] == 1
    pending.leave("k")
    pending.enter(key, 2, exchanges[2])
    pending.leave("k")
    pending.leave("k")
    assert pending.counts == {}


def test_pending_count_returns_to_zero_on_every_path() -> None:
    """Requests of a parallel-limited key that succeed, stream, fail (400, 404, 413) or are
    disconnected mid-stream all give their place back: the count ends empty."""
    extra = f'[[keys]]\nid = "par"\nhash = "{hash_key(PAR_KEY)}"\nparallel = 2\n'
    config = parse_config(mock_config(extra=extra, chunk_delay_ms=5), "mock.toml", {})
    with RSGIClient(Gateway(config)) as client:
        state = client.app.pipelines
        assert state is not None and state.limiter is not None
        counts = state.limiter.pending.counts
        assert client.post("/v1/chat/completions", json=CHAT, headers=PAR).status == 200
        stream = client.post("/v1/chat/completions", json={**CHAT, "stream": True}, headers=PAR)
        assert stream.status == 200
        assert client.post("/v1/chat/completions", body=b"{x", headers=PAR).status == 400
        missing = {**CHAT, "model": "gpt-nope"}
        assert client.post("/v1/chat/completions", json=missing, headers=PAR).status == 404
        big = {**PAR, "content-length": str(10**9)}
        assert client.post("/v1/chat/completions", body=b"{}", headers=big).status == 413

        async def dropped() -> None:
            flight = client.start(
                "POST",
                "/v1/chat/completions",
                json={**CHAT, "stream": True},
                headers=PAR,
                drop_after_chunks=1,
            )
            await flight

        client.run(dropped())
        assert counts == {}
