"""The admin API's request and response bodies, and their validation (no I/O).

A body is decoded into a Struct that rejects unknown fields; every problem becomes an
``InvalidRequest`` (400) whose ``param`` names the field. ``PATCH`` bodies leave out what they
do not change (``UNSET``); ``null`` clears a limit, a budget or an expiry.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Collection
from typing import Any, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from ..config import (
    LimitFields,
    LimitPatch,
    expiry_text,
    limit_problems,
    limit_values,
    namespace_problem,
    parse_expiry,
)
from ..errors import InvalidRequest, MalformedJSON
from ..keys import KeyRecord, TeamRecord, default_namespace

T = TypeVar("T")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}$")
_PARAM_RE = re.compile(r"at `\$\.([A-Za-z0-9_]+)")
_FIELD_RE = re.compile(r"(?:unknown|required) field `([^`]+)`")
_STRICT: dict[str, Any] = {"forbid_unknown_fields": True, "kw_only": True}


# The five limit fields come from LimitFields (create) and LimitPatch (patch), written once in
# fastgw.config.limits and checked by the one limit_problems.
class KeyCreate(LimitFields, frozen=True, **_STRICT):
    id: str | None = None  # generated when left out
    team: str | None = None
    models: list[str] = msgspec.field(default_factory=lambda: ["*"])
    cache_namespace: str | None = None
    expires_at: str | None = None
    enabled: bool = True
    metadata: dict[str, str] = {}


class KeyPatch(LimitPatch, frozen=True, **_STRICT):
    team: str | UnsetType | None = UNSET
    models: list[str] | UnsetType = UNSET
    cache_namespace: str | UnsetType | None = UNSET
    expires_at: str | UnsetType | None = UNSET
    enabled: bool | UnsetType = UNSET
    metadata: dict[str, str] | UnsetType = UNSET


class TeamCreate(LimitFields, frozen=True, **_STRICT):
    id: str
    models: list[str] = msgspec.field(default_factory=lambda: ["*"])
    metadata: dict[str, str] = {}


class TeamPatch(LimitPatch, frozen=True, **_STRICT):
    models: list[str] | UnsetType = UNSET
    metadata: dict[str, str] | UnsetType = UNSET


class KeyView(msgspec.Struct, kw_only=True):
    """A key as the admin API shows it: never the key, never its full hash."""

    object: str = "gateway.key"
    id: str
    source: str  # "config" (the TOML: read-only here) or "api"
    team: str | None
    models: list[str]
    cache_namespace: str
    rpm: int | None
    tpm: int | None
    parallel: int | None
    budget_day_usd: float | None
    budget_month_usd: float | None
    expires_at: str | None  # ISO 8601, UTC
    enabled: bool
    metadata: dict[str, str]
    digest_prefix: str  # "sha256:" and the first 8 hex digits: enough to tell keys apart
    created_at: float | None = None
    updated_at: float | None = None


class CreatedKey(KeyView, kw_only=True):
    key: str  # shown once, in the answer to POST /admin/keys


class TeamView(msgspec.Struct, kw_only=True):
    object: str = "gateway.team"
    id: str
    source: str
    models: list[str]
    rpm: int | None
    tpm: int | None
    parallel: int | None
    budget_day_usd: float | None
    budget_month_usd: float | None
    metadata: dict[str, str]
    created_at: float | None = None
    updated_at: float | None = None


class Deleted(msgspec.Struct):
    id: str
    object: str
    deleted: bool = True


class ListOf(msgspec.Struct):
    data: list[Any]
    object: str = "list"


def decode(body: bytes, cls: type[T]) -> T:
    """A request body as ``cls``; an empty body is ``{}``."""
    try:
        return msgspec.json.decode(body or b"{}", type=cls)
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = _PARAM_RE.search(text) or _FIELD_RE.search(text)
        raise InvalidRequest(
            f"Invalid body: {text}.", param=match.group(1) if match else None
        ) from None
    except msgspec.DecodeError as exc:
        raise MalformedJSON(f"The body is not valid JSON: {exc}.") from None
    except RecursionError:  # nested past the decoder's recursion: a 400, never a 500
        raise MalformedJSON("The body nests arrays and objects too deeply.") from None


def check_id(value: str) -> str:
    if not _ID_RE.match(value):
        raise InvalidRequest(
            f"'id' must be 1 to 64 letters, digits or '_.:@-', starting with a letter or a "
            f"digit; got '{value}'.",
            param="id",
        )
    return value


def check_record(record: KeyRecord | TeamRecord, models: Collection[str]) -> None:
    """Limits whole numbers from 1 to ``MAX_LIMIT``, budgets finite, above 0 and at most
    ``MAX_BUDGET_USD`` (``fastgw.config.limit_problems``, as in the TOML), models known (or
    every model). Checked before anything is stored."""
    for problem in limit_problems(record):
        name, _, why = problem.partition(": ")
        why = why.replace("(leave it out for", "(or null for")
        raise InvalidRequest(f"'{name}' {why}.", param=name, code="invalid_value")
    for model in record.models or ():
        if model not in models:
            raise InvalidRequest(
                f"Unknown model '{model}'; use '*' or one of: {', '.join(sorted(models))}.",
                param="models",
            )


def check_namespace(namespace: str | None) -> str | None:
    """A ``cache_namespace`` from a body (None: the key's own); 400 for an empty or long one,
    or one with the prefix of the keys' default namespaces (another key's cache)."""
    if namespace is not None and (problem := namespace_problem(namespace)):
        raise InvalidRequest(f"'cache_namespace' {problem}.", param="cache_namespace")
    return namespace


def model_set(models: list[str]) -> frozenset[str] | None:
    return None if "*" in models else frozenset(models)


def expiry(text: str | None) -> float | None:
    try:
        return parse_expiry(text)
    except ValueError:
        raise InvalidRequest(
            f"'expires_at' must be an ISO 8601 date or date-time, like '2027-01-31' or "
            f"'2027-01-31T18:00:00Z'; got '{text}'.",
            param="expires_at",
        ) from None


def patched_key(record: KeyRecord, patch: KeyPatch) -> KeyRecord:
    changes = {
        f: getattr(patch, f) for f in patch.__struct_fields__ if getattr(patch, f) is not UNSET
    }
    if "models" in changes:
        changes["models"] = model_set(changes["models"])
    if "expires_at" in changes:
        changes["expires_at"] = expiry(changes["expires_at"])
    if "cache_namespace" in changes:
        changes["namespace"] = check_namespace(changes.pop("cache_namespace")) or (
            default_namespace(record.id, record.digest)
        )
    return msgspec.structs.replace(record, **changes)


def patched_team(record: TeamRecord, patch: TeamPatch) -> TeamRecord:
    changes = {
        f: getattr(patch, f) for f in patch.__struct_fields__ if getattr(patch, f) is not UNSET
    }
    if "models" in changes:
        changes["models"] = model_set(changes["models"])
    return msgspec.structs.replace(record, **changes)


def _models_list(models: frozenset[str] | None) -> list[str]:
    return ["*"] if models is None else sorted(models)


def key_view(
    record: KeyRecord, source: str, created: float | None = None, updated: float | None = None
) -> KeyView:
    expires = record.expires_at
    return KeyView(
        id=record.id,
        source=source,
        team=record.team,
        models=_models_list(record.models),
        cache_namespace=record.namespace,
        **limit_values(record),
        expires_at=None if expires is None else _expiry_view(expires),
        enabled=record.enabled,
        metadata=record.metadata,
        digest_prefix="sha256:" + record.digest.hex()[:8],
        created_at=created,
        updated_at=updated,
    )


def _expiry_view(stamp: float) -> str:
    """``expires_at`` as shown. One out of the calendar (stored before such dates were
    refused) is shown as its first or last moment rather than failing the whole answer."""
    try:
        return expiry_text(stamp)
    except ValueError:
        edge = datetime.datetime.max if stamp > 0 else datetime.datetime.min
        return edge.replace(tzinfo=datetime.UTC).isoformat()


def team_view(
    record: TeamRecord, source: str, created: float | None = None, updated: float | None = None
) -> TeamView:
    return TeamView(
        id=record.id,
        source=source,
        models=_models_list(record.models),
        **limit_values(record),
        metadata=record.metadata,
        created_at=created,
        updated_at=updated,
    )
