"""``fastgw usage``: the usage log summarised on the command line, read from the SQLite file
the config names (no server needed). Same filters and grouping as ``GET /admin/usage``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import msgspec

from ..config import ConfigError, load_config
from ..errors import InvalidRequest
from .db import connect, initialise
from .report import GROUP_COLUMNS, UsageSummary, parse_filters, summarise, zone

_HEADERS = ("requests", "prompt_tokens", "completion_tokens", "cost_usd", "errors", "cache_hits")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    usage = commands.add_parser("usage", help="summarise the usage log")
    usage.add_argument("--config", default="config/fastgw.toml", help="TOML config file")
    usage.add_argument("--key", help="only this key id")
    usage.add_argument("--team", help="only this team")
    usage.add_argument("--model", help="only this public model name")
    usage.add_argument("--start", help="from (Unix time or ISO 8601; dates in [limits] timezone)")
    usage.add_argument("--end", help="until, exclusive (Unix time or ISO 8601)")
    usage.add_argument("--group-by", choices=sorted(GROUP_COLUMNS), help="one line per group")
    usage.add_argument("--json", action="store_true", help="print JSON, as GET /admin/usage")


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    path = config.storage.sqlite_path
    if not Path(path).exists():
        print(f"fastgw usage: no usage log at {path} (has fastgw served yet?)", file=sys.stderr)
        return 1
    tz = zone(config.limits.timezone)
    names = ("key", "team", "model", "start", "end", "group_by")
    params = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
    try:
        query = parse_filters(params, tz)
    except InvalidRequest as exc:
        print(f"fastgw usage: {exc.message}", file=sys.stderr)
        return 2
    initialise(path)  # a file an older fastgw wrote: its usage table is moved into batches
    db = connect(path)
    try:
        summary = summarise(db, query, tz)
    finally:
        db.close()
    if args.json:
        print(msgspec.json.encode(summary).decode())
    else:
        print(table(summary))
    return 0


def table(summary: UsageSummary) -> str:
    """The summary as aligned columns, one line per group (or one total line)."""
    first = summary.group_by or "total"
    rows = [(first, *_HEADERS)]
    for g in summary.data:
        label = g.group if summary.group_by else "all"
        rows.append(
            (
                "-" if label is None else label,
                str(g.requests),
                str(g.prompt_tokens),
                str(g.completion_tokens),
                f"{g.cost_usd:.6f}",
                str(g.errors),
                str(g.cache_hits),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    return "\n".join(lines)
