"""The semantic tier beyond one worker, through real fastgw servers and the official ``openai``
SDK: an answer stored through one instance (or worker) is a semantic hit on another within
a second over one real ``redis-server``; with the local backend the tier's entries survive a
graceful restart on disk; an admin purge removes them.

Polls send ``Cache-Control: no-store``, so a hit proves the entry came from elsewhere;
waits are polls with a deadline, never sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import openai
import pytest

from fastgw.testing import GatewayProcess, RedisServer
from tests.conftest import DEV_KEY
from tests.e2e.test_cache_shared_e2e import _config as cache_config
from tests.e2e.test_workers import ADMIN_KEY, _one_connection_per_worker

pytest.importorskip("sentence_transformers")
pytestmark = pytest.mark.e2e

HEADER = "x-fastgw-cache"
WITHIN_S = 1.0
LOAD_S = 120.0  # the tier's models load in the background after start
ENV = {"FASTGW_ADMIN_KEY": ADMIN_KEY}
NO_STORE = {"cache-control": "no-store"}
EXTRA = """
[[models]]
name = "gpt-sem"
deployments = [{ provider = "mock", model = "mock-sem" }]
[models.semantic_cache]
"""


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def _config(redis: RedisServer | None, extra: str = "") -> str:
    """The exact-cache tests' config (its own Redis prefix per test) with ``gpt-sem``."""
    return cache_config(redis, EXTRA + extra)


def ask(where: str | httpx.Client, text: str, store: bool = True) -> str | None:
    """The cache header of one deterministic question, asked with the openai SDK (over the
    given connection when ``where`` is a client held on one worker)."""
    held = isinstance(where, httpx.Client)
    base = str(where.base_url) if isinstance(where, httpx.Client) else where
    sdk = openai.OpenAI(
        base_url=base.rstrip("/") + "/v1",
        api_key=DEV_KEY,
        max_retries=0,
        timeout=30,
        http_client=where if isinstance(where, httpx.Client) else None,
    )
    try:
        raw = sdk.chat.completions.with_raw_response.create(
            model="gpt-sem",
            temperature=0,
            messages=[{"role": "user", "content": text}],
            extra_headers=None if store else NO_STORE,
        )
    finally:
        if not held:  # a held connection stays open for the next question
            sdk.close()
    header: str | None = raw.headers.get(HEADER)
    return header


def loaded(where: str | httpx.Client) -> None:
    """Poll until that worker's tier answers lookups (a cache header appears)."""
    deadline = time.monotonic() + LOAD_S
    while ask(where, "Is the semantic tier of this worker loaded?", store=False) is None:
        assert time.monotonic() < deadline, "the semantic tier did not load"
        time.sleep(0.2)  # polling the worker's state, with a deadline


def until(where: str | httpx.Client, text: str, outcome: str, within_s: float = WITHIN_S) -> float:
    start = time.monotonic()
    while ask(where, text, store=False) != outcome:
        assert time.monotonic() - start < within_s, f"not {outcome} within {within_s}s"
    return time.monotonic() - start


def test_an_answer_through_instance_a_is_a_semantic_hit_on_instance_b(
    gateway_factory: Callable[..., GatewayProcess], redis_server: RedisServer
) -> None:
    config = _config(redis_server)
    a, b = gateway_factory(config), gateway_factory(config)
    loaded(a.base_url)
    loaded(b.base_url)
    assert ask(a.base_url, "How do I sharpen a kitchen knife?") == "miss"
    assert until(b.base_url, "How can I sharpen a kitchen knife?", "semantic-hit") < WITHIN_S
    assert ask(b.base_url, "How do I sharpen a pocket knife with a stone?") == "miss"
    until(a.base_url, "How can I sharpen a pocket knife with a stone?", "semantic-hit")


def test_an_answer_on_one_worker_is_a_semantic_hit_on_the_other(
    gateway_factory: Callable[..., GatewayProcess], redis_server: RedisServer
) -> None:
    gw = gateway_factory(_config(redis_server), workers=2, env=ENV)
    with _one_connection_per_worker(gw) as held:
        first, second = held.values()
        loaded(first)
        loaded(second)
        assert ask(first, "How do I defrost a freezer quickly?") == "miss"
        assert until(second, "How can I defrost a freezer quickly?", "semantic-hit") < WITHIN_S


def test_local_backend_keeps_the_tier_over_a_graceful_restart(
    gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    storage = f'[storage]\nsqlite_path = "{tmp_path / "fastgw.sqlite3"}"\n'
    config = _config(None, storage)
    first = gateway_factory(config)
    loaded(first.base_url)
    assert ask(first.base_url, "How do I patch a bicycle tube?") == "miss"
    until(first.base_url, "How can I patch a bicycle tube?", "semantic-hit")  # it was stored
    assert first.stop() == 0
    second = gateway_factory(config)
    loaded(second.base_url)
    until(second.base_url, "How can I patch a bicycle tube?", "semantic-hit", within_s=10)


def test_an_admin_purge_by_model_removes_the_tiers_entries(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    gw = gateway_factory(_config(None), env=ENV)
    loaded(gw.base_url)
    assert ask(gw.base_url, "How do I descale a kettle with vinegar?") == "miss"
    until(gw.base_url, "How can I descale a kettle with vinegar?", "semantic-hit")
    answer = httpx.post(
        gw.base_url + "/admin/cache/purge",
        json={"model": "gpt-sem"},
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    until(gw.base_url, "How can I descale a kettle with vinegar?", "miss")
