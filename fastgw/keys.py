"""Gateway keys: who is calling, and which models they may use.

Keys are never stored or logged: the TOML holds ``sha256:<hex>`` of each key. A request's key
(``Authorization: Bearer <key>`` or Azure's ``api-key`` header) is hashed and looked up by its
digest; the stored digest is then compared with ``hmac.compare_digest``, so the time taken
says nothing about how much of a guess was right.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence

from .config import (
    RESERVED_NAMESPACE_PREFIX,
    KeyConfig,
    LimitFields,
    TeamConfig,
    limit_values,
    parse_expiry,
)
from .errors import AuthenticationFailed, PermissionDenied

KEY_PREFIX = "sk-fgw-"


class KeyRecord(LimitFields, frozen=True, kw_only=True):
    """One gateway key as the request path sees it (from the TOML or the key store), with
    the five limit fields of ``LimitFields``."""

    id: str
    digest: bytes
    models: frozenset[str] | None  # None: every model
    namespace: str  # cached answers are shared only within one namespace
    team: str | None = None
    expires_at: float | None = None  # Unix time; None: never
    enabled: bool = True
    metadata: dict[str, str] = {}

    def allows(self, model: str) -> bool:
        return self.models is None or model in self.models


class TeamRecord(LimitFields, frozen=True, kw_only=True):
    """A team: its limits and budgets (``LimitFields``) apply on top of those of each of its
    keys."""

    id: str
    models: frozenset[str] | None = None
    metadata: dict[str, str] = {}

    def allows(self, model: str) -> bool:
        return self.models is None or model in self.models


def default_namespace(key_id: str, digest: bytes) -> str:
    """A key's own cache namespace: its id and the start of its digest, so a key deleted and
    created again with the same id (a new secret, a new digest) starts with an empty cache
    instead of the old key's answers. Configured namespaces cannot begin with its prefix."""
    return f"{RESERVED_NAMESPACE_PREFIX}{key_id}:{digest.hex()[:16]}"


def key_record(key: KeyConfig) -> KeyRecord:
    digest = bytes.fromhex(key.hash.removeprefix("sha256:"))
    return KeyRecord(
        id=key.id,
        digest=digest,
        models=None if "*" in key.models else frozenset(key.models),
        namespace=key.cache_namespace or default_namespace(key.id, digest),
        team=key.team,
        **limit_values(key),
        expires_at=parse_expiry(key.expires_at),
        enabled=key.enabled,
        metadata=dict(key.metadata),
    )


def team_record(team: TeamConfig) -> TeamRecord:
    return TeamRecord(
        id=team.id,
        models=None if "*" in team.models else frozenset(team.models),
        **limit_values(team),
        metadata=dict(team.metadata),
    )


def hash_key(key: str) -> str:
    """The form a key is configured in: ``sha256:<64 hex digits>``."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class KeyRing:
    """Every key a worker knows, by digest: a dict lookup per request. Keys from the TOML are
    put in at start; keys from the store are put and discarded by ``fastgw.records.refresh``,
    which also installs ``on_miss``: asked for a digest the ring does not hold, before the
    request is refused (a key created a moment ago on another worker)."""

    def __init__(self, keys: Sequence[KeyConfig], teams: Sequence[TeamConfig] = ()) -> None:
        self._by_digest: dict[bytes, KeyRecord] = {}
        for key in keys:
            record = key_record(key)
            self._by_digest[record.digest] = record
        self.teams: dict[str, TeamRecord] = {t.id: team_record(t) for t in teams}
        self.on_miss: Callable[[bytes], KeyRecord | None] | None = None

    def put(self, record: KeyRecord) -> None:
        self._by_digest[record.digest] = record

    def discard(self, digest: bytes) -> None:
        self._by_digest.pop(digest, None)

    def digests(self) -> frozenset[bytes]:
        return frozenset(self._by_digest)

    def authenticate(self, authorization: str | None, api_key: str | None) -> KeyRecord:
        """The key record for a request's headers; raises ``AuthenticationFailed``."""
        presented = None
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                presented = value.strip()
        if presented is None and api_key:
            presented = api_key.strip()
        if not presented:
            raise AuthenticationFailed(
                "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' "
                "(or in the 'api-key' header)."
            )
        digest = hashlib.sha256(presented.encode()).digest()
        record = self._by_digest.get(digest)
        if record is None and self.on_miss is not None:
            record = self.on_miss(digest)
        if record is None or not hmac.compare_digest(record.digest, digest):
            raise AuthenticationFailed(
                f"Incorrect API key provided: {_redact(presented)}. "
                "Use a key issued by this gateway."
            )
        if not record.enabled:
            raise AuthenticationFailed(f"The key '{record.id}' is disabled.", code="key_disabled")
        if record.expires_at is not None and record.expires_at <= time.time():
            raise AuthenticationFailed(f"The key '{record.id}' has expired.", code="key_expired")
        return record

    @staticmethod
    def check_model(record: KeyRecord, model: str, team: TeamRecord | None = None) -> None:
        """403 ``model_not_allowed`` unless the key, and its team if it has one, allow it."""
        # the membership tests of ``allows``, inline: this runs on every proxied request
        models = record.models
        if models is not None and model not in models:
            raise PermissionDenied(
                f"The key '{record.id}' is not allowed to use the model '{model}'.",
                param="model",
            )
        if team is not None and team.models is not None and model not in team.models:
            raise PermissionDenied(
                f"The team '{team.id}' of key '{record.id}' is not allowed to use the model "
                f"'{model}'.",
                param="model",
            )


def _redact(key: str) -> str:
    """Enough to recognise a key in an error, never enough to use it."""
    return f"{key[:3]}...{key[-2:]}" if len(key) > 12 else "***"
