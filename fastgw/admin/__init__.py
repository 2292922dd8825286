"""The admin API: ``/admin/keys``, ``/admin/teams``, ``/admin/usage``, ``/admin/live``,
``/admin/deployments``, ``/admin/reload`` and ``/admin/cache/purge``.

Handlers are given an ``AdminContext`` (``admin.context``): the admin package imports nothing
of the application.

Every request is checked by ``require_admin`` first, then dispatched on its path and method
(405 with ``Allow`` for a wrong method, 404 for an unknown path). Keys and teams from the TOML
are listed with ``source: "config"`` but are read-only here (409: change the file); those
created here live in the SQLite store and reach every worker through its refresher. Errors
are OpenAI-shaped like everywhere else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import MethodNotAllowed, NotFound
from ..exchange import Exchange
from .auth import admin_digest, require_admin
from .cache import purge
from .deployments import deployments
from .live import live
from .records import key_item, keys_collection, team_item, teams_collection
from .reload import reload
from .usage import usage

if TYPE_CHECKING:
    from .context import AdminContext

__all__ = ["admin_digest", "handle", "require_admin"]

_COLLECTIONS = {"keys": keys_collection, "teams": teams_collection}
_ITEMS = {"keys": key_item, "teams": team_item}
_ALLOWED = {
    "collection": "GET, POST",
    "item": "GET, PATCH, DELETE",
    "usage": "GET",
    "live": "GET",
    "deployments": "GET",
    "reload": "POST",
    "cache/purge": "POST",
}
_SINGLE = {"usage": usage, "live": live, "deployments": deployments, "reload": reload}


async def handle(state: AdminContext, scope: Any, proto: Any, ex: Exchange) -> None:
    """Every ``/admin/...`` request."""
    require_admin(state, scope)
    parts = scope.path.split("/")[2:]  # "/admin/keys/k1" -> ["keys", "k1"]
    method = scope.method
    if len(parts) == 1 and parts[0] in _SINGLE:
        _allow(method, parts[0], scope.path)
        await _SINGLE[parts[0]](state, scope, proto, ex)
    elif parts == ["cache", "purge"]:
        _allow(method, "cache/purge", scope.path)
        await purge(state, scope, proto, ex)
    elif len(parts) == 1 and parts[0] in _COLLECTIONS:
        _allow(method, "collection", scope.path)
        await _COLLECTIONS[parts[0]](state, scope, proto, ex)
    elif len(parts) == 2 and parts[0] in _ITEMS and parts[1]:
        _allow(method, "item", scope.path)
        await _ITEMS[parts[0]](state, scope, proto, ex, parts[1])
    else:
        raise NotFound(f"Invalid URL ({method} {scope.path})", code=None)


def _allow(method: str, kind: str, path: str) -> None:
    allowed = _ALLOWED[kind]
    if method not in allowed.split(", "):
        raise MethodNotAllowed(
            f"Method {method} is not allowed for {path}; use {allowed}.",
            headers=[("allow", allowed)],
        )
