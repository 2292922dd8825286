"""An upstream's own rate-limit headers, passed on to the client renamed.

OpenAI (and Azure, Groq, Together...) answer with ``x-ratelimit-limit-requests``,
``x-ratelimit-remaining-tokens``, ``x-ratelimit-reset-requests``... describing the
*upstream* account's limits. The gateway's own ``x-ratelimit-*`` headers describe the
gateway's limits for the client's key, so the upstream's go out as ``x-upstream-ratelimit-*``.

Rules this module keeps:
- Only headers that are present are copied; with none there is nothing to allocate (one pass
  comparing each name's first byte, ``()`` returned).
- Every value is hostile: a name past its prefix is ``[a-z0-9-]``, at most ``MAX_NAME_TAIL``
  bytes; a value is ``[0-9A-Za-z.:+-]`` (numbers, durations such as ``6m0.5s``, dates), at
  most ``MAX_VALUE`` bytes; anything else is dropped, and so is a value holding the secret
  given (the provider's key: the only secret an upstream is sent). At most ``MAX_HEADERS``.
"""

from __future__ import annotations

from collections.abc import Sequence

PREFIX = b"x-ratelimit-"
RENAMED = "x-upstream-ratelimit-"
MAX_HEADERS = 16
MAX_NAME_TAIL = 48
MAX_VALUE = 64
# names are looked at further only when they open with "x": one int compare (an empty name
# never gets here: the HTTP parser refuses it as an invalid header token)
_X = PREFIX[0]
_MAX_NAME = len(PREFIX) + MAX_NAME_TAIL
_NAME_BYTES = b"abcdefghijklmnopqrstuvwxyz0123456789-"
_VALUE_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.:+-"
_NONE: tuple[tuple[str, str], ...] = ()


def upstream_ratelimit_headers(
    headers: Sequence[tuple[bytes, bytes]], secret: bytes | None = None
) -> tuple[tuple[str, str], ...] | list[tuple[str, str]]:
    """The ``x-ratelimit-*`` headers among ``headers`` (lower-case names, as the upstream
    client keeps them), renamed ``x-upstream-ratelimit-*``; ``()`` when there are none."""
    found: list[tuple[str, str]] | None = None
    for name, value in headers:
        if name[0] == _X and name.startswith(PREFIX):
            # allowed bytes deleted: anything left is a byte no rate-limit header has
            if (
                len(name) == len(PREFIX)
                or len(name) > _MAX_NAME
                or not value
                or len(value) > MAX_VALUE
                or name.translate(None, _NAME_BYTES)
                or value.translate(None, _VALUE_BYTES)
                or (secret is not None and secret in value)
            ):
                continue
            if found is None:
                found = []
            elif len(found) >= MAX_HEADERS:
                break
            found.append((RENAMED + name[len(PREFIX) :].decode(), value.decode()))
    return _NONE if found is None else found
