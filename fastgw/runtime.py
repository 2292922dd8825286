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
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from .accesslog import AccessLog
from .bodies import BodyDeadlines
from .cache.exact import ResponseCache
from .config import CacheConfig, Config, ProviderConfig, semantic_on
from .disconnect import Disconnects
from .drain import Drain
from .limits import Limiter, build_limiter
from .metrics import Metrics
from .pricing import PriceTable
from .providers import Provider, build_provider
from .records.db import initialise
from .records.keystore import KeyStore
from .records.usage import UsageLog

if TYPE_CHECKING:
    from .routing import Router
    from .semantic.service import SemanticService

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
        self.limiter: Limiter | None = None
        self.semantic: SemanticService | None = None  # loaded once, kept across configs
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
            self.cache, self._cache_config = ResponseCache(config.cache), config.cache
        return self.cache

    def semantic_for(self, config: Config) -> SemanticService | None:
        """The semantic tier's worker thread when a model turns it on: started at the first
        config that needs it and kept (its models and entries) for the process's life."""
        if not any(semantic_on(m.semantic_cache) for m in config.models):
            return None  # a running thread stays: a later config may turn the tier on again
        if self.semantic is None:
            from .semantic.engine import load_engine
            from .semantic.service import SemanticService

            self.semantic = SemanticService(load_engine, self.loop, self.metrics.observe_similarity)
        return self.semantic

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
        if self.limiter is not None:
            await self.limiter.close()
        if self.access is not None:
            self.access.flush()
        self.metrics.close()


def _request_ids() -> Iterator[str]:
    prefix = os.urandom(6).hex()
    counter = 0
    while True:
        counter += 1
        yield f"req_{prefix}{counter:010x}"
