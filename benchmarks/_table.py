"""The results table: one row per scenario, each target checked against the same run's numbers.

Rules this module keeps:
- A ratio is always against the nginx ``proxy_pass`` measured in the same run, a latency
  overhead always against the direct run measured in the same run.
- A run with socket errors or non-2xx answers is INVALID, never PASS.
- The chunk-forwarding verdict is on the absolute p99 seen by the client (so the client's own
  floor counts against fastgw); the margin over the floor is printed beside it.
"""

from __future__ import annotations

from typing import Any

from _report import Row, fmt_ms, fmt_rps, verdict, wrk_row
from _wrk import WrkResult
from stream_client import StreamReport

TARGET_PLAIN_RATIO = 0.2
TARGET_CACHE_RATIO = 0.4
TARGET_ADDED_P50_MS = 0.3
TARGET_TTFT_OVERHEAD_MS = 1.0
TARGET_CHUNK_P99_MS = 1.0
TARGET_RSS_MB = 150.0
TARGET_SOAK_GROWTH_PCT = 5.0


class Measurements:
    """Everything one run measured, by label."""

    def __init__(self, workers: list[int], connections: int, scenarios: list[str]) -> None:
        self.workers = workers
        self.connections = connections
        self.scenarios = scenarios
        self.wrk: dict[str, WrkResult] = {}
        self.streams: dict[str, StreamReport] = {}
        self.sweep: dict[str, list[WrkResult]] = {}
        self.memory: dict[str, Any] = {}
        self.cpu: dict[str, dict[str, Any]] = {}  # label -> who, cpu_pct, us_per_request
        self.cache_state: dict[int, str] = {}  # workers -> "ok" or why it was skipped
        self.notes: list[str] = []


def rows(m: Measurements) -> list[Row]:
    return _throughput(m) + _latency(m) + _streams(m) + _memory(m)


def _throughput(m: Measurements) -> list[Row]:
    c = m.connections
    proxy = m.wrk.get(f"nginx proxy c{c}")
    if proxy is None:
        return []
    out = [
        wrk_row(f"direct → canned nginx (c{c})", m.wrk[f"direct c{c}"], proxy),
        wrk_row(f"nginx proxy_pass (c{c})", proxy, proxy),
    ]
    bare = m.wrk.get(f"bare granian c{c}")
    if bare is not None:
        row = wrk_row(f"bare Granian RSGI app, no upstream (c{c})", bare, proxy)
        row.target = "reference: the ceiling of any Granian app"
        out.append(row)
    for w in m.workers:
        plain = m.wrk.get(f"fastgw w{w} c{c}")
        if plain is not None:
            out.append(
                _ratio_row(
                    f"fastgw w{w}: chat, keys + metrics (c{c})", plain, proxy, TARGET_PLAIN_RATIO
                )
            )
        cache = m.wrk.get(f"fastgw w{w} cache c{c}")
        if cache is not None:
            out.append(
                _ratio_row(
                    f"fastgw w{w}: exact-cache hits (c{c})", cache, proxy, TARGET_CACHE_RATIO
                )
            )
        elif "cache" in m.scenarios and w in m.cache_state:
            out.append(
                Row(
                    f"fastgw w{w}: exact-cache hits (c{c})",
                    target=f"≥ {TARGET_CACHE_RATIO:.2f}x nginx",
                    result="SKIPPED (see notes)",
                )
            )
            note = f"cache scenario w{w} skipped: {m.cache_state[w]}"
            if note not in m.notes:
                m.notes.append(note)
    return out


def _ratio_row(name: str, result: WrkResult, proxy: WrkResult, target: float) -> Row:
    row = wrk_row(name, result, proxy)
    ratio = result.rps / proxy.rps if proxy.rps else 0.0
    row.target = f"≥ {target:.2f}x nginx"
    row.result = row.result or verdict(ratio >= target, f"{ratio:.3f}x")
    return row


def _latency(m: Measurements) -> list[Row]:
    direct = m.wrk.get("direct c1")
    if direct is None:
        return []
    proxy = m.wrk["nginx proxy c1"]
    out = [wrk_row("direct → canned nginx (c1)", direct, None)]
    row = wrk_row("nginx proxy_pass (c1)", proxy, None)
    row.target = f"reference: {proxy.p50_ms - direct.p50_ms:+.3f} ms p50 over direct"
    out.append(row)
    bare = m.wrk.get("bare granian c1")
    if bare is not None:
        row = wrk_row("bare Granian RSGI app, no upstream (c1)", bare, None)
        row.target = f"reference: {bare.p50_ms - direct.p50_ms:+.3f} ms p50 over direct"
        out.append(row)
    for w in m.workers:
        gw = m.wrk.get(f"fastgw w{w} c1")
        if gw is None:
            continue
        row = wrk_row(f"fastgw w{w}: added latency (c1)", gw, None)
        added = gw.p50_ms - direct.p50_ms
        row.target = f"p50 ≤ +{TARGET_ADDED_P50_MS} ms over direct"
        row.result = row.result or verdict(added <= TARGET_ADDED_P50_MS, f"{added:+.3f} ms")
        out.append(row)
    return out


def _streams(m: Measurements) -> list[Row]:
    direct = m.streams.get("streams direct")
    if direct is None:
        return []
    unit = "chunks/s"
    rate = fmt_rps(direct.chunks_per_s, unit)
    out = [
        Row(
            "streams direct → mock: TTFT (client floor)",
            rate,
            fmt_ms(direct.ttft_ms.get("p50")),
            fmt_ms(direct.ttft_ms.get("p99")),
        ),
        Row(
            "streams direct → mock: chunk delay (client floor)",
            rate,
            fmt_ms(direct.delay_ms.get("p50")),
            fmt_ms(direct.delay_ms.get("p99")),
        ),
    ]
    if direct.errors:
        out[0].result = out[1].result = f"INVALID ({direct.errors} stream errors)"
    bare = m.streams.get("streams bare granian")
    if bare is not None:  # Granian alone, making its own stamped chunks: the app-server floor
        out.append(
            Row(
                "bare Granian app streaming its own chunks: chunk delay",
                fmt_rps(bare.chunks_per_s, unit),
                fmt_ms(bare.delay_ms.get("p50")),
                fmt_ms(bare.delay_ms.get("p99")),
                target="reference: Granian's own delivery delay at this load",
                result=f"INVALID ({bare.errors} stream errors)" if bare.errors else "",
            )
        )
    for w in m.workers:
        gw = m.streams.get(f"streams fastgw w{w}")
        if gw is None:
            continue
        bad = f"INVALID ({gw.errors} stream errors)" if gw.errors else ""
        rate = fmt_rps(gw.chunks_per_s, unit)
        over = gw.ttft_ms.get("p50", 0) - direct.ttft_ms.get("p50", 0)
        out.append(
            Row(
                f"fastgw w{w}: streams TTFT",
                rate,
                fmt_ms(gw.ttft_ms.get("p50")),
                fmt_ms(gw.ttft_ms.get("p99")),
                target=f"p50 ≤ +{TARGET_TTFT_OVERHEAD_MS} ms over direct",
                result=bad or verdict(over <= TARGET_TTFT_OVERHEAD_MS, f"{over:+.3f} ms"),
            )
        )
        p99 = gw.delay_ms.get("p99", 0)
        net = p99 - direct.delay_ms.get("p99", 0)
        out.append(
            Row(
                f"fastgw w{w}: chunk forwarding delay",
                rate,
                fmt_ms(gw.delay_ms.get("p50")),
                fmt_ms(p99),
                target=f"p99 ≤ {TARGET_CHUNK_P99_MS} ms (client floor included)",
                result=bad
                or verdict(p99 <= TARGET_CHUNK_P99_MS, f"p99 {p99:.3f} ms; {net:+.3f} ms vs floor"),
            )
        )
    return out


def _memory(m: Measurements) -> list[Row]:
    out: list[Row] = []
    for w in m.workers:
        mem = m.memory.get(f"w{w}")
        if not mem or not mem.get("end"):
            continue
        peak = max(mem["end"].values())
        start = max(mem["start"].values()) if mem["start"] else 0.0
        out.append(
            Row(
                f"fastgw w{w}: RSS per worker (after the runs)",
                target=f"≤ {TARGET_RSS_MB:.0f} MB",
                result=verdict(peak <= TARGET_RSS_MB, f"{peak:.1f} MB; {start:.1f} MB at start"),
            )
        )
    soak = m.memory.get("soak")
    if soak:
        growth = soak["growth_pct"]
        peak = max(max(s.values()) for s in soak["samples"] if s)
        ok = growth < TARGET_SOAK_GROWTH_PCT and peak <= TARGET_RSS_MB
        out.append(
            Row(
                f"fastgw w{soak['workers']}: soak {soak['seconds']:.0f} s, RSS growth",
                target=f"< {TARGET_SOAK_GROWTH_PCT:.0f} %, ≤ {TARGET_RSS_MB:.0f} MB",
                result=verdict(ok, f"{growth:+.1f} %, peak {peak:.1f} MB"),
            )
        )
    return out
