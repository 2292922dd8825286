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
    """Bounds of the exact cache of each worker (shared by every model that enables it)."""

    max_entries: int = DEFAULT_CACHE_ENTRIES
    max_bytes: int = DEFAULT_CACHE_BYTES


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
    """``config`` with a relative ``storage.sqlite_path`` made absolute from ``base``."""
    sqlite_path = Path(config.storage.sqlite_path)
    if sqlite_path.is_absolute():
        return config
    resolved = str((base / sqlite_path).resolve())
    storage = msgspec.structs.replace(config.storage, sqlite_path=resolved)
    return msgspec.structs.replace(config, storage=storage)


def check_cache(cache: CacheConfig) -> list[str]:
    if cache.max_entries < 1 or cache.max_bytes < 1024:
        return ["cache: max_entries must be at least 1 and max_bytes at least 1024"]
    return []


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
