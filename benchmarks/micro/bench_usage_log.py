"""Micro-benchmark of the usage log: the writer's CPU per row, and the readers on a month of rows.

Run: ``.venv/bin/python benchmarks/micro/bench_usage_log.py [--rows N] [--batch B] [--dir D]``

Rules this script keeps:
- It fills a fresh SQLite file with ``--rows`` rows spread over 30 days of November 2026,
  ``--batch`` rows a flush: each row encoded into the batch's JSON text as ``UsageLog.record``
  does (on the event loop), each batch written by ``UsageLog._write`` (the writer thread's
  whole work per flush: BEGIN, insert, COMMIT), and prints both CPU times
  (``time.thread_time``) per row. Then it times, best of 3 wall-clock runs, ``summarise``
  (``GET /admin/usage``, ``fastgw usage``) over the month and over single days, and the
  budget seed at two moments.
- The machine is described on the first line; keep it with any numbers you copy.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench_core import describe_machine  # this script's folder is on sys.path when run

from fastgw.limits.periods import period_at
from fastgw.limits.spend import SpendBook, seed_from_usage_log
from fastgw.records.db import connect, initialise
from fastgw.records.report import UsageQuery, summarise
from fastgw.records.usage import UsageLog, _Batch

UTC = datetime.UTC
DAY = 86400.0
MONTH_START = datetime.datetime(2026, 11, 1, tzinfo=UTC).timestamp()
MODELS = ("gpt-4o-mini", "gpt-4o", "claude", "llama", "mistral")


def rows_of_batch(first: int, count: int, start: float, rnd: random.Random) -> list[Any]:
    """``count`` rows a few ms apart from ``start``: 50 keys in 7 teams, 5 models, 1% 429s."""
    rows = []
    for i in range(first, first + count):
        key = rnd.randrange(50)
        model = MODELS[i % 5]
        rows.append(
            (
                start + (i - first) * 2.5e-3,
                f"req_{i:016x}",
                f"key-{key}",
                f"team-{key % 7}",
                model,
                f"canned/{model}",
                "canned",
                429 if i % 97 == 0 else 200,
                34 + i % 13,
                16 + i % 5,
                1.47e-05 * (1 + i % 3),
                1.234 + i % 1000,
                None if i % 2 else 0.5,
                bool(i % 2),
                "hit" if i % 10 == 0 else None,
                None,
            )
        )
    return rows


def fill(path: str, rows: int, batch: int) -> tuple[float, float]:
    """Write ``rows`` rows as the usage log does; the CPU time per row, in µs, of encoding
    them (``record``, on the loop) and of writing them (the writer thread)."""
    loop = asyncio.new_event_loop()
    usage = UsageLog(path, loop, flush_interval_s=1.0, batch_max=batch)
    encode_into = msgspec.json.Encoder().encode_into
    rnd = random.Random(1)
    batches = rows // batch
    encoding = writing = 0.0
    try:
        for b in range(batches):
            queued = rows_of_batch(b * batch, batch, MONTH_START + 30 * DAY * b / batches, rnd)
            t0 = time.thread_time()
            buf = bytearray(b"[")
            for row in queued:
                encode_into(row, buf, -1)
                buf += b","
            buf[-1] = 0x5D  # "]"
            stamps = [row[0] for row in queued]
            done = _Batch(bytes(buf), len(queued), min(stamps), max(stamps))
            t1 = time.thread_time()
            usage._write(done)
            writing += time.thread_time() - t1
            encoding += t1 - t0
    finally:
        usage._close_db()
        loop.close()
    return encoding / (batches * batch) * 1e6, writing / (batches * batch) * 1e6


def best_s(run: Callable[[], object], repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the month")
    parser.add_argument("--batch", type=int, default=10_000, help="rows a flush (batch_max)")
    parser.add_argument("--dir", help="where the file goes (default: a temporary directory)")
    args = parser.parse_args()
    print(f"{describe_machine()}, SQLite {sqlite3.sqlite_version}")
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(args.dir or tmp) / "usage-bench.sqlite3")
        for suffix in ("", "-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)
        initialise(path)
        encoding, writing = fill(path, args.rows, args.batch)
        print(
            f"encode (record, on the loop): {encoding:.2f} µs CPU a row; write (writer thread): "
            f"{writing:.2f} µs CPU a row ({args.rows:,} rows, {args.batch:,} a flush)"
        )
        db = connect(path)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        print(f"file: {Path(path).stat().st_size / args.rows:.0f} bytes a row")
        day10, day29 = MONTH_START + 10 * DAY, MONTH_START + 29 * DAY
        month = {"start": MONTH_START, "end": MONTH_START + 30 * DAY}
        queries = {
            "report, no filter": UsageQuery(),
            "report, month by day": UsageQuery(**month, group_by="day"),
            "report, month by model": UsageQuery(**month, group_by="model"),
            "report, month, one key": UsageQuery(**month, key="key-3"),
            "report, last day": UsageQuery(start=day29, end=day29 + DAY),
            "report, day 10 by model": UsageQuery(start=day10, end=day10 + DAY, group_by="model"),
        }
        for label, query in queries.items():
            seconds, summary = best_s(lambda q=query: summarise(db, q, UTC))  # type: ignore[misc]
            first = summary.data[0]  # type: ignore[attr-defined]
            print(f"{label}: {seconds:.3f} s ({first.requests:,} requests in the first group)")
        db.close()
        for label, now in (("seed on day 16", MONTH_START + 15.5 * DAY), ("seed on day 30", day29)):
            period = period_at(now, UTC)
            seconds, groups = best_s(
                lambda p=period: seed_from_usage_log(SpendBook(), path, p, ("key", "team", "model"))
            )
            print(f"{label}: {seconds:.3f} s ({groups} groups)")


if __name__ == "__main__":
    main()
