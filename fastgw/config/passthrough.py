"""``[[passthrough]]``: OpenAI-compatible endpoints fastgw does not implement, forwarded as they
are to an ``openai`` provider that has them (moderations, images, audio).

Rules this module keeps:
- Off by default: no entry, no passthrough; an unlisted path is the 404 of ``fastgw.unserved``.
- An entry names one exact path, never a prefix: made of ``/v1`` and segments of letters,
  digits, ``_`` and ``-`` (no dots, no percent signs, no empty segments), so no client input
  ever becomes part of the upstream path and nothing can traverse out of it. The upstream is
  the provider's ``base_url`` (an operator's setting), never a host the client names.
- A path the gateway serves itself (``RESERVED_PATHS``) cannot be passed through, and a path
  is listed once.
- The provider exists and has ``type = "openai"`` (its key header and extra headers are the
  ones forwarded requests carry).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, Literal

import msgspec

from ._base import STRUCT, join
from .providers import OpenAIProvider, ProviderConfig

DEFAULT_PASSTHROUGH_METHOD: Final = "POST"
MAX_PASSTHROUGH_PATH_CHARS: Final = 128
#: Paths (and, ending in ``/``, path prefixes) the gateway answers itself.
RESERVED_PATHS: Final = (
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/models",
    "/v1/messages",  # the inbound APIs (fastgw.inbound)
    "/v1/messages/count_tokens",
    "/v1/responses",
)

_PATH_RE = re.compile(r"/v1(/[A-Za-z0-9_-]+)+")


class PassthroughConfig(msgspec.Struct, **STRUCT):
    path: str  # the exact path clients call, e.g. "/v1/moderations"
    provider: str  # an [providers.NAME] with type = "openai"
    method: Literal["POST", "GET"] = DEFAULT_PASSTHROUGH_METHOD
    # key ids allowed to call it (default: every valid key); rpm/tpm/budgets do not apply
    keys: list[str] | None = None


def upstream_path(entry: PassthroughConfig) -> str:
    """The path under the provider's ``base_url`` (which ends in ``/v1`` by convention)."""
    return entry.path.removeprefix("/v1")


def check_passthrough(
    entries: list[PassthroughConfig], providers: Mapping[str, ProviderConfig]
) -> list[str]:
    errors: list[str] = []
    seen: set[str] = set()
    openai = ", ".join(n for n, p in providers.items() if isinstance(p, OpenAIProvider))
    for i, entry in enumerate(entries):
        path = join("passthrough", i)
        if len(entry.path) > MAX_PASSTHROUGH_PATH_CHARS or not _PATH_RE.fullmatch(entry.path):
            errors.append(
                f"{path}.path: {entry.path[:MAX_PASSTHROUGH_PATH_CHARS]!r} is not an exact API "
                "path; write it like '/v1/moderations' (segments of letters, digits, _ and -)"
            )
        elif any(entry.path == r or entry.path.startswith(r + "/") for r in RESERVED_PATHS):
            errors.append(
                f"{path}.path: fastgw serves {entry.path} itself; remove this entry "
                "(route it with [[models]] deployments instead)"
            )
        elif entry.path in seen:
            errors.append(f"{path}.path: {entry.path} is listed twice; list each path once")
        seen.add(entry.path)
        provider = providers.get(entry.provider)
        if not isinstance(provider, OpenAIProvider):
            what = "unknown provider" if provider is None else "not an openai-type provider"
            errors.append(
                f"{path}.provider: {what} {entry.provider!r}; use a provider with "
                f'type = "openai": {openai or "(none defined)"}'
            )
        if entry.keys is not None and (not entry.keys or not all(entry.keys)):
            errors.append(
                f"{path}.keys: list at least one key id (leave keys out to allow every key)"
            )
    return errors
