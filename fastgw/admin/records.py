"""``/admin/keys`` and ``/admin/teams``: create, list, show, change and delete.

A new key is made here (``new_key``), its digest stored, and the key itself returned once in
the answer to ``POST``; no other answer carries it. After each write this worker refreshes its
ring at once; the other workers do within their refresh interval, or at once on an auth miss.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING, Any

import msgspec

from ..config import limit_values
from ..errors import Conflict, InvalidRequest
from ..exchange import Exchange
from ..keys import KeyRecord, TeamRecord, default_namespace, key_record, new_key, team_record
from . import bodies
from .respond import body, send

if TYPE_CHECKING:
    from .context import AdminContext


def _in_config(kind: str, item_id: str) -> Conflict:
    return Conflict(
        f"The {kind} '{item_id}' is defined in the config file; the admin API cannot change or "
        "delete it. Edit the file (or remove it there and create it here).",
        param="id",
        code=f"{kind}_in_config",
    )


def _config_keys(state: AdminContext) -> dict[str, KeyRecord]:
    return {k.id: key_record(k) for k in state.config.keys}


def _config_teams(state: AdminContext) -> dict[str, TeamRecord]:
    return {t.id: team_record(t) for t in state.config.teams}


def _check_team(state: AdminContext, team: str | None) -> None:
    if team is None:
        return
    state.refresher.refresh()  # a team created on another worker a moment ago
    if team not in state.keys.teams:
        raise InvalidRequest(
            f"Unknown team '{team}'; create it with POST /admin/teams first.", param="team"
        )


# -- keys ----------------------------------------------------------------------------------------


async def keys_collection(state: AdminContext, scope: Any, proto: Any, ex: Exchange) -> None:
    store = state.store
    if scope.method == "GET":
        views = [bodies.key_view(r, "config") for r in _config_keys(state).values()]
        views += [bodies.key_view(s.record, "api", *_times(s.stored)) for s in store.list_keys()]
        send(proto, ex, 200, bodies.ListOf(views))
        return
    create = bodies.decode(await body(state, scope, proto), bodies.KeyCreate)
    key_id = bodies.check_id(create.id) if create.id is not None else f"key-{secrets.token_hex(6)}"
    if key_id in _config_keys(state):
        raise Conflict(
            f"A key with id '{key_id}' is defined in the config file.", param="id", code="conflict"
        )
    secret = new_key()
    digest = hashlib.sha256(secret.encode()).digest()
    record = KeyRecord(
        id=key_id,
        digest=digest,
        models=bodies.model_set(create.models),
        namespace=bodies.check_namespace(create.cache_namespace)
        or default_namespace(key_id, digest),
        team=create.team,
        **limit_values(create),
        expires_at=bodies.expiry(create.expires_at),
        enabled=create.enabled,
        metadata=create.metadata,
    )
    bodies.check_record(record, state.models)
    _check_team(state, record.team)
    stored = store.create_key(record)
    state.refresher.refresh()
    view = bodies.key_view(stored.record, "api", *_times(stored.stored))
    send(proto, ex, 201, bodies.CreatedKey(**msgspec.structs.asdict(view), key=secret))


async def key_item(state: AdminContext, scope: Any, proto: Any, ex: Exchange, key_id: str) -> None:
    config_key = _config_keys(state).get(key_id)
    if scope.method == "GET":
        if config_key is not None:
            send(proto, ex, 200, bodies.key_view(config_key, "config"))
        else:
            stored = state.store.get_key(key_id)
            send(proto, ex, 200, bodies.key_view(stored.record, "api", *_times(stored.stored)))
        return
    if config_key is not None:
        raise _in_config("key", key_id)
    if scope.method == "DELETE":
        state.store.delete_key(key_id)
        state.refresher.refresh()
        send(proto, ex, 200, bodies.Deleted(key_id, "gateway.key"))
        return
    patch = bodies.decode(await body(state, scope, proto), bodies.KeyPatch)
    record = bodies.patched_key(state.store.get_key(key_id).record, patch)
    bodies.check_record(record, state.models)
    if patch.team is not msgspec.UNSET:
        _check_team(state, record.team)
    stored = state.store.update_key(record)
    state.refresher.refresh()
    send(proto, ex, 200, bodies.key_view(stored.record, "api", *_times(stored.stored)))


# -- teams ---------------------------------------------------------------------------------------


async def teams_collection(state: AdminContext, scope: Any, proto: Any, ex: Exchange) -> None:
    store = state.store
    if scope.method == "GET":
        views = [bodies.team_view(r, "config") for r in _config_teams(state).values()]
        views += [bodies.team_view(s.record, "api", *_times(s.stored)) for s in store.list_teams()]
        send(proto, ex, 200, bodies.ListOf(views))
        return
    create = bodies.decode(await body(state, scope, proto), bodies.TeamCreate)
    team_id = bodies.check_id(create.id)
    if team_id in _config_teams(state):
        raise Conflict(f"A team with id '{team_id}' is defined in the config file.", param="id")
    record = TeamRecord(
        id=team_id,
        models=bodies.model_set(create.models),
        **limit_values(create),
        metadata=create.metadata,
    )
    bodies.check_record(record, state.models)
    stored = store.put_team(record, create=True)
    state.refresher.refresh()
    send(proto, ex, 201, bodies.team_view(stored.record, "api", *_times(stored.stored)))


async def team_item(
    state: AdminContext, scope: Any, proto: Any, ex: Exchange, team_id: str
) -> None:
    config_team = _config_teams(state).get(team_id)
    if scope.method == "GET":
        if config_team is not None:
            send(proto, ex, 200, bodies.team_view(config_team, "config"))
        else:
            stored = state.store.get_team(team_id)
            send(proto, ex, 200, bodies.team_view(stored.record, "api", *_times(stored.stored)))
        return
    if config_team is not None:
        raise _in_config("team", team_id)
    if scope.method == "DELETE":
        state.store.delete_team(team_id)
        state.refresher.refresh()
        send(proto, ex, 200, bodies.Deleted(team_id, "gateway.team"))
        return
    patch = bodies.decode(await body(state, scope, proto), bodies.TeamPatch)
    record = bodies.patched_team(state.store.get_team(team_id).record, patch)
    bodies.check_record(record, state.models)
    stored = state.store.put_team(record, create=False)
    state.refresher.refresh()
    send(proto, ex, 200, bodies.team_view(stored.record, "api", *_times(stored.stored)))


def _times(stored: Any) -> tuple[float, float]:
    return stored.created_at, stored.updated_at
