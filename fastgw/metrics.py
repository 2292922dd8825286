"""Prometheus metrics kept in plain dicts and rendered as text on ``GET /metrics``.

Counters and histograms are keyed by a tuple of label values; an observation is a dict look-up
and a ``bisect``. Values are per worker process (each worker answers ``/metrics`` with its own);
sharing across workers comes with the limits work.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


class Counter:
    def __init__(self, name: str, help: str, labels: tuple[str, ...]) -> None:
        self.name, self.help, self.labels = name, help, labels
        self.values: defaultdict[tuple[str, ...], float] = defaultdict(float)

    def inc(self, labels: tuple[str, ...], amount: float = 1.0) -> None:
        self.values[labels] += amount

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        out.extend(
            f"{self.name}{_labels(self.labels, k)} {_num(v)}" for k, v in self.values.items()
        )
        return out


class Gauge(Counter):
    def render(self) -> list[str]:
        lines = super().render()
        lines[1] = f"# TYPE {self.name} gauge"
        return lines


class Histogram:
    def __init__(
        self,
        name: str,
        help: str,
        labels: tuple[str, ...],
        buckets: tuple[float, ...] = LATENCY_BUCKETS,
    ) -> None:
        self.name, self.help, self.labels, self.buckets = name, help, labels, buckets
        self.series: dict[tuple[str, ...], list[float]] = {}

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        series = self.series.get(labels)
        if series is None:  # one count per bucket, then +Inf, sum
            series = self.series[labels] = [0.0] * (len(self.buckets) + 2)
        series[bisect_left(self.buckets, value)] += 1
        series[-1] += value

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for key, series in self.series.items():
            running = 0.0
            for bound, count in zip((*self.buckets, float("inf")), series, strict=False):
                running += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                out.append(
                    f"{self.name}_bucket{_labels((*self.labels, 'le'), (*key, le))} {_num(running)}"
                )
            out.append(f"{self.name}_sum{_labels(self.labels, key)} {series[-1]!r}")
            out.append(f"{self.name}_count{_labels(self.labels, key)} {_num(running)}")
        return out


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    if not names:
        return ""
    pairs = ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True))
    return "{" + pairs + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


class Metrics:
    """Every metric fastgw exports."""

    def __init__(self) -> None:
        self.requests = Counter(
            "fastgw_requests_total",
            "Requests answered, by model and HTTP status.",
            ("model", "status"),
        )
        self.latency = Histogram(
            "fastgw_request_duration_seconds",
            "Time from request to the last response byte.",
            ("model",),
        )
        self.ttft = Histogram(
            "fastgw_time_to_first_token_seconds",
            "Time from request to the first streamed chunk.",
            ("model",),
        )
        self.upstream = Histogram(
            "fastgw_upstream_duration_seconds",
            "Time from sending upstream to its response head.",
            ("provider",),
        )
        self.tokens = Counter(
            "fastgw_tokens_total",
            "Tokens reported by upstreams, by model and kind.",
            ("model", "kind"),
        )
        self.cache = Counter(
            "fastgw_cache_requests_total",
            "Exact-cache outcomes (hit, miss, bypass) by model.",
            ("model", "outcome"),
        )
        self.cache_entries = Gauge("fastgw_cache_entries", "Entries in the exact cache.", ())
        self.cache_bytes = Gauge("fastgw_cache_bytes", "Bytes of answers in the exact cache.", ())
        self.in_flight = Gauge("fastgw_in_flight_requests", "Requests being answered now.", ())
        self.in_flight.values[()] = 0
        self.rejections = Counter(
            "fastgw_limit_rejections_total",
            "Requests refused by a limit, by scope (key, team, model, state) and type "
            "(requests, tokens, parallel, budget, unavailable).",
            ("scope", "type"),
        )
        self.state_up = Gauge(
            "fastgw_state_backend_up", "1 while the shared limit state (Redis) answers.", ()
        )
        self.fallbacks = Counter(
            "fastgw_state_fallback_total",
            "Admissions decided by per-instance local limits while Redis was down.",
            (),
        )

    def render(self) -> bytes:
        lines: list[str] = []
        for metric in (
            self.requests,
            self.latency,
            self.ttft,
            self.upstream,
            self.tokens,
            self.cache,
            self.cache_entries,
            self.cache_bytes,
            self.in_flight,
            self.rejections,
            self.state_up,
            self.fallbacks,
        ):
            lines.extend(metric.render())
        return ("\n".join(lines) + "\n").encode()
