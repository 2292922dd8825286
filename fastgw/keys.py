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

import msgspec

from .config import KeyConfig
from .errors import AuthenticationFailed, PermissionDenied

KEY_PREFIX = "sk-fgw-"


class KeyRecord(msgspec.Struct, frozen=True):
    id: str
    digest: bytes
    models: frozenset[str] | None  # None: every model
    namespace: str  # cached answers are shared only within one namespace

    def allows(self, model: str) -> bool:
        return self.models is None or model in self.models


def hash_key(key: str) -> str:
    """The form a key is configured in: ``sha256:<64 hex digits>``."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class KeyRing:
    def __init__(self, keys: list[KeyConfig]) -> None:
        self._by_digest: dict[bytes, KeyRecord] = {}
        for key in keys:
            digest = bytes.fromhex(key.hash.removeprefix("sha256:"))
            models = None if "*" in key.models else frozenset(key.models)
            namespace = key.cache_namespace or f"key:{key.id}"
            self._by_digest[digest] = KeyRecord(key.id, digest, models, namespace)

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
        if record is None or not hmac.compare_digest(record.digest, digest):
            raise AuthenticationFailed(
                f"Incorrect API key provided: {_redact(presented)}. "
                "Use a key issued by this gateway."
            )
        return record

    @staticmethod
    def check_model(record: KeyRecord, model: str) -> None:
        if not record.allows(model):
            raise PermissionDenied(
                f"The key '{record.id}' is not allowed to use the model '{model}'.",
                param="model",
            )


def _redact(key: str) -> str:
    """Enough to recognise a key in an error, never enough to use it."""
    return f"{key[:3]}...{key[-2:]}" if len(key) > 12 else "***"
