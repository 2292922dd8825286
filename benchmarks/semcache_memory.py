"""RSS of the semantic tier holding many entries, and its bound: filled in process.

    python benchmarks/semcache_memory.py --entries 100000 --max-entries 100000
    python benchmarks/semcache_memory.py --entries 100000 --max-entries 50000

One process does what one gateway worker's tier does, through the service API: it builds
a ``SemanticService`` on the engine (``fastgw.semantic.engine.load_engine``,
models loaded as in a worker), turns ``--entries`` distinct chat requests into partitions
with ``chat_partition`` and queues each with ``SemanticService.store`` (retried when the
queue is full: nothing is dropped), then waits until the thread has indexed them all. It
prints the process's ``VmRSS`` after the models load and after every ``--sample`` entries,
the entry count, and the partition's index size (slots, tombstones included). Exits 1 if
the entry count ever passes ``--max-entries``.

The texts are 12 random words; each answer is the benchmark's canned completion (~400
bytes). The models are loaded as in a worker, but the fast embedding the tier stores is
replaced (nothing is held for it beyond what the tier keeps): ``--vectors random`` (the
default) gives random unit vectors, a row of 384 float32 like the model's, so the entries,
the FAISS index (flat, then HNSW: a fixed 32 neighbours a node, whatever the data) and the
bound are exercised exactly, in seconds instead of the ~20 ms a text the model takes here;
``--vectors real`` gives the model's own vectors, computed 256 texts at a time in the tier's
thread (slow: minutes per 10,000). Not included either way: the verifying (full) embedding
an entry gains once it is a candidate of a lookup (another 384 float32, ~1.6 KB, each).
A worker also holds Granian, the pipeline and its connections: about 70 MB here before the
models (``make bench`` reports the worker's RSS).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from _nginx import CANNED_COMPLETION

import fastgw
from fastgw.config import SemanticCacheConfig
from fastgw.semantic.engine import load_engine
from fastgw.semantic.partition import Eligible, chat_partition
from fastgw.semantic.service import SemanticService
from fastgw.wire import decode_usage

MODEL = "gpt-bench-semantic"
_WORDS = (
    "apple river network cache proxy window garden engine silver market travel winter doctor "
    "castle rocket violin pepper island forest planet museum harbor ticket signal battery "
    "kitchen mirror thunder pillow camera dragon lemon bridge candle desert hammer jacket "
    "ladder magnet needle orange pencil quartz rabbit saddle tomato umbrella valley wallet"
)
WORDS = _WORDS.split()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Vectors:
    """The engine's embedder with ``fast`` replaced (see the module docstring): random unit
    vectors, or the model's own computed ``AHEAD`` texts at a time in the order stored."""

    AHEAD = 256

    def __init__(self, real: Any, kind: str, prompts: list[str], seed: int) -> None:
        self.real, self.kind, self.prompts = real, kind, prompts
        self.identity, self.fast_dim = real.identity, real.fast_dim
        self.rng = np.random.default_rng(seed)
        self.next = 0
        self.ready: dict[str, np.ndarray] = {}

    def fast(self, texts: list[str]) -> np.ndarray:
        if self.kind == "random":
            v = self.rng.standard_normal((len(texts), self.fast_dim), dtype=np.float32)
            return v / np.linalg.norm(v, axis=1, keepdims=True)  # type: ignore[no-any-return]
        if texts[0] not in self.ready and self.next < len(self.prompts):
            batch = self.prompts[self.next : self.next + self.AHEAD]
            self.next += len(batch)
            self.ready.update(zip(batch, self.real.fast(batch), strict=True))
        found = [self.ready.pop(t, None) for t in texts]
        if any(v is None for v in found):
            return self.real.fast(texts)  # type: ignore[no-any-return]
        return np.stack(found)  # type: ignore[arg-type]

    def full(self, texts: list[str]) -> np.ndarray:
        return self.real.full(texts)  # type: ignore[no-any-return]


def texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        text = " ".join(rng.choice(WORDS) for _ in range(12)) + "?"
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


async def fill(args: argparse.Namespace) -> int:
    began = time.monotonic()
    print(f"fastgw from {Path(fastgw.__file__).parent}", flush=True)
    embedder, matcher = load_engine()
    prompts = texts(args.entries, args.seed)
    wrapped = Vectors(embedder, args.vectors, prompts, args.seed)
    service = SemanticService(lambda: (wrapped, matcher), asyncio.get_running_loop())
    while not service.ready.is_set():
        await asyncio.sleep(0.05)
    settings = SemanticCacheConfig(max_entries=args.max_entries, ttl_s=86_400)
    body = CANNED_COMPLETION.encode()
    usage = decode_usage(body)
    base = rss_mb()
    samples: list[tuple[int, int, float]] = []
    print(f"models loaded, no entries: RSS {base:.1f} MB", flush=True)
    worst = 0
    for i, text in enumerate(prompts, 1):
        request = msgspec.json.encode(
            {
                "model": MODEL,
                "messages": [
                    {"role": "system", "content": "You are a concise assistant."},
                    {"role": "user", "content": text},
                ],
                "temperature": 0,
            }
        )
        eligible = chat_partition(request, MODEL, "default", service.identity, settings)
        assert isinstance(eligible, Eligible), eligible
        while not service.store(
            eligible, body, usage, settings.ttl_s, "default", MODEL, settings.max_entries
        ):
            await asyncio.sleep(0.002)  # the queue is full: wait for the thread
        if i % args.sample == 0 or i == len(prompts):
            await drained(service)
            gc.collect()
            entries = service.entries()
            worst = max(worst, entries)
            samples.append((i, entries, rss_mb()))
            print(
                f"inserted {i:>7,}: {entries:>7,} entries, RSS {samples[-1][2]:.1f} MB",
                flush=True,
            )
    del prompts
    gc.collect()
    assert service.tier is not None
    index = service.tier.index
    assert index is not None
    slots = sum(len(p.slots) for p in index.partitions.values())
    kinds = sorted({type(p.index).__name__ for p in index.partitions.values()})
    final = rss_mb()
    print(
        f"done in {time.monotonic() - began:.0f} s: {service.entries():,} entries "
        f"(bound {args.max_entries:,}), {len(index.partitions)} partition(s) of {kinds}, "
        f"{slots:,} index slots; RSS {final:.1f} MB, {final - base:+.1f} MB over the "
        "models alone"
    )
    service.close()
    return 1 if worst > args.max_entries else 0


async def drained(service: SemanticService) -> None:
    """Until the thread has taken every queued job and finished the last one: a lookup
    (queued behind them) is answered only then."""
    while not service.jobs.empty():
        await asyncio.sleep(0.01)
    probe = Eligible(b"\x00" * 16, "a probe that matches nothing")
    while True:
        found = await service.lookup(probe, MODEL, 1.0, None)
        if found is None:
            return


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--entries", type=int, default=100_000, help="entries inserted")
    p.add_argument("--max-entries", type=int, default=100_000, help="the model's bound")
    p.add_argument("--sample", type=int, default=10_000, help="RSS read every N inserts")
    p.add_argument("--vectors", choices=("real", "random"), default="random")
    p.add_argument("--seed", type=int, default=1)
    return asyncio.run(fill(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
