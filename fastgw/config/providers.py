"""``[providers.NAME]``: the upstreams (OpenAI-compatible, or the embedded mock), their
timeouts and connection pools.

Rules this module keeps:
- A provider is a tagged table: ``type = "openai"`` or ``type = "mock"``.
- Secrets never appear in the TOML: a provider names the environment variable holding its key
  (``api_key_env``), which must be set; ``headers`` may not carry a key.
- Every timeout is above 0; a model's or deployment's ``TimeoutOverrides`` leave out what
  they keep from the provider (deployment over model over provider).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import msgspec

from ._base import STRUCT, join

DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_FIRST_BYTE_TIMEOUT_S = 120.0
DEFAULT_IDLE_TIMEOUT_S = 60.0
DEFAULT_TOTAL_TIMEOUT_S = 600.0
DEFAULT_FIRST_TOKEN_TIMEOUT_S = 120.0
DEFAULT_POOL_CONNECTIONS = 256
DEFAULT_KEEPALIVE_EXPIRY_S = 60.0
DEFAULT_MOCK_TOKENS = 16
DEFAULT_MOCK_EMBEDDING_DIMS = 1536
MAX_MOCK_TOKENS = 65_536  # the mock's answer length, in tokens (words)
MAX_MOCK_EMBEDDING_DIMS = 4096  # the mock's embedding size (OpenAI's largest: 3072)
# ask OpenAI-compatible upstreams for a stream's usage (stream_options.include_usage) when the
# client did not, and leave that usage event out of what the client receives
DEFAULT_STREAM_USAGE = True

_URL_RE = re.compile(r"^https?://[^/\s:]+(:\d{1,5})?(/\S*)?$")


class Timeouts(msgspec.Struct, **STRUCT):
    connect_s: float = DEFAULT_CONNECT_TIMEOUT_S
    first_byte_s: float = DEFAULT_FIRST_BYTE_TIMEOUT_S
    idle_s: float = DEFAULT_IDLE_TIMEOUT_S
    total_s: float = DEFAULT_TOTAL_TIMEOUT_S
    # streams: from sending the request to the first SSE data event
    first_token_s: float = DEFAULT_FIRST_TOKEN_TIMEOUT_S


class TimeoutOverrides(msgspec.Struct, **STRUCT):
    """Timeouts of one model or deployment; a key left out keeps the provider's value
    (deployment over model over provider)."""

    connect_s: float | None = None
    first_byte_s: float | None = None
    first_token_s: float | None = None
    idle_s: float | None = None
    total_s: float | None = None


class PoolConfig(msgspec.Struct, **STRUCT):
    max_connections: int = DEFAULT_POOL_CONNECTIONS
    keepalive_expiry_s: float = DEFAULT_KEEPALIVE_EXPIRY_S


class OpenAIProvider(msgspec.Struct, tag_field="type", tag="openai", **STRUCT):
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


class MockProvider(msgspec.Struct, tag_field="type", tag="mock", **STRUCT):
    """The embedded deterministic provider: no network, no keys."""

    tokens: int = DEFAULT_MOCK_TOKENS
    chunk_delay_ms: float = 0.0
    first_token_delay_ms: float = 0.0
    embedding_dims: int = DEFAULT_MOCK_EMBEDDING_DIMS


ProviderConfig = OpenAIProvider | MockProvider


def provider_api_key(provider: OpenAIProvider) -> str | None:
    """The provider's upstream key, read from the variable the TOML names. Never logged."""
    if provider.api_key_env is None:
        return None
    return os.environ.get(provider.api_key_env)


def check_providers(providers: Mapping[str, ProviderConfig], env: Mapping[str, str]) -> list[str]:
    errors: list[str] = []
    for name, provider in providers.items():
        path = join("providers", name)
        if isinstance(provider, MockProvider):
            errors.extend(_check_mock(path, provider))
        else:
            errors.extend(_check_openai(path, provider, env))
    return errors


def _check_mock(path: str, provider: MockProvider) -> list[str]:
    errors: list[str] = []
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


def _check_openai(path: str, provider: OpenAIProvider, env: Mapping[str, str]) -> list[str]:
    errors: list[str] = []
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


def check_overrides(path: str, overrides: TimeoutOverrides | None) -> list[str]:
    if overrides is None:
        return []
    return [
        f"{path}.{field}: must be above 0"
        for field in msgspec.structs.asdict(overrides)
        if getattr(overrides, field) is not None and getattr(overrides, field) <= 0
    ]
