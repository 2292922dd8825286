"""The runtime: what one worker process keeps for as long as it lives, whatever its config.

The config-lifetime part (models, routers, prices, cache policy, keys from the file, the
pipelines) is ``fastgw.pipeline.Pipelines``, built from a config and this runtime at start and
again at every reload. Rules this module keeps:
- Process state is keyed so that a new config finds its own: upstream providers (and their
  connection pools) by provider name and settings, deployment state (breaker, latency
  averages, cooling, quotas, counts) by (public model, deployment name), limiter tables and
  parallel counters in the limiter the next config's limiter is built from, cache entries
  by key (a reload that keeps ``[cache]``'s sizes keeps them).
- What a reload cannot change is fixed here at start and said so: ``[server]``, ``[storage]``
  and ``[usage]`` (bind address, body and drain bounds, the SQLite file, the usage log)
  need a restart; a reload that changes them logs a warning and keeps the running ones.
- Nothing here is on a request's hot path but attribute reads: the request path uses what
  the pipelines bound at build time.
- The exact cache outlives its worker when a model enables it: with ``[state] backend =
  "redis"`` (and ``[cache] share``) through the cache feed (``cache_feed``,
  ``fastgw.cache.shared``: started with the first cache, never without one), otherwise
  (``[cache] persist``) through its disk copy (``fastgw.cache.persist``), loaded when the
  first cache is built and written in ``close``. Both follow the config the process started
  with: a reload that changes how the cache is shared takes effect at the next restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .accesslog import AccessLog
from .bodies import BodyDeadlines
from .cache import persist
from .cache.exact import ResponseCache
from .cache.record import EXACT, CacheRecord, Purge
from .config import CacheConfig, Config, ProviderConfig, cache_file, redis_url
from .disconnect import Disconnects
from .drain import Drain
from .inbound.response_store import build_store
from .limits import Limiter, build_limiter
from .metrics import Metrics
from .pricing import PriceTable
from .providers import Provider, build_provider
from .records.db import initialise
from .records.keystore import KeyStore
from .records.usage import UsageLog

if TYPE_CHECKING:
    from .cache.shared import CacheFeed
    from .routing import Router
    from .semantic.service import Driver

log = logging.getLogger("fastgw")

#: Fields of a deployment's state that carry over a reload when the deployment still exists
#: (same public model and deployment name) and its settings are unchanged: health (breaker,
#: cooling after a 429), load (per-minute windows, retry budget), and the latency averages
#: and counts operators read. ``in_flight`` stays with the object the old requests hold.
_KEPT_WITH_SAME_SETTINGS = ("breaker", "rpm", "tpm", "retries", "cooling_until")
_KEPT_ALWAYS = ("latency", "ttft", "requests", "failures")


class Runtime:
    """One worker's process-lifetime state (see the module docstring)."""

    def __init__(self, config: Config, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.config = config  # the config the process started with: [server], [storage], [usage]
        server, storage, usage = config.server, config.storage.sqlite_path, config.usage
        initialise(storage)
        self.store = KeyStore(storage)
        #: the Responses API's stored responses (``[responses] store``, fixed at start)
        self.responses = build_store(config)
        self.usage = (
            UsageLog(storage, loop, usage.flush_interval_s, usage.batch_max)
            if usage.enabled
            else None
        )
        self.metrics = Metrics()
        self.access = AccessLog(loop) if server.access_log else None
        self.drain = Drain(loop, server.drain_timeout_s, server.drain_grace_s)
        self.bodies = BodyDeadlines(loop, server.body_timeout_s)
        self.disconnects = Disconnects(loop)
        self.created = int(time.time())
        self.providers: dict[str, Provider] = {}  # the newest config's, by name
        self._provider_configs: dict[str, ProviderConfig] = {}
        self.cache: ResponseCache | None = None
        self._cache_config: CacheConfig | None = None
        #: the shared cache's link to Redis (None: not shared), for every cache kind
        self.cache_feed: CacheFeed | None = None
        shared = config.state.backend == "redis" and config.cache.share
        self._persist_path = cache_file(config) if config.cache.persist and not shared else None
        self.limiter: Limiter | None = None
        self.semantic: Driver | None = None  # loaded once, kept across configs
        self._semantic_bounds: dict[str, int] = {}  # max_entries of each model with the tier
        self.router: Router | None = None  # the newest: the next one carries its state over
        #: the gateway's next request id (a generator's ``__next__``: no Python frame per call)
        self.next_request_id: Callable[[], str] = _request_ids().__next__

    # -- parts a config asks for, kept across configs ----------------------------------------

    def providers_for(self, config: Config) -> tuple[dict[str, Provider], list[Provider]]:
        """The providers of ``config`` (one with the same name and settings as before is the
        same object, pools and all) and the ones it no longer uses (to close once the
        requests of the old config are over)."""
        providers: dict[str, Provider] = {}
        for name, settings in config.providers.items():
            old = self.providers.get(name)
            if old is not None and self._provider_configs.get(name) == settings:
                providers[name] = old
            else:
                providers[name] = build_provider(name, settings, self.loop)
        dropped = [p for n, p in self.providers.items() if providers.get(n) is not p]
        self.providers = providers
        self._provider_configs = dict(config.providers)
        return providers, dropped

    def cache_for(self, config: Config) -> ResponseCache | None:
        """The exact cache when a model enables it (kept while ``[cache]`` is unchanged)."""
        if not any(m.cache is not None and m.cache.enabled for m in config.models):
            return None
        if self.cache is None or self._cache_config != config.cache:
            first = self.cache is None
            cache = ResponseCache(config.cache)
            self.cache, self._cache_config = cache, config.cache
            if first and self._persist_path is not None:
                self._load_disk_copy(cache, config.cache)
            self._share(cache)
        return self.cache

    def _load_disk_copy(self, cache: ResponseCache, bounds: CacheConfig) -> None:
        assert self._persist_path is not None
        records = persist.load(self._persist_path, bounds.max_entries, bounds.max_bytes)
        for record in records:
            cache.insert(record)
        if records:
            log.info("cache: loaded %d entries from %s", len(records), self._persist_path)

    def shared_feed(self) -> CacheFeed | None:
        """The cache feed, started on first use, when the process started with ``[state]
        backend = "redis"`` and ``[cache] share`` (None otherwise): what a cache kind
        registers on and publishes to (``fastgw.cache.shared``)."""
        start = self.config
        if start.state.backend != "redis" or not start.cache.share:
            return None
        feed = self.cache_feed
        if feed is None:
            from .cache.shared import CacheFeed  # hiredis: only with the Redis backend

            feed = self.cache_feed = CacheFeed(
                redis_url(start.state), start.state, start.cache, self.metrics, self.loop
            )
            feed.start()
        return feed

    def _share(self, cache: ResponseCache) -> None:
        """Publish ``cache``'s stores to the feed and feed it what others store."""
        feed = self.shared_feed()
        if feed is not None:
            cache.publish = feed.publish
            feed.register(EXACT, cache.insert, cache.purge)

    async def purge_cache(self, namespace: str | None, model: str | None) -> dict[str, int | None]:
        """Remove the cached answers of ``namespace`` and/or ``model`` (None: any) here, in
        Redis and every worker on it (the feed), and on disk. ``ConnectionError`` or
        ``TimeoutError`` when Redis cannot be reached (this worker is purged by then)."""
        purge = Purge(namespace, model)
        purged = self.cache.purge(namespace, model) if self.cache is not None else 0
        if self.semantic is not None and self.cache_feed is None:  # the feed purges it too
            self.semantic.purge(namespace, model)
        redis_keys = disk_rows = None
        if self.cache_feed is not None:
            redis_keys = await self.cache_feed.purge(purge)
        if self._persist_path is not None:
            disk_rows = persist.purge(self._persist_path, purge)
        return {"purged": purged, "redis_keys": redis_keys, "disk_rows": disk_rows}

    def semantic_for(self, config: Config) -> Driver | None:
        """The semantic tier when a model turns it on: its process (``[cache]
        semantic_process``, the default) or its thread, started at the first config that
        needs it and kept (its models and entries) for the worker's life. Its entries cross
        workers and instances on the cache feed (Redis) or restarts on the disk copy, like
        the exact cache's (``fastgw.semantic.share``)."""
        self._semantic_bounds = {
            m.name: m.semantic_cache.max_entries
            for m in config.models
            if m.semantic_cache is not None and m.semantic_cache.enabled
        }
        if not self._semantic_bounds:
            return None  # a running thread stays: a later config may turn the tier on again
        if self.semantic is None:
            from .semantic import share

            observe = self.metrics.observe_similarity
            service: Driver
            if config.cache.semantic_process:
                from .semantic.remote import SemanticProcess

                service = SemanticProcess(self.loop, observe)
            else:
                from .semantic.engine import load_engine
                from .semantic.service import SemanticService

                service = SemanticService(load_engine, self.loop, observe)
            self.semantic = service
            feed = self.shared_feed()
            if feed is not None:
                publish, loop = feed.publish, self.loop

                def shared(entry: Any) -> None:  # on the tier's thread, or the loop
                    loop.call_soon_threadsafe(publish, share.record(entry))

                service.on_store = shared
                feed.register(share.SEMANTIC, self._semantic_entry, service.purge)
            elif self._persist_path is not None:
                bound = sum(self._semantic_bounds.values())
                found = persist.load(self._persist_path, bound, 1 << 62, share.SEMANTIC)
                for record in found:
                    self._semantic_entry(record)
                if found:
                    log.info("semantic cache: loaded %d entries from disk", len(found))
        return self.semantic

    def _close_semantic(self) -> None:
        """Stop the tier; on the local backend, write its entries to the disk copy."""
        service = self.semantic
        save = self._persist_path is not None and self.cache_feed is None
        if service is None or not service.close(collect=save):
            return
        if save and self._persist_path is not None:
            from .semantic import share

            records = [share.record(entry) for entry in service.live()]
            bound = sum(self._semantic_bounds.values())
            written = persist.save(self._persist_path, records, bound, share.SEMANTIC)
            log.info("semantic cache: wrote %d entries to %s", written, self._persist_path)

    def _semantic_entry(self, record: CacheRecord) -> None:
        """A semantic entry from elsewhere, for a model that has the tier here."""
        from .semantic.share import made

        entry = made(record)
        service = self.semantic
        if entry is None or service is None:
            return
        bound = self._semantic_bounds.get(entry.model)
        if bound is not None:
            service.adopt(entry, bound)

    def limiter_for(self, config: Config, prices: PriceTable) -> Limiter | None:
        """The limiter of ``config``, on the tables and counters of the one before."""
        limiter = build_limiter(config, prices, self.metrics, previous=self.limiter)
        if limiter is not None:
            self.limiter = limiter  # kept when a config has no limits: the next may again
        return limiter

    def adopt(self, router: Router) -> None:
        """Carry the deployment state of the previous router into ``router`` (deployments
        that still exist), and make it the one the next reload carries from."""
        previous = self.router
        self.router = router
        if previous is None:
            return
        for name, group in router.groups.items():
            old_group = previous.groups.get(name)
            if old_group is None:
                continue
            old = {d.name: d for d in old_group.deployments}
            for deployment in group.deployments:
                before = old.get(deployment.name)
                if before is None:
                    continue
                same = (
                    before.config == deployment.config
                    and before.timeouts == deployment.timeouts
                    and getattr(before.breaker, "config", None)
                    == getattr(deployment.breaker, "config", None)
                )
                fields = (*_KEPT_WITH_SAME_SETTINGS, *_KEPT_ALWAYS) if same else _KEPT_ALWAYS
                for field in fields:
                    setattr(deployment, field, getattr(before, field))

    def changed_for_restart(self, config: Config) -> list[str]:
        """The sections of ``config`` a reload cannot apply (they differ from the start's)."""
        start = self.config
        return [
            name
            for name, now, then in (
                ("server", config.server, start.server),
                ("storage", config.storage, start.storage),
                ("usage", config.usage, start.usage),
            )
            if now != then
        ]

    async def close(self) -> None:
        self.drain.draining = True
        self.bodies.close()
        for provider in self.providers.values():
            await provider.close()
        if self.usage is not None:
            await self.usage.close()
        self.store.close()
        if self.responses is not None:
            self.responses.close()
        if self.limiter is not None:
            await self.limiter.close()
        if self.cache_feed is not None:
            await self.cache_feed.close()
        if self.cache is not None and self._persist_path is not None:
            records = self.cache.records()
            written = persist.save(self._persist_path, records, self.cache.store.max_entries)
            log.info("cache: wrote %d entries to %s", written, self._persist_path)
        self._close_semantic()
        if self.access is not None:
            self.access.flush()
        self.metrics.close()


def _request_ids() -> Iterator[str]:
    prefix = os.urandom(6).hex()
    counter = 0
    while True:
        counter += 1
        yield f"req_{prefix}{counter:010x}"
