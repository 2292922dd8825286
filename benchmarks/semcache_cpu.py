"""Where the CPU of a request through the semantic tier goes, in process: the gateway driven by
``RSGIClient`` (no sockets) with unique prompts at 32 in flight, CPU per request split by
thread (the event loop, the tier's thread, any other: model runtimes' pools), and whether
FAISS lets go of the interpreter lock while it searches.

Run: ``.venv/bin/python benchmarks/semcache_cpu.py [--model sem|plain] [--requests N]
[--driver process|thread]`` (the tier in its own process, whose CPU is counted too, or in a
thread of the worker), and ``--gil`` for the lock check alone.

Rules this script keeps:
- CPU from ``/proc/self/task/*/stat`` (user + system per thread), over N requests after the
  index holds 20,000 entries; three slices, each printed.
- The prompts are the bench's (12 words from ``_semantic.WORDS``), seeded.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _semantic import WORDS  # noqa: E402

from fastgw import Gateway, parse_config  # noqa: E402
from fastgw.testing import RSGIClient  # noqa: E402
from tests.conftest import DEV_KEY, mock_config  # noqa: E402

SEMANTIC = """
[[models]]
name = "sem"
deployments = [{ provider = "mock", model = "mock-sem" }]
[models.semantic_cache]
threshold = 0.9
max_entries = 50000
"""
TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu() -> dict[int, float]:
    """CPU seconds of every thread of this process, by thread id."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def process_cpu(pid: int | None) -> float:
    """CPU seconds of process ``pid`` (the tier's own process), 0 for none."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def gil_check(seconds: float = 3.0) -> float:
    """Process CPU % while one thread searches a FAISS HNSW index and another counts in
    Python: ~100 % when FAISS holds the interpreter lock, ~200 % when it lets go."""
    import faiss
    import numpy as np

    faiss.omp_set_num_threads(1)
    vectors = np.random.default_rng(0).standard_normal((20_000, 256)).astype("float32")
    index = faiss.IndexHNSWFlat(256, 16, faiss.METRIC_INNER_PRODUCT)
    index.add(vectors)
    query, stop = vectors[:1], threading.Event()

    def search() -> None:
        while not stop.is_set():
            index.search(query, 3)

    def count() -> None:
        n = 0
        while not stop.is_set():
            n += 1

    threads = [threading.Thread(target=search), threading.Thread(target=count)]
    before, start = os.times(), time.monotonic()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    after = os.times()
    used = after.user + after.system - before.user - before.system
    return used / (time.monotonic() - start) * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("sem", "plain"), default="sem")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--gil", action="store_true", help="only the FAISS lock check")
    parser.add_argument(
        "--driver",
        choices=("process", "thread", "both"),
        default="process",
        help="[cache] semantic_process; both: one after the other, in this run",
    )
    args = parser.parse_args()
    if args.gil:
        print(f"FAISS search + a Python loop on two threads: {gil_check():.0f} % CPU")
        return
    logging.disable(logging.WARNING)
    for driver in ("process", "thread") if args.driver == "both" else (args.driver,):
        os.chdir(tempfile.mkdtemp(prefix="fastgw-semcpu-"))
        measure(args, driver)


def measure(args: argparse.Namespace, driver: str) -> None:
    """Three slices of ``args.requests`` through one gateway with the tier's ``driver``."""
    text = mock_config(extra=SEMANTIC).replace("[server]\n", "[server]\naccess_log = false\n")
    text += "\n[usage]\nenabled = false\n"
    text += f"\n[cache]\nsemantic_process = {str(driver == 'process').lower()}\n"
    model = "sem" if args.model == "sem" else "gpt-test"
    headers = {"authorization": f"Bearer {DEV_KEY}"}
    rng = random.Random(5)

    def body() -> dict[str, Any]:
        words = " ".join(rng.choice(WORDS) for _ in range(12))
        messages = [{"role": "user", "content": words + "?"}]
        return {"model": model, "temperature": 0, "max_tokens": 128, "messages": messages}

    with RSGIClient(Gateway(parse_config(text, "bench.toml", {}))) as client:

        async def many(n: int) -> Counter[str]:
            seen: Counter[str] = Counter()
            gate = asyncio.Semaphore(32)

            async def one() -> None:
                async with gate:
                    r = await client.send(
                        "POST", "/v1/chat/completions", headers=headers, json=body()
                    )
                    seen[r.header("x-fastgw-cache") or "none"] += 1

            await asyncio.gather(*(one() for _ in range(n)))
            return seen

        for _ in range(240):  # the tier loads its models: requests skip it meanwhile
            if client.run(many(50)).get("miss", 0) > 40 or model != "sem":
                break
            time.sleep(0.5)
        client.run(many(20_000))  # the index holds 20,000 entries
        names = {t.native_id: t.name for t in threading.enumerate()}
        proc = getattr(client.app.pipelines.semantic, "_proc", None)
        pid = None if proc is None else proc.pid
        for _ in range(3):
            before, start = thread_cpu(), time.perf_counter()
            tier_before = process_cpu(pid)
            seen = client.run(many(args.requests))
            after, elapsed = thread_cpu(), time.perf_counter() - start
            per = {
                names.get(tid, "other"): (after[tid] - before.get(tid, 0.0)) / args.requests * 1e3
                for tid in after
            }
            per["the tier's process"] = (process_cpu(pid) - tier_before) / args.requests * 1e3
            split: Counter[str] = Counter()
            for name, ms in per.items():
                split["event loop" if name == "MainThread" else name] += ms
            parts = ", ".join(f"{name} {ms:.3f} ms" for name, ms in split.most_common() if ms)
            print(
                f"{model}, tier in a {driver}: {args.requests / elapsed:,.0f} req/s in process; "
                "CPU per request: "
                f"{sum(split.values()):.3f} ms ({parts}); {dict(seen)}",
                flush=True,
            )


if __name__ == "__main__":
    main()
