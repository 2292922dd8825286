"""Spend per budget scope and period, kept in this process, and its seed from the usage log.

Rules this module keeps:
- A counter (``Spend``, from the compiled core: admission reads it on every request) is named
  ``<kind>:<id>:<period id>`` (``key:k1:d20261122``), the same name the Redis backend uses
  under its prefix. It holds what was spent (settled) and what requests in
  flight have reserved; a request is admitted while ``spent + reserved < budget``, so under
  concurrency a budget is overshot by at most the one request admitted last, and by what
  requests in flight use beyond their reservation (capped at ``[limits]
  max_reservation_share`` of the budget, so that one worst-case estimate cannot hold it).
- Counters of past periods are dropped when the day changes (requests still in flight
  commit to the counters they reserved on, no longer in the book).
- ``seed_from_usage_log`` reads the current month's batches of the usage log in the SQLite
  store (``usage_batches``), if the file and table exist, so a restart does not reset the
  current periods.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import msgspec

from .._core import Spend
from ..records.db import cost_rows
from .periods import Period

log = logging.getLogger("fastgw")


def spend_name(kind: str, ident: str, period_id: str) -> str:
    return f"{kind}:{ident}:{period_id}"


class SpendBook:
    """The counters by name. Admission plans and tickets hold ``Spend`` objects themselves
    (no lookup per request); a counter dropped by ``roll`` while a ticket holds it is
    committed to harmlessly, outside the book."""

    def __init__(self) -> None:
        self.counters: dict[str, Spend] = {}
        self._day = ""

    def counter(self, name: str) -> Spend:
        """The counter ``name``, created at zero on first use."""
        found = self.counters.get(name)
        if found is None:
            found = self.counters[name] = Spend()
        return found

    def used(self, name: str) -> float:
        """Spent plus reserved by requests in flight."""
        found = self.counters.get(name)
        return 0.0 if found is None else found.spent + found.reserved

    def reserve(self, name: str, amount: float) -> None:
        self.counter(name).reserved += amount

    def commit(self, name: str, reserved: float, cost: float) -> None:
        """Release ``reserved`` and add ``cost`` to what was spent."""
        self.counter(name).commit(reserved, cost)

    def roll(self, period: Period) -> None:
        """Forget the counters of periods other than ``period``'s day and month."""
        if period.day == self._day:
            return
        self._day = period.day
        current = (period.day, period.month)
        for name in [n for n in self.counters if not n.endswith(current)]:
            del self.counters[name]


def seed_from_usage_log(book: SpendBook, path: str, period: Period, kinds: Iterable[str]) -> int:
    """Add the current day's and month's spend per key, team and model from the usage log at
    ``path``; return the (key, team, model) groups read. A missing file or table seeds nothing.
    Only the batches that end in this month are read, and decoded by msgspec here rather than
    by SQLite's JSON functions: ~6x faster, and the worker does not serve yet (see db.py)."""
    if not Path(path).is_file():
        return 0
    wanted = set(kinds)
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return 0
    spent: dict[tuple[str | None, str | None, str | None], list[float]] = {}
    try:
        for row in cost_rows(db, period.month_start):
            cost = row.cost_usd
            if cost is None or cost <= 0:
                continue
            group = (row.key_id, row.team_id, row.model)
            sums = spent.get(group)
            if sums is None:
                sums = spent[group] = [0.0, 0.0]
            if row.ts >= period.day_start:
                sums[0] += cost
            sums[1] += cost
    except (sqlite3.Error, msgspec.DecodeError) as exc:  # a new store, an older schema
        log.info("spend not seeded from %s: %s", path, exc)
        return 0
    finally:
        db.close()
    for (key_id, team_id, model), (day, month) in spent.items():
        for kind, ident in (("key", key_id), ("team", team_id), ("model", model)):
            if ident is None or kind not in wanted:
                continue
            for period_id, amount in ((period.day, day), (period.month, month)):
                if amount:
                    book.counter(spend_name(kind, ident, period_id)).spent += amount
    return len(spent)
