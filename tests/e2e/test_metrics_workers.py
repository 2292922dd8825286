"""``/metrics`` of a real ``fastgw serve`` with two workers shows the whole server's totals,
whichever worker answers the scrape, and its counters never go down; driven with the official
``openai`` SDK over several connections."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from openai import OpenAI
from prometheus_client.mmap_dict import MmapedDict

from fastgw.keys import hash_key
from fastgw.metrics.shared import base_directory
from fastgw.testing import GatewayProcess
from tests.conftest import DEV_KEY, mock_config
from tests.promtext import parse, total, value

pytestmark = pytest.mark.e2e

TEAM_KEY = "sk-test-team-key-0123456789"
PRICES = (1.0, 2.0)  # USD per million prompt and completion tokens of mock-gpt
EXTRA = f"""
[prices.mock-gpt]
input = {PRICES[0]}
output = {PRICES[1]}

[[teams]]
id = "research"

[[keys]]
id = "alice"
hash = "{hash_key(TEAM_KEY)}"
team = "research"
"""
CLIENTS = 6  # connections (one SDK client, one connection each), requests spread over them
PER_CLIENT = 10
N = CLIENTS * PER_CLIENT
LOOKUP_S = 10.0  # bound on every wait for a publish (each worker publishes every 0.5 s)


def _scrape(gw: GatewayProcess) -> str:
    """One scrape on a new connection (so the scrapes spread over the workers)."""
    response = httpx.get(gw.base_url + "/metrics", headers={"connection": "close"}, timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


def _chats(gw: GatewayProcess, api_key: str, count: int) -> list[Any]:
    client = OpenAI(base_url=gw.base_url + "/v1", api_key=api_key, max_retries=0, timeout=10)
    try:
        return [
            client.chat.completions.create(
                model="gpt-test", messages=[{"role": "user", "content": f"hello {i}"}]
            )
            for i in range(count)
        ]
    finally:
        client.close()


def _worker_pids(server_pid: int) -> set[int]:
    """The server's child processes (its Granian workers), from /proc."""
    children: set[int] = set()
    for task in Path(f"/proc/{server_pid}/task").iterdir():
        text = (task / "children").read_text().split()
        children.update(int(pid) for pid in text)
    return children


def _per_worker_requests(pids: set[int]) -> dict[int, dict[tuple[str, str], float]]:
    """Each worker's own published ``fastgw_requests_total`` (model, status) -> value, read
    from its counter file in the server's metrics directory."""
    found: dict[int, dict[tuple[str, str], float]] = {}
    for directory in Path(base_directory()).glob("fastgw-metrics-*"):
        for path in directory.glob("counter_*.db"):
            pid = int(path.name.split("_", 1)[1].split("-", 1)[0])
            if pid not in pids:
                continue
            counts = found.setdefault(pid, {})
            for key, count, _, _ in MmapedDict.read_all_values_from_file(str(path)):
                _, name, labels, _ = msgspec.json.decode(key)
                if name == "fastgw_requests_total":
                    where = (labels["model"], labels["status"])
                    counts[where] = counts.get(where, 0.0) + count
    return found


def test_every_scrape_shows_the_total_of_both_workers(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    """N chat requests over several connections; once published, every scrape (on new
    connections, landing on both workers) shows exactly N requests, their
    tokens, their cost and N upstream attempts, and both workers see the deployment healthy;
    every counter of every scrape, taken during the load and after, is at least what the scrape
    before it showed."""
    gw = gateway_factory(mock_config(extra=EXTRA), workers=2)
    scrapes: list[str] = []
    done = threading.Event()

    def scrape_during_load() -> None:
        while not done.is_set() and len(scrapes) < 500:
            scrapes.append(_scrape(gw))

    watcher = threading.Thread(target=scrape_during_load)
    watcher.start()
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            keys = [DEV_KEY if i % 2 else TEAM_KEY for i in range(CLIENTS)]
            answers = [
                a
                for f in [pool.submit(_chats, gw, k, PER_CLIENT) for k in keys]
                for a in f.result()
            ]
    finally:
        done.set()
        watcher.join(timeout=30)
    assert len(answers) == N
    prompt = sum(a.usage.prompt_tokens for a in answers)
    completion = sum(a.usage.completion_tokens for a in answers)

    deadline = time.monotonic() + LOOKUP_S
    while total(_scrape(gw), "fastgw_requests_total", model="gpt-test") < N:
        assert time.monotonic() < deadline, "the workers' counts never added up to N"

    pids = _worker_pids(gw.process.pid)
    assert len(pids) == 2
    for _ in range(20):
        text = _scrape(gw)
        scrapes.append(text)
        assert total(text, "fastgw_requests_total", model="gpt-test") == N
        assert total(text, "fastgw_requests_total", model="gpt-test", status="200") == N
        half = {"model": "gpt-test", "status": "200"}
        assert value(text, "fastgw_requests_total", key="dev", team="", **half) == N / 2
        alice = {"key": "alice", "team": "research", "model": "gpt-test"}
        assert value(text, "fastgw_requests_total", **alice, status="200") == N / 2
        assert total(text, "fastgw_tokens_total", model="gpt-test", kind="prompt") == prompt
        assert total(text, "fastgw_tokens_total", kind="completion") == completion
        cost = (prompt * PRICES[0] + completion * PRICES[1]) / 1e6
        assert total(text, "fastgw_cost_usd_total", model="gpt-test") == pytest.approx(cost)
        assert value(text, "fastgw_request_duration_seconds_count", model="gpt-test") == N
        assert (
            value(text, "fastgw_deployment_attempts_total", model="gpt-test", deployment="mock")
            == N
        )
        healthy = {"model": "gpt-test", "deployment": "mock", "state": "healthy"}
        assert value(text, "fastgw_deployment_state", **healthy) == 2  # both workers see it
        assert value(text, "fastgw_in_flight_requests") >= 1  # the scrape itself

    # each worker answered some scrapes, and the chats add up to N over the two: a worker's
    # scrape showed the other's chats (which worker accepts a connection is the kernel's
    # choice; under load one may take every chat, and then the other's scrapes prove it)
    deadline = time.monotonic() + LOOKUP_S
    while True:
        shares = _per_worker_requests(pids)
        chats = [s.get(("gpt-test", "200"), 0) for s in shares.values()]
        scraped = [s.get(("", "200"), 0) for s in shares.values()]
        if sum(chats) == N and len(shares) == 2 and all(scraped):
            break
        assert time.monotonic() < deadline, f"not both workers served: {shares}"

    _assert_never_decreasing(scrapes)


def _assert_never_decreasing(scrapes: list[str]) -> None:
    """Every counter and histogram sample of each scrape is >= the one before it."""
    assert len(scrapes) > 20
    last: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for text in scrapes:
        families, samples = parse(text)
        for name, labels, seen in samples:
            family = name.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum")
            if families.get(family, families.get(name, ("", "")))[1] == "gauge":
                continue
            where = (name, tuple(sorted(labels.items())))
            assert seen >= last.get(where, 0.0), f"{where} went from {last[where]} to {seen}"
            last[where] = seen


def test_the_metrics_directory_is_removed_when_the_server_stops(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    """``fastgw serve`` makes its workers' directory and removes it when it stops."""
    before = set(Path(base_directory()).glob("fastgw-metrics-*"))
    gw = gateway_factory(mock_config(), workers=2)
    pids = _worker_pids(gw.process.pid)
    _scrape(gw)
    ours = [
        d
        for d in set(Path(base_directory()).glob("fastgw-metrics-*")) - before
        if any(f"_{pid}-" in p.name for p in d.iterdir() for pid in pids)
    ]
    assert len(ours) == 1
    assert gw.stop() == 0
    assert not ours[0].exists()
    assert os.path.isdir(base_directory())


def test_a_killed_worker_leaves_its_counts_in_the_totals(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    """After ``kill -9`` of a worker and its replacement, every scrape still shows every
    request counted before (the dead worker's published counts stay), the live gauges count
    the two live workers only, and new requests add to the totals."""
    gw = gateway_factory(mock_config(), workers=2)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: _chats(gw, DEV_KEY, 5), range(4)))
    deadline = time.monotonic() + LOOKUP_S
    while total(_scrape(gw), "fastgw_requests_total", model="gpt-test") < 20:
        assert time.monotonic() < deadline, "the workers' counts never added up"
    before = _worker_pids(gw.process.pid)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:  # Granian replaces the worker
        now = _worker_pids(gw.process.pid)
        if len(now) == 2 and victim not in now:
            break
        assert time.monotonic() < deadline, f"no replacement for worker {victim}: {now}"
        time.sleep(0.05)  # poll interval while the replacement starts
    healthy = {"model": "gpt-test", "deployment": "mock", "state": "healthy"}
    deadline = time.monotonic() + LOOKUP_S
    while True:  # until the replacement has published its first values
        text = _scrape(gw)
        assert total(text, "fastgw_requests_total", model="gpt-test") == 20
        if value(text, "fastgw_deployment_state", **healthy) == 2:
            break
        assert time.monotonic() < deadline, "the live gauges never counted two workers"
    _chats(gw, DEV_KEY, 10)
    deadline = time.monotonic() + LOOKUP_S
    while total(_scrape(gw), "fastgw_requests_total", model="gpt-test") < 30:
        assert time.monotonic() < deadline, "new requests never added to the totals"
    for _ in range(10):
        text = _scrape(gw)
        assert total(text, "fastgw_requests_total", model="gpt-test") == 30
        assert value(text, "fastgw_deployment_state", **healthy) == 2
