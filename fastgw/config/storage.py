"""``[storage]``, ``[usage]``, ``[admin]``, ``[cache]`` and ``[prices]``: the small sections.

Rules this module keeps:
- A relative ``storage.sqlite_path`` is relative to the config file's directory
  (``resolve_paths``), so every worker and command opens the same database whatever its cwd.
- The admin API is off unless the variable ``[admin] key_env`` names is set; its key is never
  logged.
- Prices (USD per million tokens) cannot be negative; cache bounds are at least 1 entry and
  1 KiB.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from ._base import STRUCT, join

if TYPE_CHECKING:
    from .load import Config

DEFAULT_SQLITE_PATH = "fastgw.sqlite3"
DEFAULT_USAGE_FLUSH_S = 1.0
DEFAULT_USAGE_BATCH = 10_000
DEFAULT_ADMIN_KEY_ENV = "FASTGW_ADMIN_KEY"
DEFAULT_CACHE_ENTRIES = 10_000
DEFAULT_CACHE_BYTES = 256 * 1024 * 1024
DEFAULT_CACHE_REDIS_PREFIX = "cache:"
DEFAULT_CACHE_FEED_MAX_LEN = 10_000
DEFAULT_CACHE_SHARE_QUEUE = 10_000
#: the cache's disk copy (local backend), beside ``storage.sqlite_path`` when not named
CACHE_FILE_SUFFIX = ".cache.sqlite3"


class StorageConfig(msgspec.Struct, **STRUCT):
    """The SQLite database holding runtime-created keys and teams and the usage log."""

    sqlite_path: str = DEFAULT_SQLITE_PATH


class UsageConfig(msgspec.Struct, **STRUCT):
    enabled: bool = True
    flush_interval_s: float = DEFAULT_USAGE_FLUSH_S
    batch_max: int = DEFAULT_USAGE_BATCH


class AdminConfig(msgspec.Struct, **STRUCT):
    key_env: str = DEFAULT_ADMIN_KEY_ENV  # the admin API is off unless this variable is set


class CacheConfig(msgspec.Struct, **STRUCT):
    """Bounds of the exact cache of each worker (shared by every model that enables it), and
    how it outlives a worker: through Redis with ``[state] backend = "redis"``
    (``fastgw.cache.shared``), else on disk across a graceful restart
    (``fastgw.cache.persist``)."""

    max_entries: int = DEFAULT_CACHE_ENTRIES
    max_bytes: int = DEFAULT_CACHE_BYTES
    # Redis backend: share stored answers with every worker and instance on the same server
    share: bool = True
    redis_prefix: str = DEFAULT_CACHE_REDIS_PREFIX  # after [state] prefix
    feed_max_len: int = DEFAULT_CACHE_FEED_MAX_LEN  # announcements kept in the stream (~)
    share_queue: int = DEFAULT_CACHE_SHARE_QUEUE  # answers waiting to be written; more: dropped
    # local backend: write the live entries at a graceful shutdown, load them at start
    persist: bool = True
    persist_path: str | None = None  # default: storage.sqlite_path with CACHE_FILE_SUFFIX
    # the semantic tier in a process of its own per worker (its own core: FAISS holds the
    # interpreter lock), or false: in a thread of the worker (fixed at start)
    semantic_process: bool = True


class Price(msgspec.Struct, **STRUCT):
    """USD per million tokens."""

    input: float
    output: float
    cached_input: float | None = None


def admin_key(config: Config) -> str | None:
    """The admin API's key, from the variable ``[admin] key_env`` names (None: the admin API
    is off). Never logged."""
    return os.environ.get(config.admin.key_env) or None


def resolve_paths(config: Config, base: Path) -> Config:
    """``config`` with a relative ``storage.sqlite_path`` and ``cache.persist_path`` made
    absolute from ``base``."""
    sqlite_path = Path(config.storage.sqlite_path)
    if not sqlite_path.is_absolute():
        resolved = str((base / sqlite_path).resolve())
        storage = msgspec.structs.replace(config.storage, sqlite_path=resolved)
        config = msgspec.structs.replace(config, storage=storage)
    persist = config.cache.persist_path
    if persist is not None and not Path(persist).is_absolute():
        cache = msgspec.structs.replace(config.cache, persist_path=str((base / persist).resolve()))
        config = msgspec.structs.replace(config, cache=cache)
    return config


def cache_file(config: Config) -> str:
    """The file of the cache's disk copy: ``cache.persist_path``, else beside the SQLite
    database (``fastgw.sqlite3`` -> ``fastgw.cache.sqlite3``)."""
    if config.cache.persist_path is not None:
        return config.cache.persist_path
    return str(Path(config.storage.sqlite_path).with_suffix(CACHE_FILE_SUFFIX))


def check_cache(cache: CacheConfig) -> list[str]:
    errors: list[str] = []
    if cache.max_entries < 1 or cache.max_bytes < 1024:
        errors.append("cache: max_entries must be at least 1 and max_bytes at least 1024")
    if not cache.redis_prefix or any(c.isspace() or c in "*?[]" for c in cache.redis_prefix):
        errors.append(
            "cache.redis_prefix: must be a non-empty string without spaces or glob "
            "characters (* ? [ ]), like 'cache:'"
        )
    if cache.feed_max_len < 100:
        errors.append("cache.feed_max_len: must be at least 100 announcements")
    if cache.share_queue < 1:
        errors.append("cache.share_queue: must be at least 1")
    if cache.persist_path == "":
        errors.append("cache.persist_path: must name a file (or be left out)")
    return errors


def check_prices(prices: Mapping[str, Price]) -> list[str]:
    errors: list[str] = []
    for name, price in prices.items():
        values = (price.input, price.output, price.cached_input or 0.0)
        if min(values) < 0:
            errors.append(f"{join('prices', name)}: prices cannot be negative")
    return errors


def check_usage(usage: UsageConfig) -> list[str]:
    if usage.flush_interval_s <= 0 or usage.batch_max < 1:
        return ["usage: flush_interval_s must be above 0 and batch_max at least 1"]
    return []
