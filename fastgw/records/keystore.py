"""Keys and teams created at run time, as rows of the shared SQLite file.

Rules kept here:
- Only a key's SHA-256 digest is stored, never the key.
- Each write is one ``BEGIN IMMEDIATE`` transaction that bumps ``meta.version`` and stamps the
  row with the new value; readers ask for ``version > last seen`` (``changes``).
- ``DELETE`` leaves a tombstone (``deleted = 1``, the digest kept) so that every worker learns
  of it; the id may be used again by a later create, which replaces the row.
- Writes are a few hundred microseconds; they run on the caller's thread (the admin API's
  worker), and only the admin API and ``fastgw keys`` write.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import msgspec

from ..errors import Conflict, NotFound
from ..keys import KeyRecord, TeamRecord, default_namespace
from .db import connect

_KEY_COLUMNS = (
    "id, digest, team, models, cache_namespace, rpm, tpm, parallel, budget_day_usd, "
    "budget_month_usd, expires_at, enabled, metadata, created_at, updated_at, deleted, version"
)
_TEAM_COLUMNS = (
    "id, models, rpm, tpm, parallel, budget_day_usd, budget_month_usd, metadata, "
    "created_at, updated_at, deleted, version"
)
_encode = msgspec.json.Encoder().encode
_decode_models = msgspec.json.Decoder(list[str]).decode
_decode_metadata = msgspec.json.Decoder(dict[str, str]).decode


class Stored(msgspec.Struct, frozen=True):
    """When a row was written, and whether it is a tombstone."""

    created_at: float
    updated_at: float
    deleted: bool
    version: int


class StoredKey(msgspec.Struct, frozen=True):
    record: KeyRecord
    stored: Stored


class StoredTeam(msgspec.Struct, frozen=True):
    record: TeamRecord
    stored: Stored


class KeyStore:
    """The key and team tables of one SQLite file, over one connection."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db = connect(path)

    def close(self) -> None:
        self._db.close()

    def version(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE name = 'version'").fetchone()
        return int(row[0]) if row else 0

    def changes(self, since: int) -> tuple[list[StoredKey], list[StoredTeam]]:
        """Every key and team row (tombstones included) written after version ``since``."""
        keys = self._db.execute(
            f"SELECT {_KEY_COLUMNS} FROM keys WHERE version > ? ORDER BY version", (since,)
        ).fetchall()
        teams = self._db.execute(
            f"SELECT {_TEAM_COLUMNS} FROM teams WHERE version > ? ORDER BY version", (since,)
        ).fetchall()
        return [_key(row) for row in keys], [_team(row) for row in teams]

    def find_digest(self, digest: bytes) -> StoredKey | None:
        row = self._db.execute(
            f"SELECT {_KEY_COLUMNS} FROM keys WHERE digest = ? AND deleted = 0", (digest,)
        ).fetchone()
        return None if row is None else _key(row)

    # -- keys ----------------------------------------------------------------------------------

    def get_key(self, key_id: str) -> StoredKey:
        row = self._db.execute(
            f"SELECT {_KEY_COLUMNS} FROM keys WHERE id = ? AND deleted = 0", (key_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"No key with id '{key_id}'.", param="id", code="key_not_found")
        return _key(row)

    def list_keys(self) -> list[StoredKey]:
        rows = self._db.execute(
            f"SELECT {_KEY_COLUMNS} FROM keys WHERE deleted = 0 ORDER BY id"
        ).fetchall()
        return [_key(row) for row in rows]

    def create_key(self, record: KeyRecord) -> StoredKey:
        """Insert a key; ``Conflict`` if a live key has the id or the digest."""
        with self._transaction() as version:
            clash = self._db.execute(
                "SELECT id FROM keys WHERE (id = ? OR digest = ?) AND deleted = 0",
                (record.id, record.digest),
            ).fetchone()
            if clash is not None:
                raise Conflict(f"A key with id '{record.id}' already exists.", param="id")
            now = time.time()
            self._db.execute(
                f"INSERT OR REPLACE INTO keys ({_KEY_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
                (*_key_values(record), now, now, version),
            )
        return self.get_key(record.id)

    def update_key(self, record: KeyRecord) -> StoredKey:
        """Replace a live key's fields (not its digest); ``NotFound`` if there is none."""
        with self._transaction() as version:
            cursor = self._db.execute(
                "UPDATE keys SET team = ?, models = ?, cache_namespace = ?, rpm = ?, tpm = ?, "
                "parallel = ?, budget_day_usd = ?, budget_month_usd = ?, expires_at = ?, "
                "enabled = ?, metadata = ?, updated_at = ?, version = ? "
                "WHERE id = ? AND deleted = 0",
                (*_key_values(record)[2:], time.time(), version, record.id),
            )
            if cursor.rowcount == 0:
                raise NotFound(f"No key with id '{record.id}'.", param="id", code="key_not_found")
        return self.get_key(record.id)

    def delete_key(self, key_id: str) -> None:
        with self._transaction() as version:
            cursor = self._db.execute(
                "UPDATE keys SET deleted = 1, updated_at = ?, version = ? "
                "WHERE id = ? AND deleted = 0",
                (time.time(), version, key_id),
            )
            if cursor.rowcount == 0:
                raise NotFound(f"No key with id '{key_id}'.", param="id", code="key_not_found")

    # -- teams ---------------------------------------------------------------------------------

    def get_team(self, team_id: str) -> StoredTeam:
        row = self._db.execute(
            f"SELECT {_TEAM_COLUMNS} FROM teams WHERE id = ? AND deleted = 0", (team_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"No team with id '{team_id}'.", param="id", code="team_not_found")
        return _team(row)

    def list_teams(self) -> list[StoredTeam]:
        rows = self._db.execute(
            f"SELECT {_TEAM_COLUMNS} FROM teams WHERE deleted = 0 ORDER BY id"
        ).fetchall()
        return [_team(row) for row in rows]

    def put_team(self, record: TeamRecord, *, create: bool) -> StoredTeam:
        """Create (``Conflict`` if live) or replace (``NotFound`` if not live) a team."""
        with self._transaction() as version:
            live = self._db.execute(
                "SELECT created_at FROM teams WHERE id = ? AND deleted = 0", (record.id,)
            ).fetchone()
            if create and live is not None:
                raise Conflict(f"A team with id '{record.id}' already exists.", param="id")
            if not create and live is None:
                raise NotFound(f"No team with id '{record.id}'.", param="id", code="team_not_found")
            now = time.time()
            self._db.execute(
                f"INSERT OR REPLACE INTO teams ({_TEAM_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
                (*_team_values(record), now if live is None else live[0], now, version),
            )
        return self.get_team(record.id)

    def delete_team(self, team_id: str) -> None:
        with self._transaction() as version:
            used = self._db.execute(
                "SELECT id FROM keys WHERE team = ? AND deleted = 0 LIMIT 1", (team_id,)
            ).fetchone()
            if used is not None:
                raise Conflict(
                    f"The team '{team_id}' still has keys (such as '{used[0]}'); delete them "
                    "or move them to another team first.",
                    param="id",
                )
            cursor = self._db.execute(
                "UPDATE teams SET deleted = 1, updated_at = ?, version = ? "
                "WHERE id = ? AND deleted = 0",
                (time.time(), version, team_id),
            )
            if cursor.rowcount == 0:
                raise NotFound(f"No team with id '{team_id}'.", param="id", code="team_not_found")

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on any error); yields the new version."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> int:
        self._db.execute("BEGIN IMMEDIATE")
        row = self._db.execute(
            "UPDATE meta SET value = value + 1 WHERE name = 'version' RETURNING value"
        ).fetchone()
        return int(row[0])

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _models_text(models: frozenset[str] | None) -> str | None:
    return None if models is None else _encode(sorted(models)).decode()


def _models(text: str | None) -> frozenset[str] | None:
    return None if text is None else frozenset(_decode_models(text))


def _key_values(r: KeyRecord) -> tuple[Any, ...]:
    namespace = None if r.namespace == default_namespace(r.id, r.digest) else r.namespace
    return (
        r.id,
        r.digest,
        r.team,
        _models_text(r.models),
        namespace,
        r.rpm,
        r.tpm,
        r.parallel,
        r.budget_day_usd,
        r.budget_month_usd,
        r.expires_at,
        int(r.enabled),
        _encode(r.metadata).decode(),
    )


def _team_values(r: TeamRecord) -> tuple[Any, ...]:
    return (
        r.id,
        _models_text(r.models),
        r.rpm,
        r.tpm,
        r.parallel,
        r.budget_day_usd,
        r.budget_month_usd,
        _encode(r.metadata).decode(),
    )


def _key(row: tuple[Any, ...]) -> StoredKey:
    record = KeyRecord(
        id=row[0],
        digest=bytes(row[1]),
        team=row[2],
        models=_models(row[3]),
        namespace=row[4] or default_namespace(row[0], bytes(row[1])),
        rpm=row[5],
        tpm=row[6],
        parallel=row[7],
        budget_day_usd=row[8],
        budget_month_usd=row[9],
        expires_at=row[10],
        enabled=bool(row[11]),
        metadata=_decode_metadata(row[12]),
    )
    return StoredKey(record, Stored(row[13], row[14], bool(row[15]), row[16]))


def _team(row: tuple[Any, ...]) -> StoredTeam:
    record = TeamRecord(
        id=row[0],
        models=_models(row[1]),
        rpm=row[2],
        tpm=row[3],
        parallel=row[4],
        budget_day_usd=row[5],
        budget_month_usd=row[6],
        metadata=_decode_metadata(row[7]),
    )
    return StoredTeam(record, Stored(row[8], row[9], bool(row[10]), row[11]))
