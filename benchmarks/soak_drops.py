"""Soak: thousands of dropped streams against one fastgw worker, its RSS before and after.

    make soak                                                  # 10,000 drops, about a minute
    make soak SOAK_ARGS="--drops 20000 --upstream proxied"     # proxied from a real upstream
    .venv/bin/python benchmarks/soak_drops.py --help

Starts a real gateway (``GatewayProcess``, one worker). Its model streams ``--chunks``
(200) chunks 2 ms apart after a 30 ms first token: from the embedded mock provider, or with
``--upstream proxied`` from a ``FakeUpstream`` (real HTTP on loopback) behind an ``openai``
provider.
A warm-up of ``--warmup`` drops comes first; then ``--drops`` streams are dropped in rounds
of ``--round`` (every kind of ``fastgw.testing.drops``: right after the request, before the
head, after a few chunks; FIN and RST; fresh and keep-alive connections), and the worker's
resident size (``VmRSS``) is printed after each round, once the worker has no request in
flight. At the end, where the gateway has ``GET /admin/live``, its live per-request objects.

Bounded by ``--timeout`` seconds. Exit status 1 when per-request objects are left alive, or
when the RSS grew by more than ``--max-growth-mb`` after the warm-up (if given).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import sys
import time
from typing import Any

import httpx
from _procs import rss_mb, worker_pids

from fastgw.keys import hash_key
from fastgw.testing import FakeUpstream, Fault, GatewayProcess
from fastgw.testing.drops import drop_streams, stream_request

KEY = "sk-soak-drops-0123456789"
ADMIN_KEY = "admin-soak-drops-0123456789"
FIRST_TOKEN_S = 0.03
CHUNK_DELAY_S = 0.002
_IN_FLIGHT = re.compile(rb"^fastgw_in_flight_requests (\d+)", re.MULTILINE)


def config(upstream: FakeUpstream | None, chunks: int) -> str:
    if upstream is None:
        provider = f"""
[providers.p]
type = "mock"
tokens = {chunks}
chunk_delay_ms = {CHUNK_DELAY_S * 1000}
first_token_delay_ms = {FIRST_TOKEN_S * 1000}
"""
    else:
        provider = f"""
[providers.p]
type = "openai"
base_url = "{upstream.base_url}"
timeouts = {{ connect_s = 2, first_byte_s = 10, idle_s = 10, total_s = 60 }}
"""
    return f"""
[server]
drain_timeout_s = 2
{provider}
[[models]]
name = "gpt-soak"
deployments = [{{ provider = "p", model = "gpt-soak" }}]

[[keys]]
id = "soak"
hash = "{hash_key(KEY)}"
"""


async def quiet(client: httpx.AsyncClient, timeout: float = 30) -> None:
    """Return once the worker answers nothing but this poll (``/metrics`` counts itself)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _IN_FLIGHT.search((await client.get("/metrics")).content)
        if found is not None and int(found.group(1)) <= 1:
            return
        await asyncio.sleep(0.05)  # poll interval
    raise TimeoutError(f"requests still in flight after {timeout:.0f}s")


async def live_objects(client: httpx.AsyncClient) -> dict[str, Any] | None:
    """The worker's ``/admin/live?collect=1``; None where the gateway has no such endpoint."""
    response = await client.get("/admin/live", params={"collect": "1"})
    if response.status_code != 200:
        return None
    data: dict[str, Any] = response.json()
    return data


async def soak(args: argparse.Namespace, gateway: GatewayProcess, up: FakeUpstream | None) -> int:
    (worker,) = worker_pids(gateway)
    request = stream_request("gpt-soak", KEY)
    prelude = stream_request("gpt-soak", KEY, max_tokens=30)
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    source = "a FakeUpstream over HTTP" if up is not None else "the mock provider"
    print(
        f"fastgw soak: {args.drops} dropped streams of {source} ({args.chunks} chunks "
        f"{CHUNK_DELAY_S * 1000:g} ms apart), worker pid {worker}",
        flush=True,
    )
    async with httpx.AsyncClient(base_url=gateway.base_url, headers=headers, timeout=10) as c:
        start_mb = rss_mb(worker)
        await drop_streams(gateway.port, request, args.warmup, seed=0, prelude=prelude)
        await quiet(c)
        before = rss_mb(worker)
        print(f"warm-up: {args.warmup} drops, RSS {start_mb:.1f} -> {before:.1f} MB", flush=True)
        done, seed = 0, 1
        while done < args.drops:
            count = min(args.round, args.drops - done)
            began = time.monotonic()
            await drop_streams(
                gateway.port, request, count, seed=seed, prelude=prelude, timeout=600
            )
            await quiet(c)
            if up is not None:
                up.reset()  # it records every exchange: keep the soak's own memory flat
            done, seed = done + count, seed + 1
            print(
                f"  {done:>7} drops: RSS {rss_mb(worker):6.1f} MB "
                f"({count} in {time.monotonic() - began:.1f} s)",
                flush=True,
            )
        after = rss_mb(worker)
        live = await live_objects(c)
    growth = after - before
    print(
        f"RSS before {before:.1f} MB, after {args.drops} drops {after:.1f} MB: {growth:+.1f} MB "
        f"({growth * 1024 * 1024 / args.drops:+.0f} bytes per drop)"
    )
    status = 0
    if live is None:
        print("live objects: this gateway has no GET /admin/live")
    else:
        left = {k: v for k, v in live["objects"].items() if v and k != "Task"}
        left.pop("UpstreamConnection", None)  # idle pooled connections are kept by design
        print(
            f"live objects after the soak: in flight {live['in_flight']}, "
            f"tasks {live['objects']['Task']}, per-request {left or 'none'}, "
            f"upstream pools {live['upstream'] or 'none'}"
        )
        status = 1 if left or live["in_flight"] else 0
    if args.max_growth_mb is not None and growth > args.max_growth_mb:
        print(f"FAIL: RSS grew by more than {args.max_growth_mb} MB")
        status = 1
    return status


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--drops", type=int, default=10_000, help="streams to drop after warm-up")
    p.add_argument("--warmup", type=int, default=1_000, help="drops before the first RSS")
    p.add_argument("--round", type=int, default=2_000, help="drops between RSS readings")
    p.add_argument("--upstream", choices=("mock", "proxied"), default="mock")
    p.add_argument("--chunks", type=int, default=200, help="content chunks per stream")
    p.add_argument("--max-growth-mb", type=float, default=None, help="fail past this growth")
    p.add_argument("--timeout", type=float, default=600.0, help="bound on the whole soak (s)")
    args = p.parse_args()
    if not (1 <= args.drops <= 1_000_000 and 0 <= args.warmup <= 100_000 and args.round >= 1):
        p.error("--drops 1..1,000,000, --warmup 0..100,000, --round at least 1")
    if not 32 <= args.chunks <= 10_000:  # a keep-alive prelude asks for 30 tokens
        p.error("--chunks 32..10,000")
    with contextlib.ExitStack() as stack:
        up = None
        if args.upstream == "proxied":
            up = stack.enter_context(
                FakeUpstream.in_thread(chunks=args.chunks, chunk_delay=CHUNK_DELAY_S)
            )
            up.fail_always(Fault(first_event_delay=FIRST_TOKEN_S))
        gateway = stack.enter_context(
            GatewayProcess(config(up, args.chunks), env={"FASTGW_ADMIN_KEY": ADMIN_KEY})
        )

        async def bounded() -> int:
            async with asyncio.timeout(args.timeout):
                return await soak(args, gateway, up)

        return asyncio.run(bounded())


if __name__ == "__main__":
    sys.exit(main())
