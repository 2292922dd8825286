"""The fastgw configuration: one frozen, typed object decoded from TOML.

Rules this module keeps:
- Every section is a frozen msgspec Struct that rejects unknown keys; defaults are the named
  constants below, nowhere else.
- Validation collects *every* error, each with its key path and what to change, instead of
  stopping at the first one (``fastgw check-config`` prints them all).
- Environment variables are read here and in the CLI only. Secrets never appear in the TOML:
  a provider names the variable that holds its key (``api_key_env``) and gateway keys are
  stored as SHA-256 hashes.

Why one module of ~800 lines (STYLE rule 2): it is three parts that change together, in
order: the schema (every section's Struct and default, ~420 lines), the shape check (types
and unknown keys with their paths, generic over the schema) and the meaning check (ranges,
references between sections, secrets). A new option touches all three; keeping them in one
file keeps the schema, its defaults and its error messages side by side. Split it into
``config/schema.py``, ``config/shape.py`` and ``config/meaning.py`` when it grows further.
"""

from __future__ import annotations

import difflib
import importlib.util
import math
import os
import re
import tomllib
import types
import typing
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

import msgspec

from .wire import MAX_TOKENS

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_WORKERS = 1
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_DRAIN_TIMEOUT_S = 30.0
# On SIGTERM, seconds of still serving with /ready at 503 before accepting stops (fastgw.drain)
DEFAULT_DRAIN_GRACE_S = 5.0
MAX_DRAIN_GRACE_S = 300.0
# Inbound connections (comparable defaults: Envoy's edge guide 10 s for request headers;
# nginx 60 s per body read and 75 s keep-alive; Granian 30 s head, 2048 connections)
DEFAULT_HEADER_TIMEOUT_S = 10.0  # connect (or end of the last answer) to a whole request head
DEFAULT_BODY_TIMEOUT_S = 30.0  # end of the head to the whole body
DEFAULT_MAX_CONNECTIONS = 10_000  # open client connections per worker
MIN_CLIENT_TIMEOUT_S = 0.1
MAX_CLIENT_TIMEOUT_S = 3600.0
MAX_CONNECTIONS_LIMIT = 1_000_000
DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_FIRST_BYTE_TIMEOUT_S = 120.0
DEFAULT_IDLE_TIMEOUT_S = 60.0
DEFAULT_TOTAL_TIMEOUT_S = 600.0
DEFAULT_FIRST_TOKEN_TIMEOUT_S = 120.0
DEFAULT_STRATEGY: Final = "weighted"
DEFAULT_RETRIES = 0
DEFAULT_RETRY_BUDGET_S = 60.0
DEFAULT_BACKOFF_S = 0.5
DEFAULT_BACKOFF_MAX_S = 8.0
DEFAULT_JITTER = 0.5
DEFAULT_RETRIES_PER_S = 10.0
DEFAULT_BREAKER_FAILURES = 5
DEFAULT_BREAKER_WINDOW_S = 30.0
DEFAULT_BREAKER_MIN_REQUESTS = 10
DEFAULT_BREAKER_COOLDOWN_S = 30.0
DEFAULT_HEALTH_INTERVAL_S = 30.0
DEFAULT_HEALTH_TIMEOUT_S = 10.0
DEFAULT_POOL_CONNECTIONS = 256
DEFAULT_KEEPALIVE_EXPIRY_S = 60.0
DEFAULT_MOCK_TOKENS = 16
DEFAULT_CACHE_ENTRIES = 10_000
DEFAULT_CACHE_BYTES = 256 * 1024 * 1024
DEFAULT_CACHE_TTL_S = 3600.0
DEFAULT_MOCK_EMBEDDING_DIMS = 1536
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_STATE_PREFIX = "fastgw:"
DEFAULT_REDIS_TIMEOUT_S = 0.25
DEFAULT_TIMEZONE = "UTC"
DEFAULT_COMPLETION_TOKENS = 1024  # the token reservation when a request names no max_tokens
# the most one request reserves against a budget, as a share of the smallest budget it is
# under: a worst-case estimate (n x max_tokens) cannot hold a shared budget on its own
DEFAULT_MAX_RESERVATION_SHARE = 0.1
# ask OpenAI-compatible upstreams for a stream's usage (stream_options.include_usage) when the
# client did not, and leave that usage event out of what the client receives
DEFAULT_STREAM_USAGE = True
DEFAULT_SQLITE_PATH = "fastgw.sqlite3"
DEFAULT_USAGE_FLUSH_S = 1.0
DEFAULT_USAGE_BATCH = 10_000
DEFAULT_ADMIN_KEY_ENV = "FASTGW_ADMIN_KEY"
CONFIG_ENV = "FASTGW_CONFIG"
# Upper bounds of the numbers a key, team or model limit may hold (TOML and admin API alike):
# far above any real limit, exact as doubles (token buckets, Redis), never near an overflow.
MAX_LIMIT = 10**12  # rpm, tpm, parallel
MAX_BUDGET_USD = 1e12  # budget_day_usd, budget_month_usd
MAX_COMPLETION_TOKENS = MAX_TOKENS  # [limits] default_completion_tokens: what a request may ask
MAX_MOCK_TOKENS = 65_536  # the mock's answer length, in tokens (words)
MAX_MOCK_EMBEDDING_DIMS = 4096  # the mock's embedding size (OpenAI's largest: 3072)
_INT64 = 2**63
DEFAULT_CONFIG_PATH = "config/fastgw.toml"

_STRUCT = {"frozen": True, "forbid_unknown_fields": True, "kw_only": True}


class ConfigError(Exception):
    """A configuration that cannot be served. ``errors`` lists each problem as
    ``"key.path: what is wrong; what to change"``."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.source = source
        self.errors = errors
        noun = "error" if len(errors) == 1 else "errors"
        lines = "\n".join(f"  - {e}" for e in errors)
        super().__init__(f"{source}: {len(errors)} configuration {noun}:\n{lines}")


class ServerConfig(msgspec.Struct, **_STRUCT):
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    workers: int = DEFAULT_WORKERS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    drain_timeout_s: float = DEFAULT_DRAIN_TIMEOUT_S
    drain_grace_s: float = DEFAULT_DRAIN_GRACE_S
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    access_log: bool = True
    log_level: Literal["debug", "info", "warning", "error"] = "info"


class Timeouts(msgspec.Struct, **_STRUCT):
    connect_s: float = DEFAULT_CONNECT_TIMEOUT_S
    first_byte_s: float = DEFAULT_FIRST_BYTE_TIMEOUT_S
    idle_s: float = DEFAULT_IDLE_TIMEOUT_S
    total_s: float = DEFAULT_TOTAL_TIMEOUT_S
    # streams: from sending the request to the first SSE data event
    first_token_s: float = DEFAULT_FIRST_TOKEN_TIMEOUT_S


class TimeoutOverrides(msgspec.Struct, **_STRUCT):
    """Timeouts of one model or deployment; a key left out keeps the provider's value
    (deployment over model over provider)."""

    connect_s: float | None = None
    first_byte_s: float | None = None
    first_token_s: float | None = None
    idle_s: float | None = None
    total_s: float | None = None


class PoolConfig(msgspec.Struct, **_STRUCT):
    max_connections: int = DEFAULT_POOL_CONNECTIONS
    keepalive_expiry_s: float = DEFAULT_KEEPALIVE_EXPIRY_S


class OpenAIProvider(msgspec.Struct, tag_field="type", tag="openai", **_STRUCT):
    """Any OpenAI-compatible upstream, passed through without translation."""

    base_url: str
    api_key_env: str | None = None
    api_key_header: str = "authorization"
    headers: dict[str, str] = {}
    query: dict[str, str] = {}
    timeouts: Timeouts = Timeouts()
    pool: PoolConfig = PoolConfig()
    # false for an upstream that refuses stream_options: its streams are then charged the
    # tokens counted from the text relayed
    stream_usage: bool = DEFAULT_STREAM_USAGE


class MockProvider(msgspec.Struct, tag_field="type", tag="mock", **_STRUCT):
    """The embedded deterministic provider: no network, no keys."""

    tokens: int = DEFAULT_MOCK_TOKENS
    chunk_delay_ms: float = 0.0
    first_token_delay_ms: float = 0.0
    embedding_dims: int = DEFAULT_MOCK_EMBEDDING_DIMS


ProviderConfig = OpenAIProvider | MockProvider


class Deployment(msgspec.Struct, **_STRUCT):
    provider: str
    model: str
    weight: float = 1.0
    name: str | None = None  # in logs, metrics, x-fastgw-attempts; default "provider/model"
    tags: list[str] = []  # a request asking for tags goes only to deployments with all of them
    rpm: int | None = None  # the provider's quotas: a deployment at its limit gets no traffic
    tpm: int | None = None
    input_cost_per_mtok: float = 0.0  # for strategy "lowest-cost" (per million tokens)
    output_cost_per_mtok: float = 0.0
    timeouts: TimeoutOverrides | None = None


class RetryConfig(msgspec.Struct, **_STRUCT):
    """The per-request retry budget of one model (its fallbacks keep their own attempts but
    share the requested model's time budget)."""

    retries: int = DEFAULT_RETRIES  # attempts beyond one per deployment, with backoff
    max_attempts: int | None = None  # cap on upstream attempts, fallbacks included
    budget_s: float = DEFAULT_RETRY_BUDGET_S  # no attempt or wait starts past this
    backoff_s: float = DEFAULT_BACKOFF_S  # first backoff; doubles per retry
    backoff_max_s: float = DEFAULT_BACKOFF_MAX_S
    jitter: float = DEFAULT_JITTER  # a backoff is drawn from [(1 - jitter) * d, d]
    max_retries_per_s: float = DEFAULT_RETRIES_PER_S  # retries sent to one deployment


class CircuitConfig(msgspec.Struct, **_STRUCT):
    """When a deployment is taken out of rotation, and how it comes back."""

    enabled: bool = True
    failures: int = DEFAULT_BREAKER_FAILURES  # consecutive failures that open the circuit
    error_ratio: float | None = None  # or: this share of failures within window_s...
    window_s: float = DEFAULT_BREAKER_WINDOW_S
    min_requests: int = DEFAULT_BREAKER_MIN_REQUESTS  # ...once it saw this many requests
    cooldown_s: float = DEFAULT_BREAKER_COOLDOWN_S  # then one probe request is let through


class HealthCheckConfig(msgspec.Struct, **_STRUCT):
    """Active health checks: a one-token chat request to each deployment every interval."""

    interval_s: float = DEFAULT_HEALTH_INTERVAL_S
    timeout_s: float = DEFAULT_HEALTH_TIMEOUT_S


class ModelCacheConfig(msgspec.Struct, **_STRUCT):
    """The exact-match response cache for one public model."""

    enabled: bool = True
    ttl_s: float = DEFAULT_CACHE_TTL_S
    # "deterministic": only requests with temperature == 0 or a seed; "always": every request
    when: Literal["deterministic", "always"] = "deterministic"


Strategy = Literal[
    "weighted", "round-robin", "least-in-flight", "lowest-latency", "lowest-cost", "ordered"
]


class ModelConfig(msgspec.Struct, **_STRUCT):
    name: str
    deployments: list[Deployment]
    cache: ModelCacheConfig | None = None
    strategy: Strategy = DEFAULT_STRATEGY
    fallbacks: list[str] = []  # other models, in order, once these deployments are exhausted
    context_fallbacks: list[str] = []  # after a context-length 400 (a larger-context model)
    content_policy_fallbacks: list[str] = []  # after a content-policy 400 (none by default)
    retry: RetryConfig | None = None
    circuit: CircuitConfig | None = None
    timeouts: TimeoutOverrides | None = None
    health_check: HealthCheckConfig | None = None


class CacheConfig(msgspec.Struct, **_STRUCT):
    """Bounds of the exact cache of each worker (shared by every model that enables it)."""

    max_entries: int = DEFAULT_CACHE_ENTRIES
    max_bytes: int = DEFAULT_CACHE_BYTES


class LimitFields(msgspec.Struct, **_STRUCT):
    """Limits and budgets a key, a team or a model may carry; None means no limit."""

    rpm: int | None = None  # requests per minute
    tpm: int | None = None  # tokens (prompt + completion) per minute
    parallel: int | None = None  # requests in flight at once
    budget_day_usd: float | None = None  # spend per calendar day in [limits] timezone
    budget_month_usd: float | None = None  # spend per calendar month


# The Structs are keyword-only, so required fields may follow inherited defaults; mypy applies
# the positional dataclass rule regardless, hence the ignores.
class KeyConfig(LimitFields, **_STRUCT):
    id: str  # type: ignore[misc]
    hash: str  # type: ignore[misc]
    team: str | None = None  # a [[teams]] id; the team's limits apply on top of the key's
    models: list[str] = msgspec.field(default_factory=lambda: ["*"])
    # Cached answers are scoped to this namespace; keys that name the same one share entries.
    # By default each key is its own namespace.
    cache_namespace: str | None = None
    expires_at: str | None = None  # ISO 8601 date or date-time (UTC unless an offset is given)
    enabled: bool = True
    metadata: dict[str, str] = {}


class TeamConfig(LimitFields, **_STRUCT):
    id: str  # type: ignore[misc]
    models: list[str] = msgspec.field(default_factory=lambda: ["*"])
    metadata: dict[str, str] = {}


class ModelLimits(LimitFields, **_STRUCT):
    """Limits on one public model across every key (``[limits.models."name"]``)."""


class LimitsConfig(msgspec.Struct, **_STRUCT):
    # None: enforce limits only when the TOML sets one (a key's, team's or model's rpm, tpm,
    # parallel or budget); true: always (keys with limits come from the admin API only);
    # false: never (limits and budgets in the TOML are ignored)
    enabled: bool | None = None
    timezone: str = DEFAULT_TIMEZONE  # where budget days and months begin and end
    default_completion_tokens: int = DEFAULT_COMPLETION_TOKENS
    # a request reserves at most this share of the smallest budget it is under (it is still
    # charged what it used); in (0, 1]
    max_reservation_share: float = DEFAULT_MAX_RESERVATION_SHARE
    models: dict[str, ModelLimits] = {}


class StateConfig(msgspec.Struct, **_STRUCT):
    """Where limits, parallel counters and spend live: this process ("local") or Redis,
    shared by every worker and instance that points at the same server."""

    backend: Literal["local", "redis"] = "local"
    redis_url: str = DEFAULT_REDIS_URL
    redis_url_env: str | None = None  # an environment variable holding the URL (passwords)
    prefix: str = DEFAULT_STATE_PREFIX
    timeout_s: float = DEFAULT_REDIS_TIMEOUT_S
    # when Redis cannot be reached: keep serving under per-instance local limits, or 503
    on_redis_down: Literal["fail_open", "fail_closed"] = "fail_open"


class Price(msgspec.Struct, **_STRUCT):
    """USD per million tokens."""

    input: float
    output: float
    cached_input: float | None = None


class StorageConfig(msgspec.Struct, **_STRUCT):
    """The SQLite database holding runtime-created keys and teams and the usage log."""

    sqlite_path: str = DEFAULT_SQLITE_PATH


class UsageConfig(msgspec.Struct, **_STRUCT):
    enabled: bool = True
    flush_interval_s: float = DEFAULT_USAGE_FLUSH_S
    batch_max: int = DEFAULT_USAGE_BATCH


class AdminConfig(msgspec.Struct, **_STRUCT):
    key_env: str = DEFAULT_ADMIN_KEY_ENV  # the admin API is off unless this variable is set


class Config(msgspec.Struct, **_STRUCT):
    server: ServerConfig = ServerConfig()
    cache: CacheConfig = CacheConfig()
    providers: dict[str, ProviderConfig] = {}
    models: list[ModelConfig] = []
    keys: list[KeyConfig] = []
    teams: list[TeamConfig] = []
    limits: LimitsConfig = LimitsConfig()
    state: StateConfig = StateConfig()
    prices: dict[str, Price] = {}  # upstream model name -> price, over the shipped table
    storage: StorageConfig = StorageConfig()
    usage: UsageConfig = UsageConfig()
    admin: AdminConfig = AdminConfig()


_HASH_RE = re.compile(r"^(sha256:)?[0-9a-f]{64}$")
_REDIS_URL_RE = re.compile(r"^rediss?://\S+$|^unix://\S+$")
_URL_RE = re.compile(r"^https?://[^/\s:]+(:\d{1,5})?(/\S*)?$")


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read, decode and validate a TOML file. Raises ``ConfigError`` listing every problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [f"cannot read the file: {exc.strerror}"]) from None
    return _resolve_paths(parse_config(text, source), Path(path).parent)


def _resolve_paths(config: Config, base: Path) -> Config:
    """A relative ``storage.sqlite_path`` is relative to the config file's directory, so every
    worker, ``fastgw usage`` and ``fastgw keys`` open the same file whatever their cwd."""
    sqlite_path = Path(config.storage.sqlite_path)
    if sqlite_path.is_absolute():
        return config
    resolved = str((base / sqlite_path).resolve())
    storage = msgspec.structs.replace(config.storage, sqlite_path=resolved)
    return msgspec.structs.replace(config, storage=storage)


def parse_config(
    text: str, source: str = "<config>", env: Mapping[str, str] | None = None
) -> Config:
    """Decode and validate TOML text; ``env`` (default: the process environment) is where
    the variables named by ``api_key_env`` must exist."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [f"TOML syntax error: {exc}"]) from None
    errors = _check_shape(raw, Config, "")
    if errors:
        raise ConfigError(source, errors)
    config = msgspec.convert(raw, Config)
    errors = _check_meaning(config, os.environ if env is None else env)
    if errors:
        raise ConfigError(source, errors)
    return config


def limits_wanted(config: Config) -> bool:
    """Whether the limiter belongs in the pipeline (see ``LimitsConfig.enabled``)."""
    if config.limits.enabled is not None:
        return config.limits.enabled
    holders: list[LimitFields] = [*config.keys, *config.teams, *config.limits.models.values()]
    return any(
        getattr(h, name) is not None
        for h in holders
        for name in ("rpm", "tpm", "parallel", "budget_day_usd", "budget_month_usd")
    )


def redis_url(state: StateConfig) -> str:
    """The Redis URL: from ``redis_url_env`` when it names a variable, else ``redis_url``.
    It may hold a password: never log it (``redacted_url``)."""
    if state.redis_url_env is not None:
        return os.environ.get(state.redis_url_env, state.redis_url)
    return state.redis_url


def redacted_url(url: str) -> str:
    """``url`` without its credentials, for logs."""
    return re.sub(r"//[^@/]*@", "//***@", url)


def check_workers(config: Config, workers: int) -> list[str]:
    """Errors of serving ``config`` with ``workers`` processes: local limits would be kept
    per process and so multiplied by the number of workers."""
    if workers > 1 and config.state.backend == "local" and limits_wanted(config):
        return [
            f"state.backend: limits and budgets are set and fastgw would run {workers} "
            'workers; set [state] backend = "redis" so that they share one count '
            "(or run one worker)"
        ]
    return []


def config_path_from_env() -> str:
    """The config path handed to server workers by ``fastgw serve``."""
    return os.environ.get(CONFIG_ENV, DEFAULT_CONFIG_PATH)


def admin_key(config: Config) -> str | None:
    """The admin API's key, from the variable ``[admin] key_env`` names (None: the admin API
    is off). Never logged."""
    return os.environ.get(config.admin.key_env) or None


def provider_api_key(provider: OpenAIProvider) -> str | None:
    """The provider's upstream key, read from the variable the TOML names. Never logged."""
    if provider.api_key_env is None:
        return None
    return os.environ.get(provider.api_key_env)


# -- shape: types and keys, every error with its path ------------------------------------------


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not re.fullmatch(r"[A-Za-z0-9_-]+", key):
        key = f'"{key}"'
    return f"{path}.{key}" if path else key


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        # TOML has no null, so None is not offered; two Structs both read "a table", once
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(dict.fromkeys(_type_name(a) for a in args))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is list:
        return f"an array of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "a table"
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return "a table"
    return {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _check_shape(value: Any, tp: Any, path: str) -> list[str]:
    origin = typing.get_origin(tp)
    here = path or "the top level"
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        if not isinstance(value, dict):
            return [f"{here}: expected a table, got {_toml_kind(value)}"]
        return _check_struct(value, tp, path)
    if origin in (typing.Union, types.UnionType):
        structs = [
            a for a in typing.get_args(tp) if isinstance(a, type) and issubclass(a, msgspec.Struct)
        ]
        if structs and isinstance(value, dict):
            tags = {a.__struct_config__.tag: a for a in structs}
            tag = value.get("type")
            if tag not in tags:
                choices = ", ".join(f'"{t}"' for t in tags)
                got = "it is missing" if tag is None else f"got {tag!r}"
                return [f"{_join(path, 'type')}: set type to one of {choices} ({got})"]
            body = {k: v for k, v in value.items() if k != "type"}
            return _check_struct(body, tags[tag], path)
    if origin is list and isinstance(value, list):
        (item,) = typing.get_args(tp)
        return [e for i, v in enumerate(value) for e in _check_shape(v, item, _join(path, i))]
    if origin is dict and isinstance(value, dict):
        _, item = typing.get_args(tp)
        return [e for k, v in value.items() for e in _check_shape(v, item, _join(path, k))]
    try:
        msgspec.convert(value, tp)
    except msgspec.ValidationError:
        return [f"{here}: expected {_type_name(tp)}, got {_toml_kind(value)} {value!r}"]
    return _check_number(value, here)


def _check_number(value: Any, here: str) -> list[str]:
    """Every number of the TOML is finite (TOML allows nan and inf) and fits in 64 bits (TOML's
    integer range, which Python's reader does not enforce): fastgw hands them to C code, to
    timers and to Redis."""
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{here}: {value!r} is not a finite number; write a number"]
    if isinstance(value, int) and not isinstance(value, bool) and not -_INT64 <= value < _INT64:
        return [f"{here}: {value} does not fit in a 64-bit integer; write a smaller number"]
    return []


def _check_struct(value: dict[str, Any], tp: type[msgspec.Struct], path: str) -> list[str]:
    errors: list[str] = []
    fields = {f.encode_name: f for f in msgspec.structs.fields(tp)}
    for key in value:
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = (
                f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(fields)}"
            )
            errors.append(f"{_join(path, key)}: unknown key{hint}")
    for name, field in fields.items():
        if name in value:
            errors.extend(_check_shape(value[name], field.type, _join(path, name)))
        elif field.required:
            errors.append(f"{_join(path, name)}: missing; add it ({_type_name(field.type)})")
    return errors


def _toml_kind(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


# -- meaning: references, ranges, secrets -----------------------------------------------------


def _check_meaning(config: Config, env: Mapping[str, str]) -> list[str]:
    errors: list[str] = []
    server = config.server
    if not 0 < server.port < 65536:
        errors.append(f"server.port: {server.port} is not a TCP port; use 1-65535")
    if server.workers < 1:
        errors.append("server.workers: must be at least 1")
    if server.max_body_bytes < 1024:
        errors.append("server.max_body_bytes: must be at least 1024")
    if server.drain_timeout_s <= 0:
        errors.append("server.drain_timeout_s: must be above 0")
    if not 0 <= server.drain_grace_s <= MAX_DRAIN_GRACE_S:
        errors.append(
            f"server.drain_grace_s: {server.drain_grace_s} is out of range; "
            f"use 0-{MAX_DRAIN_GRACE_S:g} seconds"
        )
    for field in ("header_timeout_s", "body_timeout_s"):
        value = getattr(server, field)
        if not MIN_CLIENT_TIMEOUT_S <= value <= MAX_CLIENT_TIMEOUT_S:
            errors.append(
                f"server.{field}: {value} is out of range; use "
                f"{MIN_CLIENT_TIMEOUT_S}-{MAX_CLIENT_TIMEOUT_S} seconds"
            )
    if not 1 <= server.max_connections <= MAX_CONNECTIONS_LIMIT:
        errors.append(
            f"server.max_connections: {server.max_connections} is out of range; "
            f"use 1-{MAX_CONNECTIONS_LIMIT} (open client connections per worker)"
        )
    for name, provider in config.providers.items():
        errors.extend(_check_provider(_join("providers", name), provider, env))
    errors.extend(_check_models(config))
    if config.cache.max_entries < 1 or config.cache.max_bytes < 1024:
        errors.append("cache: max_entries must be at least 1 and max_bytes at least 1024")
    errors.extend(_check_keys(config))
    errors.extend(_check_limits(config, env))
    return errors


def _check_provider(path: str, provider: ProviderConfig, env: Mapping[str, str]) -> list[str]:
    errors: list[str] = []
    if isinstance(provider, MockProvider):
        if provider.tokens < 1:
            errors.append(f"{path}.tokens: must be at least 1")
        if provider.tokens > MAX_MOCK_TOKENS:
            errors.append(f"{path}.tokens: must be at most {MAX_MOCK_TOKENS}")
        if provider.embedding_dims < 1:
            errors.append(f"{path}.embedding_dims: must be at least 1")
        if provider.embedding_dims > MAX_MOCK_EMBEDDING_DIMS:
            errors.append(f"{path}.embedding_dims: must be at most {MAX_MOCK_EMBEDDING_DIMS}")
        if provider.chunk_delay_ms < 0 or provider.first_token_delay_ms < 0:
            errors.append(f"{path}: delays cannot be negative")
        return errors
    if not _URL_RE.match(provider.base_url):
        errors.append(
            f"{path}.base_url: {provider.base_url!r} is not an http(s) URL; "
            "write it like 'https://api.openai.com/v1'"
        )
    if provider.api_key_env is not None and provider.api_key_env not in env:
        errors.append(
            f"{path}.api_key_env: the environment variable {provider.api_key_env} is not set; "
            "export it before starting fastgw (the key itself never goes in the TOML)"
        )
    for key in provider.headers:
        if key.lower() in ("authorization", "api-key", provider.api_key_header.lower()):
            errors.append(
                f"{path}.headers.{key}: secrets do not go in the TOML; "
                "name an environment variable with api_key_env instead"
            )
    t = provider.timeouts
    for field in ("connect_s", "first_byte_s", "idle_s", "total_s", "first_token_s"):
        if getattr(t, field) <= 0:
            errors.append(f"{path}.timeouts.{field}: must be above 0")
    if provider.pool.max_connections < 1:
        errors.append(f"{path}.pool.max_connections: must be at least 1")
    return errors


def _check_models(config: Config) -> list[str]:
    errors: list[str] = []
    seen: set[str] = set()
    known = ", ".join(config.providers) or "(none defined)"
    for i, model in enumerate(config.models):
        path = f"models[{i}]"
        if model.name in seen:
            errors.append(f"{path}.name: {model.name!r} is defined twice; model names are unique")
        seen.add(model.name)
        if not model.deployments:
            errors.append(f"{path}.deployments: add at least one deployment")
        for j, dep in enumerate(model.deployments):
            if dep.provider not in config.providers:
                errors.append(
                    f"{path}.deployments[{j}].provider: unknown provider {dep.provider!r}; "
                    f"define [providers.{dep.provider}] or use one of: {known}"
                )
            if dep.weight <= 0:
                errors.append(f"{path}.deployments[{j}].weight: must be above 0")
        if model.cache is not None and model.cache.ttl_s <= 0:
            errors.append(f"{path}.cache.ttl_s: must be above 0")
    for i, model in enumerate(config.models):
        errors.extend(_check_routing(f"models[{i}]", model, seen))
    return errors


def deployment_names(model: ModelConfig) -> list[str]:
    """The names a model's deployments go by in logs, metrics and ``x-fastgw-attempts``:
    ``name`` if set, else the provider's name, or ``provider/model`` when the model has
    several deployments on that provider."""
    providers = [d.provider for d in model.deployments]
    return [
        d.name
        if d.name is not None
        else d.provider
        if providers.count(d.provider) == 1
        else f"{d.provider}/{d.model}"
        for d in model.deployments
    ]


def _check_routing(path: str, model: ModelConfig, models: set[str]) -> list[str]:
    errors: list[str] = []
    names: set[str] = set()
    for j, (dep, name) in enumerate(zip(model.deployments, deployment_names(model), strict=True)):
        at = f"{path}.deployments[{j}]"
        if name in names:
            errors.append(
                f"{at}: another deployment of this model is also named {name!r}; "
                "give each a unique name"
            )
        names.add(name)
        for field in ("rpm", "tpm"):
            value = getattr(dep, field)
            if value is not None and value < 1:
                errors.append(f"{at}.{field}: must be at least 1 (leave it out for no limit)")
        if dep.input_cost_per_mtok < 0 or dep.output_cost_per_mtok < 0:
            errors.append(f"{at}: costs cannot be negative")
        errors.extend(_check_overrides(f"{at}.timeouts", dep.timeouts))
    errors.extend(_check_overrides(f"{path}.timeouts", model.timeouts))
    for field in ("fallbacks", "context_fallbacks", "content_policy_fallbacks"):
        for k, name in enumerate(getattr(model, field)):
            if name == model.name:
                errors.append(f"{path}.{field}[{k}]: a model cannot fall back to itself")
            elif name not in models:
                errors.append(f"{path}.{field}[{k}]: unknown model {name!r}; use a [[models]] name")
    retry = model.retry
    if retry is not None:
        if retry.retries < 0:
            errors.append(f"{path}.retry.retries: cannot be negative")
        if retry.max_attempts is not None and retry.max_attempts < 1:
            errors.append(f"{path}.retry.max_attempts: must be at least 1")
        for field in ("budget_s", "backoff_max_s", "max_retries_per_s"):
            if getattr(retry, field) <= 0:
                errors.append(f"{path}.retry.{field}: must be above 0")
        if retry.backoff_s < 0:
            errors.append(f"{path}.retry.backoff_s: cannot be negative")
        if not 0 <= retry.jitter <= 1:
            errors.append(f"{path}.retry.jitter: must be between 0 and 1")
    circuit = model.circuit
    if circuit is not None:
        if circuit.failures < 1:
            errors.append(f"{path}.circuit.failures: must be at least 1")
        if circuit.error_ratio is not None and not 0 < circuit.error_ratio <= 1:
            errors.append(f"{path}.circuit.error_ratio: must be above 0 and at most 1")
        if circuit.window_s <= 0 or circuit.cooldown_s <= 0:
            errors.append(f"{path}.circuit: window_s and cooldown_s must be above 0")
        if circuit.min_requests < 1:
            errors.append(f"{path}.circuit.min_requests: must be at least 1")
    check = model.health_check
    if check is not None and (check.interval_s <= 0 or check.timeout_s <= 0):
        errors.append(f"{path}.health_check: interval_s and timeout_s must be above 0")
    if check is not None and circuit is not None and not circuit.enabled:
        errors.append(
            f"{path}.health_check: health checks act through the circuit breaker; "
            "remove circuit.enabled = false or the health_check table"
        )
    return errors


def _check_overrides(path: str, overrides: TimeoutOverrides | None) -> list[str]:
    if overrides is None:
        return []
    return [
        f"{path}.{field}: must be above 0"
        for field in msgspec.structs.asdict(overrides)
        if getattr(overrides, field) is not None and getattr(overrides, field) <= 0
    ]


#: Default cache namespaces (``key:<id>:<digest>``, fastgw.keys) begin with this; a configured
#: ``cache_namespace`` may not, so no key can be given another key's default namespace.
RESERVED_NAMESPACE_PREFIX = "key:"
MAX_NAMESPACE_CHARS = 128


def namespace_problem(namespace: str) -> str | None:
    """Why ``namespace`` cannot be a configured ``cache_namespace``, or None."""
    if not namespace or len(namespace) > MAX_NAMESPACE_CHARS:
        return f"must be 1 to {MAX_NAMESPACE_CHARS} characters"
    if namespace.startswith(RESERVED_NAMESPACE_PREFIX):
        return (
            f"may not begin with {RESERVED_NAMESPACE_PREFIX!r}, which is reserved for the "
            "keys' own default namespaces; name a shared namespace like 'team-a'"
        )
    return None


def _check_keys(config: Config) -> list[str]:
    errors: list[str] = []
    ids: set[str] = set()
    hashes: set[str] = set()
    models = {m.name for m in config.models}
    teams = {t.id for t in config.teams}
    for i, key in enumerate(config.keys):
        path = f"keys[{i}]"
        errors.extend(_check_limit_fields(path, key))
        if key.team is not None and key.team not in teams:
            errors.append(
                f"{path}.team: unknown team {key.team!r}; add a [[teams]] entry with that id"
            )
        if key.expires_at is not None:
            from .keys import parse_expiry  # here: fastgw.keys imports this module

            try:
                parse_expiry(key.expires_at)  # a date-time, and one a UTC calendar can show
            except ValueError:
                errors.append(
                    f"{path}.expires_at: {key.expires_at!r} is not an ISO 8601 date or "
                    "date-time; write it like '2027-01-31' or '2027-01-31T18:00:00+01:00'"
                )
        if key.cache_namespace is not None and (problem := namespace_problem(key.cache_namespace)):
            errors.append(f"{path}.cache_namespace: {problem}")
        if key.id in ids:
            errors.append(f"{path}.id: {key.id!r} is used twice; key ids are unique")
        ids.add(key.id)
        if not _HASH_RE.match(key.hash):
            errors.append(
                f"{path}.hash: not a SHA-256 hash; run `fastgw hash-key` and paste its "
                "'sha256:...' line (never the key itself)"
            )
        elif key.hash.removeprefix("sha256:") in hashes:
            errors.append(f"{path}.hash: the same key is configured twice")
        hashes.add(key.hash.removeprefix("sha256:"))
        for model in key.models:
            if model != "*" and model not in models:
                errors.append(
                    f"{path}.models: unknown model {model!r}; use '*' or a [[models]] name"
                )
    return errors


def _check_limit_fields(path: str, item: LimitFields) -> list[str]:
    return [f"{path}.{problem}" for problem in limit_problems(item)]


def limit_problems(item: Any) -> list[str]:
    """What is wrong with the limits and budgets of ``item`` (a key, team or model: TOML or
    admin API), each as ``"field: why"``: limits are whole numbers from 1 to ``MAX_LIMIT``,
    budgets finite amounts above 0 and at most ``MAX_BUDGET_USD``."""
    problems: list[str] = []
    for name in ("rpm", "tpm", "parallel"):
        value = getattr(item, name)
        if value is not None and value < 1:
            problems.append(f"{name}: must be at least 1 (leave it out for no limit)")
        elif value is not None and value > MAX_LIMIT:
            problems.append(f"{name}: must be at most {MAX_LIMIT} (leave it out for no limit)")
    for name in ("budget_day_usd", "budget_month_usd"):
        value = getattr(item, name)
        if value is not None and not value > 0:  # NaN too
            problems.append(f"{name}: must be above 0 (leave it out for no budget)")
        elif value is not None and not value <= MAX_BUDGET_USD:  # inf too
            problems.append(
                f"{name}: must be at most {MAX_BUDGET_USD:.0f} (leave it out for no budget)"
            )
    return problems


def _check_limits(config: Config, env: Mapping[str, str]) -> list[str]:
    errors: list[str] = []
    seen: set[str] = set()
    models = {m.name for m in config.models}
    for i, team in enumerate(config.teams):
        path = f"teams[{i}]"
        if team.id in seen:
            errors.append(f"{path}.id: {team.id!r} is used twice; team ids are unique")
        seen.add(team.id)
        errors.extend(_check_limit_fields(path, team))
        for model in team.models:
            if model != "*" and model not in models:
                errors.append(f"{path}.models: unknown model {model!r}; use '*' or a model name")
    limits = config.limits
    try:
        zoneinfo.ZoneInfo(limits.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors.append(
            f"limits.timezone: unknown time zone {limits.timezone!r}; use an IANA name "
            "such as 'UTC' or 'Europe/Paris'"
        )
    if limits.default_completion_tokens > MAX_COMPLETION_TOKENS:
        errors.append(f"limits.default_completion_tokens: must be at most {MAX_COMPLETION_TOKENS}")
    if limits.default_completion_tokens < 1:
        errors.append("limits.default_completion_tokens: must be at least 1")
    if not 0 < limits.max_reservation_share <= 1:  # also refuses nan
        errors.append(
            "limits.max_reservation_share: must be above 0 and at most 1 (the share of a "
            f"budget one request may reserve; default {DEFAULT_MAX_RESERVATION_SHARE})"
        )
    for name, model_limits in limits.models.items():
        path = _join(_join("limits", "models"), name)
        if name not in models:
            errors.append(f"{path}: unknown model {name!r}; use a [[models]] name")
        errors.extend(_check_limit_fields(path, model_limits))
    state = config.state
    if state.timeout_s <= 0:
        errors.append("state.timeout_s: must be above 0")
    if state.backend == "redis":
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
    errors.extend(check_workers(config, config.server.workers))
    for name, price in config.prices.items():
        values = (price.input, price.output, price.cached_input or 0.0)
        if min(values) < 0:
            errors.append(f"{_join('prices', name)}: prices cannot be negative")
    if config.usage.flush_interval_s <= 0 or config.usage.batch_max < 1:
        errors.append("usage: flush_interval_s must be above 0 and batch_max at least 1")
    return errors
