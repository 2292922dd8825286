"""``make bench``: fastgw against a canned nginx upstream and an nginx ``proxy_pass``, in one run.

    python benchmarks/run.py [--duration 10] [--workers 1,2] [--scenarios plain,cache,...]
                             [--access-log on|off] [--soak] [--profile]
                             [--baseline REF [--ab-rounds 3]]

Starts a canned nginx upstream, an nginx proxy in front of it, the SSE mock upstream
(``mock_upstream.py``) and fastgw (``GatewayProcess``: keys and metrics on, one ``openai``
provider on the canned nginx and one on the mock), then measures with wrk (POST of a small chat
request, ``-t1 -c32``) and ``stream_client.py``. Writes ``benchmarks/results/latest.{json,md}``
and ``latency_vs_load.png``; logs, configs and wrk scripts of the run stay in
``benchmarks/results/tmp/`` (git-ignored). Every load step is bounded in time.

Scenarios: ``plain`` (direct, nginx proxy, fastgw at -c32), ``cache`` (fastgw exact-cache hits),
``limits`` / ``limits-redis`` (the plain chat run on one worker with keys, team, model limits and
budgets enforced, against the same run with them off: the ratio; locally or through Redis;
every gateway started first, then measured in interleaved rounds),
``latency`` (-c1: added p50 over direct), ``stream`` (concurrent SSE streams: TTFT overhead and
per-chunk forwarding delay), ``sweep`` (latency against connections, plotted), ``routing`` (a
model routed round-robin over 3 healthy deployments against the same model with 1, runs
interleaved, reported as a throughput ratio in the notes), ``anthropic`` (the plain chat
through an ``anthropic`` provider, translated both ways, against the same through the
``openai`` passthrough, on the canned nginx's same answer in each protocol; runs interleaved,
the ratio in the notes; goal at least 0.8x). Memory (RSS per
worker before and after) is always reported; ``--soak`` adds a long run reporting RSS growth.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import _ab
import _semantic
import _table
import msgspec
from _nginx import Nginx, canned_config, proxy_config, wait_for_port
from _procs import (
    check_answer,
    child_pids,
    cpu_seconds,
    post,
    rss_mb,
    stop_process,
    worker_pids,
)
from _profile import summarise
from _report import machine, plot, write_results
from _wrk import WrkResult, run_wrk, write_script, wrk_binary
from stream_client import StreamReport

from fastgw import ConfigError, hash_key, parse_config
from fastgw.testing.process import GatewayProcess, free_port

# The exact-cache section appended right after the cached model's [[models]] table. Its syntax
# belongs to the exact-cache work: change this snippet to match it. If fastgw rejects the
# config, or does not answer a repeated request with `x-fastgw-cache: hit`, the cache scenario
# is skipped with the reason in the results.
CACHE_MODEL_TOML = """
[models.cache]
enabled = true
ttl_s = 600
"""

HERE = Path(__file__).resolve().parent
SCENARIOS = (
    "plain",
    "cache",
    "latency",
    "stream",
    "sweep",
    "routing",
    "anthropic",
    "inbound",
    "limits",
    "limits-redis",
    "semantic",
)
# `semantic` only when asked for: it needs the optional `semantic` extra, loads its models
# (~5-10 s) and adds about 10 x --duration (over 2 minutes at the default)
DEFAULT_SCENARIOS = tuple(s for s in SCENARIOS if s != "semantic")
# Limits on every key, on its team and on the model, high enough never to refuse: the cost of
# enforcing them (admission, headers, settlement, spend) is what is measured.
LIMITS_KEY_TOML = """team = "bench"
rpm = 100000000
tpm = 100000000000
parallel = 100000
budget_day_usd = 1000000000.0
budget_month_usd = 1000000000.0
"""
LIMITS_TOML = """
[[teams]]
id = "bench"
rpm = 100000000
tpm = 100000000000
budget_month_usd = 1000000000.0

[limits.models."gpt-4o-mini"]
rpm = 100000000
tpm = 100000000000
"""
# The usage log (on by default in fastgw) is on with the limits, off without them.
USAGE_LOG_TOML = "[usage]\nenabled = true\n"
SWEEP_CONNECTIONS = (1, 4, 16, 64, 128)
PLAIN_MODEL = "gpt-4o-mini"
CACHED_MODEL = "gpt-bench-cached"
STREAM_MODEL = "gpt-bench-stream"
ROUTED_MODEL = "gpt-bench-routed"
SINGLE_MODEL = "gpt-bench-single"
ANTHROPIC_MODEL = "claude-bench"
ANTHROPIC_ROUNDS = 2  # passthrough/translated runs interleaved, as for routing
ANTHROPIC_GOAL = 0.8  # issue 15: translated plain chat at least 0.8x the passthrough
INBOUND_ROUNDS = 2  # chat / messages / responses runs interleaved
ROUTING_ROUNDS = 2  # single/routed runs interleaved, so drift on a shared machine hits both
LIMITS_ROUNDS = 4  # limits off/on runs interleaved likewise
PATH = "/v1/chat/completions"
BUSY_LOADAVG = 0.5  # 1-minute load average above which the results carry a warning


def messages_body(model: str) -> bytes:
    """``chat_body`` as an Anthropic Messages request (the same system, question, limits)."""
    chat = msgspec.json.decode(chat_body(model, 0.7))
    system, user = chat["messages"]
    return msgspec.json.encode(
        {
            "model": model,
            "system": system["content"],
            "messages": [{"role": "user", "content": user["content"]}],
            "temperature": chat["temperature"],
            "max_tokens": chat["max_tokens"],
        }
    )


def responses_body(model: str) -> bytes:
    """``chat_body`` as a stateless Responses API request (``store: false``)."""
    chat = msgspec.json.decode(chat_body(model, 0.7))
    system, user = chat["messages"]
    return msgspec.json.encode(
        {
            "model": model,
            "instructions": system["content"],
            "input": user["content"],
            "temperature": chat["temperature"],
            "max_output_tokens": chat["max_tokens"],
            "store": False,
        }
    )


def _translation_per_chunk() -> tuple[float, float]:
    """µs of CPU per stream chunk: the Anthropic translation, and the passthrough framer."""
    sys.path.insert(0, str(HERE / "micro"))
    import bench_translate_anthropic as micro

    from fastgw._core import SSEFramer

    chunks = micro.text_stream()
    translated = micro.best_ns(micro.stream_loop(chunks), 1000, 7) / 1000 / len(chunks)
    plain = micro.openai_stream()
    framer = micro.best_ns(micro.framer_loop(SSEFramer, plain), 1000, 7) / 1000 / len(plain)
    return translated, framer


def chat_body(model: str, temperature: float) -> bytes:
    """A realistic small chat request (about 300 bytes)."""
    return msgspec.json.encode(
        {
            "model": model,
            "messages": [
                {"role": "system", "content": "You are a concise assistant for backend engineers."},
                {
                    "role": "user",
                    "content": "In two sentences: why does an HTTP proxy keep a pool "
                    "of upstream keep-alive connections?",
                },
            ],
            "temperature": temperature,
            "max_tokens": 128,
        }
    )


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.dir = workdir
        self.log = workdir / "wrk.log"
        self.stack = contextlib.ExitStack()
        self.keys = [f"sk-bench-{secrets.token_hex(16)}" for _ in range(args.keys)]
        self.key = self.keys[0]
        self.m = _table.Measurements(args.workers, args.connections, args.scenarios)
        self.core = "unknown"
        self.limits: dict[str, dict[str, float]] = {}
        self.ab: dict[str, Any] = {}
        self.semantic: dict[str, Any] = {}
        self.loadavg_start = Path("/proc/loadavg").read_text().split()[:3]
        self.bare: subprocess.Popen[bytes] | None = None
        self.bare_url = ""
        self.bare_pids: list[int] = []
        self.scripts_body = {
            "plain": chat_body(PLAIN_MODEL, 0.7),
            "messages": messages_body(PLAIN_MODEL),
            "responses": responses_body(PLAIN_MODEL),
        }
        self.scripts = {
            "plain": write_script(workdir / "plain.lua", chat_body(PLAIN_MODEL, 0.7), self.key),
            "cache": write_script(workdir / "cache.lua", chat_body(CACHED_MODEL, 0.0), self.key),
            "single": write_script(workdir / "single.lua", chat_body(SINGLE_MODEL, 0.7), self.key),
            "routed": write_script(workdir / "routed.lua", chat_body(ROUTED_MODEL, 0.7), self.key),
            "anthropic": write_script(
                workdir / "anthropic.lua", chat_body(ANTHROPIC_MODEL, 0.7), self.key
            ),
            "messages": write_script(
                workdir / "messages.lua", messages_body(PLAIN_MODEL), self.key
            ),
            "responses": write_script(
                workdir / "responses.lua", responses_body(PLAIN_MODEL), self.key
            ),
        }

    # -- upstreams -------------------------------------------------------------------------

    def start_upstreams(self) -> None:
        a = self.args
        ports: set[int] = set()
        while len(ports) < 3:  # free_port() may hand the same port out twice
            ports.add(free_port())
        self.canned_port, self.proxy_port, self.mock_port = sorted(ports)
        canned_dir, proxy_dir = self.dir / "nginx-canned", self.dir / "nginx-proxy"
        canned_conf = canned_config(canned_dir, self.canned_port, a.nginx_workers)
        canned = Nginx("canned nginx", canned_dir, canned_conf, self.canned_port)
        self.stack.callback(canned.stop)
        proxy_conf = proxy_config(proxy_dir, self.proxy_port, self.canned_port, a.nginx_workers)
        proxy = Nginx("nginx proxy", proxy_dir, proxy_conf, self.proxy_port)
        self.stack.callback(proxy.stop)
        mock_log = self.stack.enter_context(open(self.dir / "mock.log", "wb"))  # noqa: SIM115
        mock = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "mock_upstream.py"),
                "--port",
                str(self.mock_port),
                "--chunks",
                str(a.chunks),
                "--delay-ms",
                str(a.chunk_delay_ms),
                "--processes",
                str(a.mock_processes),
            ],
            stdout=mock_log,
            stderr=subprocess.STDOUT,
        )
        self.stack.callback(stop_process, mock)
        wait_for_port(self.mock_port, 10.0, mock, "mock upstream")
        self.direct_url = f"http://127.0.0.1:{self.canned_port}{PATH}"
        self.proxy_url = f"http://127.0.0.1:{self.proxy_port}{PATH}"
        body = chat_body(PLAIN_MODEL, 0.7)
        if {"plain", "latency", "stream"} & set(a.scenarios):
            self.bare_url = self.start_bare_granian() + PATH
            check_answer("bare Granian app", self.bare_url, body, None)
        check_answer("canned nginx", self.direct_url, body, None)
        check_answer("nginx proxy", self.proxy_url, body, None)
        check_answer("mock upstream", f"http://127.0.0.1:{self.mock_port}{PATH}", body, None)

    def start_bare_granian(self) -> str:
        """The bare RSGI app (``bare_granian.py``) on Granian, set up as ``fastgw serve`` sets
        Granian up (RSGI, uvloop, one worker); returns its base URL."""
        port = free_port()
        log = self.stack.enter_context(open(self.dir / "bare-granian.log", "wb"))  # noqa: SIM115
        granian = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "granian",
                "--interface",
                "rsgi",
                "--loop",
                "uvloop",
                "--workers",
                "1",
                "--no-ws",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--working-dir",
                str(HERE),
                "--log-level",
                "warning",
                "bare_granian:app",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.stack.callback(stop_process, granian)
        self.bare = granian
        wait_for_port(port, 20.0, granian, "bare Granian app")
        self.bare_pids = child_pids(granian.pid)
        return f"http://127.0.0.1:{port}"

    # -- fastgw ----------------------------------------------------------------------------

    def gateway_config(self, with_cache: bool, limits: str = "", redis_url: str = "") -> str:
        """``limits``: "" (none), "local" or "redis" (``redis_url``)."""
        per_key = LIMITS_KEY_TOML if limits else ""
        keys = "\n".join(
            f'[[keys]]\nid = "bench-{i}"\nhash = "{hash_key(k)}"\n{per_key}'
            for i, k in enumerate(self.keys)
        )
        # the usage log is part of the limits "on" side only: the other scenarios measure what
        # they always measured (keys, metrics, access log)
        keys += LIMITS_TOML + USAGE_LOG_TOML if limits else "[usage]\nenabled = false\n"
        keys += f'\n[storage]\nsqlite_path = "{self.dir / "bench.sqlite3"}"\n'
        if limits == "redis":
            keys += f'\n[state]\nbackend = "redis"\nredis_url = "{redis_url}"\n'

        return f"""
[server]
access_log = {"true" if self.args.access_log == "on" else "false"}
drain_timeout_s = 5

[providers.canned]
type = "openai"
base_url = "http://127.0.0.1:{self.canned_port}/v1"

[providers.mock]
type = "openai"
base_url = "http://127.0.0.1:{self.mock_port}/v1"

[[models]]
name = "{PLAIN_MODEL}"
deployments = [{{ provider = "canned", model = "{PLAIN_MODEL}" }}]

[[models]]
name = "{STREAM_MODEL}"
deployments = [{{ provider = "mock", model = "{STREAM_MODEL}" }}]

# routing: three providers on the same canned nginx, so only the gateway's routing differs
[providers.canned2]
type = "openai"
base_url = "http://127.0.0.1:{self.canned_port}/v1"

[providers.canned3]
type = "openai"
base_url = "http://127.0.0.1:{self.canned_port}/v1"

[[models]]
name = "{SINGLE_MODEL}"
deployments = [{{ provider = "canned", model = "{SINGLE_MODEL}" }}]

[[models]]
name = "{ROUTED_MODEL}"
strategy = "round-robin"
deployments = [
    {{ provider = "canned", model = "{ROUTED_MODEL}" }},
    {{ provider = "canned2", model = "{ROUTED_MODEL}" }},
    {{ provider = "canned3", model = "{ROUTED_MODEL}" }},
]

{self._anthropic_toml()}
[[models]]
name = "{CACHED_MODEL}"
deployments = [{{ provider = "canned", model = "{CACHED_MODEL}" }}]
{CACHE_MODEL_TOML if with_cache else ""}
{keys}"""

    def _anthropic_toml(self) -> str:
        """The anthropic scenario's provider and model, only when it runs: a baseline from
        before the provider type existed (``--baseline``) would refuse the config."""
        if "anthropic" not in self.args.scenarios:
            return ""
        return f"""
# anthropic: the canned nginx's /v1/messages (the same answer, Anthropic's shape)
[providers.canned-anthropic]
type = "anthropic"
base_url = "http://127.0.0.1:{self.canned_port}"

[[models]]
name = "{ANTHROPIC_MODEL}"
deployments = [{{ provider = "canned-anthropic", model = "claude-haiku-4-5" }}]
"""

    def start_gateway(self, workers: int) -> GatewayProcess:
        """fastgw with the cache snippet if it accepts it, else without (cache skipped).
        The caller stops it (``__exit__``)."""
        wants_cache = "cache" in self.args.scenarios
        state = self.m.cache_state
        gateway: GatewayProcess | None = None
        if wants_cache:
            try:
                parse_config(self.gateway_config(True), "the benchmark config")
                gateway = GatewayProcess(self.gateway_config(True), workers=workers)
                state[workers] = "ok"
            except ConfigError as exc:
                state[workers] = f"fastgw rejected the cache config: {exc.errors[0]}"
            except RuntimeError as exc:
                state[workers] = f"fastgw did not start with the cache config: {exc}"
        if gateway is None:
            gateway = GatewayProcess(self.gateway_config(False), workers=workers)
        try:
            for line in gateway.log().splitlines():
                if "core:" in line:
                    self.core = line.rsplit("core:", 1)[1].strip(" )")
            url = gateway.base_url + PATH
            check_answer(f"fastgw (w{workers})", url, chat_body(PLAIN_MODEL, 0.7), self.key)
            if wants_cache and state[workers] == "ok":
                state[workers] = self.check_cache(url)
        except BaseException:
            gateway.__exit__(None, None, None)
            raise
        return gateway

    def check_cache(self, url: str) -> str:
        body = chat_body(CACHED_MODEL, 0.0)
        post(url, body, self.key)
        # each worker has its own cache and a new connection may land on either (not
        # evenly: one 2-worker run saw 20 in a row on the other one): repeats until one lands
        # where the answer was stored
        for _ in range(100):
            status, headers, _ = post(url, body, self.key)
            found = headers.get("x-fastgw-cache")
            if status != 200 or found == "hit":
                break
        if status != 200 or found != "hit":
            return (
                f"the cache config was accepted but a repeated temperature-0 request got "
                f"status {status}, x-fastgw-cache: {found}; not measured"
            )
        return "ok"

    # -- measuring -------------------------------------------------------------------------

    def wrk(
        self,
        label: str,
        url: str,
        script: str,
        connections: int,
        seconds: float,
        warmup: bool = True,
        pids: list[int] | None = None,
        who: str = "fastgw workers",
        also: tuple[str, list[int]] | None = None,
    ) -> WrkResult:
        """One measured wrk run (after a 1 s warm-up); with ``pids``, their CPU use too, and
        with ``also`` (who, pids) that of another process on the same cores (redis-server)."""
        path = self.scripts[script]
        if warmup:
            run_wrk(label, url, path, connections=connections, seconds=1, log=self.log)
        cpu = cpu_seconds(pids or [])
        also_cpu = cpu_seconds(also[1]) if also else 0.0
        result = run_wrk(label, url, path, connections=connections, seconds=seconds, log=self.log)
        self.m.wrk[label] = result
        if pids and result.requests:
            used = cpu_seconds(pids) - cpu
            self.m.cpu[label] = {
                "who": who,
                "cpu_pct": round(used / result.seconds * 100, 1),
                "us_per_request": round(used / result.requests * 1e6, 1),
            }
        if also and result.requests:
            used = cpu_seconds(also[1]) - also_cpu
            self.m.cpu[f"{label} ({also[0]})"] = {
                "who": also[0],
                "cpu_pct": round(used / result.seconds * 100, 1),
                "us_per_request": round(used / result.requests * 1e6, 1),
            }
        print(
            f"  {label:<34} {result.rps:>10,.0f} req/s  p50 {result.p50_ms:.3f} ms  "
            f"p99 {result.p99_ms:.3f} ms" + ("" if result.clean else "  (ERRORS)"),
            flush=True,
        )
        return result

    def stream(
        self,
        label: str,
        port: int,
        key: str | None,
        pids: list[int] | None = None,
    ) -> StreamReport:
        a = self.args
        warmup = a.chunks * a.chunk_delay_ms / 1000
        command = [
            sys.executable,
            str(HERE / "stream_client.py"),
            "--port",
            str(port),
            "--model",
            STREAM_MODEL,
            "--streams",
            str(a.streams),
            "--warmup",
            str(warmup),
            "--duration",
            str(a.duration),
            "--key",
            key or "",
        ]
        cpu, began = cpu_seconds(pids or []), time.monotonic()
        own = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(command, capture_output=True, timeout=warmup + a.duration + 90)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.monotonic() - began
        client_s = after.ru_utime + after.ru_stime - own.ru_utime - own.ru_stime
        if not done.stdout.strip():
            raise RuntimeError(f"stream client failed: {done.stderr.decode(errors='replace')}")
        report = msgspec.json.decode(done.stdout, type=StreamReport)
        self.m.streams[label] = report
        self.m.cpu[f"{label}, client"] = {
            "who": "the stream client",
            "cpu_pct": round(client_s / wall * 100, 1),
        }
        if pids:
            used = cpu_seconds(pids) - cpu
            self.m.cpu[label] = {"who": "fastgw workers", "cpu_pct": round(used / wall * 100, 1)}
        print(
            f"  {label:<34} {report.chunks_per_s:>10,.0f} chunks/s  "
            f"TTFT p50 {report.ttft_ms.get('p50', 0):.3f} ms  "
            f"chunk delay p50 {report.delay_ms.get('p50', 0):.3f} / p99 "
            f"{report.delay_ms.get('p99', 0):.3f} ms  errors {report.errors}",
            flush=True,
        )
        return report

    def sweep(self, label: str, url: str) -> None:
        self.m.sweep[label] = [
            self.wrk(f"sweep {label} c{c}", url, "plain", c, self.args.sweep_duration, warmup=False)
            for c in SWEEP_CONNECTIONS
        ]

    def memory_sample(self, gateway: GatewayProcess) -> dict[str, float]:
        return {str(pid): round(rss_mb(pid), 1) for pid in worker_pids(gateway)}

    def profile(self, label: str, gateway: GatewayProcess, load: str = "plain") -> None:
        """A py-spy flame graph (SVG) and collapsed stacks (text) of the first worker under the
        plain wrk load or the stream load (not measured), with native frames so time in the
        compiled core and in Granian's Rust side shows up."""
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(spy).exists():
            self.m.notes.append("--profile: py-spy is not installed (pip install py-spy)")
            return
        seconds = max(3, round(self.args.duration))
        pid = str(worker_pids(gateway)[0])
        outputs = []
        for fmt, suffix in (("flamegraph", "svg"), ("raw", "txt")):
            out = self.dir / f"profile-{label}-{load}.{suffix}"
            recorder = subprocess.Popen(
                [
                    spy,
                    "record",
                    "--pid",
                    pid,
                    "--duration",
                    str(seconds),
                    "--rate",
                    "250",
                    "--native",
                    "--format",
                    fmt,
                    "-o",
                    str(out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if load == "stream":
                self.stream(f"profile {label} streams", gateway.port, self.key)
            else:
                run_wrk(
                    "profile",
                    gateway.base_url + PATH,
                    self.scripts["plain"],
                    connections=self.args.connections,
                    seconds=seconds,
                    log=self.log,
                )
            with contextlib.suppress(subprocess.TimeoutExpired):
                recorder.wait(60)
            outputs.append(
                str(out.relative_to(HERE.parent) if out.is_relative_to(HERE.parent) else out)
            )
        self.m.notes.append(
            f"py-spy profile of a {label} worker under the {load} load: " + ", ".join(outputs)
        )
        raw = self.dir / f"profile-{label}-{load}.txt"
        if raw.exists():
            summary = summarise(raw)
            kinds = summary.get("kinds_pct", {})
            frames = summary.get("fastgw_frames_inclusive_pct", {})
            assert isinstance(kinds, dict) and isinstance(frames, dict)
            self.m.notes.append(
                f"where the {label} worker's samples went under the {load} load "
                f"({summary['samples']} samples): "
                + "; ".join(f"{k} {v} %" for k, v in kinds.items())
                + ". Heaviest fastgw functions (inclusive): "
                + "; ".join(f"{k} {v} %" for k, v in frames.items())
            )

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        a, sc, c = self.args, self.args.scenarios, self.args.connections
        # first: a baseline that does not build fails the run before anything is measured
        baseline = _ab.prepare_baseline(a.baseline, self.stack) if a.baseline else None
        print("starting canned nginx, nginx proxy and the mock upstream", flush=True)
        self.start_upstreams()
        if "plain" in sc or "cache" in sc:
            self.wrk(f"direct c{c}", self.direct_url, "plain", c, a.duration)
            self.wrk(f"nginx proxy c{c}", self.proxy_url, "plain", c, a.duration)
        if "plain" in sc:
            self.wrk(
                f"bare granian c{c}",
                self.bare_url,
                "plain",
                c,
                a.duration,
                pids=self.bare_pids,
                who="the Granian worker",
            )
        if "latency" in sc:
            self.wrk("direct c1", self.direct_url, "plain", 1, a.duration)
            self.wrk("nginx proxy c1", self.proxy_url, "plain", 1, a.duration)
            self.wrk(
                "bare granian c1",
                self.bare_url,
                "plain",
                1,
                a.duration,
                pids=self.bare_pids,
                who="the Granian worker",
            )
        if "stream" in sc:
            self.stream("streams direct", self.mock_port, None)
            bare_port = urlsplit(self.bare_url).port
            assert bare_port is not None
            self.stream("streams bare granian", bare_port, None, self.bare_pids)
        if "sweep" in sc:
            self.sweep("nginx proxy", self.proxy_url)
        if self.bare is not None:
            stop_process(self.bare)  # done with it; keep it off the cores fastgw runs on
        if baseline is not None:
            self.ab = _ab.measure(self, baseline, PATH, chat_body(PLAIN_MODEL, 0.7))
            self.core = self.ab["sides"]["current"]["core"] or self.core
        for w in a.workers if self.gateway_scenarios() else ():
            print(f"starting fastgw with {w} worker(s)", flush=True)
            gateway = self.start_gateway(w)
            try:
                self.measure_gateway(w, gateway)
            finally:
                gateway.__exit__(None, None, None)
        if "limits" in sc or "limits-redis" in sc:
            self.measure_limits()
        if "semantic" in sc:
            self.semantic = _semantic.Scenario(self).measure()
        if a.soak:
            self.soak()
        return self.results()

    def gateway_scenarios(self) -> list[str]:
        """The scenarios measured on this checkout's gateway per worker count (with a baseline,
        plain and cache are measured in the A/B instead)."""
        done_apart = {"limits", "limits-redis", "semantic"} | (
            set(_ab.AB_SCENARIOS) if self.args.baseline else set()
        )
        return [s for s in self.args.scenarios if s not in done_apart]

    def measure_limits(self) -> None:
        """One worker, the plain chat run with limits off then on (locally, then through
        Redis): on/off throughput ratios, in ``self.limits``."""
        c, a = self.args.connections, self.args
        from fastgw.testing import RedisServer

        runs = [("off", "")]
        if "limits" in a.scenarios:
            runs.append(("local", "local"))
        if "limits-redis" in a.scenarios:
            runs.append(("redis", "redis"))
        redis = self.stack.enter_context(RedisServer()) if "limits-redis" in a.scenarios else None
        gateways: dict[str, GatewayProcess] = {}
        with contextlib.ExitStack() as started:
            for name, limits in runs:  # all started first, then measured in interleaved rounds
                print(f"starting fastgw (1 worker) with limits {name}", flush=True)
                config = self.gateway_config(False, limits, redis.url if redis else "")
                gateway = gateways[name] = started.enter_context(GatewayProcess(config, workers=1))
                status, headers, _ = post(
                    gateway.base_url + PATH, chat_body(PLAIN_MODEL, 0.7), self.key
                )
                if limits and (status != 200 or "x-ratelimit-limit-requests" not in headers):
                    raise RuntimeError(f"limits {name}: no rate-limit headers ({status})")
            totals = dict.fromkeys(gateways, 0.0)
            for r in range(LIMITS_ROUNDS):
                for name, gateway in gateways.items():
                    also = (
                        ("redis-server", [redis.process.pid])
                        if name == "redis" and redis and redis.process
                        else None
                    )
                    result = self.wrk(
                        f"fastgw w1 limits-{name} c{c} round {r + 1}",
                        gateway.base_url + PATH,
                        "plain",
                        c,
                        a.duration / LIMITS_ROUNDS,
                        pids=worker_pids(gateway),
                        also=also,
                    )
                    totals[name] += result.rps
        rps = {name: total / LIMITS_ROUNDS for name, total in totals.items()}
        for name in ("local", "redis"):
            if name in rps and rps["off"]:
                ratio = rps[name] / rps["off"]
                self.limits[name] = {
                    "off_rps": rps["off"],
                    "on_rps": rps[name],
                    "ratio": round(ratio, 3),
                }
                target = " (target ≥ 0.85)" if name == "local" else ""
                self.m.notes.append(
                    f"limits {name}: keys + team + model limits + budgets on / off = "
                    f"{rps[name]:,.0f} / {rps['off']:,.0f} req/s = {ratio:.3f}{target}; "
                    f"the usage log is on with them; {LIMITS_ROUNDS} interleaved rounds of "
                    f"{a.duration / LIMITS_ROUNDS:g} s each"
                )

    def measure_gateway(self, w: int, gateway: GatewayProcess) -> None:
        a, sc, c = self.args, self.gateway_scenarios(), self.args.connections
        url = gateway.base_url + PATH
        pids = worker_pids(gateway)
        mem: dict[str, Any] = {"start": self.memory_sample(gateway)}
        if "plain" in sc:
            self.wrk(f"fastgw w{w} c{c}", url, "plain", c, a.duration, pids=pids)
        if "cache" in sc and self.m.cache_state.get(w) == "ok":
            self.wrk(f"fastgw w{w} cache c{c}", url, "cache", c, a.duration, pids=pids)
        if "latency" in sc:
            self.wrk(f"fastgw w{w} c1", url, "plain", 1, a.duration, pids=pids)
        if "stream" in sc:
            self.stream(f"streams fastgw w{w}", gateway.port, self.key, pids)
        if "sweep" in sc:
            self.sweep(f"fastgw w{w}", url)
        if "routing" in sc:
            self.routing(w, url, pids)
        if "anthropic" in sc:
            self.anthropic(w, url, pids)
        if "inbound" in sc:
            self.inbound(w, url, pids)
        if a.profile:
            if "plain" in sc:
                self.profile(f"fastgw-w{w}", gateway)
            if "stream" in sc:
                self.profile(f"fastgw-w{w}", gateway, "stream")
        mem["end"] = self.memory_sample(gateway)
        self.m.memory[f"w{w}"] = mem
        log = gateway.log().splitlines()
        errors = [ln for ln in log if "Traceback" in ln or "unhandled" in ln]
        if errors:
            self.m.notes.append(f"fastgw w{w} logged {len(errors)} errors: {errors[0][:200]}")

    def routing(self, w: int, url: str, pids: list[int]) -> None:
        """Round-robin over 3 healthy deployments against 1, interleaved; the ratio of the
        summed throughputs goes in the notes (1.0 = routing costs nothing)."""
        a, c = self.args, self.args.connections
        check_answer("fastgw routed model", url, chat_body(ROUTED_MODEL, 0.7), self.key)
        totals = {"single": 0.0, "routed": 0.0}
        p99 = {"single": 0.0, "routed": 0.0}
        for r in range(ROUTING_ROUNDS):
            for script in ("single", "routed"):
                result = self.wrk(
                    f"fastgw w{w} {script} r{r} c{c}",
                    url,
                    script,
                    c,
                    a.duration,
                    warmup=r == 0,
                    pids=pids,
                )
                totals[script] += result.rps
                p99[script] = max(p99[script], result.p99_ms)
        ratio = totals["routed"] / totals["single"] if totals["single"] else 0.0
        self.m.notes.append(
            f"routing w{w} c{c}: 3 deployments round-robin {totals['routed'] / ROUTING_ROUNDS:.0f}"
            f" req/s vs 1 deployment {totals['single'] / ROUTING_ROUNDS:.0f} req/s = {ratio:.3f}x"
            f" (worst p99 {p99['routed']:.2f} ms vs {p99['single']:.2f} ms; {ROUTING_ROUNDS}"
            f" interleaved rounds of {a.duration:g} s)"
        )

    def anthropic(self, w: int, url: str, pids: list[int]) -> None:
        """The plain chat through the Anthropic translation against the passthrough, on the
        same canned answer, interleaved; the throughput ratio goes in the notes."""
        a, c = self.args, self.args.connections
        check_answer("fastgw anthropic model", url, chat_body(ANTHROPIC_MODEL, 0.7), self.key)
        totals = {"plain": 0.0, "anthropic": 0.0}
        for r in range(ANTHROPIC_ROUNDS):
            for script in ("plain", "anthropic"):
                label = f"fastgw w{w} {'translated' if script == 'anthropic' else 'passthrough'}"
                result = self.wrk(
                    f"{label} r{r} c{c}", url, script, c, a.duration, warmup=r == 0, pids=pids
                )
                totals[script] += result.rps
        ratio = totals["anthropic"] / totals["plain"] if totals["plain"] else 0.0
        verdict = "meets" if ratio >= ANTHROPIC_GOAL else "misses"
        chunk_us, framer_us = _translation_per_chunk()
        self.m.notes.append(
            f"anthropic w{w} c{c}: translated {totals['anthropic'] / ANTHROPIC_ROUNDS:.0f} req/s"
            f" vs passthrough {totals['plain'] / ANTHROPIC_ROUNDS:.0f} req/s = {ratio:.3f}x"
            f" ({verdict} the {ANTHROPIC_GOAL}x goal; {ANTHROPIC_ROUNDS} interleaved rounds of"
            f" {a.duration:g} s). Stream translation: {chunk_us:.2f} µs CPU per chunk (16 text"
            f" deltas, best of 7, in process; goal ≤ 5 µs), beside the passthrough framer's"
            f" {framer_us:.2f} µs (benchmarks/micro/bench_translate_anthropic.py)"
        )

    def inbound(self, w: int, url: str, pids: list[int]) -> None:
        """The same question through /v1/chat/completions, /v1/messages and /v1/responses to
        the same canned upstream, interleaved; throughput and CPU per request of each."""
        a, c = self.args, self.args.connections
        base = url.removesuffix(PATH)
        paths = {"plain": PATH, "messages": "/v1/messages", "responses": "/v1/responses"}
        for script, path in paths.items():
            status, _, data = post(base + path, self.scripts_body[script], self.key)
            if status != 200:
                raise RuntimeError(f"fastgw {path} answered {status}: {data[:300]!r}")
        totals = dict.fromkeys(paths, 0.0)
        for r in range(INBOUND_ROUNDS):
            for script, path in paths.items():
                result = self.wrk(
                    f"fastgw w{w} {path} r{r} c{c}",
                    base + path,
                    script,
                    c,
                    a.duration,
                    warmup=r == 0,
                    pids=pids,
                )
                totals[script] += result.rps
        chat = totals["plain"] / INBOUND_ROUNDS
        parts = [f"/v1/chat/completions {chat:.0f} req/s"]
        for script in ("messages", "responses"):
            rps = totals[script] / INBOUND_ROUNDS
            ratio = rps / chat if chat else 0.0
            parts.append(f"{paths[script]} {rps:.0f} req/s ({ratio:.3f}x)")
        self.m.notes.append(
            f"inbound APIs w{w} c{c}, the same question to the same canned upstream: "
            + ", ".join(parts)
            + f" ({INBOUND_ROUNDS} interleaved rounds of {a.duration:g} s)"
        )

    def soak(self) -> None:
        a = self.args
        print(f"soak: {a.soak_seconds:.0f} s of -c{a.connections} chat + 50 streams", flush=True)
        gateway = self.start_gateway(a.soak_workers)
        try:
            self._soak(gateway)
        finally:
            gateway.__exit__(None, None, None)

    def _soak(self, gateway: GatewayProcess) -> None:
        a = self.args
        samples: list[dict[str, float]] = [self.memory_sample(gateway)]
        wrk = subprocess.Popen(
            [
                wrk_binary(),
                "-t1",
                f"-c{a.connections}",
                f"-d{round(a.soak_seconds)}s",
                "--timeout",
                "5s",
                "-s",
                str(self.scripts["plain"]),
                gateway.base_url + PATH,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        streams = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "stream_client.py"),
                "--port",
                str(gateway.port),
                "--model",
                STREAM_MODEL,
                "--streams",
                "50",
                "--warmup",
                "2",
                "--duration",
                str(a.soak_seconds - 4),
                "--key",
                self.key,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            end = time.monotonic() + a.soak_seconds
            while time.monotonic() < end:
                time.sleep(min(10.0, max(0.0, end - time.monotonic())))  # sampling interval
                samples.append(self.memory_sample(gateway))
        finally:
            stop_process(wrk)
            stop_process(streams)
        base = samples[max(1, len(samples) // 10)]  # after the first tenth: pools, buffers warm
        last = samples[-1]
        growth = max(
            ((last[p] - base[p]) / base[p] * 100 for p in last if base.get(p)), default=0.0
        )
        self.m.memory["soak"] = {
            "workers": a.soak_workers,
            "seconds": a.soak_seconds,
            "samples": samples,
            "growth_pct": round(growth, 2),
        }

    # -- results ---------------------------------------------------------------------------

    def results(self) -> dict[str, Any]:
        m = self.m
        rows = _table.rows(m)
        busy = float(self.loadavg_start[0])  # at the end it mostly shows this run's own load
        if busy > BUSY_LOADAVG:
            m.notes.insert(
                0,
                f"The machine was not quiet (load average {busy:.2f} before the "
                "run): other processes shared the cores, so latencies and ratios "
                "are less reliable than on an idle machine.",
            )
        for label, cpu in m.cpu.items():
            per = f", {cpu['us_per_request']} µs per request" if "us_per_request" in cpu else ""
            m.notes.append(f"{label}: {cpu['who']} used {cpu['cpu_pct']} % of a core{per}")
        asdict = msgspec.structs.asdict
        return {
            "machine": machine(self.core, self.loadavg_start),
            "settings": self.settings(),
            "rows": [asdict(r) for r in rows],
            "wrk": {k: asdict(v) for k, v in m.wrk.items()},
            "streams": {k: asdict(v) for k, v in m.streams.items()},
            "sweep": {k: [asdict(p) for p in v] for k, v in m.sweep.items()},
            "memory_mb": m.memory,
            "fastgw_cpu": m.cpu,
            "cache": {f"w{w}": state for w, state in m.cache_state.items()},
            "limits": self.limits,
            "ab": self.ab,
            "semantic": self.semantic,
            "notes": m.notes,
            "loadavg_end": Path("/proc/loadavg").read_text().split()[:3],
        }

    def settings(self) -> dict[str, Any]:
        a = self.args
        return {
            "command": "python benchmarks/run.py " + " ".join(sys.argv[1:]),
            "duration_s": a.duration,
            "sweep_duration_s": a.sweep_duration,
            "connections": a.connections,
            "workers": a.workers,
            "scenarios": a.scenarios,
            "access_log": a.access_log == "on",
            "keys": a.keys,
            "nginx_workers": a.nginx_workers,
            "streams": a.streams,
            "chunks": a.chunks,
            "chunk_delay_ms": a.chunk_delay_ms,
            "mock_processes": a.mock_processes,
            "cache_model_toml": CACHE_MODEL_TOML.strip(),
            "baseline": a.baseline,
            "ab_rounds": a.ab_rounds,
            "semantic_pairs": a.semantic_pairs,
        }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    p.add_argument("--sweep-duration", type=float, help="seconds per sweep point (duration/2)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (-c)")
    p.add_argument("--workers", default="1,2", help="fastgw worker counts to measure, e.g. 1,2")
    p.add_argument(
        "--scenarios",
        default=",".join(DEFAULT_SCENARIOS),
        help=",".join(SCENARIOS) + " (default: all but semantic)",
    )
    p.add_argument(
        "--semantic-pairs",
        type=int,
        default=200,
        help="semantic: origin questions stored, whose paraphrases make the hit load (≤ 999)",
    )
    p.add_argument("--access-log", choices=("on", "off"), default="on")
    p.add_argument("--keys", type=int, default=100, help="gateway keys in the config")
    p.add_argument("--nginx-workers", type=int, default=1)
    p.add_argument("--streams", type=int, default=200, help="concurrent streams")
    p.add_argument("--chunks", type=int, default=100, help="chunks per stream")
    p.add_argument("--chunk-delay-ms", type=float, default=20.0)
    p.add_argument("--mock-processes", type=int, default=1)
    p.add_argument("--soak", action="store_true", help="add a long run reporting RSS growth")
    p.add_argument("--soak-seconds", type=float, default=300.0)
    p.add_argument("--soak-workers", type=int, default=1)
    p.add_argument("--profile", action="store_true", help="py-spy flame graph of each fastgw")
    p.add_argument("--results", type=Path, default=HERE / "results")
    p.add_argument(
        "--baseline",
        metavar="REF",
        help="a commit or a directory with another fastgw checkout: measure plain and cache "
        "on it and on this checkout side by side, in interleaved rounds",
    )
    p.add_argument("--ab-rounds", type=int, default=3, help="rounds per side with --baseline")
    args = p.parse_args(argv)
    args.workers = [int(w) for w in str(args.workers).split(",") if w]
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenarios {sorted(unknown)}; choose from {','.join(SCENARIOS)}")
    if args.sweep_duration is None:
        args.sweep_duration = max(2.0, args.duration / 2)
    if args.baseline and not set(_ab.AB_SCENARIOS) & set(args.scenarios):
        p.error("--baseline compares the plain and cache scenarios: choose at least one")
    if not 2 <= args.ab_rounds <= 50:
        p.error("--ab-rounds must be 2-50")
    if args.soak and args.soak_seconds < 20:
        p.error("--soak-seconds must be at least 20")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.results / "tmp"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    bench = Bench(args, workdir)
    with bench.stack:
        data = bench.run()
    write_results(data, args.results)
    if data["sweep"] and not plot(data["sweep"], args.results / "latency_vs_load.png"):
        print("matplotlib is not installed: no plot (pip install matplotlib)", file=sys.stderr)
    print((args.results / "latest.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
