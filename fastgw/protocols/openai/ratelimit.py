"""An upstream's own rate-limit headers, passed on to the client renamed.

OpenAI (and Azure, Groq, Together...) answer with ``x-ratelimit-limit-requests``,
``x-ratelimit-remaining-tokens``, ``x-ratelimit-reset-requests``... describing the
*upstream* account's limits. The gateway's own ``x-ratelimit-*`` headers describe the
gateway's limits for the client's key, so the upstream's go out as ``x-upstream-ratelimit-*``.

Rules this module keeps:
- Only headers that are present are copied; with none there is nothing to allocate (one pass
  over the header names, ``()`` returned).
- Every value is hostile: a name past its prefix is ``[a-z0-9-]``, at most ``MAX_NAME_TAIL``
  bytes; a value is ``[0-9A-Za-z.:+-]`` (numbers, durations such as ``6m0.5s``, dates), at
  most ``MAX_VALUE`` bytes; anything else is dropped, and so is a value holding the secret
  given (the provider's key: the only secret an upstream is sent). At most ``MAX_HEADERS``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

PREFIX = b"x-ratelimit-"
RENAMED = "x-upstream-ratelimit-"
MAX_HEADERS = 16
MAX_NAME_TAIL = 48
MAX_VALUE = 64
_NAME_TAIL = re.compile(rb"[a-z0-9-]{1,%d}" % MAX_NAME_TAIL)
_VALUE = re.compile(rb"[0-9A-Za-z.:+-]{1,%d}" % MAX_VALUE)
_NONE: tuple[tuple[str, str], ...] = ()


def upstream_ratelimit_headers(
    headers: Sequence[tuple[bytes, bytes]], secret: bytes | None = None
) -> tuple[tuple[str, str], ...] | list[tuple[str, str]]:
    """The ``x-ratelimit-*`` headers among ``headers`` (lower-case names, as the upstream
    client keeps them), renamed ``x-upstream-ratelimit-*``; ``()`` when there are none."""
    found: list[tuple[str, str]] | None = None
    for name, value in headers:
        if name.startswith(PREFIX):
            tail = name[len(PREFIX) :]
            value = value.strip()
            if (
                _NAME_TAIL.fullmatch(tail) is None
                or _VALUE.fullmatch(value) is None
                or (secret is not None and secret in value)
            ):
                continue
            if found is None:
                found = []
            elif len(found) >= MAX_HEADERS:
                break
            found.append((RENAMED + tail.decode("ascii"), value.decode("ascii")))
    return _NONE if found is None else found
