"""The ``semantic`` scenario: the semantic cache tier under load, on one worker.

Rules this module keeps:
- One gateway (1 worker), two models on the same canned nginx: ``SEM_MODEL`` with
  ``[models.semantic_cache]`` (``SEMANTIC_TOML``) and ``OFF_MODEL`` without; every request is
  deterministic (temperature 0), so every one on ``SEM_MODEL`` is eligible. No exact cache on
  either model: a repeat would reach the tier, not the exact stage.
- Load starts only once the tier's models are loaded: a probe request is repeated until it
  carries ``x-fastgw-cache`` (a tier still loading adds no header), never a blind sleep.
- Unique prompts: wrk's ``request`` hook draws 12 words per body from ``WORDS`` with a seeded
  generator, so the tier-on and tier-off runs of one round send the same prompts, and each
  round (and each side's warm-up) a different seed: a prompt stored in one round is never
  asked again in the next. Every script counts the answers' ``x-fastgw-cache`` values.
- Hits: ``pairs`` origin questions of ``paraphrases_dev.json`` are stored first (one at a time,
  then the entry gauge polled until they are all indexed), their paraphrases sent once with
  ``Cache-Control: no-store`` (nothing stored), and only those answered ``semantic-hit`` make
  the hit load (sent with ``no-store`` too): its latency is that of hits alone.
- Ratios within one run: the tier on and off in interleaved rounds, the order alternating.
- What the tier really did comes from the gateway's own counters (``/metrics`` before and
  after each run): answers looked up (``miss`` outcomes less the skipped ones), skipped
  (``queue_full``, ``timeout``), hits.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from _procs import child_pids, cpu_seconds, post, rss_mb, worker_pids
from _report import fmt_ms, fmt_rps, verdict
from _wrk import WrkResult, run_wrk, write_lua

from fastgw.testing.process import GatewayProcess

if TYPE_CHECKING:
    from run import Bench

SEM_MODEL = "gpt-bench-semantic"
OFF_MODEL = "gpt-bench-nosem"
SEMANTIC_TOML = """
[models.semantic_cache]
threshold = 0.9
ttl_s = 3600
max_entries = 50000
"""
REPO = Path(__file__).resolve().parent.parent
PAIRS_FILE = Path("/work/shared/data/semcache/paraphrases_dev.json")
MISS_ROUNDS = 3  # tier on / off at -c1, interleaved
THROUGHPUT_ROUNDS = 2  # the same at -cN
READY_TIMEOUT_S = 180.0
SYSTEM = "You are a concise assistant for backend engineers."
HIT_SYSTEM = "You answer questions about machine learning tools in one paragraph."
_WORDS = (
    "apple river network cache proxy window garden engine silver market travel winter "
    "doctor castle rocket violin pepper island forest planet museum harbor ticket signal "
    "battery kitchen mirror thunder pillow camera dragon lemon bridge candle desert hammer "
    "jacket ladder magnet needle orange pencil quartz rabbit saddle tomato umbrella valley "
    "wallet yellow zipper anchor basket cotton dinner eleven feather guitar helmet insect "
    "jungle kettle lizard meadow nickel oyster parrot quiver ribbon salmon turtle velvet "
    "walnut bakery cereal dolphin elbow falcon glacier hockey iceberg jigsaw kayak lantern "
    "marble noodle olive puzzle quiet raccoon spider tunnel uniform vacuum whistle yogurt "
    "compile deploy invoice ledger mortgage payroll receipt salary budget tariff voucher "
    "sonata ballet canvas poetry sculpture chorus fresco opera mosaic sketch novel drama "
    "protein enzyme neuron genome vaccine plasma tissue muscle kidney spleen artery fever "
    "granite basalt marble shale quartzite gypsum copper zinc cobalt lithium argon helium "
    "tractor harvest barley wheat orchard vineyard cattle poultry fence silo plough hay "
    "sailing tennis rugby cricket archery boxing fencing rowing skiing surfing climbing golf"
)
WORDS = tuple(_WORDS.split())


def config(bench: Bench) -> str:
    """The run's usual config and the two models of this scenario."""
    canned = "canned"
    return bench.gateway_config(False) + (
        f'\n[[models]]\nname = "{SEM_MODEL}"\n'
        f'deployments = [{{ provider = "{canned}", model = "{SEM_MODEL}" }}]\n'
        f"{SEMANTIC_TOML}\n"
        f'[[models]]\nname = "{OFF_MODEL}"\n'
        f'deployments = [{{ provider = "{canned}", model = "{OFF_MODEL}" }}]\n'
    )


def body(model: str, text: str, system: str = SYSTEM) -> bytes:
    return msgspec.json.encode(
        {
            "model": model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": text},
            ],
            "temperature": 0,
            "max_tokens": 128,
        }
    )


_TALLY = """
tally = {}
tally_threads = {}
setup = function(thread) table.insert(tally_threads, thread) end
response = function(status, headers, body)
  local v = headers["x-fastgw-cache"] or headers["X-Fastgw-Cache"] or "none"
  tally[v] = (tally[v] or 0) + 1
end
"""


def unique_script(path: Path, model: str, seed: int, key: str) -> Path:
    """wrk script: 12 random words from ``WORDS`` per request (``seed``: the sequence)."""
    head, tail = body(model, "\x00").split(b"\\u0000")  # the body around the user's text
    words = ",".join(f'"{w}"' for w in WORDS)
    code = f"""
local words = {{{words}}}
local head, tail = [==[{head.decode()}]==], [==[{tail.decode()}]==]
init = function(args) math.randomseed({seed}) end
request = function()
  local t = {{}}
  for i = 1, 12 do t[i] = words[math.random(#words)] end
  return wrk.format(nil, nil, nil, head .. table.concat(t, " ") .. "?" .. tail)
end
{_TALLY}"""
    return write_lua(path, code, key)


def cycle_script(path: Path, bodies: list[bytes], key: str) -> Path:
    """wrk script: ``bodies`` in turn, with ``Cache-Control: no-store``."""
    listed = ",\n".join(f"[==[{b.decode()}]==]" for b in bodies)
    code = f"""
wrk.headers["Cache-Control"] = "no-store"
local bodies = {{{listed}}}
local i = 0
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
{_TALLY}"""
    return write_lua(path, code, key)


_SAMPLE = re.compile(r"^(fastgw_\w+)\{([^}]*)\} ([0-9.e+-]+)$|^(fastgw_\w+) ([0-9.e+-]+)$")


def counters(base_url: str) -> dict[str, float]:
    """The tier's counters for ``SEM_MODEL`` from ``/metrics``: outcome and skip reasons."""
    with urllib.request.urlopen(base_url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    found: dict[str, float] = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m is None:
            continue
        name, labels, value = (m[1], m[2], m[3]) if m[1] else (m[4], "", m[5])
        if name == "fastgw_semantic_cache_entries":
            found["entries"] = float(value)
        elif f'model="{SEM_MODEL}"' in labels:
            label = re.search(r'(outcome|reason)="([^"]*)"', labels)
            if label and name in ("fastgw_cache_requests_total", "fastgw_semantic_skipped_total"):
                found[label[2]] = found.get(label[2], 0.0) + float(value)
    return found


def wait_ready(gateway: GatewayProcess, key: str) -> float:
    """Seconds until a semantic-model request carries ``x-fastgw-cache`` (models loaded)."""
    began = time.monotonic()
    url = gateway.base_url + "/v1/chat/completions"
    n = 0
    while time.monotonic() - began < READY_TIMEOUT_S:
        n += 1
        status, headers, _ = post(url, body(SEM_MODEL, f"readiness probe number {n}"), key)
        if status != 200:
            raise RuntimeError(f"semantic model answered {status}")
        if headers.get("x-fastgw-cache"):
            return time.monotonic() - began
        time.sleep(0.2)  # polling interval
    raise RuntimeError(f"the semantic tier was not ready after {READY_TIMEOUT_S:.0f} s")


def wait_entries(base_url: str, at_least: float, timeout: float = 120.0) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        entries = counters(base_url).get("entries", 0.0)
        if entries >= at_least:
            return entries
        time.sleep(0.2)  # polling interval
    raise RuntimeError(f"the semantic tier did not reach {at_least:.0f} entries")


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before.get(k, 0.0) for k in after if k != "entries"}


class Scenario:
    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.args = bench.args
        self.dir = bench.dir
        self.key = bench.key
        self.out: dict[str, Any] = {
            "runs": {},
            "model_toml": SEMANTIC_TOML.strip(),
            "connections": bench.args.connections,
        }

    def wrk(self, label: str, url: str, script: Path, connections: int, seconds: float) -> None:
        tiers = tier_pids(self.pids)
        before, cpu, tier_cpu = counters(self.base), cpu_seconds(self.pids), cpu_seconds(tiers)
        result: WrkResult = run_wrk(
            label, url, script, connections=connections, seconds=seconds, log=self.bench.log
        )
        used = cpu_seconds(self.pids) - cpu
        tier_used = cpu_seconds(tiers) - tier_cpu
        tier = delta(counters(self.base), before)
        skipped = tier.get("queue_full", 0) + tier.get("timeout", 0)
        # outcomes are counted as answers finish, skips at lookup: requests in flight at
        # either snapshot can make this a few (at most the connections) below zero
        looked_up = max(0.0, tier.get("miss", 0) + tier.get("semantic-hit", 0) - skipped)
        run = msgspec.structs.asdict(result) | {
            "tier": tier,
            "looked_up_per_s": round(looked_up / result.seconds, 1),
            "worker_cpu_pct": round(used / result.seconds * 100, 1),
            "tier_cpu_pct": round(tier_used / result.seconds * 100, 1),
        }
        self.out["runs"][label] = run
        print(
            f"  {label:<34} {result.rps:>10,.0f} req/s  p50 {result.p50_ms:.3f} ms  "
            f"p99 {result.p99_ms:.3f} ms  answers {result.tally}  looked up "
            f"{run['looked_up_per_s']}/s" + ("" if result.clean else "  (ERRORS)"),
            flush=True,
        )

    def measure(self) -> dict[str, Any]:
        a, c = self.args, self.args.connections
        print("starting fastgw (1 worker) with the semantic tier", flush=True)
        # run in this checkout, so `python -m fastgw` serves its code (as `_ab` does) even
        # when the environment's fastgw is installed from another one (a git worktree)
        with GatewayProcess(config(self.bench), workers=1, cwd=REPO) as gateway:
            self.base, self.pids = gateway.base_url, worker_pids(gateway)
            for line in gateway.log().splitlines():
                if "core:" in line:
                    self.bench.core = line.rsplit("core:", 1)[1].strip(" )")
            url = gateway.base_url + "/v1/chat/completions"
            self.out["rss_start_mb"] = round(rss_mb(self.pids[0]), 1)
            self.out["ready_s"] = round(wait_ready(gateway, self.key), 1)
            print(f"  semantic tier ready after {self.out['ready_s']} s", flush=True)
            self.hits(url, c)
            seed = 1000
            for name, rounds, conns in (
                ("miss", MISS_ROUNDS, 1),
                ("throughput", THROUGHPUT_ROUNDS, c),
            ):
                for r in range(rounds):
                    sides = ("on", "off") if r % 2 == 0 else ("off", "on")
                    seed += 1
                    for side in sides:
                        model = SEM_MODEL if side == "on" else OFF_MODEL
                        warm = unique_script(
                            self.dir / f"sem-warm-{side}.lua", model, -seed, self.key
                        )
                        script = unique_script(self.dir / f"sem-{side}.lua", model, seed, self.key)
                        run_wrk(
                            "warm-up", url, warm, connections=conns, seconds=1, log=self.bench.log
                        )
                        self.wrk(
                            f"{name} tier {side} c{conns} round {r + 1}",
                            url,
                            script,
                            conns,
                            a.duration,
                        )
            if a.profile:
                self.profile(url, c)
            self.out["entries_end"] = counters(self.base).get("entries", 0.0)
            self.out["rss_end_mb"] = round(rss_mb(self.pids[0]), 1)
            self.out["tier_rss_end_mb"] = round(sum(map(rss_mb, tier_pids(self.pids))), 1)
            errors = [ln for ln in gateway.log().splitlines() if "Traceback" in ln]
            self.out["errors_logged"] = len(errors)
        self.two_workers(url_path="/v1/chat/completions", c=c, seed=seed)
        self.out["summary"] = summary(self.out["runs"])
        return self.out

    def two_workers(self, url_path: str, c: int, seed: int) -> None:
        """The throughput rounds again on a gateway of two workers (each with its own tier
        thread and index): what one 2-core gateway serves through the tier."""
        print("starting fastgw (2 workers) with the semantic tier", flush=True)
        with GatewayProcess(config(self.bench), workers=2, cwd=REPO) as gateway:
            self.base, self.pids = gateway.base_url, worker_pids(gateway)
            url = gateway.base_url + url_path
            wait_ready(gateway, self.key)
            for _ in range(10):  # new connections land on either worker: all must be ready
                wait_ready(gateway, self.key)
            for r in range(THROUGHPUT_ROUNDS):
                sides = ("on", "off") if r % 2 == 0 else ("off", "on")
                seed += 1
                for side in sides:
                    model = SEM_MODEL if side == "on" else OFF_MODEL
                    warm = unique_script(self.dir / f"sem-warm2-{side}.lua", model, -seed, self.key)
                    script = unique_script(self.dir / f"sem2-{side}.lua", model, seed, self.key)
                    run_wrk("warm-up", url, warm, connections=c, seconds=1, log=self.bench.log)
                    self.wrk(
                        f"throughput w2 tier {side} c{c} round {r + 1}",
                        url,
                        script,
                        c,
                        self.args.duration,
                    )

    def profile(self, url: str, c: int) -> None:
        """py-spy (raw stacks, idle samples left out) of the worker under the tier-on unique
        load at -cN, then the hit load at -c1; not measured. The hit load starts while the
        thread still works through the stores the first load queued."""
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(spy).exists():
            self.out["profile"] = "py-spy is not installed (pip install py-spy)"
            return
        seconds = max(3, round(self.args.duration))
        found: dict[str, Any] = {}
        loads = [("unique", unique_script(self.dir / "sem-prof.lua", SEM_MODEL, 7, self.key), c)]
        if (self.dir / "sem-hits.lua").exists():
            loads.append(("hits", self.dir / "sem-hits.lua", 1))
        for name, script, conns in loads:
            out = self.dir / f"profile-semantic-{name}.txt"
            recorder = subprocess.Popen(
                [
                    spy,
                    "record",
                    "--pid",
                    str(self.pids[0]),
                    "--duration",
                    str(seconds),
                    "--rate",
                    "250",
                    "--format",
                    "raw",
                    "-o",
                    str(out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            run_wrk("profile", url, script, connections=conns, seconds=seconds, log=self.bench.log)
            with contextlib.suppress(subprocess.TimeoutExpired):
                recorder.wait(60)
            if out.exists():
                found[f"{name} c{conns}"] = thread_profile(out)
        self.out["profile"] = found

    def hits(self, url: str, c: int) -> None:
        pairs = json.loads(PAIRS_FILE.read_text())[: self.args.semantic_pairs]
        began = time.monotonic()
        start = counters(self.base).get("entries", 0.0)
        misses = 0  # an origin close to an earlier one is answered from it, not stored
        for pair in pairs:
            _, headers, _ = post(url, body(SEM_MODEL, pair["origin"], HIT_SYSTEM), self.key)
            misses += headers.get("x-fastgw-cache") == "miss"
        stored = wait_entries(self.base, start + misses)
        self.out["origins_stored"] = misses
        self.out["store_origins_s"] = round(time.monotonic() - began, 1)
        hitting: list[bytes] = []
        for pair in pairs:
            request = body(SEM_MODEL, pair["similar"], HIT_SYSTEM)
            headers = {"content-type": "application/json", "cache-control": "no-store"}
            headers["authorization"] = f"Bearer {self.key}"
            req = urllib.request.Request(url, data=request, headers=headers, method="POST")
            with urllib.request.urlopen(req, timeout=10) as response:
                if response.headers.get("x-fastgw-cache") == "semantic-hit":
                    hitting.append(request)
        self.out["pairs"] = len(pairs)
        self.out["pairs_hitting"] = len(hitting)
        self.out["entries_after_origins"] = stored
        print(
            f"  stored {len(pairs)} origins in {self.out['store_origins_s']} s; "
            f"{len(hitting)} paraphrases answered semantic-hit",
            flush=True,
        )
        if not hitting:
            return
        script = cycle_script(self.dir / "sem-hits.lua", hitting, self.key)
        run_wrk("warm-up", url, script, connections=1, seconds=1, log=self.bench.log)
        self.wrk("hits c1", url, script, 1, self.args.duration)
        self.wrk(f"hits c{c}", url, script, c, self.args.duration)


#: What the tier's thread does, by the function a sample is in (inclusive).
PROFILE_FRAMES = (
    ("lookups", "SemanticService._lookup"),
    ("stores", "SemanticService._add"),
    ("model encode", "SentenceTransformer.encode"),
    ("its tokenizer", "PreTrainedTokenizerBase.__call__"),
    ("its BERT forward", "BertModel.forward"),
    ("FAISS search", "SemanticIndex.search"),
    ("FAISS add", "SemanticIndex.add"),
)


def thread_profile(path: Path) -> dict[str, Any]:
    """From py-spy's raw stacks: the share of the worker's samples in the tier's thread, and
    of that thread's samples in each of ``PROFILE_FRAMES`` (inclusive)."""
    total = ours = 0
    inclusive: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        if "semantic/service.py" not in stack:
            continue
        ours += n
        functions = {frame.partition(" (")[0] for frame in stack.split(";")}
        for label, function in PROFILE_FRAMES:
            if function in functions:
                inclusive[label] += n
    if not total or not ours:
        return {"samples": total}
    return {
        "samples": total,
        "tier_thread_pct": round(ours / total * 100, 1),
        "tier_thread_split_pct": {
            label: round(inclusive[label] / ours * 100, 1) for label, _ in PROFILE_FRAMES
        },
    }


def tier_pids(workers: list[int]) -> list[int]:
    """The tier's processes (``[cache] semantic_process``): the workers' children."""
    return [pid for worker in workers for pid in child_pids(worker)]


def summary(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Means over rounds per side: req/s, p50, looked up per s; the miss p50 difference."""
    out: dict[str, Any] = {}
    for name, key in (("miss", "miss"), ("throughput", "throughput"), ("throughput w2", "w2")):
        for side in ("on", "off"):
            picked = [r for label, r in runs.items() if label.startswith(f"{name} tier {side} ")]
            if picked:
                out[f"{key}_{side}"] = {
                    k: round(sum(r[k] for r in picked) / len(picked), 3)
                    for k in (
                        "rps",
                        "p50_ms",
                        "p99_ms",
                        "looked_up_per_s",
                        "worker_cpu_pct",
                        "tier_cpu_pct",
                    )
                } | {
                    "rounds": len(picked),
                    "clean": all(r["socket_errors"] + r["non_2xx"] == 0 for r in picked),
                }
    if "miss_on" in out and "miss_off" in out:
        out["miss_added_p50_ms"] = round(out["miss_on"]["p50_ms"] - out["miss_off"]["p50_ms"], 3)
    return out


def markdown(sem: dict[str, Any]) -> list[str]:
    s, runs = sem["summary"], sem["runs"]
    lines = [
        "",
        "## Semantic cache tier (`--scenarios semantic`)",
        "",
        f"One worker; `{SEM_MODEL}` has `[models.semantic_cache]` ("
        + ", ".join(sem["model_toml"].splitlines()[1:])
        + f"), `{OFF_MODEL}` the same upstream without it; temperature 0, unique prompts of "
        "12 random words (the same ones on both sides of a round). Tier ready "
        f"{sem['ready_s']} s after start. 'looked up/s': requests the tier really searched "
        "(its `miss` and `semantic-hit` outcomes less the ones skipped for `queue_full` or "
        "`timeout`, from /metrics).",
        "",
        "| run | req/s | p50 | p99 | looked up/s | worker CPU | tier process CPU | target "
        "| result |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]

    def row(name: str, r: dict[str, Any], target: str = "", result: str = "") -> None:
        lines.append(
            f"| {name} | {fmt_rps(r['rps'])} | {fmt_ms(r['p50_ms'])} | {fmt_ms(r['p99_ms'])} "
            f"| {r['looked_up_per_s']:,.0f} | {r['worker_cpu_pct']} % "
            f"| {r.get('tier_cpu_pct', 0)} % | {target} | {result} |"
        )

    if "throughput_on" in s:
        on = s["throughput_on"]
        row(
            f"unique prompts, tier on, c{sem['connections']}",
            on,
            "≥ 2,000 req/s through the tier",
            verdict(on["looked_up_per_s"] >= 2000, f"{on['looked_up_per_s']:,.0f} looked up/s"),
        )
        row(f"unique prompts, tier off, c{sem['connections']}", s["throughput_off"])
    if "w2_on" in s:
        on = s["w2_on"]
        row(
            f"unique prompts, tier on, c{sem['connections']}, 2 workers",
            on,
            "≥ 2,000 req/s through the tier",
            verdict(on["looked_up_per_s"] >= 2000, f"{on['looked_up_per_s']:,.0f} looked up/s"),
        )
        row(f"unique prompts, tier off, c{sem['connections']}, 2 workers", s["w2_off"])
    if "miss_on" in s:
        added = s["miss_added_p50_ms"]
        row(
            "misses, tier on, c1",
            s["miss_on"],
            "≤ +2 ms p50 over off",
            verdict(added <= 2, f"{added:+.3f} ms"),
        )
        row("misses, tier off, c1", s["miss_off"])
    if "hits c1" in runs:
        hit = runs["hits c1"]
        row(
            "semantic hits, c1",
            hit,
            "p50 ≤ 10 ms",
            verdict(hit["p50_ms"] <= 10, f"{hit['p50_ms']:.3f} ms"),
        )
        wide = runs.get(f"hits c{sem['connections']}")
        if wide:
            row(f"semantic hits, c{sem['connections']}", wide)
    lines += [
        "",
        f"- Hits: {sem['pairs']} origin questions sent in {sem['store_origins_s']} s "
        f"({sem['origins_stored']} stored; the others were answered from an earlier one), "
        f"{sem['pairs_hitting']} of their paraphrases answered `semantic-hit` at the model's "
        "threshold and make the hit load (sent in turn, `Cache-Control: no-store`).",
        f"- Worker RSS {sem['rss_start_mb']} MB right after start (models still loading), "
        f"{sem['rss_end_mb']} MB at the end with {sem['entries_end']:,.0f} entries; the "
        f"tier's process (its models and index) {sem.get('tier_rss_end_mb', 0)} MB.",
    ]
    profile = sem.get("profile")
    if isinstance(profile, str):
        lines.append(f"- Profile: {profile}.")
    for load, found in (profile or {}).items():
        if found.get("samples"):
            top = "; ".join(f"{f} {v} %" for f, v in found["tier_thread_split_pct"].items())
            lines.append(
                f"- py-spy of the worker under the {load} load ({found['samples']} samples, "
                f"idle left out): the tier's thread {found['tier_thread_pct']} % of them; "
                f"of its samples (inclusive): {top}."
            )
    lines += [
        "- Every run, with the answers' `x-fastgw-cache` counts and the tier's counters:",
        "",
    ]
    for label, r in runs.items():
        lines.append(
            f"  - {label}: {fmt_rps(r['rps'])} req/s, p50 {fmt_ms(r['p50_ms'])}, answers "
            f"{r['tally']}, tier {dict((k, int(v)) for k, v in r['tier'].items())}"
            + ("" if r["socket_errors"] + r["non_2xx"] == 0 else " INVALID (errors)")
        )
    return lines
