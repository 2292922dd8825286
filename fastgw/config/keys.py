"""``[[keys]]`` and ``[[teams]]``: the gateway keys of the TOML, their teams and cache scopes.

Rules this module keeps:
- A key is configured by its SHA-256 hash (``fastgw hash-key``), never the key itself; ids and
  hashes are unique.
- A key's team, and the models of keys and teams, name known teams and models (or ``*``).
- A configured ``cache_namespace`` may not begin with ``RESERVED_NAMESPACE_PREFIX``, so no key
  can be given another key's default namespace.
"""

from __future__ import annotations

import datetime
import re

import msgspec

from .known import Known
from .limits import LimitFields, check_limit_fields

#: Default cache namespaces (``key:<id>:<digest>``, fastgw.keys) begin with this; a configured
#: ``cache_namespace`` may not, so no key can be given another key's default namespace.
RESERVED_NAMESPACE_PREFIX = "key:"
MAX_NAMESPACE_CHARS = 128

_HASH_RE = re.compile(r"^(sha256:)?[0-9a-f]{64}$")


# The Struct options are written out (not **STRUCT) so that mypy sees a frozen subclass of the
# frozen LimitFields.
class KeyConfig(LimitFields, frozen=True, forbid_unknown_fields=True, kw_only=True):
    id: str
    hash: str
    team: str | None = None  # a [[teams]] id; the team's limits apply on top of the key's
    models: list[str] = msgspec.field(default_factory=lambda: ["*"])
    # Cached answers are scoped to this namespace; keys that name the same one share entries.
    # By default each key is its own namespace.
    cache_namespace: str | None = None
    expires_at: str | None = None  # ISO 8601 date or date-time (UTC unless an offset is given)
    enabled: bool = True
    metadata: dict[str, str] = {}


class TeamConfig(LimitFields, frozen=True, forbid_unknown_fields=True, kw_only=True):
    id: str
    models: list[str] = msgspec.field(default_factory=lambda: ["*"])
    metadata: dict[str, str] = {}


def namespace_problem(namespace: str) -> str | None:
    """Why ``namespace`` cannot be a configured ``cache_namespace``, or None."""
    if not namespace or len(namespace) > MAX_NAMESPACE_CHARS:
        return f"must be 1 to {MAX_NAMESPACE_CHARS} characters"
    if namespace.startswith(RESERVED_NAMESPACE_PREFIX):
        return (
            f"may not begin with {RESERVED_NAMESPACE_PREFIX!r}, which is reserved for the "
            "keys' own default namespaces; name a shared namespace like 'team-a'"
        )
    return None


def check_keys(keys: list[KeyConfig], known: Known) -> list[str]:
    errors: list[str] = []
    ids: set[str] = set()
    hashes: set[str] = set()
    for i, key in enumerate(keys):
        path = f"keys[{i}]"
        errors.extend(check_limit_fields(path, key))
        if key.team is not None and key.team not in known.teams:
            errors.append(
                f"{path}.team: unknown team {key.team!r}; add a [[teams]] entry with that id"
            )
        if key.expires_at is not None:
            try:
                parse_expiry(key.expires_at)  # a date-time, and one a UTC calendar can show
            except ValueError:
                errors.append(
                    f"{path}.expires_at: {key.expires_at!r} is not an ISO 8601 date or "
                    "date-time; write it like '2027-01-31' or '2027-01-31T18:00:00+01:00'"
                )
        if key.cache_namespace is not None and (problem := namespace_problem(key.cache_namespace)):
            errors.append(f"{path}.cache_namespace: {problem}")
        if key.id in ids:
            errors.append(f"{path}.id: {key.id!r} is used twice; key ids are unique")
        ids.add(key.id)
        if not _HASH_RE.match(key.hash):
            errors.append(
                f"{path}.hash: not a SHA-256 hash; run `fastgw hash-key` and paste its "
                "'sha256:...' line (never the key itself)"
            )
        elif key.hash.removeprefix("sha256:") in hashes:
            errors.append(f"{path}.hash: the same key is configured twice")
        hashes.add(key.hash.removeprefix("sha256:"))
        for model in key.models:
            if model != "*" and model not in known.models:
                errors.append(
                    f"{path}.models: unknown model {model!r}; use '*' or a [[models]] name"
                )
    return errors


def check_teams(teams: list[TeamConfig], known: Known) -> list[str]:
    errors: list[str] = []
    seen: set[str] = set()
    for i, team in enumerate(teams):
        path = f"teams[{i}]"
        if team.id in seen:
            errors.append(f"{path}.id: {team.id!r} is used twice; team ids are unique")
        seen.add(team.id)
        errors.extend(check_limit_fields(path, team))
        for model in team.models:
            if model != "*" and model not in known.models:
                errors.append(f"{path}.models: unknown model {model!r}; use '*' or a model name")
    return errors


def parse_expiry(text: str | None) -> float | None:
    """``expires_at`` from the TOML or the admin API (ISO 8601 date or date-time, UTC unless
    it carries an offset) as Unix time; ``ValueError`` if it is neither."""
    if text is None:
        return None
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    stamp = moment.timestamp()
    # refused unless it can be written back in UTC as the admin API shows it: an offset can
    # push a year-1 or year-9999 date out of the calendar ("9999-12-31T23:00-05:00")
    expiry_text(stamp)
    return stamp


def expiry_text(stamp: float) -> str:
    """``expires_at`` (Unix time) in ISO 8601, UTC; ``ValueError`` if no date has it."""
    try:
        return datetime.datetime.fromtimestamp(stamp, datetime.UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{stamp} is not a time between the years 1 and 9999") from None
