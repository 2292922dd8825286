"""The benchmark's outputs: the machine described, the markdown table, the JSON and the plot.

Rules this module keeps:
- Results are written whole at the end of a run (``latest.json``, ``latest.md``,
  ``latency_vs_load.png``); a run that fails half-way leaves the previous results alone.
- The machine description is read, never guessed: /proc, ``platform``, the installed package
  versions and the compiled-core selector the gateway itself logged.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import msgspec
from _nginx import nginx_version
from _wrk import WrkResult, wrk_version

TIMES = "\u00d7"  # the multiplication sign, for ratios in the table


PACKAGES = ("granian", "uvloop", "msgspec", "httptools", "fastgw")


class Row(msgspec.Struct):
    """One line of the results table; every cell already formatted."""

    scenario: str
    rps: str = "—"
    p50: str = "—"
    p99: str = "—"
    ratio: str = "—"
    target: str = ""
    result: str = ""


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _package(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _git(*args: str) -> str:
    try:
        # --no-optional-locks: read the repository without refreshing its index
        out = subprocess.run(
            ["git", "--no-optional-locks", *args],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=Path(__file__).resolve().parent,
        )
    except OSError:
        return ""
    return out.stdout.strip()


def machine(core: str, loadavg_start: list[str]) -> dict[str, Any]:
    """What the numbers were measured on; ``core`` is the implementation the gateway logged."""
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in _read("/proc/cpuinfo").splitlines()
            if ln.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    debian = _read("/etc/debian_version").strip()
    mem_kb = next(
        (
            int(ln.split()[1])
            for ln in _read("/proc/meminfo").splitlines()
            if ln.startswith("MemTotal:")
        ),
        0,
    )
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": f"Debian {debian}" if debian else platform.platform(),
        "python": platform.python_version(),
        "packages": {n: _package(n) for n in PACKAGES},
        "fastgw_core": core,
        "nginx": nginx_version(),
        "wrk": wrk_version(),
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--", ":(top)fastgw")),
        "loadavg_start": loadavg_start,
    }


def fmt_rps(value: float, unit: str = "req/s") -> str:
    return f"{value:,.0f}" if unit == "req/s" else f"{value:,.0f} {unit}"


def fmt_ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f} ms"


def wrk_row(name: str, result: WrkResult, reference: WrkResult | None) -> Row:
    ratio = f"{result.rps / reference.rps:.2f}{TIMES}" if reference and reference.rps else "—"
    row = Row(name, fmt_rps(result.rps), fmt_ms(result.p50_ms), fmt_ms(result.p99_ms), ratio)
    if not result.clean:
        row.result = f"INVALID ({result.socket_errors} socket errors, {result.non_2xx} non-2xx)"
    return row


def verdict(passed: bool, measured: str) -> str:
    return f"{'PASS' if passed else 'FAIL'} ({measured})"


def markdown(data: dict[str, Any]) -> str:
    m = data["machine"]
    s = data["settings"]
    pk = m["packages"]
    lines = [
        "# fastgw benchmark results",
        "",
        f"Measured {m['date']} with `{s['command']}`.",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}"
        f", {m['os']}",
        f"- Python {m['python']}; granian {pk['granian']}, uvloop {pk['uvloop']}, "
        f"msgspec {pk['msgspec']}, httptools {pk['httptools']}; fastgw {pk['fastgw']} "
        f"(git {m['git_commit']}{', fastgw/ modified' if m['git_dirty'] else ''}), "
        f"compiled core: **{m['fastgw_core']}**",
        f"- {m['nginx']}, {m['wrk']}; load average before the run {' '.join(m['loadavg_start'])}",
        f"- wrk -t1, {s['connections']} connections, {s['duration_s']} s per run; "
        f"nginx {s['nginx_workers']} worker(s) each; fastgw access log "
        f"{'on' if s['access_log'] else 'off'}, keys ({s['keys']}) and metrics on, "
        "usage log off (on in the limits runs); "
        f"streams: {s['streams']} concurrent x {s['chunks']} chunks, "
        f"{s['chunk_delay_ms']} ms apart",
    ]
    if data["rows"]:  # none when only scenarios with tables of their own ran (semantic)
        lines += [
            "",
            f"| scenario | req/s | p50 | p99 | {TIMES} nginx proxy | target | result |",
            "|---|---:|---:|---:|---:|---|---|",
        ]
    for row in data["rows"]:
        lines.append(
            f"| {row['scenario']} | {row['rps']} | {row['p50']} | {row['p99']} | {row['ratio']} "
            f"| {row['target']} | {row['result']} |"
        )
    if data.get("ab"):
        from _ab import markdown as ab_markdown

        lines += ab_markdown(data["ab"])
    if data.get("semantic"):
        from _semantic import markdown as semantic_markdown

        lines += semantic_markdown(data["semantic"])
    if data.get("sweep"):
        lines += [
            "",
            "## Latency against offered load",
            "",
            "![latency vs load](latency_vs_load.png)",
            "",
            "| target | connections | req/s | p50 | p99 |",
            "|---|---:|---:|---:|---:|",
        ]
        for target, points in data["sweep"].items():
            for p in points:
                lines.append(
                    f"| {target} | {p['connections']} | {fmt_rps(p['rps'])} "
                    f"| {fmt_ms(p['p50_ms'])} | {fmt_ms(p['p99_ms'])} |"
                )
    if data.get("notes"):
        lines += ["", "## Notes", ""]
        lines += [f"- {note}" for note in data["notes"]]
    lines += ["", "Raw numbers: `latest.json`. What each row means: `benchmarks/README.md`.", ""]
    return "\n".join(lines)


def plot(sweep: dict[str, list[dict[str, Any]]], path: Path) -> bool:
    """Latency (p50 solid, p99 dashed) and throughput against connections; False without
    matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, (target, points) in enumerate(sweep.items()):
        color = f"C{i}"
        conns = [p["connections"] for p in points]
        left.plot(conns, [p["p50_ms"] for p in points], "o-", color=color, label=f"{target} p50")
        left.plot(conns, [p["p99_ms"] for p in points], "s--", color=color, label=f"{target} p99")
        right.plot(conns, [p["rps"] for p in points], "o-", color=color, label=target)
    ticks = sorted({p["connections"] for points in sweep.values() for p in points})
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("concurrent connections (wrk -t1)")
        ax.grid(True, which="both", alpha=0.3)
    left.set_yscale("log")
    left.grid(True, which="minor", axis="y", alpha=0.15)
    left.set_ylabel("latency (ms)")
    left.set_title("Latency against offered load")
    right.set_ylabel("requests per second")
    right.set_title("Throughput")
    left.legend(fontsize=7)
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_results(data: dict[str, Any], directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "latest.json").write_bytes(msgspec.json.format(msgspec.json.encode(data)) + b"\n")
    (directory / "latest.md").write_text(markdown(data))
