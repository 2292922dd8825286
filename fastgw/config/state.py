"""``[state]``: where limits, parallel counters and spend live (this process, or Redis).

Rules this module keeps:
- The Redis URL may hold a password: it comes from ``redis_url`` or the variable named by
  ``redis_url_env``, and is only ever shown through ``redacted_url``.
- ``backend = "redis"`` needs the hiredis package, checked here (``pip install 'fastgw[redis]'``).
- Local limits with several workers would be multiplied by the number of workers: refused
  (``check_workers``).
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

import msgspec

from ._base import STRUCT

if TYPE_CHECKING:
    from .load import Config

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_STATE_PREFIX = "fastgw:"
DEFAULT_REDIS_TIMEOUT_S = 0.25

_REDIS_URL_RE = re.compile(r"^rediss?://\S+$|^unix://\S+$")


class StateConfig(msgspec.Struct, **STRUCT):
    """Where limits, parallel counters and spend live: this process ("local") or Redis,
    shared by every worker and instance that points at the same server."""

    backend: Literal["local", "redis"] = "local"
    redis_url: str = DEFAULT_REDIS_URL
    redis_url_env: str | None = None  # an environment variable holding the URL (passwords)
    prefix: str = DEFAULT_STATE_PREFIX
    timeout_s: float = DEFAULT_REDIS_TIMEOUT_S
    # when Redis cannot be reached: keep serving under per-instance local limits, or 503
    on_redis_down: Literal["fail_open", "fail_closed"] = "fail_open"


def redis_url(state: StateConfig) -> str:
    """The Redis URL: from ``redis_url_env`` when it names a variable, else ``redis_url``.
    It may hold a password: never log it (``redacted_url``)."""
    if state.redis_url_env is not None:
        return os.environ.get(state.redis_url_env, state.redis_url)
    return state.redis_url


def redacted_url(url: str) -> str:
    """``url`` without its credentials, for logs."""
    return re.sub(r"//[^@/]*@", "//***@", url)


def check_state(state: StateConfig, env: Mapping[str, str]) -> list[str]:
    errors: list[str] = []
    if state.timeout_s <= 0:
        errors.append("state.timeout_s: must be above 0")
    if state.backend != "redis":
        return errors
    url = env.get(state.redis_url_env, "") if state.redis_url_env else state.redis_url
    if state.redis_url_env is not None and not url:
        errors.append(
            f"state.redis_url_env: the environment variable {state.redis_url_env} is not "
            "set; export it (redis://user:password@host:6379/0) before starting fastgw"
        )
    elif not _REDIS_URL_RE.match(url):
        errors.append(
            f"state.redis_url: {redacted_url(url)!r} is not a Redis URL; "
            "write it like 'redis://127.0.0.1:6379/0'"
        )
    if importlib.util.find_spec("hiredis") is None:
        errors.append(
            'state.backend: "redis" needs the hiredis package; install it with '
            "`pip install 'fastgw[redis]'` (or `pip install hiredis`)"
        )
    return errors


def check_workers(config: Config, workers: int) -> list[str]:
    """Errors of serving ``config`` with ``workers`` processes: local limits would be kept
    per process and so multiplied by the number of workers."""
    from .limits import limits_wanted

    if workers > 1 and config.state.backend == "local" and limits_wanted(config):
        return [
            f"state.backend: limits and budgets are set and fastgw would run {workers} "
            'workers; set [state] backend = "redis" so that they share one count '
            "(or run one worker)"
        ]
    return []
