"""Configuration: the shipped files load, and every mistake is reported with its key path."""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec
import pytest

from fastgw import config as cfg
from fastgw.config import (
    AnthropicProvider,
    BedrockProvider,
    CohereProvider,
    Config,
    ConfigError,
    GeminiProvider,
    MockProvider,
    OpenAIProvider,
    ServerConfig,
    load_config,
    parse_config,
    provider_api_key,
)
from fastgw.keys import hash_key

ROOT = Path(__file__).resolve().parent.parent
HASH_A = hash_key("sk-a")
HASH_B = hash_key("sk-b")

VALID = f"""
[server]
port = 9000
max_body_bytes = 2048

[providers.mock]
type = "mock"
tokens = 4

[providers.up]
type = "openai"
base_url = "https://api.example.com/v1"
api_key_env = "UP_KEY"
headers = {{ OpenAI-Organization = "org-1" }}
timeouts = {{ connect_s = 1, total_s = 30 }}

[[models]]
name = "chat"
deployments = [
    {{ provider = "mock", model = "m1" }},
    {{ provider = "up", model = "gpt-4o", weight = 2 }},
]

[[keys]]
id = "a"
hash = "{HASH_A}"

[[keys]]
id = "b"
hash = "{HASH_B.removeprefix("sha256:")}"
models = ["chat"]
"""


def errors_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "test.toml", {} if env is None else env)
    return info.value.errors


# -- what loads ---------------------------------------------------------------------------------


def test_shipped_config_loads() -> None:
    """``config/fastgw.toml`` (what ``make run`` serves) is valid as shipped, with no env."""
    config = load_config(ROOT / "config" / "fastgw.toml")
    assert {m.name for m in config.models} >= {"gpt-4o-mini", "text-embedding-3-small"}
    assert all(isinstance(p, MockProvider) for p in config.providers.values())
    assert [k.id for k in config.keys] == ["dev"]


def test_example_config_loads() -> None:
    """``config/fastgw.example.toml`` is valid once the variables it names are set."""
    path = ROOT / "config" / "fastgw.example.toml"
    if not path.exists():
        pytest.skip("config/fastgw.example.toml is not written yet")
    text = path.read_text()
    providers = tomllib.loads(text).get("providers", {})
    env = {p["api_key_env"]: "sk-x" for p in providers.values() if "api_key_env" in p}
    env |= {"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s"}  # the bedrock provider
    config = parse_config(text, str(path), env)
    assert config.models and config.providers and config.keys
    kinds = {type(p).__struct_config__.tag for p in config.providers.values()}
    assert kinds == {"mock", "openai", "anthropic", "gemini", "bedrock", "cohere"}
    assert config.passthrough and config.responses.store


def test_valid_config_decodes_to_typed_structs() -> None:
    """A valid file gives typed, tagged provider structs and the values written."""
    config = parse_config(VALID, "test.toml", {"UP_KEY": "sk-up"})
    assert config.server.port == 9000
    assert config.server.host == cfg.DEFAULT_HOST
    mock, up = config.providers["mock"], config.providers["up"]
    assert isinstance(mock, MockProvider) and mock.tokens == 4
    assert isinstance(up, OpenAIProvider)
    assert up.base_url == "https://api.example.com/v1"
    assert up.headers == {"OpenAI-Organization": "org-1"}
    assert (up.timeouts.connect_s, up.timeouts.total_s) == (1.0, 30.0)
    assert up.timeouts.idle_s == cfg.DEFAULT_IDLE_TIMEOUT_S
    assert [d.weight for d in config.models[0].deployments] == [1.0, 2.0]
    assert config.keys[0].models == ["*"]
    assert config.keys[1].models == ["chat"]


def test_empty_file_gives_the_named_defaults() -> None:
    """An empty file is a valid config whose values are the module's named defaults."""
    config = parse_config("", "empty.toml", {})
    server = config.server
    assert (server.host, server.port, server.workers) == (
        cfg.DEFAULT_HOST,
        cfg.DEFAULT_PORT,
        cfg.DEFAULT_WORKERS,
    )
    assert server.max_body_bytes == cfg.DEFAULT_MAX_BODY_BYTES
    assert server.drain_timeout_s == cfg.DEFAULT_DRAIN_TIMEOUT_S
    assert (config.providers, config.models, config.keys) == ({}, [], [])


def test_mock_defaults() -> None:
    """A mock provider with only its type takes the named mock defaults."""
    config = parse_config('[providers.m]\ntype = "mock"\n', "t.toml", {})
    mock = config.providers["m"]
    assert isinstance(mock, MockProvider)
    assert (mock.tokens, mock.embedding_dims) == (
        cfg.DEFAULT_MOCK_TOKENS,
        cfg.DEFAULT_MOCK_EMBEDDING_DIMS,
    )


def test_structs_are_frozen() -> None:
    """The config cannot be changed after it was validated, at any depth."""
    config = parse_config(VALID, "test.toml", {"UP_KEY": "x"})
    with pytest.raises(AttributeError):
        config.server.port = 1  # type: ignore[misc]
    with pytest.raises(AttributeError):
        config.models[0].deployments[0].weight = 5.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        config.keys = []  # type: ignore[misc]


def test_structs_reject_unknown_fields_when_decoded_directly() -> None:
    """The Structs themselves forbid unknown keys, not only the shape check."""
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"prot": 1}, ServerConfig)


# -- shape errors: keys and types, with paths ---------------------------------------------------


def test_unknown_key_suggests_the_close_one() -> None:
    """A misspelt key names its path and the key that was probably meant."""
    assert errors_of("[server]\nprot = 1\n") == ["server.prot: unknown key; did you mean 'port'?"]


def test_unknown_key_without_close_match_lists_known_keys() -> None:
    """A key like nothing known lists the keys that are allowed there."""
    (error,) = errors_of(
        '[providers.p]\ntype = "mock"\n'
        '[[models]]\nname = "a"\ndeployments = [{provider = "p", model = "m", zzz = 1}]\n'
    )
    assert error == (
        "models[0].deployments[0].zzz: unknown key; known keys: provider, model, weight, "
        "name, tags, rpm, tpm, input_cost_per_mtok, output_cost_per_mtok, timeouts"
    )


def test_unknown_key_in_a_tagged_provider() -> None:
    """Provider keys are checked against the struct its ``type`` selects."""
    errors = errors_of('[providers.m]\ntype = "mock"\ntokns = 3\nbase_url = "http://x"\n')
    assert errors == [
        "providers.m.tokns: unknown key; did you mean 'tokens'?",
        "providers.m.base_url: unknown key; known keys: tokens, chunk_delay_ms, "
        "first_token_delay_ms, embedding_dims",
    ]


@pytest.mark.parametrize(
    "toml, error",
    [
        ("[server]\nport = true\n", "server.port: expected a whole number, got a boolean True"),
        ('[server]\nworkers = "2"\n', "server.workers: expected a whole number, got a string '2'"),
        (
            "[server]\nmax_body_bytes = 2048.5\n",
            "server.max_body_bytes: expected a whole number, got a float 2048.5",
        ),
        (
            "[server]\ndrain_timeout_s = true\n",
            "server.drain_timeout_s: expected a number, got a boolean True",
        ),
        (
            '[server]\naccess_log = "yes"\n',
            "server.access_log: expected true or false, got a string 'yes'",
        ),
        (
            '[server]\nlog_level = "loud"\n',
            "server.log_level: expected one of 'debug', 'info', 'warning', 'error', "
            "got a string 'loud'",
        ),
        ("server = 1\n", "server: expected a table, got an integer"),
        ("providers = 3\n", "providers: expected a table, got an integer 3"),
        ('[providers]\nmock = "x"\n', "providers.mock: expected a table, got a string 'x'"),
        ("models = {}\n", "models: expected an array of a table, got a table {}"),
        (
            '[providers.p]\ntype = "openai"\nbase_url = "http://x"\napi_key_env = 3\n',
            "providers.p.api_key_env: expected a string, got an integer 3",
        ),
        (
            "[[models]]\nname = 3\ndeployments = []\n",
            "models[0].name: expected a string, got an integer 3",
        ),
    ],
)
def test_wrong_types(toml: str, error: str) -> None:
    """A value of the wrong type names its path, what was expected and what was found."""
    assert errors_of(toml) == [error]


def test_missing_required_keys() -> None:
    """Required keys that are absent are each reported, with the type to add."""
    errors = errors_of(
        '[providers.up]\ntype = "openai"\n[[models]]\nname = "a"\n[[keys]]\nid = "k"\n'
    )
    assert errors == [
        "providers.up.base_url: missing; add it (a string)",
        "models[0].deployments: missing; add it (an array of a table)",
        "keys[0].hash: missing; add it (a string)",
    ]


@pytest.mark.parametrize(
    "type_line, got",
    [('type = "nope"', "got 'nope'"), ("", "it is missing")],
)
def test_provider_type(type_line: str, got: str) -> None:
    """A provider without a known ``type`` is told the choices."""
    errors = errors_of(f'[providers.p]\n{type_line}\nbase_url = "http://x"\n')
    kinds = '"openai", "anthropic", "gemini", "bedrock", "cohere", "mock"'
    assert errors == [f"providers.p.type: set type to one of {kinds} ({got})"]


def test_quoted_path_segments() -> None:
    """Names that are not bare TOML keys are quoted in the path."""
    assert errors_of('[providers."my.up"]\ntype = "mock"\ntokns = 1\n') == [
        "providers.\"my.up\".tokns: unknown key; did you mean 'tokens'?"
    ]


def test_every_shape_error_is_collected() -> None:
    """Shape errors anywhere in the file are all reported at once, in file order."""
    errors = errors_of(
        '[server]\nprot = 1\nworkers = "x"\n[providers.m]\ntype = "mock"\ntokns = 1\n'
        '[[models]]\nname = 1\ndeployments = []\n[[keys]]\nid = "a"\n'
    )
    assert [e.split(":")[0] for e in errors] == [
        "server.prot",
        "server.workers",
        "providers.m.tokns",
        "models[0].name",
        "keys[0].hash",
    ]


# -- meaning errors: references, ranges, secrets -------------------------------------------------


def test_unknown_provider_reference() -> None:
    """A deployment naming an undefined provider says which providers exist."""
    errors = errors_of(
        '[providers.mock]\ntype = "mock"\n'
        '[[models]]\nname = "a"\ndeployments = [{provider = "ghost", model = "x"}]\n'
    )
    assert errors == [
        "models[0].deployments[0].provider: unknown provider 'ghost'; "
        "define [providers.ghost] or use one of: mock"
    ]


def test_duplicate_model_names_and_key_ids_and_hashes() -> None:
    """Model names and key ids are unique, and one key cannot be configured twice."""
    errors = errors_of(
        f'[providers.m]\ntype = "mock"\n'
        f'[[models]]\nname = "a"\ndeployments = [{{provider = "m", model = "x"}}]\n'
        f'[[models]]\nname = "a"\ndeployments = [{{provider = "m", model = "y"}}]\n'
        f'[[keys]]\nid = "k"\nhash = "{HASH_A}"\n'
        f'[[keys]]\nid = "k"\nhash = "{HASH_B}"\n'
        f'[[keys]]\nid = "k3"\nhash = "{HASH_A.removeprefix("sha256:")}"\n'
    )
    assert errors == [
        "models[1].name: 'a' is defined twice; model names are unique",
        "keys[1].id: 'k' is used twice; key ids are unique",
        "keys[2].hash: the same key is configured twice",
    ]


@pytest.mark.parametrize(
    "value",
    ["sk-a", "sha256:abc", "sha256:" + "A" * 64, "md5:" + "a" * 64, "a" * 63, "sha256:" + "g" * 64],
)
def test_bad_hash(value: str) -> None:
    """Anything but sha256 hex (64 lower-case digits) is refused, pointing at hash-key."""
    (error,) = errors_of(f'[[keys]]\nid = "k"\nhash = "{value}"\n')
    assert error.startswith("keys[0].hash: not a SHA-256 hash; run `fastgw hash-key`")
    assert value not in error  # a pasted key is not echoed back


def test_key_allow_list_names_unknown_model() -> None:
    """A key's allow-list may only name configured models or '*'."""
    (error,) = errors_of(f'[[keys]]\nid = "k"\nhash = "{HASH_A}"\nmodels = ["*", "nope"]\n')
    assert error == "keys[0].models: unknown model 'nope'; use '*' or a [[models]] name"


def test_unset_api_key_env() -> None:
    """A provider naming an unset variable is refused; once it is set the file loads."""
    text = (
        '[providers.up]\ntype = "openai"\nbase_url = "https://x.example/v1"\n'
        'api_key_env = "UP_KEY"\n'
    )
    (error,) = errors_of(text)
    assert error.startswith("providers.up.api_key_env: the environment variable UP_KEY is not set")
    assert parse_config(text, "t.toml", {"UP_KEY": "sk"}).providers["up"]


@pytest.mark.parametrize("header", ["Authorization", "api-key", "API-KEY", "x-custom-key"])
def test_secret_looking_extra_headers(header: str) -> None:
    """Auth headers in ``headers`` (the standard ones or the provider's own key header) are
    refused: secrets belong in the environment."""
    (error,) = errors_of(
        '[providers.up]\ntype = "openai"\nbase_url = "https://x.example"\n'
        f'api_key_header = "X-Custom-Key"\nheaders = {{ "{header}" = "s3cr3t-value" }}\n'
    )
    assert error.startswith(f"providers.up.headers.{header}: secrets do not go in the TOML")
    assert "s3cr3t-value" not in error


@pytest.mark.parametrize(
    "url",
    ["ftp://x.example", "api.openai.com/v1", "https://", "http://host name", "https://x:123456/v1"],
)
def test_bad_url(url: str) -> None:
    """A base_url that is not an http(s) URL is refused with an example of a good one."""
    (error,) = errors_of(f'[providers.up]\ntype = "openai"\nbase_url = "{url}"\n')
    assert error == (
        f"providers.up.base_url: {url!r} is not an http(s) URL; "
        "write it like 'https://api.openai.com/v1'"
    )


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "https://api.openai.com/v1", "http://localhost:11434/v1/"]
)
def test_good_urls(url: str) -> None:
    """Ordinary upstream URLs, with host, port and path, are accepted."""
    config = parse_config(f'[providers.up]\ntype = "openai"\nbase_url = "{url}"\n', "t.toml", {})
    assert config.providers["up"]


def test_bad_ranges() -> None:
    """Out-of-range numbers are each reported with their path and the allowed range."""
    errors = errors_of(
        "[server]\nport = 70000\nworkers = 0\nmax_body_bytes = 10\ndrain_timeout_s = 0\n"
        '[providers.m]\ntype = "mock"\ntokens = 0\nembedding_dims = 0\nchunk_delay_ms = -1\n'
        '[providers.up]\ntype = "openai"\nbase_url = "http://x.example"\n'
        "timeouts = { connect_s = 0, total_s = -1 }\npool = { max_connections = 0 }\n"
        '[[models]]\nname = "a"\ndeployments = [{ provider = "m", model = "x", weight = 0 }]\n'
        '[[models]]\nname = "b"\ndeployments = []\n'
    )
    assert errors == [
        "server.port: 70000 is not a TCP port; use 1-65535",
        "server.workers: must be at least 1",
        "server.max_body_bytes: must be at least 1024",
        "server.drain_timeout_s: must be above 0",
        "providers.m.tokens: must be at least 1",
        "providers.m.embedding_dims: must be at least 1",
        "providers.m: delays cannot be negative",
        "providers.up.timeouts.connect_s: must be above 0",
        "providers.up.timeouts.total_s: must be above 0",
        "providers.up.pool.max_connections: must be at least 1",
        "models[0].deployments[0].weight: must be above 0",
        "models[1].deployments: add at least one deployment",
    ]


# -- TOML syntax, files, the error itself --------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["a = ", "[server]\nport = 1\n[server]\nport = 2\n", "[server\n", 'x = "unterminated\n']
)
def test_toml_syntax_error(text: str) -> None:
    """Invalid TOML is one error that says so and where."""
    (error,) = errors_of(text)
    assert error.startswith("TOML syntax error: ")
    assert "(at " in error


def test_missing_file(tmp_path: Path) -> None:
    """A file that cannot be read is a ConfigError naming the file."""
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.source == str(path)
    assert info.value.errors == ["cannot read the file: No such file or directory"]


def test_load_config_reads_utf8(tmp_path: Path) -> None:
    """``load_config`` reads the file as UTF-8 (model names may be non-ASCII)."""
    path = tmp_path / "c.toml"
    path.write_text(
        '[providers.m]\ntype = "mock"\n[[models]]\nname = "modèle"\n'
        'deployments = [{ provider = "m", model = "x" }]\n',
        encoding="utf-8",
    )
    assert load_config(path).models[0].name == "modèle"


def test_config_error_message_lists_every_error() -> None:
    """The exception text names the source, the count and one line per error."""
    error = ConfigError("f.toml", ["a: one", "b: two"])
    assert str(error) == "f.toml: 2 configuration errors:\n  - a: one\n  - b: two"
    assert str(ConfigError("f.toml", ["a: one"])) == "f.toml: 1 configuration error:\n  - a: one"


def test_shape_errors_do_not_hide_meaning_errors() -> None:
    """A typo in a section is reported together with the range errors of the same section."""
    errors = errors_of("[server]\nport = 0\nprot = 1\n")
    assert errors == [
        "server.prot: unknown key; did you mean 'port'?",
        "server.port: 0 is not a TCP port; use 1-65535",
    ]


# -- environment --------------------------------------------------------------------------------


def test_parse_config_defaults_to_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``env``, api_key_env variables are looked up in the process environment."""
    text = (
        '[providers.up]\ntype = "openai"\nbase_url = "https://x.example"\n'
        'api_key_env = "FGW_T_KEY"\n'
    )
    monkeypatch.delenv("FGW_T_KEY", raising=False)
    with pytest.raises(ConfigError):
        parse_config(text)
    monkeypatch.setenv("FGW_T_KEY", "sk-upstream")
    provider = parse_config(text).providers["up"]
    assert isinstance(provider, OpenAIProvider)
    assert provider_api_key(provider) == "sk-upstream"


def test_provider_without_key() -> None:
    """A provider that names no variable has no key."""
    provider = OpenAIProvider(base_url="http://x.example")
    assert provider_api_key(provider) is None


def test_config_path_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers find the config at FASTGW_CONFIG, else at the default path."""
    monkeypatch.delenv(cfg.CONFIG_ENV, raising=False)
    assert cfg.config_path_from_env() == cfg.DEFAULT_CONFIG_PATH
    monkeypatch.setenv(cfg.CONFIG_ENV, "/etc/fastgw.toml")
    assert cfg.config_path_from_env() == "/etc/fastgw.toml"


def test_config_is_one_struct() -> None:
    """``Config`` is a frozen msgspec Struct that forbids unknown fields."""
    assert issubclass(Config, msgspec.Struct)
    assert Config.__struct_config__.frozen
    assert Config.__struct_config__.forbid_unknown_fields


def test_keys_teams_and_limits_decode() -> None:
    """Keys carry a team, limits, budgets, expiry and metadata; teams their own limits."""
    config = parse_config(
        '[providers.m]\ntype = "mock"\n'
        '[[models]]\nname = "a"\ndeployments = [{ provider = "m", model = "x" }]\n'
        '[[teams]]\nid = "t"\nrpm = 100\nbudget_month_usd = 50.0\n'
        f'[[keys]]\nid = "k"\nhash = "{HASH_A}"\nteam = "t"\nrpm = 60\ntpm = 1000\n'
        'parallel = 4\nbudget_day_usd = 1.5\nexpires_at = "2030-01-01"\n'
        'metadata = { owner = "ops" }\n'
        '[limits]\ntimezone = "Europe/Paris"\n[limits.models.a]\nrpm = 10\n'
        '[state]\nbackend = "redis"\nredis_url = "redis://127.0.0.1:6390/1"\n'
        "[prices.x]\ninput = 0.15\noutput = 0.6\n"
    )
    (key,) = config.keys
    assert (key.team, key.rpm, key.tpm, key.parallel) == ("t", 60, 1000, 4)
    assert (key.budget_day_usd, key.expires_at, key.metadata) == (
        1.5,
        "2030-01-01",
        {"owner": "ops"},
    )
    assert (config.teams[0].rpm, config.teams[0].budget_month_usd) == (100, 50.0)
    assert config.limits.models["a"].rpm == 10
    assert config.state.backend == "redis"
    assert config.prices["x"].output == 0.6


@pytest.mark.parametrize("share", ["0", "-0.5", "1.5", "nan"])
def test_reservation_share_is_a_share(share: str) -> None:
    """``limits.max_reservation_share`` is in (0, 1]; anything else (a number that is not
    finite is refused as any TOML number) is refused, naming it."""
    (error,) = errors_of(f"[limits]\nmax_reservation_share = {share}\n")
    reason = "nan is not a finite number" if share == "nan" else "must be above 0 and at most 1"
    assert error.startswith(f"limits.max_reservation_share: {reason}")


def test_reservation_share_and_stream_usage_defaults() -> None:
    """A request reserves at most 10% of a budget by default; OpenAI-compatible upstreams
    are asked for a stream's usage unless ``stream_usage = false``."""
    config = parse_config(
        '[providers.o]\ntype = "openai"\nbase_url = "http://x"\n'
        '[providers.p]\ntype = "openai"\nbase_url = "http://y"\nstream_usage = false\n'
    )
    assert config.limits.max_reservation_share == cfg.DEFAULT_MAX_RESERVATION_SHARE == 0.1
    o, p = config.providers["o"], config.providers["p"]
    assert isinstance(o, OpenAIProvider) and isinstance(p, OpenAIProvider)
    assert (o.stream_usage, p.stream_usage) == (True, False)


def test_limit_errors_name_their_paths() -> None:
    """Bad limits, unknown teams and models, bad dates, zones and URLs are each reported."""
    errors = errors_of(
        '[providers.m]\ntype = "mock"\n'
        '[[models]]\nname = "a"\ndeployments = [{ provider = "m", model = "x" }]\n'
        '[[teams]]\nid = "t"\nrpm = 0\nmodels = ["nope"]\n'
        '[[teams]]\nid = "t"\n'
        f'[[keys]]\nid = "k"\nhash = "{HASH_A}"\nteam = "ghost"\nbudget_day_usd = 0\n'
        'expires_at = "next week"\n'
        '[limits]\ntimezone = "Mars/Olympus"\n[limits.models.b]\ntpm = 5\n'
        '[state]\nbackend = "redis"\nredis_url = "localhost:6379"\n'
        "[prices.x]\ninput = -1\noutput = 1\n"
    )
    assert errors == [
        "keys[0].budget_day_usd: must be above 0 (leave it out for no budget)",
        "keys[0].team: unknown team 'ghost'; add a [[teams]] entry with that id",
        "keys[0].expires_at: 'next week' is not an ISO 8601 date or date-time; "
        "write it like '2027-01-31' or '2027-01-31T18:00:00+01:00'",
        "teams[0].rpm: must be at least 1 (leave it out for no limit)",
        "teams[0].models: unknown model 'nope'; use '*' or a model name",
        "teams[1].id: 't' is used twice; team ids are unique",
        "limits.timezone: unknown time zone 'Mars/Olympus'; use an IANA name such as 'UTC' "
        "or 'Europe/Paris'",
        "limits.models.b: unknown model 'b'; use a [[models]] name",
        "state.redis_url: 'localhost:6379' is not a Redis URL; "
        "write it like 'redis://127.0.0.1:6379/0'",
        "prices.x: prices cannot be negative",
    ]


def test_cache_sharing_keys_are_checked_in_one_pass(tmp_path: Path) -> None:
    """Every bad ``[cache]`` value is reported at once, with its key path; a relative
    ``persist_path`` is resolved next to the config file, and the default sits beside the
    SQLite database."""
    errors = errors_of(
        '[cache]\nredis_prefix = "a b*"\nfeed_max_len = 10\nshare_queue = 0\npersist_path = ""\n'
    )
    assert [e.split(":")[0] for e in errors] == [
        "cache.redis_prefix",
        "cache.feed_max_len",
        "cache.share_queue",
        "cache.persist_path",
    ]
    path = tmp_path / "c.toml"
    path.write_text('[cache]\npersist_path = "kept/cache.db"\n')
    assert load_config(path).cache.persist_path == str(tmp_path / "kept" / "cache.db")
    path.write_text('[storage]\nsqlite_path = "data/gw.sqlite3"\n')
    assert cfg.cache_file(load_config(path)) == str(tmp_path / "data" / "gw.cache.sqlite3")


@pytest.mark.parametrize("kind", ["anthropic", "gemini", "cohere"])
def test_native_providers_have_default_urls(kind: str) -> None:
    """Anthropic, Gemini and Cohere need only their type: the base URL has its default."""
    config = parse_config(f'[providers.p]\ntype = "{kind}"\n', "test.toml", {})
    provider = config.providers["p"]
    assert isinstance(provider, AnthropicProvider | GeminiProvider | CohereProvider)
    assert provider.base_url.startswith("https://")


@pytest.mark.parametrize("header", ["x-api-key", "x-goog-api-key", "Authorization"])
def test_native_provider_keys_stay_out_of_headers(header: str) -> None:
    """A key pasted into a native provider's headers is refused, like an OpenAI one."""
    (error,) = errors_of(f'[providers.p]\ntype = "anthropic"\nheaders = {{ "{header}" = "k" }}\n')
    assert error.startswith(f"providers.p.headers.{header}: secrets do not go in the TOML")


def test_bedrock_needs_a_region_and_credentials() -> None:
    """Bedrock is refused without a valid region or with unset AWS credential variables."""
    errors = errors_of('[providers.b]\ntype = "bedrock"\nregion = "moon"\n')
    assert errors[0] == "providers.b.region: 'moon' is not an AWS region like 'us-east-1'"
    assert any("AWS_ACCESS_KEY_ID is not set" in e for e in errors)
    env = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}
    config = parse_config('[providers.b]\ntype = "bedrock"\nregion = "eu-west-3"\n', "t", env)
    provider = config.providers["b"]
    assert isinstance(provider, BedrockProvider) and provider.region == "eu-west-3"
