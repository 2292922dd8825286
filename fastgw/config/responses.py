"""``[responses]``: how the Responses API (``/v1/responses``) keeps the responses it answers.

Rules this module keeps:
- Stored responses (``store: true``, OpenAI's default) live for ``store_ttl_s`` in the SQLite
  database (``storage.sqlite_path``) shared by the workers of one host, or in Redis with
  ``[state] backend = "redis"`` (every instance); ``store = false`` keeps nothing (requests
  asking to store are answered, marked ``store: false``). A reload applies the bounds
  and turns storing off; turning it on needs a restart (the store is opened at start).
- Everything kept is bounded: the time (``store_ttl_s``), the responses of one key
  (``max_per_key``: the oldest go first) and the size of one stored conversation
  (``max_stored_bytes``: a larger one is answered but not kept).
"""

from __future__ import annotations

import msgspec

from ._base import STRUCT

DEFAULT_RESPONSES_STORE = True
DEFAULT_RESPONSES_TTL_S = 30 * 24 * 3600  # OpenAI keeps responses 30 days
DEFAULT_RESPONSES_PER_KEY = 10_000
DEFAULT_RESPONSES_MAX_BYTES = 8 * 1024 * 1024
MAX_RESPONSES_TTL_S = 366 * 24 * 3600


class ResponsesConfig(msgspec.Struct, **STRUCT):
    """The Responses API's store (see the module rules)."""

    store: bool = DEFAULT_RESPONSES_STORE
    store_ttl_s: int = DEFAULT_RESPONSES_TTL_S
    max_per_key: int = DEFAULT_RESPONSES_PER_KEY
    max_stored_bytes: int = DEFAULT_RESPONSES_MAX_BYTES


def check_responses(responses: ResponsesConfig) -> list[str]:
    errors: list[str] = []
    if not 1 <= responses.store_ttl_s <= MAX_RESPONSES_TTL_S:
        errors.append(
            f"responses.store_ttl_s: must be between 1 and {MAX_RESPONSES_TTL_S} seconds "
            "(a year); OpenAI keeps responses 30 days (2592000)"
        )
    if responses.max_per_key < 1:
        errors.append("responses.max_per_key: must be at least 1 stored response")
    if responses.max_stored_bytes < 1024:
        errors.append("responses.max_stored_bytes: must be at least 1024 bytes")
    return errors
