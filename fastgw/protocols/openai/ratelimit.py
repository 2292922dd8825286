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
# the names OpenAI, Azure OpenAI, Groq and Together send, renamed once here: one dict lookup
# each on the way out instead of a check and a rename
_KNOWN = {
    PREFIX + tail: RENAMED + tail.decode()
    for tail in (
        b"limit-requests",
        b"limit-tokens",
        b"remaining-requests",
        b"remaining-tokens",
        b"reset-requests",
        b"reset-tokens",
        b"limit",
        b"remaining",
        b"reset",
    )
}


def upstream_ratelimit_headers(
    headers: Sequence[tuple[bytes, bytes]], secret: bytes | None = None
) -> tuple[tuple[str, str], ...] | list[tuple[str, str]]:
    """The ``x-ratelimit-*`` headers among ``headers`` (lower-case names, as the upstream
    client keeps them), renamed ``x-upstream-ratelimit-*``; ``()`` when there are none."""
    found: list[tuple[str, str]] | None = None
    for name, value in headers:
        if name[0] != _X:
            continue
        renamed = _KNOWN.get(name)
        if renamed is None:
            if not name.startswith(PREFIX):
                continue
            renamed = _renamed(name)
            if renamed is None:
                continue
        if not (value.isdigit() or _plain_value(value)) or len(value) > MAX_VALUE:
            continue
        if secret is not None and len(value) >= len(secret) and secret in value:
            continue
        if found is None:
            found = []
        elif len(found) >= MAX_HEADERS:
            break
        found.append((renamed, value.decode()))
    return _NONE if found is None else found


def _renamed(name: bytes) -> str | None:
    """``x-upstream-ratelimit-<tail>`` for a name of allowed bytes and length, else None."""
    if len(name) == len(PREFIX) or len(name) > _MAX_NAME or name.translate(None, _NAME_BYTES):
        return None  # allowed bytes deleted: anything left is a byte no such header has
    return RENAMED + name[len(PREFIX) :].decode()


def _plain_value(value: bytes) -> bool:
    """Whether a value is made of the bytes rate-limit values use (durations, dates)."""
    return bool(value) and not value.translate(None, _VALUE_BYTES)
