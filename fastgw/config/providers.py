"""``[providers.NAME]``: the upstreams (OpenAI-compatible, Anthropic, Gemini, Bedrock, Cohere,
or the embedded mock), their timeouts and connection pools.

Rules this module keeps:
- A provider is a tagged table: ``type = "openai" | "anthropic" | "gemini" | "bedrock" |
  "cohere" | "mock"``. Every network provider has ``base_url`` (a documented default for the
  native ones), ``api_key_env``, ``headers``, ``timeouts`` and ``pool``.
- Secrets never appear in the TOML: a provider names the environment variable holding its key
  (``api_key_env``), which must be set; ``headers`` may not carry a key.
- Every timeout is above 0; a model's or deployment's ``TimeoutOverrides`` leave out what
  they keep from the provider (deployment over model over provider).
"""

from __future__ import annotations

import importlib.util
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
DEFAULT_NATIVE_RESPONSES = False

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
    # true for an upstream that serves OpenAI's Responses API itself (POST {base_url}/responses:
    # OpenAI, Azure OpenAI v1): the gateway's /v1/responses goes there as written instead of
    # through chat completions (fastgw.protocols.responses.native). False by default: many
    # OpenAI-compatible servers have no /responses
    responses: bool = DEFAULT_NATIVE_RESPONSES


# Anthropic requires max_tokens; a client that sends neither max_tokens nor
# max_completion_tokens gets this (Anthropic's SDK examples use 1024; 4096 fits every current
# Claude model's output limit and seldom cuts an answer)
DEFAULT_ANTHROPIC_MAX_TOKENS = 4096
DEFAULT_ANTHROPIC_VERSION = "2023-06-01"


class AnthropicProvider(msgspec.Struct, tag_field="type", tag="anthropic", **STRUCT):
    """Anthropic's Messages API, translated from and to OpenAI's chat completions."""

    base_url: str = "https://api.anthropic.com"
    api_key_env: str | None = None
    api_key_header: str = "x-api-key"
    version: str = DEFAULT_ANTHROPIC_VERSION  # the anthropic-version header
    beta: list[str] = []  # anthropic-beta header values
    max_tokens: int = DEFAULT_ANTHROPIC_MAX_TOKENS
    headers: dict[str, str] = {}
    timeouts: Timeouts = Timeouts()
    pool: PoolConfig = PoolConfig()


class GeminiProvider(msgspec.Struct, tag_field="type", tag="gemini", **STRUCT):
    """Google's Gemini API (generateContent, streamGenerateContent?alt=sse, embedContent).
    A Vertex AI base URL (``https://REGION-aiplatform.googleapis.com/v1/projects/P/locations/
    REGION/publishers/google``) fits with ``api_key_header = "authorization"`` (a bearer
    token)."""

    base_url: str = "https://generativelanguage.googleapis.com/v1beta"
    api_key_env: str | None = None
    api_key_header: str = "x-goog-api-key"
    headers: dict[str, str] = {}
    timeouts: Timeouts = Timeouts()
    pool: PoolConfig = PoolConfig()


class BedrockProvider(msgspec.Struct, tag_field="type", tag="bedrock", **STRUCT):
    """Amazon Bedrock's Converse / ConverseStream and InvokeModel (embeddings), signed with
    SigV4 from the AWS credentials the ``*_env`` fields name, or with a Bedrock API key
    (``api_key_env``, sent as a bearer token) instead."""

    region: str
    base_url: str | None = None  # default https://bedrock-runtime.REGION.amazonaws.com
    access_key_id_env: str = "AWS_ACCESS_KEY_ID"
    secret_access_key_env: str = "AWS_SECRET_ACCESS_KEY"
    session_token_env: str | None = None
    api_key_env: str | None = None
    headers: dict[str, str] = {}
    timeouts: Timeouts = Timeouts()
    pool: PoolConfig = PoolConfig()


class CohereProvider(msgspec.Struct, tag_field="type", tag="cohere", **STRUCT):
    """Cohere's v2 API (chat, embed)."""

    base_url: str = "https://api.cohere.com"
    api_key_env: str | None = None
    api_key_header: str = "authorization"
    headers: dict[str, str] = {}
    timeouts: Timeouts = Timeouts()
    pool: PoolConfig = PoolConfig()


NetworkProvider = OpenAIProvider | AnthropicProvider | GeminiProvider | CohereProvider


class MockProvider(msgspec.Struct, tag_field="type", tag="mock", **STRUCT):
    """The embedded deterministic provider: no network, no keys."""

    tokens: int = DEFAULT_MOCK_TOKENS
    chunk_delay_ms: float = 0.0
    first_token_delay_ms: float = 0.0
    embedding_dims: int = DEFAULT_MOCK_EMBEDDING_DIMS


ProviderConfig = (
    OpenAIProvider
    | AnthropicProvider
    | GeminiProvider
    | BedrockProvider
    | CohereProvider
    | MockProvider
)


def bedrock_base_url(provider: BedrockProvider) -> str:
    return provider.base_url or f"https://bedrock-runtime.{provider.region}.amazonaws.com"


def bedrock_credentials(provider: BedrockProvider) -> tuple[str, str, str | None]:
    """The AWS access key id, secret key and session token (None if not named) from the
    variables the TOML names, for SigV4. Never logged."""
    token = os.environ.get(provider.session_token_env) if provider.session_token_env else None
    return (
        os.environ.get(provider.access_key_id_env, ""),
        os.environ.get(provider.secret_access_key_env, ""),
        token,
    )


def provider_api_key(provider: NetworkProvider | BedrockProvider) -> str | None:
    """The provider's upstream key, read from the variable the TOML names. Never logged."""
    if provider.api_key_env is None:
        return None
    return os.environ.get(provider.api_key_env)


def provider_secrets(provider: ProviderConfig) -> list[str]:
    """Every secret ``provider`` reads from the environment that is set (for the redactor)."""
    if isinstance(provider, MockProvider):
        return []
    names = [provider.api_key_env]
    if isinstance(provider, BedrockProvider):
        names += [provider.access_key_id_env, provider.secret_access_key_env]
        names.append(provider.session_token_env)
    return [value for name in names if name and (value := os.environ.get(name))]


def check_providers(providers: Mapping[str, ProviderConfig], env: Mapping[str, str]) -> list[str]:
    errors: list[str] = []
    for name, provider in providers.items():
        path = join("providers", name)
        if isinstance(provider, MockProvider):
            errors.extend(_check_mock(path, provider))
        elif isinstance(provider, BedrockProvider):
            errors.extend(_check_bedrock(path, provider, env))
        else:
            errors.extend(_check_network(path, provider, env))
            if isinstance(provider, AnthropicProvider) and not 1 <= provider.max_tokens <= 2**24:
                errors.append(f"{path}.max_tokens: must be between 1 and {2**24}")
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


_SECRET_HEADERS = ("authorization", "api-key", "x-api-key", "x-goog-api-key")


def _check_network(path: str, provider: NetworkProvider, env: Mapping[str, str]) -> list[str]:
    errors = _check_url(path, provider.base_url)
    errors += _check_env(path, "api_key_env", provider.api_key_env, env)
    errors += _check_headers(path, provider.headers, provider.api_key_header)
    errors += _check_transport(path, provider.timeouts, provider.pool)
    return errors


def _check_bedrock(path: str, provider: BedrockProvider, env: Mapping[str, str]) -> list[str]:
    errors: list[str] = []
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d{1,2}", provider.region):
        errors.append(f"{path}.region: {provider.region!r} is not an AWS region like 'us-east-1'")
    errors += _check_url(path, bedrock_base_url(provider))
    if provider.api_key_env is not None:
        errors += _check_env(path, "api_key_env", provider.api_key_env, env)
    else:
        errors += _check_env(path, "access_key_id_env", provider.access_key_id_env, env)
        errors += _check_env(path, "secret_access_key_env", provider.secret_access_key_env, env)
        errors += _check_env(path, "session_token_env", provider.session_token_env, env)
        if importlib.util.find_spec("botocore") is None:  # the SigV4 signer
            errors.append(
                f"{path}: SigV4 signing needs botocore; install it with "
                "pip install 'fastgw[bedrock]'"
            )
    errors += _check_headers(path, provider.headers, "authorization")
    errors += _check_transport(path, provider.timeouts, provider.pool)
    return errors


def _check_url(path: str, url: str) -> list[str]:
    if _URL_RE.match(url):
        return []
    return [
        f"{path}.base_url: {url!r} is not an http(s) URL; write it like 'https://api.openai.com/v1'"
    ]


def _check_env(path: str, field: str, name: str | None, env: Mapping[str, str]) -> list[str]:
    if name is None or name in env:
        return []
    return [
        f"{path}.{field}: the environment variable {name} is not set; "
        "export it before starting fastgw (the key itself never goes in the TOML)"
    ]


def _check_headers(path: str, headers: Mapping[str, str], key_header: str) -> list[str]:
    return [
        f"{path}.headers.{key}: secrets do not go in the TOML; "
        "name an environment variable with api_key_env instead"
        for key in headers
        if key.lower() in (*_SECRET_HEADERS, key_header.lower())
    ]


def _check_transport(path: str, t: Timeouts, pool: PoolConfig) -> list[str]:
    errors: list[str] = []
    for field in ("connect_s", "first_byte_s", "idle_s", "total_s", "first_token_s"):
        if getattr(t, field) <= 0:
            errors.append(f"{path}.timeouts.{field}: must be above 0")
    if pool.max_connections < 1:
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
