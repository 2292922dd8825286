"""Every metric fastgw exports, and the one call that records a finished request.

Rules this module keeps:
- ``Metrics.observe_request(ex, model, elapsed)`` is the request path's only metrics call
  (one per request, at its finish; ~1 µs, see below); limits add their refusals
  with ``refused``, routing its upstream timings with ``upstream.observe``. Everything else
  (in-flight requests, cache size, deployment health) is sampled when values are published
  or scraped (``start``'s sampler), at no cost per request.
- Label values come only from configured or stored names: key ids and team ids of
  authenticated keys (the TOML's, or the admin API's, which an admin creates), model names
  the caller has checked against the config (else ``""``), provider and deployment names,
  statuses the gateway answered, and fixed words. A client cannot mint a series. Key and
  team ids are further bounded per worker: the first ``MAX_KEY_LABELS`` key ids (and team
  ids) seen get their own label value, later ones are counted as ``OTHER``.
- With one worker the values are rendered from memory. Under ``fastgw serve`` (a
  ``FASTGW_METRICS_DIR``), every worker publishes its values every ``PUBLISH_INTERVAL_S``
  and before it answers a scrape, and a scrape shows every worker's sum
  (``fastgw.metrics.shared``).

Cost, measured by ``benchmarks/micro/bench_metrics.py`` (figures and machine in its header):
an update of prometheus_client's own metrics costs 0.33 µs (a bound child) to 1.3 µs
(``labels(...).inc()``) in-process and 1.0-2.2 µs in its multiprocess mode (an mmap write
each), so a plain chat's six updates would cost ~8.6 µs, or ~14.5 µs across workers, a
fifth of the ~60-80 µs a worker spends on a proxied request. Here ``observe_request``
costs 0.9-1.1 µs (0.8 µs for the fewer series before), a publish 0.1-0.4 ms twice a
second, and a scrape ~18 ms for two workers of ~900 series each, in a thread (``scrape``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from .series import Counter, Gauge, Histogram, PulledCounter
from .shared import SharedCollector, WorkerFiles

if TYPE_CHECKING:
    from ..exchange import Exchange

#: How often a worker publishes its values for the others' scrapes (and samples its gauges).
PUBLISH_INTERVAL_S = 0.5
#: Distinct key ids (and, apart, team ids) a worker labels; later ones are counted as OTHER.
MAX_KEY_LABELS = 1000
#: The label value of keys and teams past ``MAX_KEY_LABELS`` (no key or team id has it: ids
#: start with a letter or a digit).
OTHER = "(other)"
#: Prometheus text exposition 0.0.4, as ``/metrics`` answers it.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

#: A limit's refusal reasons as the limiter names them -> the ``kind`` label.
_REFUSAL_KINDS = {"requests": "rpm", "tokens": "tpm"}
#: Cosine similarity of a semantic-cache candidate: fine steps where decisions are made.
SIMILARITY_BUCKETS = (0.5, 0.7, 0.8, 0.85, 0.9, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 1.0)

# per (key id, team id, model): the label tuples of its series (key, team, model), (model,),
# and its tokens' (key, team, model, "prompt") and (key, team, model, "completion")
_Row = tuple[tuple[str, str, str], tuple[str], tuple[str, str, str, str], tuple[str, str, str, str]]


class Metrics(Collector):
    """Every metric fastgw exports, for one worker (a prometheus_client collector of its
    own in-memory values)."""

    def __init__(self) -> None:
        who = ("key", "team", "model")
        self.requests = Counter(
            "fastgw_requests_total",
            "Requests answered, by key, team, model and HTTP status.",
            (*who, "status"),
        )
        self.tokens = Counter(
            "fastgw_tokens_total",
            "Tokens reported by upstreams, by key, team, model and kind (prompt, completion).",
            (*who, "kind"),
        )
        self.cost = Counter(
            "fastgw_cost_usd_total",
            "What answers cost at the configured prices, in US dollars, by key, team and model.",
            who,
        )
        self.latency = Histogram(
            "fastgw_request_duration_seconds",
            "Time from request to the last response byte, by model.",
            ("model",),
        )
        self.ttft = Histogram(
            "fastgw_time_to_first_token_seconds",
            "Time from request to the first streamed chunk, by model.",
            ("model",),
        )
        self.upstream = Histogram(
            "fastgw_upstream_duration_seconds",
            "Time from sending upstream to its response head, by provider.",
            ("provider",),
        )
        self.cache = Counter(
            "fastgw_cache_requests_total",
            "Cache outcomes (hit, semantic-hit, miss, bypass, coalesced) by model.",
            ("model", "outcome"),
        )
        self.semantic_similarity = Histogram(
            "fastgw_semantic_similarity_ratio",
            "Similarity of the semantic cache's verified candidates, by model and decision "
            "(hit, miss).",
            ("model", "decision"),
            buckets=SIMILARITY_BUCKETS,
        )
        self.semantic_skipped = Counter(
            "fastgw_semantic_skipped_total",
            "Requests the semantic cache did not look up or store, by model and reason "
            "(queue_full, timeout, loading, not eligible: tools, sampled, length...).",
            ("model", "reason"),
        )
        self.cache_share = Counter(
            "fastgw_cache_share_total",
            "Shared-cache traffic through Redis by event: sent, received, dropped (the write "
            "queue was full), failed (Redis errors).",
            ("event",),
        )
        self.rejections = Counter(
            "fastgw_limit_rejections_total",
            "Requests refused by a limit, by scope (key, team, model, state) and kind "
            "(rpm, tpm, parallel, budget, unavailable).",
            ("scope", "kind"),
        )
        self.fallbacks = Counter(
            "fastgw_state_fallback_total",
            "Admissions decided by per-instance local limits while Redis was down.",
            (),
        )
        self.in_flight = Gauge(
            "fastgw_in_flight_requests", "Requests being answered now, all workers.", ()
        )
        self.cache_entries = Gauge(
            "fastgw_cache_entries", "Entries in the exact caches of all workers.", ()
        )
        self.semantic_entries = Gauge(
            "fastgw_semantic_cache_entries", "Entries in the semantic caches of all workers.", ()
        )
        self.cache_bytes = Gauge(
            "fastgw_cache_bytes", "Bytes of answers in the exact caches of all workers.", ()
        )
        self.state_up = Gauge(
            "fastgw_state_backend_up",
            "1 while the shared limit state (Redis) answers every worker.",
            (),
            mode="livemin",
        )
        deployment = ("model", "deployment")
        self.deployment_state = Gauge(
            "fastgw_deployment_state",
            "Workers that see the deployment in this routing state "
            "(healthy, cooling, open, half_open).",
            (*deployment, "state"),
        )
        self.deployment_in_flight = Gauge(
            "fastgw_deployment_in_flight", "Requests under way on the deployment.", deployment
        )
        self.deployment_attempts = PulledCounter(
            "fastgw_deployment_attempts_total", "Upstream attempts sent.", deployment
        )
        self.deployment_failures = PulledCounter(
            "fastgw_deployment_failures_total",
            "Attempts that failed (5xx, 401/403, none).",
            deployment,
        )
        self.deployment_circuit_opens = PulledCounter(
            "fastgw_deployment_circuit_opens_total",
            "Times the circuit breaker opened.",
            deployment,
        )
        self.deployment_latency = Gauge(
            "fastgw_deployment_latency_seconds",
            "Moving average time to a whole plain answer (the slowest worker's).",
            deployment,
            mode="livemax",
        )
        self.deployment_ttft = Gauge(
            "fastgw_deployment_ttft_seconds",
            "Moving average time to a stream's first token (the slowest worker's).",
            deployment,
            mode="livemax",
        )
        self.in_flight.values[()] = 0
        self.counters: tuple[Counter | Histogram, ...] = (
            self.requests,
            self.tokens,
            self.cost,
            self.latency,
            self.ttft,
            self.upstream,
            self.cache,
            self.semantic_similarity,
            self.semantic_skipped,
            self.cache_share,
            self.rejections,
            self.fallbacks,
            self.deployment_attempts,
            self.deployment_failures,
            self.deployment_circuit_opens,
        )
        self.gauges: tuple[Gauge, ...] = (
            self.in_flight,
            self.cache_entries,
            self.cache_bytes,
            self.semantic_entries,
            self.state_up,
            self.deployment_state,
            self.deployment_in_flight,
            self.deployment_latency,
            self.deployment_ttft,
        )
        self._rows: dict[tuple[str | None, str | None, str], _Row] = {}
        self._requests, self._tokens = self.requests.values, self.tokens.values
        self._cost, self._cache = self.cost.values, self.cache.values
        self._key_labels: set[str] = set()
        self._team_labels: set[str] = set()
        self._sampler: Callable[[], None] | None = None
        self._files: WorkerFiles | None = None
        self._shared: SharedCollector | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- the request path -----------------------------------------------------------------

    def observe_request(self, ex: Exchange, model: str, elapsed: float) -> None:
        """Count one finished request: ``model`` is its configured model name or ``""``,
        ``elapsed`` its seconds from head to finish."""
        row = self._rows.get((ex.key_id, ex.team_id, model))
        if row is None:
            row = self._row(ex.key_id, ex.team_id, model)
        who, by_model, prompt, completion = row  # label tuples built once per row
        self._requests[(*who, ex.status)] += 1
        self.latency.observe(by_model, elapsed)
        if ex.stream and ex.ttft is not None:
            self.ttft.observe(by_model, ex.ttft)
        if ex.prompt_tokens is not None:
            self._tokens[prompt] += ex.prompt_tokens
        if ex.completion_tokens:
            self._tokens[completion] += ex.completion_tokens
        if ex.cost_usd:
            self._cost[who] += ex.cost_usd
        if ex.cache is not None:
            self._cache[(model, ex.cache)] += 1

    def observe_similarity(self, model: str, decision: str, similarity: float) -> None:
        """A verified semantic-cache candidate (called on the loop, from the tier's thread)."""
        self.semantic_similarity.observe((model, decision), similarity)

    def refused(self, scope: str, kind: str) -> None:
        """Count a limit's refusal: ``scope`` key, team, model or state; ``kind`` as the
        limiter names it (requests, tokens, parallel, budget, unavailable)."""
        self.rejections.values[(scope, _REFUSAL_KINDS.get(kind, kind))] += 1

    def _row(self, key_id: str | None, team_id: str | None, model: str) -> _Row:
        key = _bounded(key_id, self._key_labels)
        team = _bounded(team_id, self._team_labels)
        row = (
            (key, team, model),
            (model,),
            (key, team, model, "prompt"),
            (key, team, model, "completion"),
        )
        if len(self._rows) < 16 * MAX_KEY_LABELS:  # else built again each time: bounded
            self._rows[(key_id, team_id, model)] = row
        return row

    # -- publishing and scrapes -----------------------------------------------------------

    def start(
        self,
        loop: asyncio.AbstractEventLoop,
        sampler: Callable[[], None],
        directory: str | None,
    ) -> None:
        """Sample gauges with ``sampler`` before each render; with a per-server
        ``directory``, also publish this worker's values there every
        ``PUBLISH_INTERVAL_S`` and render every worker's sum."""
        self._sampler = sampler
        if directory is None:
            return
        self._files = WorkerFiles(directory)
        self._shared = SharedCollector(directory)
        self._loop = loop
        self.publish()
        self._timer = loop.call_later(PUBLISH_INTERVAL_S, self._tick)

    def _tick(self) -> None:
        assert self._loop is not None
        # the next tick first: a publish that fails (a full /dev/shm) is logged by the
        # loop's exception handler and tried again at the next one
        self._timer = self._loop.call_later(PUBLISH_INTERVAL_S, self._tick)
        self.publish()

    def publish(self) -> None:
        """Sample the gauges, then write every value that changed to this worker's files."""
        if self._sampler is not None:
            self._sampler()
        files = self._files
        if files is None:
            return
        for series in self.counters:
            files.write(series.prefix, series.entries())
        prefixes: dict[str, list[tuple[str, float]]] = {}
        for gauge in self.gauges:
            prefixes.setdefault(gauge.prefix, []).extend(gauge.entries())
        for prefix, entries in prefixes.items():
            files.write_snapshot(prefix, entries)

    def render(self) -> bytes:
        """The text exposition of ``/metrics``: every worker's sum under ``fastgw serve``,
        else this process's values."""
        self.publish()
        return generate_latest(self if self._shared is None else self._shared)

    async def scrape(self) -> bytes:
        """``render`` for ``GET /metrics`` on the event loop: this worker publishes here,
        then the sum of every worker's files is read and rendered in a thread (it reads
        files only), so the loop goes on serving between the interpreter's switches
        (measured ~18 ms for two workers of ~900 series each; see the module header)."""
        shared = self._shared
        if shared is None:
            return self.render()
        self.publish()
        return await asyncio.get_running_loop().run_in_executor(None, generate_latest, shared)

    def collect(self) -> list[Metric]:
        return [series.family() for series in (*self.counters, *self.gauges)]

    def close(self) -> None:
        """Publish a last time and leave the live gauges (the worker stops)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._files is not None:
            self.publish()
            self._files.close()
            self._files = None


def _bounded(ident: str | None, labelled: set[str]) -> str:
    if ident is None:
        return ""
    if ident in labelled:
        return ident
    if len(labelled) < MAX_KEY_LABELS:
        labelled.add(ident)
        return ident
    return OTHER


__all__ = ["CONTENT_TYPE", "MAX_KEY_LABELS", "OTHER", "PUBLISH_INTERVAL_S", "Metrics"]
