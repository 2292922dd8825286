"""Budget periods: calendar days and months in the configured time zone.

Rules this module keeps:
- No I/O. A period is named by a short id (``d20261122``, ``m202611``) that is the same in
  every worker and instance, so it can name a Redis key; it ends at the next local midnight
  (or first of the month) as Unix time, whatever DST does in between (a local day may be 23
  or 25 hours long).
- ``Periods.current(now)`` is memoised until the day ends: one float comparison per request.
"""

from __future__ import annotations

import datetime
import zoneinfo

_DAY = datetime.timedelta(days=1)


class Period:
    """The day and month containing one moment: ids and Unix start/end times."""

    __slots__ = ("day", "day_end", "day_start", "month", "month_end", "month_start")

    def __init__(
        self,
        day: str,
        day_start: float,
        day_end: float,
        month: str,
        month_start: float,
        month_end: float,
    ) -> None:
        self.day, self.day_start, self.day_end = day, day_start, day_end
        self.month, self.month_start, self.month_end = month, month_start, month_end


def period_at(now: float, zone: datetime.tzinfo) -> Period:
    """The local day and month that contain the Unix time ``now`` in ``zone``."""
    local = datetime.datetime.fromtimestamp(now, zone)
    today = local.date()
    day_start = _midnight(today, zone)
    day_end = _midnight(today + _DAY, zone)
    first = today.replace(day=1)
    following = (first + datetime.timedelta(days=32)).replace(day=1)
    return Period(
        f"d{today:%Y%m%d}",
        day_start,
        day_end,
        f"m{today:%Y%m}",
        _midnight(first, zone),
        _midnight(following, zone),
    )


def _midnight(day: datetime.date, zone: datetime.tzinfo) -> float:
    """Unix time of the first moment of ``day`` in ``zone`` (a midnight skipped by DST
    resolves to the moment the clocks jumped to)."""
    moment = datetime.datetime(day.year, day.month, day.day, tzinfo=zone)
    # zoneinfo maps a nonexistent wall time (a DST gap) forward by the gap, never backwards
    # across the date, so the start stays inside ``day``
    return moment.timestamp()


def reset_text(moment: float, zone: datetime.tzinfo) -> str:
    """``moment`` for a human, in the zone budgets are kept in: ``2026-11-23 00:00 UTC``."""
    local = datetime.datetime.fromtimestamp(moment, zone)
    return f"{local:%Y-%m-%d %H:%M} {zone}"


class Periods:
    """The current period, memoised until the local day ends."""

    def __init__(self, timezone: str) -> None:
        self.zone = zoneinfo.ZoneInfo(timezone)
        self._current = period_at(0.0, self.zone)

    def current(self, now: float) -> Period:
        current = self._current
        if current.day_start <= now < current.day_end:
            return current
        self._current = current = period_at(now, self.zone)
        return current
