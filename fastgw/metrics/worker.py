"""What a worker samples into its gauges before each publish and scrape: its in-flight
requests, its exact cache's size, and its view of each deployment (state, breaker, latency).

Kept apart from ``fastgw.metrics`` (which the router and the limiter import) because it reads
the worker's state and the router's health table. What lives as long as the process (the
metrics, the loop, the drain's in-flight table) and what one config built (the cache, the
router: swapped by a reload) are passed apart: ``current`` gives the newest of the latter at
each sample.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from ..routing.admin import record_metrics
from .shared import directory_from_env

if TYPE_CHECKING:
    from ..cache.exact import ResponseCache
    from ..drain import Drain
    from ..routing import Router
    from ..semantic.service import Driver
    from .gateway import Metrics


class Process(Protocol):
    """What the sampler reads of the worker's process-lifetime state."""

    @property
    def metrics(self) -> Metrics: ...
    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...
    @property
    def drain(self) -> Drain: ...
    @property
    def semantic(self) -> Driver | None: ...


class Built(Protocol):
    """What the sampler reads of the current config's parts."""

    @property
    def cache(self) -> ResponseCache | None: ...
    @property
    def router(self) -> Router: ...


def start_worker_metrics(process: Process, current: Callable[[], Built]) -> None:
    """Bind the worker's metrics to its state; under ``fastgw serve`` start publishing them
    for the other workers' scrapes. ``process.metrics.close()`` stops it."""
    metrics = process.metrics
    metrics.start(process.loop, lambda: sample_worker(process, current()), directory_from_env())


def sample_worker(process: Process, built: Built) -> None:
    metrics = process.metrics
    metrics.in_flight.values[()] = len(process.drain.in_flight)
    cache = built.cache
    if cache is not None:
        metrics.cache_entries.values[()] = cache.store.entries
        metrics.cache_bytes.values[()] = cache.store.total_bytes
    semantic = process.semantic
    if semantic is not None:
        metrics.semantic_entries.values[()] = semantic.entries()
    record_metrics(built.router, metrics)
