"""The exact cache beyond one worker, through real fastgw servers (Granian) on loopback ports:
shared by instances and workers through one real ``redis-server``, warmed from it at a
restart, kept on disk over a graceful restart with the local backend, purged everywhere by
the admin API, and serving locally while Redis is down.

A poll that must not store (so that a hit proves the answer came from elsewhere) sends
``Cache-Control: no-store``: the lookup still happens, the store does not. Waits are polls
with a deadline, never sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from fastgw.keys import hash_key
from fastgw.testing import GatewayProcess, RedisServer
from tests.conftest import DEV_KEY, mock_config
from tests.e2e.test_workers import ADMIN_KEY, _one_connection_per_worker

pytestmark = pytest.mark.e2e

HEADER = "x-fastgw-cache"
TEAM_KEY = "sk-test-team-x-key-0123456789"
WITHIN_S = 1.0
ENV = {"FASTGW_ADMIN_KEY": ADMIN_KEY}
NO_STORE = {"cache-control": "no-store"}
EXTRA = f"""
[[models]]
name = "gpt-cached"
deployments = [{{ provider = "mock", model = "mock-cached" }}]
[models.cache]

[[keys]]
id = "team"
hash = "{hash_key(TEAM_KEY)}"
cache_namespace = "team-x"
"""


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def _config(redis: RedisServer | None, extra: str = "") -> str:
    state = ""
    if redis is not None:
        prefix = f"t{time.monotonic_ns()}:"  # each test its own entries and feed
        state = f'[state]\nbackend = "redis"\nredis_url = "{redis.url}"\nprefix = "{prefix}"\n'
    return mock_config(extra=state + EXTRA + extra)


def ask(
    where: str | httpx.Client,
    text: str,
    *,
    key: str = DEV_KEY,
    headers: dict[str, str] | None = None,
) -> str:
    """The ``x-fastgw-cache`` header of one deterministic chat request (200 asserted)."""
    body = {
        "model": "gpt-cached",
        "temperature": 0,
        "messages": [{"role": "user", "content": text}],
    }
    all_headers = {"authorization": f"Bearer {key}", **(headers or {})}
    if isinstance(where, httpx.Client):
        answer = where.post("/v1/chat/completions", json=body, headers=all_headers)
    else:
        answer = httpx.post(
            where + "/v1/chat/completions", json=body, headers=all_headers, timeout=10
        )
    assert answer.status_code == 200, answer.text
    return answer.headers[HEADER]


def until_hit(where: str | httpx.Client, text: str, within_s: float = WITHIN_S, **kw: str) -> float:
    """Poll (without storing) until ``text`` is a hit there; the seconds it took."""
    start = time.monotonic()
    while ask(where, text, headers=NO_STORE, **kw) != "hit":
        assert time.monotonic() - start < within_s, f"no hit within {within_s}s"
    return time.monotonic() - start


def until_miss(where: str | httpx.Client, text: str, within_s: float = WITHIN_S, **kw: str) -> None:
    start = time.monotonic()
    while ask(where, text, headers=NO_STORE, **kw) != "miss":
        assert time.monotonic() - start < within_s, f"still a hit after {within_s}s"


def purge(gw: GatewayProcess, body: dict[str, object]) -> dict[str, object]:
    answer = httpx.post(
        gw.base_url + "/admin/cache/purge",
        json=body,
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, object] = answer.json()
    return result


def test_an_answer_through_instance_a_is_a_hit_on_instance_b_within_a_second(
    gateway_factory: Callable[..., GatewayProcess], redis_server: RedisServer
) -> None:
    """Two instances on one Redis: A answers (miss) and B serves it as a hit within 1 s."""
    config = _config(redis_server)
    a, b = gateway_factory(config), gateway_factory(config)
    assert ask(b.base_url, "warm-up") == "miss"  # B is up and following the feed
    assert ask(a.base_url, "shared across instances") == "miss"
    assert until_hit(b.base_url, "shared across instances") < WITHIN_S
    assert ask(b.base_url, "only on b") == "miss"
    until_hit(a.base_url, "only on b")


def test_an_answer_on_one_worker_is_a_hit_on_the_other_within_a_second(
    gateway_factory: Callable[..., GatewayProcess], redis_server: RedisServer
) -> None:
    """Two workers of one server: one connection held on each; the answer stored by one
    worker is a hit on the other within 1 s."""
    gw = gateway_factory(_config(redis_server), workers=2, env=ENV)
    with _one_connection_per_worker(gw) as held:
        first, second = held.values()
        assert ask(first, "shared across workers") == "miss"
        assert until_hit(second, "shared across workers") < WITHIN_S
        assert ask(second, "the other way") == "miss"
        until_hit(first, "the other way")


def test_a_restarted_instance_warms_from_redis(
    gateway_factory: Callable[..., GatewayProcess], redis_server: RedisServer
) -> None:
    """An instance started after the answers were stored (the one that stored them gone)
    serves them as hits from its first requests on: it warmed from Redis."""
    config = _config(redis_server)
    first = gateway_factory(config)
    texts = [f"remembered {n}" for n in range(5)]
    for text in texts:
        assert ask(first.base_url, text) == "miss"
    witness = gateway_factory(config)  # proves each store reached Redis before the stop
    for text in texts:
        until_hit(witness.base_url, text)
    first.stop()
    witness.stop()
    second = gateway_factory(config)
    for text in texts:
        until_hit(second.base_url, text)


@pytest.mark.parametrize("workers", [1, 2])
def test_local_backend_keeps_the_cache_over_a_graceful_restart(
    gateway_factory: Callable[..., GatewayProcess], tmp_path: Path, workers: int
) -> None:
    """No Redis: at a graceful stop each worker writes its entries to the SQLite copy, and
    the next start (every worker) serves them as hits at once."""
    storage = f'[storage]\nsqlite_path = "{tmp_path / "fastgw.sqlite3"}"\n'
    config = _config(None, storage)
    first = gateway_factory(config, workers=workers)
    texts = [f"kept on disk {n}" for n in range(4)]
    for text in texts:
        assert ask(first.base_url, text) == "miss"
    assert first.stop() == 0
    assert (tmp_path / "fastgw.cache.sqlite3").exists()
    second = gateway_factory(config, workers=workers)
    for _ in range(workers):  # new connections: any worker
        for text in texts:
            assert ask(second.base_url, text, headers=NO_STORE) == "hit"


def test_purge_by_namespace_or_model_reaches_every_instance(
    gateway_factory: Callable[..., GatewayProcess], redis_server: RedisServer
) -> None:
    """Entries of two namespaces on two instances: a purge of one namespace on A removes it
    from A and B within 1 s and leaves the other; a purge by model removes the rest."""
    config = _config(redis_server)
    a, b = gateway_factory(config, env=ENV), gateway_factory(config, env=ENV)
    assert ask(a.base_url, "purge me", key=TEAM_KEY) == "miss"
    assert ask(a.base_url, "purge me") == "miss"
    until_hit(b.base_url, "purge me", key=TEAM_KEY)
    until_hit(b.base_url, "purge me")
    result = purge(a, {"namespace": "team-x"})
    assert result["purged"] == 1 and result["redis_keys"] == 1
    assert ask(a.base_url, "purge me", key=TEAM_KEY, headers=NO_STORE) == "miss"
    until_miss(b.base_url, "purge me", key=TEAM_KEY)
    assert ask(b.base_url, "purge me", headers=NO_STORE) == "hit"
    purge(b, {"model": "gpt-cached"})
    until_miss(a.base_url, "purge me")
    assert ask(b.base_url, "purge me", headers=NO_STORE) == "miss"


def test_purge_asks_to_name_what_it_removes(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    """An empty purge is refused (400, OpenAI shape); ``{"all": true}`` purges everything."""
    gw = gateway_factory(_config(None), env=ENV)
    assert ask(gw.base_url, "anything") == "miss"
    refused = httpx.post(
        gw.base_url + "/admin/cache/purge",
        content=b"{}",
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
    )
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "namespace"
    assert purge(gw, {"all": True})["purged"] == 1
    assert ask(gw.base_url, "anything", headers=NO_STORE) == "miss"


def test_redis_down_does_not_break_requests(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    """Redis killed: every request is answered, the cache keeps hitting and storing
    locally, the failure is logged and counted; once Redis is back, sharing resumes."""
    with RedisServer() as redis:
        config = _config(redis)
        a, b = gateway_factory(config), gateway_factory(config)
        assert ask(a.base_url, "before the outage") == "miss"
        until_hit(b.base_url, "before the outage")
        redis.stop()
        assert ask(a.base_url, "before the outage") == "hit"
        assert ask(a.base_url, "during the outage") == "miss"
        assert ask(a.base_url, "during the outage") == "hit"
        deadline = time.monotonic() + 10
        while "shared cache: redis" not in a.log():
            assert time.monotonic() < deadline, "the outage was not logged"
            ask(a.base_url, f"outage {time.monotonic()}")  # a store tries Redis
        redis.start()
        deadline = time.monotonic() + 10
        n = 0
        while True:  # a new answer per try until one travels again
            n += 1
            assert ask(a.base_url, f"after the outage {n}") == "miss"
            try:
                until_hit(b.base_url, f"after the outage {n}", within_s=0.5)
                break
            except AssertionError:
                assert time.monotonic() < deadline, "sharing did not resume"
        metrics = httpx.get(a.base_url + "/metrics").text
        assert 'fastgw_cache_share_total{event="failed"}' in metrics


def test_a_purge_with_redis_down_is_a_503_that_names_no_url(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    """Redis stopped: the purge empties this worker, answers 503 ``state_unavailable`` in
    OpenAI's shape, and its message says what failed without the Redis URL."""
    with RedisServer() as redis:
        gw = gateway_factory(_config(redis), env=ENV)
        assert ask(gw.base_url, "purged while redis is down") == "miss"
        redis.stop()
        answer = httpx.post(
            gw.base_url + "/admin/cache/purge",
            json={"model": "gpt-cached"},
            headers={"authorization": f"Bearer {ADMIN_KEY}"},
            timeout=30,
        )
        assert answer.status_code == 503, answer.text
        error = answer.json()["error"]
        assert error["code"] == "state_unavailable"
        assert redis.url not in error["message"] and str(redis.port) not in error["message"]
        assert ask(gw.base_url, "purged while redis is down", headers=NO_STORE) == "miss"
