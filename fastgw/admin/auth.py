"""The admin API's guard: ``Authorization: Bearer <admin key>``, the key read at start from the
variable ``[admin] key_env`` names (``FASTGW_ADMIN_KEY`` by default).

Only the key's SHA-256 digest is kept; a presented key is hashed and compared with
``hmac.compare_digest``. With the variable unset the admin API is off: every ``/admin/``
request is refused with 403 and a message saying which variable to set.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Any

from ..config import Config, admin_key
from ..errors import AuthenticationFailed, PermissionDenied

if TYPE_CHECKING:
    from .context import AdminContext


def admin_digest(config: Config) -> bytes | None:
    """The digest of the admin key, or None when the admin API is off."""
    key = admin_key(config)
    return None if key is None else hashlib.sha256(key.encode()).digest()


def require_admin(state: AdminContext, scope: Any) -> None:
    """Return if the request carries the admin key; raise ``PermissionDenied`` (403) when the
    admin API is off and ``AuthenticationFailed`` (401) when the key is missing or wrong."""
    expected = state.admin_digest
    if expected is None:
        raise PermissionDenied(
            "The admin API is disabled: set the environment variable "
            f"{state.config.admin.key_env} to an admin key and restart fastgw.",
            code="admin_disabled",
        )
    scheme, _, value = (scope.headers.get("authorization") or "").partition(" ")
    presented = value.strip() if scheme.lower() == "bearer" else ""
    if not presented:
        raise AuthenticationFailed(
            "The admin API needs the admin key: send 'Authorization: Bearer <admin key>'.",
            code="invalid_admin_key",
        )
    digest = hashlib.sha256(presented.encode()).digest()
    if not hmac.compare_digest(digest, expected):
        raise AuthenticationFailed("Incorrect admin key provided.", code="invalid_admin_key")
