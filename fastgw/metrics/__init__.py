"""Prometheus metrics: counted in each worker's memory, summed across the workers of a
server on every scrape of ``GET /metrics``.

- ``series``: counters, gauges and histograms a request updates with a dict add;
- ``shared``: the per-server directory where each worker publishes its values, and the
  collector that sums them (prometheus_client's multiprocess files and collector);
- ``gateway``: every metric fastgw exports and ``Metrics.observe_request``;
- ``worker``: what a worker samples into its gauges (in-flight requests, cache, deployments).
"""

from .gateway import CONTENT_TYPE, MAX_KEY_LABELS, OTHER, PUBLISH_INTERVAL_S, Metrics
from .series import LATENCY_BUCKETS, Counter, Gauge, Histogram, PulledCounter

__all__ = [
    "CONTENT_TYPE",
    "LATENCY_BUCKETS",
    "MAX_KEY_LABELS",
    "OTHER",
    "PUBLISH_INTERVAL_S",
    "Counter",
    "Gauge",
    "Histogram",
    "Metrics",
    "PulledCounter",
]
