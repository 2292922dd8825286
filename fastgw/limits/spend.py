"""Spend per budget scope and period, kept in this process, and its seed from the usage log.

Rules this module keeps:
- A counter is named ``<kind>:<id>:<period id>`` (``key:k1:d20261122``), the same name the
  Redis backend uses under its prefix. It holds what was spent (settled) and what requests in
  flight have reserved; a request is admitted while ``spent + reserved < budget``, so under
  concurrency a budget is overshot by at most the one request admitted last.
- Counters of past periods are dropped when the day changes.
- ``seed_from_usage_log`` reads the usage table of the SQLite store (written by the usage
  log), if the file and table exist, so a restart does not reset the current periods.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from .periods import Period

log = logging.getLogger("fastgw")


def spend_name(kind: str, ident: str, period_id: str) -> str:
    return f"{kind}:{ident}:{period_id}"


class SpendBook:
    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self.reserved: dict[str, float] = {}
        self._day = ""

    def used(self, name: str) -> float:
        """Spent plus reserved by requests in flight."""
        return self.spent.get(name, 0.0) + self.reserved.get(name, 0.0)

    def reserve(self, name: str, amount: float) -> None:
        self.reserved[name] = self.reserved.get(name, 0.0) + amount

    def commit(self, name: str, reserved: float, cost: float) -> None:
        """Release ``reserved`` and add ``cost`` to what was spent."""
        left = self.reserved.get(name, 0.0) - reserved
        self.reserved[name] = left if left > 1e-12 else 0.0
        if cost:
            self.spent[name] = self.spent.get(name, 0.0) + cost

    def reserve_all(self, names: tuple[str, ...], amount: float) -> None:
        reserved = self.reserved
        for name in names:
            reserved[name] = reserved.get(name, 0.0) + amount

    def commit_all(self, names: tuple[str, ...], reserved: float, cost: float) -> None:
        """``commit`` for each of ``names``."""
        held, spent = self.reserved, self.spent
        for name in names:
            left = held.get(name, 0.0) - reserved
            held[name] = left if left > 1e-12 else 0.0
            if cost:
                spent[name] = spent.get(name, 0.0) + cost

    def roll(self, period: Period) -> None:
        """Forget the counters of periods other than ``period``'s day and month."""
        if period.day == self._day:
            return
        self._day = period.day
        current = (period.day, period.month)
        for name in [n for n in self.spent if not n.endswith(current)]:
            del self.spent[name]
        # reservations of requests still in flight stay until they are committed
        for name in [n for n, v in self.reserved.items() if not v and not n.endswith(current)]:
            del self.reserved[name]


def seed_from_usage_log(book: SpendBook, path: str, period: Period, kinds: Iterable[str]) -> int:
    """Add the current day's and month's spend per key, team and model from the usage log at
    ``path``; return the rows (groups) read. A missing file or table seeds nothing."""
    if not Path(path).is_file():
        return 0
    wanted = set(kinds)
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return 0
    try:
        rows = db.execute(
            "SELECT key_id, team_id, model, "
            "SUM(CASE WHEN ts >= ? THEN cost_usd ELSE 0 END), SUM(cost_usd) "
            "FROM usage WHERE ts >= ? AND cost_usd > 0 GROUP BY key_id, team_id, model",
            (period.day_start, period.month_start),
        ).fetchall()
    except sqlite3.Error as exc:  # no usage table yet (a new store), or an older schema
        log.info("spend not seeded from %s: %s", path, exc)
        return 0
    finally:
        db.close()
    for key_id, team_id, model, day, month in rows:
        for kind, ident in (("key", key_id), ("team", team_id), ("model", model)):
            if ident is None or kind not in wanted:
                continue
            for period_id, amount in ((period.day, day), (period.month, month)):
                if amount:
                    name = spend_name(kind, ident, period_id)
                    book.spent[name] = book.spent.get(name, 0.0) + float(amount)
    return len(rows)
