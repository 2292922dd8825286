"""What the admin handlers are given: the parts of the running gateway they read or change.

Built by the application for each config (``fastgw.app``), so the admin package imports
nothing of the application (no import circle) and a handler sees the config it runs on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..config import Config, ModelConfig
from ..disconnect import Disconnects
from ..drain import Drain
from ..keys import KeyRing
from ..providers import Provider
from ..records.keystore import KeyStore
from ..records.refresh import KeyRefresher
from ..records.usage import UsageLog
from ..routing import Router

if TYPE_CHECKING:
    from ..semantic.service import Driver


class AdminContext:
    __slots__ = (
        "admin_digest",
        "config",
        "disconnects",
        "drain",
        "keys",
        "loop",
        "models",
        "providers",
        "purge_cache",
        "refresher",
        "reload",
        "router",
        "semantic",
        "store",
        "usage",
    )

    def __init__(
        self,
        *,
        admin_digest: bytes | None,
        config: Config,
        disconnects: Disconnects,
        drain: Drain,
        keys: KeyRing,
        loop: asyncio.AbstractEventLoop,
        models: dict[str, ModelConfig],
        providers: dict[str, Provider],
        purge_cache: Callable[[str | None, str | None], Awaitable[dict[str, int | None]]],
        refresher: KeyRefresher,
        reload: Callable[[], Any],
        router: Router,
        semantic: Driver | None,
        store: KeyStore,
        usage: UsageLog | None,
    ) -> None:
        self.admin_digest = admin_digest
        self.config = config
        self.disconnects = disconnects
        self.drain = drain
        self.keys = keys
        self.loop = loop
        self.models = models
        self.providers = providers
        #: remove cached answers of (namespace, model), None: any (``Runtime.purge_cache``)
        self.purge_cache = purge_cache
        self.refresher = refresher
        #: validate the config file and, if valid, reload every worker; returns the errors
        #: of an invalid file (``fastgw.config.ConfigError``) or None
        self.reload = reload
        self.router = router
        #: the semantic tier's driver, when a model has the tier (its lookups waiting)
        self.semantic = semantic
        self.store = store
        self.usage = usage
