"""Micro-benchmark of what sharing the exact cache adds to a store on the request path:
``ResponseCache.put`` alone, and with the cache feed's ``publish`` (build the ``CacheRecord``,
encode the usage, append to the queue). The feed's tasks are not started: what they do
(encoding, the Redis round trip) runs off the request path.

Run: ``.venv/bin/python benchmarks/micro/bench_cache_share.py [--puts N]``; both twins of the
core with ``FASTGW_NO_EXTENSIONS=1`` and without. CPU time, best of 5 slices.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fastgw import _core
from fastgw.cache.exact import CacheLookup, ResponseCache
from fastgw.cache.record import EXACT
from fastgw.cache.shared import CacheFeed
from fastgw.config import parse_config
from fastgw.metrics import Metrics
from fastgw.wire import Usage

VALUE = b'{"id":"x","object":"chat.completion","choices":[]}' * 10
USAGE = Usage(prompt_tokens=12, completion_tokens=30, total_tokens=42)


def _slice(cache: ResponseCache, lookups: list[CacheLookup]) -> float:
    start = time.process_time()
    for lookup in lookups:
        cache.put(lookup, VALUE, USAGE)
    return (time.process_time() - start) / len(lookups) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--puts", type=int, default=100_000)
    args = parser.parse_args()
    config = parse_config('[state]\nbackend = "redis"\n[cache]\nshare_queue = 10000000\n', env={})
    loop = asyncio.new_event_loop()
    lookups = [
        CacheLookup(n.to_bytes(16, "big"), True, True, 3600.0, ("ns", "gpt"))
        for n in range(args.puts)
    ]
    print(f"core: {_core.IMPLEMENTATION}")
    for shared in (False, True):
        best = float("inf")
        for _ in range(5):
            cache = ResponseCache(config.cache)
            if shared:
                feed = CacheFeed(
                    "redis://127.0.0.1:1/0", config.state, config.cache, Metrics(), loop
                )
                feed.register(EXACT, cache.insert, cache.purge)
                cache.publish = feed.publish
            best = min(best, _slice(cache, lookups))
        print(f"put{' + publish' if shared else ''}: {best:.3f} µs")
    loop.close()


if __name__ == "__main__":
    main()
