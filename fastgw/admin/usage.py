"""``GET /admin/usage``: the usage log summarised, filtered by key, team, model and time.

This worker's queued rows are written first; rows of other workers may still be queued (at
most one ``usage.flush_interval_s``). The query runs on a thread with its own connection.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from ..exchange import Exchange
from ..records.db import connect
from ..records.report import UsageQuery, UsageSummary, parse_filters, summarise, zone
from .respond import send

if TYPE_CHECKING:
    from .context import AdminContext


async def usage(state: AdminContext, scope: Any, proto: Any, ex: Exchange) -> None:
    tz = zone(state.config.limits.timezone)
    params = dict(parse_qsl(scope.query_string or "", keep_blank_values=True))
    query = parse_filters(params, tz)
    if state.usage is not None:  # off: the file holds what earlier runs wrote
        await state.usage.sync()
    summary = await state.loop.run_in_executor(
        None, _summarise, state.config.storage.sqlite_path, query, tz
    )
    send(proto, ex, 200, summary)


def _summarise(path: str, query: UsageQuery, tz: datetime.tzinfo) -> UsageSummary:
    db = connect(path)
    try:
        return summarise(db, query, tz)
    finally:
        db.close()
