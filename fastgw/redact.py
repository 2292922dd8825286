"""Configured secrets never leave the gateway: masking them in what an upstream sends back.

Rules this module keeps:
- The secrets are the upstream keys (each provider's ``api_key_env``), the admin key and the
  password of the Redis URL, read once per worker. Each is looked for as its raw bytes, as a
  JSON string escapes it and as a URL percent-encodes it; every occurrence becomes ``***``.
- Everything an upstream sends that is relayed is scanned: every plain answer's body (an
  error's, and a 200's before it is cached), the headers relayed with an error, and every
  chunk of a relayed stream (an upstream's error event may quote the request's headers). A
  chunk that ends with the start of a secret (even one
  byte of it) keeps that tail back until the next chunk shows whether the secret follows, so
  no byte of a secret goes out split across two chunks. An SSE chunk ends with a newline,
  which opens no secret: the check is then one byte lookup.
- A secret shorter than ``MIN_SECRET_BYTES`` is not looked for: masking every occurrence of a
  short string would garble answers, and such a key is refused by any real upstream.
- With no secret configured there is no ``Redactor`` (``build_redactor`` returns None) and no
  scanning at all. Cost with one upstream key: ~0.1 µs per stream chunk (one compiled
  ``memmem`` pass, ``fastgw._core.contains_any``, and a one-byte lookup), and one pass over
  each plain body.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote, unquote, urlsplit

import msgspec

from ._core import contains_any
from .config import Config, admin_key, provider_secrets, redis_url

MASK = b"***"
MIN_SECRET_BYTES = 8

_encode = msgspec.json.Encoder().encode


class Redactor:
    """Masks a fixed set of secrets in bytes; built once per worker."""

    __slots__ = ("alphabet", "forms")

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[bytes] = set()
        for secret in secrets:
            if len(secret.encode()) < MIN_SECRET_BYTES:
                continue
            forms.add(secret.encode())
            forms.add(_encode(secret)[1:-1])  # as a JSON string spells it
            forms.add(quote(secret, safe="").encode())  # as a URL or a form spells it
        # longest first: a secret that contains another is masked whole
        self.forms: tuple[bytes, ...] = tuple(sorted(forms, key=len, reverse=True))
        self.alphabet = frozenset(b for form in self.forms for b in form)

    def scrub(self, data: bytes) -> bytes:
        """``data`` with every secret masked (``data`` itself when it holds none)."""
        if not contains_any(data, self.forms):  # the common case: one compiled pass
            return data
        for form in self.forms:
            if form in data:
                data = data.replace(form, MASK)
        return data

    def scrub_text(self, text: str) -> str:
        return self.scrub(text.encode("utf-8", "surrogateescape")).decode(
            "utf-8", "surrogateescape"
        )

    def held_tail(self, data: bytes) -> int:
        """Where the tail of ``data`` that may open a secret starts (``len(data)`` if none):
        the earliest position from which the rest of ``data`` is a proper prefix of a
        secret."""
        size = len(data)
        if not size or data[-1] not in self.alphabet:  # a tail that opens no secret
            return size
        cut = size
        for form in self.forms:
            start = max(0, size - len(form) + 1)
            head = form[:1]
            at = data.find(head, start)
            while 0 <= at < cut:
                if form.startswith(data[at:]):
                    cut = at
                    break
                at = data.find(head, at + 1)
        return cut


class StreamScrubber:
    """Masks secrets in a stream of chunks, none split across two of them. ``feed`` returns
    what may go out now; ``end`` what is left when the stream ends (a held tail that never
    became a whole secret is still the start of one: it is masked)."""

    __slots__ = ("_alphabet", "_forms", "_held", "_redactor")

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._forms = redactor.forms
        self._alphabet = redactor.alphabet
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        # inline and flat: this runs on every chunk of every relayed stream
        if self._held:
            chunk = self._held + chunk
            self._held = b""
        if contains_any(chunk, self._forms):
            chunk = self._redactor.scrub(chunk)
        if chunk and chunk[-1] in self._alphabet:  # the tail may open a secret
            cut = self._redactor.held_tail(chunk)
            if cut < len(chunk):
                self._held = chunk[cut:]
                return chunk[:cut]
        return chunk

    def end(self) -> bytes:
        held, self._held = self._held, b""
        return MASK if held else b""


def configured_secrets(config: Config) -> list[str]:
    """Every secret the config points at that is set in the environment."""
    found = []
    for provider in config.providers.values():
        found.extend(provider_secrets(provider))
    admin = admin_key(config)
    if admin:
        found.append(admin)
    if config.state.backend == "redis":
        try:
            password = urlsplit(redis_url(config.state)).password
        except ValueError:  # the config check refuses such a URL
            password = None
        if password:
            found.extend({password, unquote(password)})
    return found


def build_redactor(config: Config) -> Redactor | None:
    """The worker's redactor, or None when no secret long enough to look for is set."""
    redactor = Redactor(configured_secrets(config))
    return redactor if redactor.forms else None
