"""The whole config: the root Struct, reading a TOML file, and the one pass that checks it.

``parse_config`` decodes each top-level section on its own (the lists of ``[[models]]``,
``[[keys]]`` and ``[[teams]]`` entry by entry), keeping what has the right shape, then runs
every section's meaning checks on what was kept: a file's typos, wrong types, bad ranges and
wrong references are all reported in one ``ConfigError``, in the order of the sections.

Rules this module keeps:
- Environment variables are read here, in the section modules that name them, and in the CLI.
- A shape error in one entry hides nothing else: the entry's name still counts as known
  (``Known``), so references to it are not reported as unknown too.
- An error's path names the entry as the file numbers it, also when entries before it were
  dropped for a shape error.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from ._base import STRUCT, ConfigError, join
from .keys import KeyConfig, TeamConfig, check_keys, check_teams
from .known import Known
from .limits import LimitsConfig, check_limits
from .models import ModelConfig, check_models
from .passthrough import PassthroughConfig, check_passthrough
from .providers import ProviderConfig, check_providers
from .responses import ResponsesConfig, check_responses
from .server import ServerConfig, check_server
from .shape import DROPPED, check_shape, unknown_keys
from .state import StateConfig, check_state, check_workers
from .storage import (
    AdminConfig,
    CacheConfig,
    Price,
    StorageConfig,
    UsageConfig,
    check_cache,
    check_prices,
    check_usage,
    resolve_paths,
)

CONFIG_ENV = "FASTGW_CONFIG"
DEFAULT_CONFIG_PATH = "config/fastgw.toml"


class Config(msgspec.Struct, **STRUCT):
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
    passthrough: list[PassthroughConfig] = []  # forwarded as they are (off: none listed)
    responses: ResponsesConfig = ResponsesConfig()


# the sections decoded entry by entry, and the key that names an entry
_LISTS = {"models": "name", "keys": "id", "teams": "id", "passthrough": "path"}
_SECTIONS = [f.encode_name for f in msgspec.structs.fields(Config)]
_FIRST_KEY = re.compile(r"[A-Za-z_]+")


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read, decode and validate a TOML file. Raises ``ConfigError`` listing every problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [f"cannot read the file: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise ConfigError(source, ["the file is not UTF-8 text"]) from None
    return resolve_paths(parse_config(text, source), Path(path).parent)


def read_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [f"TOML syntax error: {exc}"]) from None


def parse_config(
    text: str, source: str = "<config>", env: Mapping[str, str] | None = None
) -> Config:
    """Decode and validate TOML text; ``env`` (default: the process environment) is where
    the variables named by ``api_key_env`` must exist."""
    config, errors = decode_config(read_toml(text, source), os.environ if env is None else env)
    if errors:
        raise ConfigError(source, errors)
    return config


def decode_config(raw: dict[str, Any], env: Mapping[str, str]) -> tuple[Config, list[str]]:
    """``raw`` (a TOML document) as a Config, and every error found in it (shape and meaning,
    ordered by section). The Config holds what had the right shape: use it only when there
    are no errors."""
    errors = unknown_keys(raw, Config, "")
    sections: dict[str, Any] = {}
    renumber: dict[str, list[int]] = {}
    for field in msgspec.structs.fields(Config):
        name = field.encode_name
        if name not in raw:
            continue
        if name in _LISTS and isinstance(raw[name], list):
            item_type = field.type.__args__[0]
            kept, numbers = [], []
            for i, item in enumerate(raw[name]):
                item_errors, value = check_shape(item, item_type, join(name, i))
                errors.extend(item_errors)
                item = None if value is DROPPED else _convert(value, item_type, errors)
                if item is not None:
                    kept.append(item)
                    numbers.append(i)
            sections[name], renumber[name] = kept, numbers
            continue
        shape_errors, value = check_shape(raw[name], field.type, name)
        errors.extend(shape_errors)
        section = None if value is DROPPED else _convert(value, field.type, errors)
        if section is not None:
            sections[name] = section
    config = Config(**sections)
    known = _known(raw)
    meaning = [
        *check_server(config.server),
        *check_cache(config.cache),
        *check_providers(config.providers, env),
        *check_models(config.models, known),
        *check_keys(config.keys, known),
        *check_teams(config.teams, known),
        *check_limits(config.limits, known),
        *check_state(config.state, env),
        *check_workers(config, config.server.workers),
        *check_prices(config.prices),
        *check_usage(config.usage),
        *check_passthrough(config.passthrough, config.providers),
        *check_responses(config.responses),
    ]
    errors.extend(_renumbered(e, renumber) for e in meaning)
    errors.sort(key=_section_rank)  # stable: within a section, shape errors come first
    return config, errors


def _convert(value: Any, tp: Any, errors: list[str]) -> Any:
    """``value`` as ``tp``; the shape check passed, so a failure here is msgspec's word
    against the check's, reported rather than raised."""
    try:
        return msgspec.convert(value, tp)
    except msgspec.ValidationError as exc:
        errors.append(str(exc))
        return None


def _known(raw: dict[str, Any]) -> Known:
    """The names written in the file, whether or not their entries decoded."""

    def names(section: str, key: str) -> tuple[str, ...]:
        items = raw.get(section)
        if not isinstance(items, list):
            return ()
        found = (i.get(key) for i in items if isinstance(i, dict))
        return tuple(dict.fromkeys(n for n in found if isinstance(n, str)))

    providers = raw.get("providers")
    return Known(
        providers=tuple(providers) if isinstance(providers, dict) else (),
        models=names("models", "name"),
        teams=names("teams", "id"),
    )


def _renumbered(error: str, renumber: dict[str, list[int]]) -> str:
    """``error`` with a leading ``section[i]`` of the kept entries turned back into the
    entry's number in the file."""
    match = re.match(r"(models|keys|teams|passthrough)\[(\d+)\]", error)
    if match is None or match.group(1) not in renumber:
        return error
    number = renumber[match.group(1)][int(match.group(2))]
    return f"{match.group(1)}[{number}]{error[match.end() :]}"


def _section_rank(error: str) -> int:
    match = _FIRST_KEY.match(error)
    section = match.group(0) if match else ""
    return _SECTIONS.index(section) if section in _SECTIONS else -1


def config_path_from_env() -> str:
    """The config path handed to server workers by ``fastgw serve``."""
    return os.environ.get(CONFIG_ENV, DEFAULT_CONFIG_PATH)
