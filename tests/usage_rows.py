"""Usage-log rows for tests: whole rows in ``USAGE_COLUMNS`` order, written as one batch the way
the usage writer writes them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastgw.records.db import USAGE_COLUMNS, connect, insert_batch

Row = tuple[Any, ...]


def usage_row(**fields: Any) -> Row:
    """A row with the named columns set and every other one NULL."""
    unknown = fields.keys() - set(USAGE_COLUMNS)
    assert not unknown, f"not usage columns: {sorted(unknown)}"
    return tuple(fields.get(column) for column in USAGE_COLUMNS)


def write_batch(path: str, rows: Sequence[Row]) -> None:
    """Store ``rows`` as one batch in its own transaction."""
    db = connect(path)
    try:
        db.execute("BEGIN IMMEDIATE")
        insert_batch(db, rows)
        db.execute("COMMIT")
    finally:
        db.close()
