"""In-process metric series: what a request updates is a dict entry in its own worker.

Rules this module keeps:
- An update is a dict add keyed by a tuple of label values (~0.1 µs): no lock (one event loop
  per worker), no file, no system call. Whoever passes the labels bounds them
  (``fastgw.metrics.gateway``); values may be ``str`` or ``int`` and become text on export.
- A series is exported two ways, both prometheus_client's own: as metric families for the
  text exposition (``family``: one process answers for itself), and as the entries of
  prometheus_client's multiprocess files (``entries``: ``fastgw.metrics.shared`` writes them
  and ``MultiProcessCollector`` sums every worker's), named and keyed exactly as
  prometheus_client's own multiprocess metrics are.
- Counters only grow. A ``PulledCounter`` copies a total kept elsewhere (a deployment's
  attempts) and stays monotonic when that total starts again from zero (a new object after a
  reload), as Prometheus's own reset handling would.
- Gauges are snapshots: whoever samples them sets every value, and a value not set again is
  gone from the next export. Each gauge names how workers' values combine (``mode``: one of
  prometheus_client's ``live*`` multiprocess modes; a dead worker's values leave the sum).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.mmap_dict import mmap_key
from prometheus_client.utils import floatToGoString

Labels = tuple[str | int, ...]

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

#: How the workers' values of a gauge combine (prometheus_client's multiprocess modes).
GAUGE_MODES = frozenset(("livesum", "livemin", "livemax"))


def _text(values: Labels) -> list[str]:
    return [v if isinstance(v, str) else str(v) for v in values]


def _family(family: Any, values: Mapping[Labels, float]) -> Metric:
    """``family`` (a prometheus_client metric family) with one sample per label set."""
    for labels, value in values.items():
        family.add_metric(_text(labels), value)
    return family  # type: ignore[no-any-return]


def _entries(
    metric: str,
    name: str,
    labels: tuple[str, ...],
    help: str,
    values: Mapping[Labels, float],
    keys: dict[Labels, str],
) -> Iterator[tuple[str, float]]:
    """``(multiprocess file key, value)`` per label set; keys are built once per label set."""
    for label_values, value in values.items():
        key = keys.get(label_values)
        if key is None:
            key = keys[label_values] = mmap_key(
                metric, name, list(labels), _text(label_values), help
            )
        yield key, value


class Counter:
    """A counter per label set; ``name`` ends with ``_total`` (Prometheus's convention)."""

    __slots__ = ("_keys", "help", "labels", "name", "values")
    prefix = "counter"  # its multiprocess file's name starts so

    def __init__(self, name: str, help: str, labels: tuple[str, ...]) -> None:
        if not name.endswith("_total"):
            raise ValueError(f"a counter's name ends with _total: {name}")
        self.name, self.help, self.labels = name, help, labels
        self.values: defaultdict[Labels, float] = defaultdict(float)
        self._keys: dict[Labels, str] = {}  # mmap keys, built once per label set

    def inc(self, labels: Labels, amount: float = 1.0) -> None:
        self.values[labels] += amount

    def family(self) -> Metric:
        return _family(CounterMetricFamily(self.name, self.help, labels=self.labels), self.values)

    def entries(self) -> Iterator[tuple[str, float]]:
        # as prometheus_client's Counter: the file's metric name is the name without _total
        return _entries(self.name[:-6], self.name, self.labels, self.help, self.values, self._keys)


class PulledCounter(Counter):
    """A counter that copies totals kept elsewhere (``observe_total``), monotonic across
    their resets."""

    __slots__ = ("_seen",)

    def __init__(self, name: str, help: str, labels: tuple[str, ...]) -> None:
        super().__init__(name, help, labels)
        self._seen: dict[Labels, float] = {}

    def observe_total(self, labels: Labels, total: float) -> None:
        """The source's total for ``labels`` is now ``total``: add what it grew by, or all
        of it when it is below the last total seen (the source started again)."""
        seen = self._seen.get(labels, 0.0)
        grown = total - seen if total >= seen else total
        if grown or labels not in self.values:
            self.values[labels] += grown
        self._seen[labels] = total


class Gauge:
    """A gauge per label set, set by whoever samples it (``values[labels] = v``)."""

    __slots__ = ("_keys", "help", "labels", "mode", "name", "prefix", "values")

    def __init__(
        self, name: str, help: str, labels: tuple[str, ...], mode: str = "livesum"
    ) -> None:
        if mode not in GAUGE_MODES:
            raise ValueError(f"unknown gauge mode {mode!r}")
        self.name, self.help, self.labels, self.mode = name, help, labels, mode
        self.prefix = f"gauge_{mode}"
        self.values: dict[Labels, float] = {}
        self._keys: dict[Labels, str] = {}

    def set(self, labels: Labels, value: float) -> None:
        self.values[labels] = value

    def inc(self, labels: Labels, amount: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + amount

    def family(self) -> Metric:
        return _family(GaugeMetricFamily(self.name, self.help, labels=self.labels), self.values)

    def entries(self) -> Iterator[tuple[str, float]]:
        return _entries(self.name, self.name, self.labels, self.help, self.values, self._keys)


class Histogram:
    """Observations per label set: one count per bucket (then +Inf) and their sum."""

    __slots__ = ("_keys", "bounds", "buckets", "help", "labels", "name", "series")
    prefix = "histogram"

    def __init__(
        self,
        name: str,
        help: str,
        labels: tuple[str, ...],
        buckets: tuple[float, ...] = LATENCY_BUCKETS,
    ) -> None:
        if list(buckets) != sorted(set(buckets)):
            raise ValueError("histogram buckets increase strictly")
        self.name, self.help, self.labels, self.buckets = name, help, labels, buckets
        self.bounds = [floatToGoString(b) for b in (*buckets, float("inf"))]  # the le values
        self.series: dict[Labels, list[float]] = {}
        self._keys: dict[Labels, list[str]] = {}

    def observe(self, labels: Labels, value: float) -> None:
        series = self.series.get(labels)
        if series is None:  # one count per bucket, then +Inf, then the sum
            series = self.series[labels] = [0.0] * (len(self.buckets) + 2)
        series[bisect_left(self.buckets, value)] += 1
        series[-1] += value

    def family(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.help, labels=self.labels)
        for labels, series in self.series.items():
            running, cumulative = 0.0, []
            for le, count in zip(self.bounds, series, strict=False):
                running += count
                cumulative.append((le, running))
            family.add_metric(_text(labels), cumulative, series[-1])
        return family

    def entries(self) -> Iterator[tuple[str, float]]:
        """Per label set: each bucket's own count (not cumulative: the collector sums them
        across workers, then accumulates), then the sum."""
        keys = self._keys
        for labels, series in self.series.items():
            names = keys.get(labels)
            if names is None:
                names = keys[labels] = self._names(labels)
            yield from zip(names, series, strict=True)

    def _names(self, labels: Labels) -> list[str]:
        values, name = _text(labels), self.name
        with_le = [*self.labels, "le"]
        names = [
            mmap_key(name, f"{name}_bucket", with_le, [*values, le], self.help)
            for le in self.bounds
        ]
        names.append(mmap_key(name, f"{name}_sum", list(self.labels), values, self.help))
        return names
