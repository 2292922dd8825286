"""``run.py --baseline REF``: this checkout's fastgw against another commit's, in one run.

Rules this module keeps:
- The baseline is a real checkout: a directory given as is, or a commit checked out with
  ``git worktree add --detach`` in a temporary directory (removed at the end). Its compiled
  core is built in place with this Python (``setup.py build_ext --inplace``), so both sides
  run on the same interpreter, packages, Granian and machine; only fastgw's code differs.
- Each side's server runs with its checkout as working directory, so ``python -m fastgw``
  imports that checkout (checked before measuring, never assumed).
- Both gateways are started first and stay up; then every scenario runs on each in
  interleaved rounds, the order alternating (A B, B A, ...), so drift on a shared machine
  (thermal, other processes, the page cache) hits both sides alike.
- Reported per side: the mean req/s over the rounds, its ratio to the nginx proxy of the
  same run, and the workers' CPU (user + system, from /proc) per request over all rounds;
  then current / baseline for both. A round with errors makes the comparison INVALID.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _procs import check_answer, worker_pids
from _report import TIMES

from fastgw.testing.process import GatewayProcess

if TYPE_CHECKING:
    from run import Bench

AB_SCENARIOS = ("plain", "cache")
SIDES = ("baseline", "current")
BUILD_TIMEOUT_S = 1200.0
REPO = Path(__file__).resolve().parent.parent


class Checkout:
    """A fastgw source tree ready to serve: its root, the commit and what the user named."""

    def __init__(self, root: Path, commit: str, ref: str) -> None:
        self.root = root
        self.commit = commit
        self.ref = ref


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "--no-optional-locks", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def current_checkout() -> Checkout:
    commit = _git(REPO, "rev-parse", "--short", "HEAD")
    if _git(REPO, "status", "--porcelain", "--", ":(top)fastgw", ":(top)setup.py"):
        commit += " + uncommitted changes"
    return Checkout(REPO, commit, "this checkout")


def prepare_baseline(ref: str, stack: contextlib.ExitStack) -> Checkout:
    """The baseline checkout for ``ref`` (a directory or anything ``git rev-parse`` takes),
    built; a temporary worktree is removed when ``stack`` closes."""
    path = Path(ref).expanduser()
    if path.is_dir():
        root = path.resolve()
        if not (root / "fastgw" / "__init__.py").is_file():
            raise RuntimeError(f"--baseline {ref}: no fastgw package in that directory")
        try:
            commit = _git(root, "rev-parse", "--short", "HEAD")
        except RuntimeError:
            commit = "unknown (not a git checkout)"
    else:
        commit = _git(REPO, "rev-parse", "--short", "--verify", f"{ref}^{{commit}}")
        root = Path(tempfile.mkdtemp(prefix="fastgw-baseline-"))
        print(f"checking out the baseline {ref} ({commit}) in {root}", flush=True)
        _git(REPO, "worktree", "add", "--detach", str(root), commit)
        stack.callback(_remove_worktree, root)
    print(f"building the baseline's compiled core in {root}", flush=True)
    built = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    if built.returncode != 0:
        raise RuntimeError(f"building the baseline failed:\n{built.stderr[-2000:]}")
    _check_imports_from(root)
    return Checkout(root, commit, ref)


def _remove_worktree(root: Path) -> None:
    with contextlib.suppress(RuntimeError, OSError, subprocess.TimeoutExpired):
        _git(REPO, "worktree", "remove", "--force", str(root))
    shutil.rmtree(root, ignore_errors=True)
    with contextlib.suppress(RuntimeError, OSError, subprocess.TimeoutExpired):
        _git(REPO, "worktree", "prune")


def _check_imports_from(root: Path) -> None:
    """``python -m fastgw`` run in ``root`` must import ``root``'s fastgw (not the installed
    one), or the comparison would compare a checkout with itself."""
    found = subprocess.run(
        [sys.executable, "-c", "import fastgw; print(fastgw.__file__)"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    where = Path(found.stdout.strip() or ".").resolve()
    if found.returncode != 0 or not where.is_relative_to(root):
        raise RuntimeError(
            f"fastgw run in {root} imports {where} instead: {found.stderr.strip()[-500:]}"
        )


def _core_of(gateway: GatewayProcess) -> str:
    for line in gateway.log().splitlines():
        if "core:" in line:
            return line.rsplit("core:", 1)[1].strip(" )")
    return "unknown"


def measure(bench: Bench, baseline: Checkout, path: str, plain_body: bytes) -> dict[str, Any]:
    """Both sides, every A/B scenario, every worker count: the ``ab`` part of the results.
    ``path``, ``plain_body``: where the chat requests go and one of them (a first check)."""
    a, c = bench.args, bench.args.connections
    checkouts = {"baseline": baseline, "current": current_checkout()}
    scenarios = [s for s in AB_SCENARIOS if s in a.scenarios]
    proxy = bench.m.wrk.get(f"nginx proxy c{c}")
    results: list[dict[str, Any]] = []
    cores: dict[str, str] = {}
    for w in a.workers:
        with contextlib.ExitStack() as started:
            gateways: dict[str, GatewayProcess] = {}
            for side in SIDES:  # both up first, then measured in interleaved rounds
                print(f"starting fastgw ({side}: {checkouts[side].commit}), {w} worker(s)")
                config = bench.gateway_config("cache" in scenarios)
                gateway = started.enter_context(
                    GatewayProcess(config, workers=w, cwd=checkouts[side].root)
                )
                gateways[side] = gateway
                url = gateway.base_url + path
                check_answer(f"fastgw {side} w{w}", url, plain_body, bench.key)
                cache = bench.check_cache(url) if "cache" in scenarios else "ok"
                if cache != "ok":
                    raise RuntimeError(f"fastgw {side} w{w}: {cache}")
                cores[side] = _core_of(gateway)
            for scenario in scenarios:
                results.append(
                    _rounds(
                        bench,
                        w,
                        scenario,
                        gateways,
                        url_path=path,
                        proxy_rps=proxy.rps if proxy else 0.0,
                    )
                )
    return {
        "rounds": a.ab_rounds,
        "duration_s": a.duration,
        "connections": c,
        "sides": {
            side: {
                "ref": co.ref,
                "commit": co.commit,
                "path": str(co.root),
                "core": cores.get(side),
            }
            for side, co in checkouts.items()
        },
        "results": results,
    }


def _rounds(
    bench: Bench,
    w: int,
    scenario: str,
    gateways: dict[str, GatewayProcess],
    url_path: str,
    proxy_rps: float,
) -> dict[str, Any]:
    a, c = bench.args, bench.args.connections
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
    clean = True
    for r in range(a.ab_rounds):
        order = SIDES if r % 2 == 0 else SIDES[::-1]
        for side in order:
            gateway = gateways[side]
            label = f"A/B w{w} {scenario} {side} round {r + 1}"
            result = bench.wrk(
                label,
                gateway.base_url + url_path,
                scenario,
                c,
                a.duration,
                warmup=r == 0,
                pids=worker_pids(gateway),
            )
            cpu = bench.m.cpu.get(label, {})
            runs[side].append(
                {
                    "rps": result.rps,
                    "requests": result.requests,
                    "us_per_request": cpu.get("us_per_request", 0.0),
                }
            )
            clean = clean and result.clean
    out: dict[str, Any] = {"workers": w, "scenario": scenario, "clean": clean}
    for side in SIDES:
        rps = [run["rps"] for run in runs[side]]
        requests = sum(run["requests"] for run in runs[side])
        cpu_us = sum(run["us_per_request"] * run["requests"] for run in runs[side])
        mean = sum(rps) / len(rps)
        out[side] = {
            "rps_rounds": [round(x) for x in rps],
            "rps": round(mean, 1),
            "x_nginx": round(mean / proxy_rps, 3) if proxy_rps else None,
            "us_per_request": round(cpu_us / requests, 1) if requests else None,
        }
    base, cur = out["baseline"], out["current"]
    out["rps_ratio"] = round(cur["rps"] / base["rps"], 3) if base["rps"] else None
    out["cpu_ratio"] = (
        round(cur["us_per_request"] / base["us_per_request"], 3)
        if base["us_per_request"] and cur["us_per_request"]
        else None
    )
    return out


def markdown(ab: dict[str, Any]) -> list[str]:
    """The A/B section of ``latest.md``."""
    sides = ab["sides"]
    base, cur = sides["baseline"], sides["current"]
    lines = [
        "",
        "## A/B: this checkout against a baseline",
        "",
        f"Baseline `{base['ref']}` ({base['commit']}, core {base['core']}) against this checkout "
        f"({cur['commit']}, core {cur['core']}): both servers up at once, {ab['rounds']} "
        f"interleaved rounds of {ab['duration_s']:g} s per scenario and side (order alternating), "
        f"wrk -t1 -c{ab['connections']}. CPU: the fastgw workers' user + system time per "
        "request over all rounds.",
        "",
        f"| scenario | baseline req/s | {TIMES} nginx | µs CPU/req | current req/s | {TIMES} nginx "
        "| µs CPU/req | req/s current/baseline | CPU/req current/baseline | rounds (req/s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in ab["results"]:
        b, c = row["baseline"], row["current"]
        name = f"w{row['workers']} {row['scenario']}" + (
            "" if row["clean"] else " (INVALID: errors)"
        )
        rounds = "baseline " + " / ".join(f"{x:,}" for x in b["rps_rounds"])
        rounds += "; current " + " / ".join(f"{x:,}" for x in c["rps_rounds"])
        lines.append(
            f"| {name} | {b['rps']:,.0f} | {_x(b['x_nginx'])} | {_num(b['us_per_request'])} "
            f"| {c['rps']:,.0f} | {_x(c['x_nginx'])} | {_num(c['us_per_request'])} "
            f"| {_num(row['rps_ratio'], 3)} | {_num(row['cpu_ratio'], 3)} | {rounds} |"
        )
    return lines


def _x(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}{TIMES}"


def _num(value: float | None, places: int = 1) -> str:
    return "—" if value is None else f"{value:.{places}f}"
