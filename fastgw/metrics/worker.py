"""What a worker samples into its gauges before each publish and scrape: its in-flight
requests, its exact cache's size, and its view of each deployment (state, breaker, latency).

Kept apart from ``fastgw.metrics`` (which the router and the limiter import) because it reads
the worker's state and the router's health table.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from ..routing.admin import record_metrics
from .shared import directory_from_env

if TYPE_CHECKING:
    from ..app import WorkerState


def start_worker_metrics(state: WorkerState) -> None:
    """Bind the worker's metrics to its state; under ``fastgw serve`` start publishing them
    for the other workers' scrapes. ``state.metrics.close()`` stops it."""
    state.metrics.start(state.loop, partial(sample_worker, state), directory_from_env())


def sample_worker(state: WorkerState) -> None:
    metrics = state.metrics
    metrics.in_flight.values[()] = len(state.drain.in_flight)
    cache = state.cache
    if cache is not None:
        metrics.cache_entries.values[()] = cache.store.entries
        metrics.cache_bytes.values[()] = cache.store.total_bytes
    record_metrics(state.router, metrics)
