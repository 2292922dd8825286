"""The admin API's guard: ``Authorization: Bearer <admin key>``.

The admin key comes from the environment variable ``FASTGW_ADMIN_KEY`` (read once, when the
worker starts, by ``fastgw.config.admin_key_from_env``); without it the admin API answers
401 to everyone. The key is compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
from typing import Any, Protocol

from .errors import AuthenticationFailed


class HasAdminKey(Protocol):
    admin_key: str | None


def require_admin(state: HasAdminKey, scope: Any) -> None:
    """Return if the request carries the admin key; raise ``AuthenticationFailed`` (401)."""
    expected = state.admin_key
    if not expected:
        raise AuthenticationFailed(
            "The admin API is disabled: start fastgw with FASTGW_ADMIN_KEY set.",
            code="admin_disabled",
        )
    given = scope.headers.get("authorization") or ""
    token = given[7:] if given[:7].lower() == "bearer " else ""
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise AuthenticationFailed(
            "The admin API needs the admin key: Authorization: Bearer <FASTGW_ADMIN_KEY>.",
            code="invalid_admin_key",
        )
