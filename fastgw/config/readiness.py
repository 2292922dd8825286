"""Whether a valid config can serve anyone: what ``check-config`` and ``serve`` add to the
file's own errors.

A file can be valid and still serve nothing. fastgw refuses every request that carries no
gateway key it knows (unlike a proxy left open without a master key), so:

- an empty file, or one without ``[[models]]``, is an error: every request would be answered
  404, and models come only from the file;
- a file without ``[[keys]]`` while the admin API is off (its key variable unset) is a
  warning, not an error: keys created earlier through the admin API live in the key store
  (``storage.sqlite_path``) and still authenticate, but on a fresh install every request
  would be answered 401.

Rules this module keeps:
- ``parse_config`` stays as it is (a library may build an empty config); these checks are for
  the commands that are about to serve.
- Messages say what to do next (``fastgw init``, ``fastgw hash-key --new``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from ._base import ConfigError
from .load import Config, decode_config, read_toml
from .storage import resolve_paths


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """What ``fastgw check-config`` tells about one file."""

    source: str
    config: Config | None  # None when there are errors
    errors: list[str]
    warnings: list[str]


def check_file(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Report:
    """Every error and warning of the file at ``path``, in one pass."""
    env = os.environ if env is None else env
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
        raw = read_toml(text, source)
    except OSError as exc:
        return Report(
            source=source,
            config=None,
            errors=[f"cannot read the file: {exc.strerror}"],
            warnings=[],
        )
    except UnicodeDecodeError:
        return Report(
            source=source, config=None, errors=["the file is not UTF-8 text"], warnings=[]
        )
    except ConfigError as exc:
        return Report(source=source, config=None, errors=exc.errors, warnings=[])
    config, errors = decode_config(raw, env)
    errors = serving_errors(raw, config) + errors
    warnings = serving_warnings(raw, config, env)
    if errors:
        return Report(source=source, config=None, errors=errors, warnings=warnings)
    config = resolve_paths(config, Path(path).parent)
    return Report(source=source, config=config, errors=[], warnings=warnings)


def serving_errors(raw: dict[str, Any], config: Config) -> list[str]:
    if not raw:
        return [
            "the file is empty (or holds only comments): there is nothing to serve; "
            "`fastgw init PATH` writes a starter config"
        ]
    if not raw.get("models"):
        return [
            "models: no [[models]] table: every request would be answered 404 "
            "model_not_found; add one (see config/fastgw.example.toml, or `fastgw init`)"
        ]
    return []


def serving_warnings(raw: dict[str, Any], config: Config, env: Mapping[str, str]) -> list[str]:
    if raw.get("keys") or env.get(config.admin.key_env):  # a key with an error is still a key
        return []
    return [
        f"keys: no [[keys]] and the admin API is off ({config.admin.key_env} is not set): "
        "only keys already in the key store (storage.sqlite_path) can call, so a fresh "
        "install answers every request 401; add a key (`fastgw hash-key --new`) or set "
        f"{config.admin.key_env} to create keys at run time"
    ]
