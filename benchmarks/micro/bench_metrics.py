"""Micro-benchmark of metrics: what a request pays per update, and what publishing and
scraping the totals of several workers cost.

Run: ``.venv/bin/python benchmarks/micro/bench_metrics.py [--keys K] [--models M]``

Rules this script keeps:
- Each figure is the best of 5 ``timeit`` repeats, in ns or µs per operation, on this
  process (one core); the machine is described on the first line: keep it with the numbers.
- Options for the request path, one metric update each:
  prometheus_client in this process (``labels(...).inc()`` and a bound child), the same in
  its multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set before import: every update writes
  the worker's mmap file; measured in a child process, as the mode is chosen at import), and a
  plain dict add (what ``fastgw.metrics.series`` does).
- fastgw's whole per-request call (``Metrics.observe_request``) for a plain chat (requests,
  latency, tokens, cost), a stream (and TTFT) and a cache hit; and the 7 updates today's
  ``WorkerState.finish`` made before this change, as the baseline.
- Off the request path: one worker's ``publish`` with every series changed and with none,
  and a scrape (``render``: prometheus_client's ``MultiProcessCollector`` and text
  exposition) summing two live workers' files, then those and six dead workers' counters,
  with ``--keys`` keys times ``--models`` models of series each.

Figures (2026-12-04 10:20 UTC, AMD EPYC, 2 CPUs shared with other work: load average 5.6;
Python 3.11.7, prometheus_client 0.26.0; ``--keys 50 --models 4``, best of 15):
  per update: prometheus_client labels().inc() 1.31 µs, child.inc() 0.33 µs, histogram child
  0.81 µs; in its multiprocess mode 2.17 / 1.03 / 2.24 µs; a dict add 0.08 µs.
  per request: observe_request 0.89 µs (chat: requests, latency, two token counts, cost),
  1.09 µs (stream: and TTFT), 1.06 µs (cache hit); the metric lines of ``finish`` before this
  change 0.81 µs (chat with a cache miss: five updates keyed by model and status only).
  A plain chat's updates through prometheus_client (requests, two token counts, cost with
  ``labels(...)``: label values are per request, no child can be bound ahead; latency and
  upstream histograms ~1.7 µs each in-process, ~2.9 µs multiprocess) would cost ~8.6 µs
  in-process and ~14.5 µs in its multiprocess mode.
  off the request path (877 file entries per worker): a publish 0.41 ms when every series
  changed, 0.12 ms when none did (twice a second: under 0.1 % of a core); a scrape of two
  workers 18 ms, with six dead workers' counters too 25 ms (rendered in a thread).

A/B of the whole gateway (``benchmarks/run.py --duration 5 --workers 1,2 --scenarios
plain,cache``, the branch point 53c9dee and this branch, two interleaved rounds each, load
average 6.5-7.5 on the 2 cores: throughput moved 2-3x between identical runs, so only the
worker CPU per request is worth comparing), in µs per request, before -> after:
  w1 chat 137.0, 93.9 -> 95.9, 116.4; w1 cache hit 62.5, 62.4 -> 57.6, 69.2;
  w2 chat 121.0, 115.7 -> 122.9, 128.5; w2 cache hit 69.1, 73.2 -> 65.2, 65.1:
  no difference beyond the spread of identical runs, as the +0.1 µs above predicts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench_core import describe_machine  # this script's folder is on sys.path when run

REPEAT = 15
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def per_op(stmt: str, env: dict[str, Any], number: int = 200_000) -> float:
    """Best of ``REPEAT`` runs of ``stmt``, in ns per run."""
    return min(timeit.repeat(stmt, globals=env, number=number, repeat=REPEAT)) / number * 1e9


def prometheus_client_updates() -> dict[str, float]:
    """One update of prometheus_client's own metrics, in whichever mode this process is."""
    import prometheus_client as pc

    registry = pc.CollectorRegistry()
    counter = pc.Counter("x_total", "X.", ["key", "team", "model", "status"], registry=registry)
    histogram = pc.Histogram("lat_seconds", "L.", ["model"], registry=registry, buckets=BUCKETS)
    env = {
        "counter": counter,
        "child": counter.labels("k1", "t1", "gpt", "200"),
        "hchild": histogram.labels("gpt"),
    }
    return {
        "labels().inc()": per_op("counter.labels('k1', 't1', 'gpt', '200').inc()", env),
        "child.inc()": per_op("child.inc()", env),
        "histogram child.observe()": per_op("hchild.observe(0.012)", env),
    }


def multiprocess_updates() -> dict[str, float]:
    """The same in prometheus_client's multiprocess mode, in a child process (the mode is
    chosen when prometheus_client is imported)."""
    with tempfile.TemporaryDirectory() as directory:
        code = (
            "import sys; sys.path.insert(0, sys.argv[1]); import bench_metrics as b; "
            "import msgspec; print(msgspec.json.encode(b.prometheus_client_updates()).decode())"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, str(Path(__file__).parent)],
            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": directory},
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        ).stdout
    return msgspec.json.decode(out, type=dict[str, float])


def request_path() -> dict[str, float]:
    from collections import defaultdict

    from fastgw.exchange import Exchange
    from fastgw.metrics import Metrics

    metrics = Metrics()

    def exchange(stream: bool, cache: str | None) -> Exchange:
        ex = Exchange("req_1", "POST", "/v1/chat/completions", None)
        ex.key_id, ex.team_id, ex.status, ex.stream = "key-7", "team-2", 200, stream
        ex.prompt_tokens, ex.completion_tokens = 34, 16
        ex.cost_usd = 0.0 if cache == "hit" else 1.47e-05
        ex.ttft = 0.004 if stream else None
        ex.cache = cache
        return ex

    env: dict[str, Any] = {
        "m": metrics,
        "chat": exchange(False, None),
        "stream": exchange(True, None),
        "hit": exchange(False, "hit"),
        "d": defaultdict(float),
    }
    # what WorkerState.finish did before this change: 7 updates keyed by model and status
    env["old"] = metrics
    before = (
        "old.requests.inc(('gpt', str(chat.status)));"
        "old.latency.observe(('gpt',), 0.0021);"
        "old.tokens.inc(('gpt', 'prompt'), chat.prompt_tokens);"
        "old.tokens.inc(('gpt', 'completion'), chat.completion_tokens);"
        "old.cache.inc(('gpt', 'miss'))"
    )
    return {
        "dict add": per_op("d[('k1', 't1', 'gpt', 200)] += 1", env),
        "observe_request, chat": per_op("m.observe_request(chat, 'gpt', 0.0021)", env),
        "observe_request, stream": per_op("m.observe_request(stream, 'gpt', 0.0021)", env),
        "observe_request, cache hit": per_op("m.observe_request(hit, 'gpt', 0.0004)", env),
        "before: finish's metric lines (chat, cache miss)": per_op(before, env),
    }


def fill(keys: int, models: int) -> Any:
    """A worker's metrics with series for ``keys`` keys in 10 teams times ``models`` models."""
    from fastgw.exchange import Exchange
    from fastgw.metrics import Metrics

    metrics = Metrics()
    for k in range(keys):
        for m in range(models):
            ex = Exchange("r", "POST", "/v1/chat/completions", None)
            ex.key_id, ex.team_id, ex.status = f"key-{k}", f"team-{k % 10}", 200
            ex.prompt_tokens, ex.completion_tokens, ex.cost_usd = 34, 16, 1e-5
            metrics.observe_request(ex, f"model-{m}", 0.002)
            metrics.deployment_attempts.observe_total((f"model-{m}", "d"), k)
            metrics.deployment_state.set((f"model-{m}", "d", "healthy"), 1)
    return metrics


def publishing(keys: int, models: int) -> dict[str, float]:
    loop = asyncio.new_event_loop()
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as directory:
        a, b = fill(keys, models), fill(keys, models)
        for w in (a, b):
            w.start(loop, lambda: None, directory)
        out["file entries per worker"] = sum(
            1 for s in (*a.counters, *a.gauges) for _ in s.entries()
        )

        def all_changed() -> None:
            for series in (a.requests, a.tokens, a.cost):
                for labels in series.values:
                    series.values[labels] += 1
            a.publish()

        env = {"all_changed": all_changed, "w": a}
        out["publish, every series changed (µs)"] = per_op("all_changed()", env, 50) / 1000
        out["publish, nothing changed (µs)"] = per_op("w.publish()", env, 50) / 1000
        out["scrape: 2 workers' files (µs)"] = per_op("w.render()", env, 10) / 1000
        dead = [fill(keys, models) for _ in range(6)]
        for w in dead:
            w.start(loop, lambda: None, directory)
            w.close()  # their counters stay in the sum
        out["scrape: 2 workers' and 6 dead ones' files (µs)"] = per_op("w.render()", env, 10) / 1000
        a.close()
        b.close()
    loop.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--models", type=int, default=4)
    args = parser.parse_args()
    print(describe_machine())
    for title, figures in (
        ("prometheus_client, in-process (ns per update)", prometheus_client_updates()),
        ("prometheus_client, multiprocess mode (ns per update)", multiprocess_updates()),
        ("fastgw request path (ns per call)", request_path()),
        (
            f"fastgw publish and scrape ({args.keys} keys x {args.models} models)",
            publishing(args.keys, args.models),
        ),
    ):
        print(f"\n{title}")
        for name, figure in figures.items():
            print(f"  {name:50} {figure:10.1f}")


if __name__ == "__main__":
    main()
