"""Micro-benchmark of one access-log line: ``AccessLog.write`` against the bare encode it wraps.

Run: ``.venv/bin/python benchmarks/micro/bench_accesslog.py [--repeat N] [--calls M]``

Rules this script keeps:
- ``write`` is timed on a realistic proxied-chat line (every field set, a cost of 1.47e-05,
  which msgspec already writes without an exponent) and on the same line with a cost below
  1e-6 (written in fixed notation: the rare path); beside them ``encode_into`` of the line
  alone and the cost check alone (what ``write`` added for plain decimals, as written there).
  Sink: an in-memory buffer.
- Best of ``--repeat`` runs of ``--calls`` calls, garbage collector off while timing.
- The machine is described on the first line; keep it with any numbers you copy.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench_core import describe_machine  # this script's folder is on sys.path when run

from fastgw.accesslog import _LARGEST_PLAIN, _SMALLEST_PLAIN, AccessLine, AccessLog


def line(cost: float) -> AccessLine:
    return AccessLine(
        1796378567.752289,
        "req_0005844c8b6e0000000001",
        "POST",
        "/v1/chat/completions",
        200,
        0.441,
        "bench-1",
        "gpt-4o-mini",
        "gpt-4o-mini",
        "canned",
        False,
        0.397,
        34,
        16,
        None,
        None,
        "bench",
        cost,
        "gpt-4o-mini/canned:200",
    )


def best_ns(call: Callable[[], object], calls: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.disable()
        start = time.perf_counter_ns()
        for _ in range(calls):
            call()
        elapsed = time.perf_counter_ns() - start
        gc.enable()
        best = min(best, elapsed / calls)
    return best


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--calls", type=int, default=200_000)
    a = p.parse_args()
    print(describe_machine())
    loop = asyncio.new_event_loop()
    log = AccessLog(loop, io.BytesIO())
    encoder, buf = msgspec.json.Encoder(), bytearray()
    usual, tiny = line(1.47e-05), line(8e-08)

    def encode_only() -> None:
        encoder.encode_into(usual, buf, -1)
        buf.extend(b"\n")
        if len(buf) >= 65536:
            buf.clear()

    def check_only() -> object:
        cost = usual.cost_usd
        return isinstance(cost, float) and cost and not _SMALLEST_PLAIN <= cost < _LARGEST_PLAIN

    def write_usual() -> None:
        log.write(usual)

    def write_tiny() -> None:
        tiny.cost_usd = 8e-08  # write() swaps it for its fixed-notation bytes
        log.write(tiny)

    rows = [
        ("encode_into alone", encode_only),
        ("the cost check alone", check_only),
        ("AccessLog.write, cost 1.47e-05", write_usual),
        ("AccessLog.write, cost 8e-08 (fixed notation)", write_tiny),
    ]
    for name, call in rows:
        print(f"{name:<46} {best_ns(call, a.calls, a.repeat):8.0f} ns per line")
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
