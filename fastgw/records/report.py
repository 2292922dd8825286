"""Summaries of the usage log, for ``GET /admin/usage`` and ``fastgw usage``.

``parse_filters`` turns the query's text (from a query string or the command line) into a
``UsageQuery`` or raises ``InvalidRequest`` naming the parameter; ``summarise`` runs one
aggregate over the rows of the usage batches that overlap the query's time range (db.py). It
stays in SQL, unlike the budget seed: ``/admin/usage`` runs it on a thread beside the worker's
event loop, and SQLite parses the JSON with the GIL released. Days are calendar days in the
``[limits] timezone``: SQLite knows no time zones, so ``day`` is a Python function registered
on the connection, memoised per quarter hour (every zone's offset is a multiple of 15 minutes).
"""

from __future__ import annotations

import datetime
import sqlite3
import zoneinfo
from collections.abc import Callable, Mapping
from typing import Literal

import msgspec

from ..errors import InvalidRequest
from .db import USAGE_COLUMNS, select_usage

GroupBy = Literal["day", "model", "key", "team"]
GROUP_COLUMNS: dict[str, str] = {
    "day": "fastgw_day(ts)",
    "model": "model",
    "key": "key_id",
    "team": "team_id",
}
FILTERS = ("key", "team", "model", "start", "end", "group_by")


class UsageQuery(msgspec.Struct, frozen=True, kw_only=True):
    key: str | None = None
    team: str | None = None
    model: str | None = None
    start: float | None = None  # Unix time, inclusive
    end: float | None = None  # Unix time, exclusive
    group_by: GroupBy | None = None


class UsageGroup(msgspec.Struct, kw_only=True):
    group: str | None  # the day, model, key or team; None for a total (or no such value)
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    errors: int  # status 400 and above, 429s and client disconnects (499) included
    cache_hits: int  # answered from a cache: exact, semantic or coalesced (no upstream call)


class UsageSummary(msgspec.Struct, kw_only=True):
    object: str = "usage.summary"
    group_by: str | None
    start: float | None
    end: float | None
    data: list[UsageGroup]


#: The longest key, team or model a query may filter on (ids are at most 64 characters).
MAX_FILTER_CHARS = 256
#: The latest time a query may name: the end of year 9999, the last that dates can show.
MAX_TIME = 253402300799.0


def parse_time(text: str, tz: datetime.tzinfo) -> float:
    """Unix time from a number or an ISO 8601 date or date-time (a date is midnight and a
    date-time without an offset is local, both in ``tz``). ``ValueError`` for anything else,
    and for a time that is not finite or outside year 1970 to 9999 (``nan``, ``1e400``)."""
    try:
        value = float(text)
    except ValueError:
        try:
            moment = datetime.datetime.fromisoformat(text)  # ValueError if not ISO 8601
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=tz)
            value = moment.timestamp()
        except OverflowError:  # year 1 with an offset east of UTC, and the like
            raise ValueError(text) from None
    if not 0.0 <= value <= MAX_TIME:  # also false for nan
        raise ValueError(text)
    return value


def _shown(text: str) -> str:
    """A client's text as an error message quotes it: at most 64 characters."""
    return text if len(text) <= 64 else text[:64] + "..."


def parse_filters(params: Mapping[str, str], tz: datetime.tzinfo) -> UsageQuery:
    """The filters of a usage query; ``InvalidRequest`` with ``param`` for a bad one."""
    for name in params:
        if name not in FILTERS:
            raise InvalidRequest(
                f"Unknown parameter '{_shown(name)}'; use {', '.join(FILTERS)}.",
                param=_shown(name),
            )
    times: dict[str, float | None] = {}
    for name in ("start", "end"):
        text = params.get(name)
        try:
            times[name] = None if not text else parse_time(text, tz)
        except ValueError:
            raise InvalidRequest(
                f"'{name}' must be Unix time or an ISO 8601 date or date-time between 1970 "
                f"and 9999, like '2027-01-31' or '2027-01-31T18:00:00Z'; got "
                f"'{_shown(text or '')}'.",
                param=name,
            ) from None
    for name in ("key", "team", "model"):
        if len(params.get(name) or "") > MAX_FILTER_CHARS:
            raise InvalidRequest(
                f"'{name}' is longer than {MAX_FILTER_CHARS} characters.", param=name
            )
    group_by = params.get("group_by") or None
    if group_by is not None and group_by not in GROUP_COLUMNS:
        raise InvalidRequest(
            f"'group_by' must be one of {', '.join(GROUP_COLUMNS)}; got '{_shown(group_by)}'.",
            param="group_by",
        )
    return UsageQuery(
        key=params.get("key") or None,
        team=params.get("team") or None,
        model=params.get("model") or None,
        start=times["start"],
        end=times["end"],
        group_by=group_by,  # type: ignore[arg-type]  # checked against GROUP_COLUMNS above
    )


def build_sql(query: UsageQuery) -> tuple[str, list[object]]:
    """The aggregate statement and its parameters (no I/O). The time range is applied twice:
    to the batches first (``ts_max``/``ts_min``, by index, so batches outside it are never
    parsed), then to the rows of the batches that overlap it."""
    batches: list[str] = []
    where: list[str] = []
    batch_params: list[object] = []
    params: list[object] = []
    for column, value in (("key_id", query.key), ("team_id", query.team), ("model", query.model)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if query.start is not None:
        batches.append("b.ts_max >= ?")
        where.append("ts >= ?")
        batch_params.append(query.start)
        params.append(query.start)
    if query.end is not None:
        batches.append("b.ts_min < ?")
        where.append("ts < ?")
        batch_params.append(query.end)
        params.append(query.end)
    group = GROUP_COLUMNS[query.group_by] if query.group_by else "NULL"
    rows = select_usage(USAGE_COLUMNS, " AND ".join(batches))
    sql = (
        f"SELECT {group} AS grp, count(*), coalesce(sum(prompt_tokens), 0), "
        "coalesce(sum(completion_tokens), 0), coalesce(sum(cost_usd), 0.0), "
        "coalesce(sum(status >= 400), 0), "
        "coalesce(sum(cache IN ('hit', 'semantic-hit', 'coalesced')), 0) "
        f"FROM ({rows})"
    )
    if where:
        sql += " WHERE " + " AND ".join(where)
    if query.group_by:
        sql += " GROUP BY grp ORDER BY grp"
    return sql, batch_params + params  # the batches' placeholders come first in the text


def day_function(tz: datetime.tzinfo) -> Callable[[float], str]:
    """``ts -> 'YYYY-MM-DD'`` in ``tz``, memoised per quarter hour."""
    days: dict[int, str] = {}

    def day(ts: float) -> str:
        quarter = int(ts // 900)
        text = days.get(quarter)
        if text is None:
            moment = datetime.datetime.fromtimestamp(quarter * 900, tz)
            text = days[quarter] = moment.date().isoformat()
        return text

    return day


def summarise(db: sqlite3.Connection, query: UsageQuery, tz: datetime.tzinfo) -> UsageSummary:
    db.create_function("fastgw_day", 1, day_function(tz), deterministic=True)
    sql, params = build_sql(query)
    rows = db.execute(sql, params).fetchall()
    data = [
        UsageGroup(
            group=row[0],
            requests=row[1],
            prompt_tokens=row[2],
            completion_tokens=row[3],
            cost_usd=round(row[4], 9),
            errors=row[5],
            cache_hits=row[6],
        )
        for row in rows
        if row[1] or query.group_by is None
    ]
    return UsageSummary(group_by=query.group_by, start=query.start, end=query.end, data=data)


def zone(name: str) -> datetime.tzinfo:
    return zoneinfo.ZoneInfo(name)
