"""Micro-benchmark: what one routed attempt costs, and the upstream rate-limit headers.

Run: ``.venv/bin/python benchmarks/micro/bench_routing_attempt.py [--against DIR] [--rounds N]``

Cases:
- ``router simple``: ``Router.answer`` for a model with one plain deployment (the common
  case: one attempt, no plan), the embedded mock answering a small plain chat;
- ``router fast path``: two healthy deployments (one pick, one attempt, breakers);
- ``router planner``: the same model with request tags (the planner's loop, one attempt);
- ``ratelimit none`` / ``ratelimit openai``: ``upstream_ratelimit_headers`` over the 16
  headers of a real OpenAI answer without, and with its 6 ``x-ratelimit-*`` (this branch
  only).

Each router case runs in a child process per checkout, interleaved round by round with
``--against DIR`` (another checkout run by this venv, e.g. ``git worktree add`` of the
base commit with this checkout's built ``_core/*.so`` copied in), so a busy machine weighs on both
alike. Figures: microseconds per answer (router, best round; the mock's answer is included
and is the same in both) or nanoseconds per call (headers).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """
[providers.mock]
type = "mock"
tokens = 4
[providers.mock2]
type = "mock"
tokens = 4
[[models]]
name = "simple"
deployments = [{ provider = "mock", model = "s" }]
[[models]]
name = "pair"
[[models.deployments]]
provider = "mock"
model = "a"
tags = ["t"]
[[models.deployments]]
provider = "mock2"
model = "b"
"""

CHILD = r"""
import asyncio, gc, sys, time
sys.path.insert(0, sys.argv[1])
import msgspec
from fastgw.config import parse_config
from fastgw.exchange import Exchange
from fastgw.providers import Call, build_provider
from fastgw.routing import Router
from fastgw.wire import ChatRequest, Message

async def main(config_text, calls):
    config = parse_config(config_text, env={})
    loop = asyncio.get_running_loop()
    providers = {n: build_provider(n, p, loop) for n, p in config.providers.items()}
    router = Router(config, providers)
    request = ChatRequest("m", [Message("user", "hi")], max_tokens=4)
    body = msgspec.json.encode(request)
    out = []
    for group, tags in (("simple", None), ("pair", None), ("pair", frozenset({"t"}))):
        g = router.groups[group]
        gc.disable()
        start = time.perf_counter()
        for _ in range(calls):
            ex = Exchange("r", "POST", "/v1/chat/completions", None)
            call = Call("/chat/completions", body, request, "", "r")
            answer = await router.answer(ex, g, call, False, tags)
            answer.response.close()
            answer.complete(ex)
        out.append((time.perf_counter() - start) / calls * 1e6)
        gc.enable()
    print(" ".join(f"{x:.3f}" for x in out))

asyncio.run(main(sys.argv[2], int(sys.argv[3])))
"""

OPENAI_HEADERS = [
    (b"date", b"Fri, 04 Dec 2026 10:00:00 GMT"),
    (b"content-type", b"application/json"),
    (b"transfer-encoding", b"chunked"),
    (b"connection", b"keep-alive"),
    (b"access-control-expose-headers", b"X-Request-ID"),
    (b"openai-organization", b"user-abc"),
    (b"openai-processing-ms", b"312"),
    (b"openai-version", b"2020-10-01"),
    (b"x-ratelimit-limit-requests", b"10000"),
    (b"x-ratelimit-limit-tokens", b"150000"),
    (b"x-ratelimit-remaining-requests", b"9999"),
    (b"x-ratelimit-remaining-tokens", b"149984"),
    (b"x-ratelimit-reset-requests", b"6ms"),
    (b"x-ratelimit-reset-tokens", b"6m0.5s"),
    (b"x-request-id", b"req_0123456789abcdef"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains; preload"),
    (b"cf-cache-status", b"DYNAMIC"),
    (b"x-content-type-options", b"nosniff"),
    (b"server", b"cloudflare"),
    (b"cf-ray", b"8f0a0b0c0d0e0f10-AMS"),
    (b"alt-svc", b'h3=":443"; ma=86400'),
    (b"content-encoding", b"identity"),
]


def child(root: Path, calls: int) -> list[float]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), CONFIG, str(calls)],
        check=True,
        capture_output=True,
        text=True,
    )
    return [float(x) for x in done.stdout.split()]


def headers_ns(calls: int, repeat: int) -> tuple[float, float]:
    sys.path.insert(0, str(ROOT))
    from fastgw.protocols.openai.ratelimit import upstream_ratelimit_headers

    none = [h for h in OPENAI_HEADERS if not h[0].startswith(b"x-ratelimit-")]
    best = []
    for headers in (none, OPENAI_HEADERS):
        times = []
        for _ in range(repeat):
            gc.disable()
            start = time.perf_counter_ns()
            for _ in range(calls):
                upstream_ratelimit_headers(headers, b"sk-secret-key-0001")
            times.append((time.perf_counter_ns() - start) / calls)
            gc.enable()
        best.append(min(times))
    return best[0], best[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--against", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    print(f"# {platform.python_implementation()} {platform.python_version()}, {platform.machine()}")
    names = ["router simple", "router fast path", "router planner"]
    results: dict[str, list[list[float]]] = {"this": [], "against": []}
    for _ in range(args.rounds):
        results["this"].append(child(ROOT, args.calls))
        if args.against is not None:
            results["against"].append(child(args.against, args.calls))
    for i, name in enumerate(names):
        line = f"{name:18} this {min(r[i] for r in results['this']):7.2f} us"
        if args.against is not None:
            line += f"   against {min(r[i] for r in results['against']):7.2f} us"
        print(line)
    none, present = headers_ns(100_000, 5)
    print(f"{'ratelimit none':18} {none:7.0f} ns   (16 headers, none x-ratelimit-*)")
    print(f"{'ratelimit openai':18} {present:7.0f} ns   (22 headers, 6 x-ratelimit-*)")
    asyncio.set_event_loop_policy(None)


if __name__ == "__main__":
    main()
