"""What every section module of the config shares: the Struct options, the error type, paths.

Rules this module keeps:
- Every config Struct is frozen, keyword-only and rejects unknown keys (``STRUCT``).
- An error is one string, ``"key.path: what is wrong; what to change"``; a ``ConfigError``
  carries all of a file's errors at once.
"""

from __future__ import annotations

import re
from typing import Any, Final

STRUCT: Final[dict[str, Any]] = {"frozen": True, "forbid_unknown_fields": True, "kw_only": True}

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class ConfigError(Exception):
    """A configuration that cannot be served. ``errors`` lists each problem as
    ``"key.path: what is wrong; what to change"``."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.source = source
        self.errors = errors
        noun = "error" if len(errors) == 1 else "errors"
        lines = "\n".join(f"  - {e}" for e in errors)
        super().__init__(f"{source}: {len(errors)} configuration {noun}:\n{lines}")


def join(path: str, key: str | int) -> str:
    """``path`` extended by a table key (quoted when TOML would quote it) or an array index."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not _BARE_KEY.fullmatch(key):
        key = f'"{key}"'
    return f"{path}.{key}" if path else key
