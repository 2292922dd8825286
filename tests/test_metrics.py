"""Prometheus metrics: in-process series, their text exposition, and the sum of every
worker's published values (``fastgw.metrics.shared``)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.exposition import generate_latest

from fastgw.exchange import Exchange
from fastgw.metrics import (
    LATENCY_BUCKETS,
    OTHER,
    Counter,
    Gauge,
    Histogram,
    Metrics,
    PulledCounter,
    gateway,
)
from fastgw.metrics.shared import SharedCollector
from tests.promtext import parse, total, value


class _One:
    """A collector of the given series (as ``Metrics`` collects its own)."""

    def __init__(self, *series: Counter | Gauge | Histogram) -> None:
        self.series = series

    def collect(self) -> list[object]:
        return [s.family() for s in self.series]


def render(*series: Counter | Gauge | Histogram) -> str:
    return generate_latest(_One(*series)).decode()  # type: ignore[arg-type]


def finished(
    key: str | None = "k1",
    team: str | None = "t1",
    status: int = 200,
    prompt: int | None = 10,
    completion: int | None = 5,
    cost: float | None = 0.25,
    cache: str | None = None,
    ttft: float | None = None,
) -> Exchange:
    """An exchange as ``WorkerState.finish`` sees it."""
    ex = Exchange("req_1", "POST", "/v1/chat/completions", None)
    ex.key_id, ex.team_id, ex.status = key, team, status
    ex.prompt_tokens, ex.completion_tokens, ex.cost_usd = prompt, completion, cost
    ex.cache, ex.ttft, ex.stream = cache, ttft, ttft is not None
    return ex


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def worker(directory: Path, loop: asyncio.AbstractEventLoop) -> Metrics:
    """A worker's metrics publishing into ``directory`` (its timer never fires: the loop is
    not run; every publish here is a scrape's or ``close``'s)."""
    metrics = Metrics()
    metrics.start(loop, lambda: None, str(directory))
    return metrics


# -- series and their exposition ----------------------------------------------------------


def test_counter_family_has_help_type_and_a_sample_per_label_set() -> None:
    """A counter renders HELP, TYPE counter and one ``_total`` sample per label set; int
    label values (statuses) render as text."""
    counter = Counter("x_total", "Things.", ("model", "status"))
    counter.inc(("a", 200))
    counter.inc(("a", 200), 2)
    counter.inc(("b", 500), 0.5)
    families, samples = parse(render(counter))
    assert families == {"x_total": ("Things.", "counter")}
    assert samples == [
        ("x_total", {"model": "a", "status": "200"}, 3.0),
        ("x_total", {"model": "b", "status": "500"}, 0.5),
    ]


def test_a_counter_name_must_end_with_total() -> None:
    """Prometheus's naming convention is enforced where a counter is declared."""
    with pytest.raises(ValueError, match="_total"):
        Counter("x", "X.", ())


def test_label_values_are_escaped() -> None:
    """Backslash, double quote and newline in label values are escaped as the format says."""
    counter = Counter("x_total", "Things.", ("model",))
    counter.inc(('we"ird\\name\nx',))
    assert 'x_total{model="we\\"ird\\\\name\\nx"} 1.0' in render(counter)
    assert parse(render(counter))[1] == [("x_total", {"model": 'we"ird\\name\nx'}, 1.0)]


def test_gauge_without_labels() -> None:
    """A gauge renders TYPE gauge and a bare sample line when it has no labels."""
    gauge = Gauge("in_flight", "Now.", ())
    gauge.set((), 0)
    gauge.inc((), 3)
    gauge.inc((), -1)
    assert render(gauge).splitlines() == [
        "# HELP in_flight Now.",
        "# TYPE in_flight gauge",
        "in_flight 2.0",
    ]
    with pytest.raises(ValueError, match="mode"):
        Gauge("g", "G.", (), mode="all")  # a dead worker's value would stay in the sum


def test_histogram_buckets_are_cumulative_with_inf_sum_and_count() -> None:
    """Buckets count observations <= their bound cumulatively, +Inf equals _count, and _sum
    adds the observed values."""
    histogram = Histogram("lat_seconds", "Latency.", ("model",), buckets=(0.1, 0.5, 1.0))
    for observed in (0.05, 0.1, 0.3, 0.7, 5.0):
        histogram.observe(("m",), observed)
    text = render(histogram)
    buckets = [(ls["le"], v) for n, ls, v in parse(text)[1] if n == "lat_seconds_bucket"]
    assert buckets == [("0.1", 2), ("0.5", 3), ("1.0", 4), ("+Inf", 5)]  # 0.1 is in le=0.1
    assert value(text, "lat_seconds_count", model="m") == 5
    assert value(text, "lat_seconds_sum", model="m") == pytest.approx(6.15)


def test_histogram_series_are_separate_per_label_set() -> None:
    """Each label set has its own buckets, sum and count; an empty histogram renders only its
    HELP and TYPE."""
    histogram = Histogram("h", "H.", ("provider",), buckets=(1.0,))
    assert render(histogram) == "# HELP h H.\n# TYPE h histogram\n"
    histogram.observe(("a",), 0.5)
    histogram.observe(("b",), 2.0)
    histogram.observe(("b",), 3.0)
    text = render(histogram)
    assert value(text, "h_count", provider="a") == 1
    assert value(text, "h_count", provider="b") == 2
    assert value(text, "h_bucket", provider="b", le="1.0") == 0
    assert value(text, "h_bucket", provider="b", le="+Inf") == 2
    assert value(text, "h_sum", provider="b") == 5.0


def test_latency_buckets_are_sorted_and_positive() -> None:
    """The default buckets increase strictly, as bisect and the format require."""
    assert list(LATENCY_BUCKETS) == sorted(set(LATENCY_BUCKETS))
    assert LATENCY_BUCKETS[0] > 0
    with pytest.raises(ValueError, match="increase"):
        Histogram("h", "H.", (), buckets=(1.0, 0.5))


def test_pulled_counter_stays_monotonic_when_its_source_starts_again() -> None:
    """A pulled total that drops (a deployment rebuilt by a reload) is a reset: what the new
    source counts is added to what was counted, never subtracted."""
    counter = PulledCounter("attempts_total", "A.", ("d",))
    seen = []
    for source in (0, 3, 5, 5, 1, 4):  # reset after 5
        counter.observe_total(("a",), source)
        seen.append(counter.values[("a",)])
    assert seen == [0, 3, 5, 5, 6, 9]


# -- what fastgw exports ------------------------------------------------------------------


def test_observe_request_counts_requests_tokens_cost_cache_and_latency() -> None:
    """One finished request adds to requests (key, team, model, status), tokens (prompt and
    completion), cost in USD, the cache outcome and the latency and TTFT histograms."""
    metrics = Metrics()
    metrics.observe_request(finished(cache="miss", ttft=0.05), "gpt", 0.2)
    metrics.observe_request(finished(cost=0.0, cache="hit"), "gpt", 0.001)
    metrics.observe_request(finished(key=None, team=None, status=401, prompt=None), "", 0.0)
    text = metrics.render().decode()
    who = {"key": "k1", "team": "t1", "model": "gpt"}
    assert value(text, "fastgw_requests_total", **who, status="200") == 2
    assert value(text, "fastgw_requests_total", key="", team="", model="", status="401") == 1
    assert value(text, "fastgw_tokens_total", **who, kind="prompt") == 20
    assert value(text, "fastgw_tokens_total", **who, kind="completion") == 10
    assert value(text, "fastgw_cost_usd_total", **who) == 0.25  # a hit costs nothing
    assert value(text, "fastgw_cache_requests_total", model="gpt", outcome="hit") == 1
    assert value(text, "fastgw_cache_requests_total", model="gpt", outcome="miss") == 1
    assert value(text, "fastgw_request_duration_seconds_count", model="gpt") == 2
    assert value(text, "fastgw_time_to_first_token_seconds_count", model="gpt") == 1
    assert value(text, "fastgw_request_duration_seconds_count", model="") == 1


def test_refusals_are_counted_by_scope_and_kind() -> None:
    """The limiter's reasons become the kinds operators know: rpm, tpm, parallel, budget."""
    metrics = Metrics()
    for scope, reason in (
        ("key", "requests"),
        ("team", "tokens"),
        ("key", "parallel"),
        ("model", "budget"),
        ("key", "requests"),
    ):
        metrics.refused(scope, reason)
    text = metrics.render().decode()
    refusals = "fastgw_limit_rejections_total"
    assert value(text, refusals, scope="key", kind="rpm") == 2
    assert value(text, refusals, scope="team", kind="tpm") == 1
    assert value(text, refusals, scope="key", kind="parallel") == 1
    assert value(text, refusals, scope="model", kind="budget") == 1


def test_key_and_team_labels_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``MAX_KEY_LABELS`` distinct key ids (admin API keys are created at run time),
    further keys are counted under ``OTHER``; the first ones keep their label."""
    monkeypatch.setattr(gateway, "MAX_KEY_LABELS", 2)
    metrics = Metrics()
    for key in ("a", "b", "c", "d", "a"):
        metrics.observe_request(finished(key=key, team=key), "m", 0.01)
    text = metrics.render().decode()
    by_key = {ls["key"]: v for n, ls, v in parse(text)[1] if n == "fastgw_requests_total"}
    assert by_key == {"a": 2, "b": 1, OTHER: 2}
    assert value(text, "fastgw_cost_usd_total", key=OTHER, team=OTHER, model="m") == 0.5


def test_every_family_has_help_and_a_type_and_follows_the_naming_conventions() -> None:
    """Every family fastgw exports has HELP and TYPE and the ``fastgw_`` prefix; counters end
    with ``_total``, histograms are durations in ``_seconds`` or ratios (``_ratio``); histogram
    buckets never decrease and end at ``_count``."""
    metrics = Metrics()
    metrics.observe_request(finished(ttft=0.01), "gpt", 0.02)
    metrics.observe_request(finished(), "gpt", 120.0)
    metrics.upstream.observe(("openai",), 0.3)
    families, samples = parse(metrics.render().decode())
    assert len(families) == 24
    for name, (help_text, kind) in families.items():
        assert help_text and name.startswith("fastgw_")
        assert name.endswith("_total") == (kind == "counter"), name
        assert kind != "histogram" or name.endswith(("_seconds", "_ratio"))
    counts = [v for n, ls, v in samples if n == "fastgw_request_duration_seconds_bucket"]
    assert counts == sorted(counts) and counts[-2:] == [1, 2]  # 120 s: only +Inf has it
    assert ("fastgw_in_flight_requests", {}, 0.0) in samples


# -- across workers -----------------------------------------------------------------------


def test_every_scrape_shows_the_sum_of_every_worker(
    tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    """Two workers publishing into one directory: a scrape on either shows both workers'
    counters, histograms and live gauges summed, whichever answers."""
    a, b = worker(tmp_path, loop), worker(tmp_path, loop)
    for _ in range(3):
        a.observe_request(finished(), "gpt", 0.01)
    b.observe_request(finished(), "gpt", 0.2)
    b.observe_request(finished(status=429, prompt=None, completion=None, cost=None), "gpt", 0)
    a.in_flight.set((), 2)
    b.in_flight.set((), 1)
    a.publish()  # the workers' timers
    b.publish()
    for scrape in (a.render(), b.render()):
        text = scrape.decode()
        who = {"key": "k1", "team": "t1", "model": "gpt"}
        assert value(text, "fastgw_requests_total", **who, status="200") == 4
        assert value(text, "fastgw_requests_total", **who, status="429") == 1
        assert value(text, "fastgw_tokens_total", **who, kind="prompt") == 40
        assert value(text, "fastgw_cost_usd_total", **who) == 1.0
        assert value(text, "fastgw_request_duration_seconds_count", model="gpt") == 5
        assert value(text, "fastgw_request_duration_seconds_bucket", model="gpt", le="0.01") == 4
        assert value(text, "fastgw_request_duration_seconds_sum", model="gpt") == pytest.approx(
            0.23
        )
    # gauges are sampled on render: only the answering worker's value is fresh
    assert total(b.render().decode(), "fastgw_in_flight_requests") == 3
    a.close()
    b.close()


def test_scrapes_never_decrease_whichever_worker_answers(
    tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    """A worker publishes before it answers, so a scrape on the other worker afterwards sees
    at least as much, even when the first worker's timer has not fired since."""
    a, b = worker(tmp_path, loop), worker(tmp_path, loop)
    seen = []
    for i in range(12):
        (a if i % 3 else b).observe_request(finished(), "gpt", 0.01)
        text = (a if i % 2 else b).render().decode()
        seen.append(total(text, "fastgw_requests_total"))
    assert seen == sorted(seen) and seen[-1] == 12
    a.close()
    b.close()


def test_a_dead_workers_counters_stay_and_its_live_gauges_go(
    tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    """A worker that died (killed: it never closed) leaves its counters in the sum, so they
    stay monotonic when a replacement starts from zero; its in-flight gauge and deployment
    state leave the sum, and its live gauge files are deleted."""
    code = textwrap.dedent(
        f"""
        import asyncio, os
        from fastgw.exchange import Exchange
        from fastgw.metrics import Metrics
        m = Metrics()
        m.start(asyncio.new_event_loop(), lambda: None, {str(tmp_path)!r})
        ex = Exchange("r", "POST", "/v1/chat/completions", None)
        ex.key_id, ex.status = "k1", 200
        for _ in range(7):
            m.observe_request(ex, "gpt", 0.01)
        m.in_flight.set((), 5)
        m.publish()
        os._exit(0)  # no close: as kill -9
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert any(p.name.startswith("gauge_livesum_") for p in tmp_path.iterdir())
    replacement = worker(tmp_path, loop)
    replacement.observe_request(finished(key="k1", team=None), "gpt", 0.01)
    replacement.in_flight.set((), 1)
    text = replacement.render().decode()
    requests = value(text, "fastgw_requests_total", key="k1", team="", model="gpt", status="200")
    assert requests == 8
    assert value(text, "fastgw_in_flight_requests") == 1  # the replacement's own render
    live = [p for p in tmp_path.iterdir() if p.name.startswith("gauge_live")]
    assert all(f"_{os.getpid()}-" in p.name for p in live)
    replacement.close()


def test_a_closed_worker_publishes_its_last_values_and_leaves_the_gauges(
    tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    """``close`` (the worker stops) publishes what was counted since the last publish and
    deletes its live gauges: the sum keeps its counters only."""
    a, b = worker(tmp_path, loop), worker(tmp_path, loop)
    a.observe_request(finished(), "gpt", 0.01)
    a.deployment_state.set(("gpt", "d1", "healthy"), 1)
    a.close()
    text = b.render().decode()
    assert total(text, "fastgw_requests_total") == 1
    assert (
        value(text, "fastgw_deployment_state", model="gpt", deployment="d1", state="healthy")
        is None
    )
    b.close()


def test_a_gauge_series_that_is_no_longer_sampled_leaves_the_sum(
    tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    """A deployment a reload removed is sampled no more: the worker's gauge file is replaced
    by one without it (counters keep every series)."""
    a, b = worker(tmp_path, loop), worker(tmp_path, loop)
    a.deployment_state.set(("gpt", "old", "open"), 1)
    a.deployment_state.set(("gpt", "kept", "healthy"), 1)
    a.publish()
    text = b.render().decode()
    assert value(text, "fastgw_deployment_state", model="gpt", deployment="old", state="open") == 1
    a.deployment_state.values.clear()
    a.deployment_state.set(("gpt", "kept", "healthy"), 1)
    a.publish()
    text = b.render().decode()
    assert (
        value(text, "fastgw_deployment_state", model="gpt", deployment="old", state="open") is None
    )
    kept = value(text, "fastgw_deployment_state", model="gpt", deployment="kept", state="healthy")
    assert kept == 1
    assert not [p for p in tmp_path.iterdir() if not p.name.endswith(".db")]
    a.close()
    b.close()


def test_the_shared_collector_reads_prometheus_clients_own_files(tmp_path: Path) -> None:
    """The files are prometheus_client's multiprocess format: values its own multiprocess
    metrics wrote (another program, or a future fastgw using them) are summed with ours."""
    code = textwrap.dedent(
        f"""
        import os
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = {str(tmp_path)!r}
        from prometheus_client import Counter
        c = Counter("fastgw_requests", "R.", ["key", "team", "model", "status"])
        c.labels("k1", "t1", "gpt", "200").inc(5)
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    loop = asyncio.new_event_loop()
    try:
        ours = worker(tmp_path, loop)
        ours.observe_request(finished(), "gpt", 0.01)
        text = ours.render().decode()
        requests = "fastgw_requests_total"
        assert value(text, requests, key="k1", team="t1", model="gpt", status="200") == 6
        ours.close()
    finally:
        loop.close()
    assert SharedCollector(str(tmp_path)).collect()
