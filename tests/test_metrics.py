"""Prometheus metrics: counters, gauges and histograms rendered in the text exposition format."""

from __future__ import annotations

import re

import pytest

from fastgw.metrics import LATENCY_BUCKETS, Counter, Gauge, Histogram, Metrics

# name{labels} value, as the text format allows it (label values are escaped strings)
_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    r'(?:\{(?P<labels>(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\})?'
    r" (?P<value>[-+]?(?:[0-9.]+(?:e[-+]?[0-9]+)?|Inf|NaN))$"
)
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], value)


def parse(text: str) -> tuple[dict[str, tuple[str, str]], list[tuple[str, dict[str, str], float]]]:
    """A strict reader of the text format: HELP and TYPE per family, then samples."""
    families: dict[str, tuple[str, str]] = {}
    samples: list[tuple[str, dict[str, str], float]] = []
    assert text.endswith("\n")
    lines = text[:-1].split("\n")
    for i, line in enumerate(lines):
        if line.startswith("# HELP "):
            name, help_text = line[7:].split(" ", 1)
            assert lines[i + 1] == f"# TYPE {name} {lines[i + 1].rsplit(' ', 1)[1]}"
            families[name] = (help_text, "")
        elif line.startswith("# TYPE "):
            name, kind = line[7:].split(" ")
            assert kind in ("counter", "gauge", "histogram")
            families[name] = (families[name][0], kind)
        else:
            match = _SAMPLE.match(line)
            assert match, f"not a valid sample line: {line!r}"
            labels = {k: _unescape(v) for k, v in _LABEL.findall(match["labels"] or "")}
            samples.append((match["name"], labels, float(match["value"])))
    return families, samples


def test_counter_render() -> None:
    """A counter renders HELP, TYPE counter, and one sample per label set, integers plain."""
    counter = Counter("x_total", "Things.", ("model", "status"))
    counter.inc(("a", "200"))
    counter.inc(("a", "200"), 2)
    counter.inc(("b", "500"), 0.5)
    assert counter.render() == [
        "# HELP x_total Things.",
        "# TYPE x_total counter",
        'x_total{model="a",status="200"} 3',
        'x_total{model="b",status="500"} 0.5',
    ]


def test_label_values_are_escaped() -> None:
    """Backslash, double quote and newline in label values are escaped as the format says."""
    counter = Counter("x_total", "Things.", ("model",))
    counter.inc(('we"ird\\name\nx',))
    line = counter.render()[2]
    assert line == 'x_total{model="we\\"ird\\\\name\\nx"} 1'
    _, samples = parse("\n".join(counter.render()) + "\n")
    assert samples == [("x_total", {"model": 'we"ird\\name\nx'}, 1.0)]


def test_gauge_without_labels() -> None:
    """A gauge renders TYPE gauge and a bare sample line when it has no labels."""
    gauge = Gauge("in_flight", "Now.", ())
    gauge.values[()] = 0
    gauge.inc((), 3)
    gauge.inc((), -1)
    assert gauge.render() == ["# HELP in_flight Now.", "# TYPE in_flight gauge", "in_flight 2"]


def test_histogram_buckets_are_cumulative_with_inf_sum_and_count() -> None:
    """Buckets count observations <= their bound cumulatively, +Inf equals _count, and _sum
    adds the observed values."""
    histogram = Histogram("lat_seconds", "Latency.", ("model",), buckets=(0.1, 0.5, 1.0))
    for value in (0.05, 0.1, 0.3, 0.7, 5.0):
        histogram.observe(("m",), value)
    assert histogram.render() == [
        "# HELP lat_seconds Latency.",
        "# TYPE lat_seconds histogram",
        'lat_seconds_bucket{model="m",le="0.1"} 2',  # 0.1 itself falls in le="0.1"
        'lat_seconds_bucket{model="m",le="0.5"} 3',
        'lat_seconds_bucket{model="m",le="1.0"} 4',
        'lat_seconds_bucket{model="m",le="+Inf"} 5',
        'lat_seconds_sum{model="m"} 6.15',
        'lat_seconds_count{model="m"} 5',
    ]


def test_histogram_series_are_separate_per_label_set() -> None:
    """Each label set has its own buckets, sum and count."""
    histogram = Histogram("h", "H.", ("provider",), buckets=(1.0,))
    histogram.observe(("a",), 0.5)
    histogram.observe(("b",), 2.0)
    histogram.observe(("b",), 3.0)
    _, samples = parse("\n".join(histogram.render()) + "\n")
    by_series = {(name, tuple(sorted(labels.items()))): value for name, labels, value in samples}
    assert by_series[("h_count", (("provider", "a"),))] == 1
    assert by_series[("h_count", (("provider", "b"),))] == 2
    assert by_series[("h_bucket", (("le", "1.0"), ("provider", "b")))] == 0
    assert by_series[("h_bucket", (("le", "+Inf"), ("provider", "b")))] == 2
    assert by_series[("h_sum", (("provider", "b"),))] == 5.0


def test_empty_histogram_renders_only_its_header() -> None:
    """A histogram with no observations renders HELP and TYPE and no samples."""
    assert Histogram("h", "H.", ("m",)).render() == ["# HELP h H.", "# TYPE h histogram"]


def test_latency_buckets_are_sorted_and_positive() -> None:
    """The default buckets increase strictly, as bisect and the format require."""
    assert list(LATENCY_BUCKETS) == sorted(set(LATENCY_BUCKETS))
    assert LATENCY_BUCKETS[0] > 0


def test_gateway_metrics_exposition_is_valid() -> None:
    """Every family fastgw exports has HELP and TYPE, samples parse, the document ends with a
    newline, and histogram buckets never decrease and end at _count."""
    metrics = Metrics()
    metrics.requests.inc(("gpt-4o", "200"))
    metrics.latency.observe(("gpt-4o",), 0.02)
    metrics.latency.observe(("gpt-4o",), 120.0)
    metrics.ttft.observe(("gpt-4o",), 0.01)
    metrics.upstream.observe(("openai",), 0.3)
    metrics.tokens.inc(("gpt-4o", "prompt"), 12)
    families, samples = parse(metrics.render().decode())
    assert families == {
        "fastgw_requests_total": (families["fastgw_requests_total"][0], "counter"),
        "fastgw_request_duration_seconds": (
            families["fastgw_request_duration_seconds"][0],
            "histogram",
        ),
        "fastgw_time_to_first_token_seconds": (
            families["fastgw_time_to_first_token_seconds"][0],
            "histogram",
        ),
        "fastgw_upstream_duration_seconds": (
            families["fastgw_upstream_duration_seconds"][0],
            "histogram",
        ),
        "fastgw_tokens_total": (families["fastgw_tokens_total"][0], "counter"),
        "fastgw_cache_requests_total": (families["fastgw_cache_requests_total"][0], "counter"),
        "fastgw_cache_entries": (families["fastgw_cache_entries"][0], "gauge"),
        "fastgw_cache_bytes": (families["fastgw_cache_bytes"][0], "gauge"),
        "fastgw_in_flight_requests": (families["fastgw_in_flight_requests"][0], "gauge"),
        "fastgw_limit_rejections_total": (
            families["fastgw_limit_rejections_total"][0],
            "counter",
        ),
        "fastgw_state_backend_up": (families["fastgw_state_backend_up"][0], "gauge"),
        "fastgw_state_fallback_total": (families["fastgw_state_fallback_total"][0], "counter"),
    }
    assert all(help_text for help_text, _ in families.values())
    buckets = [
        (labels["le"], value)
        for name, labels, value in samples
        if name == "fastgw_request_duration_seconds_bucket"
    ]
    assert [le for le, _ in buckets] == [repr(b) for b in LATENCY_BUCKETS] + ["+Inf"]
    counts = [value for _, value in buckets]
    assert counts == sorted(counts)
    assert counts[-2:] == [1, 2]  # 120 s is past the last bound: only +Inf has it
    count = next(v for n, _, v in samples if n == "fastgw_request_duration_seconds_count")
    total = next(v for n, _, v in samples if n == "fastgw_request_duration_seconds_sum")
    assert (count, total) == (2, pytest.approx(120.02))
    assert ("fastgw_in_flight_requests", {}, 0.0) in samples
    assert ("fastgw_tokens_total", {"model": "gpt-4o", "kind": "prompt"}, 12.0) in samples
