"""Micro-benchmarks: each hot function of the compiled core against its pure-Python twin.

Run: ``.venv/bin/python benchmarks/micro/bench_core.py [--repeat N] [--calls M]``

Rules this script keeps:
- Plain ``time.perf_counter_ns`` loops, best of ``--repeat`` runs of ``--calls`` calls, with
  the garbage collector off while timing; the figure is nanoseconds per call *including* the
  ``for`` loop around it (its cost is printed on the first line, to read small numbers by).
- Both twins run the same loop on the same data. The default clock is used, as in the
  server: the compiled twin reads ``CLOCK_MONOTONIC`` itself, the pure one ``time.monotonic``.
- Canonical forms and keys are pure Python by design (msgspec and xxhash are already C), so
  they have one column.
- The machine is described above the table; keep it with any numbers you copy.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fastgw.app import client_request_id
from fastgw.cache import cache_key, canonical_chat
from fastgw.redact import Redactor, StreamScrubber

Loop = Callable[[int], int]  # runs n calls, returns elapsed ns


def best_ns_per_call(loop: Loop, calls: int, repeat: int) -> float:
    """The fastest of ``repeat`` runs of ``loop(calls)``, in ns per call."""
    best = float("inf")
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            best = min(best, loop(calls) / calls)
    finally:
        if gc_was_enabled:
            gc.enable()
    return best


def empty_loop(n: int) -> int:
    t0 = time.perf_counter_ns()
    for _ in range(n):
        pass
    return time.perf_counter_ns() - t0


# --- cases: each builds its state, then returns a loop over the hot call -----------------


def acquire_admitted(buckets: ModuleType) -> Loop:
    table = buckets.TokenBucketTable()
    h = table.configure("key:rpm", 1e12, 1e15)  # never runs dry

    def loop(n: int) -> int:
        acquire = table.try_acquire
        t0 = time.perf_counter_ns()
        for _ in range(n):
            acquire(h, 1.0)
        return time.perf_counter_ns() - t0

    return loop


def acquire_refused(buckets: ModuleType) -> Loop:
    table = buckets.TokenBucketTable()
    h = table.configure("key:tpm", 1e-6, 10.0)
    table.try_acquire(h, 10.0)

    def loop(n: int) -> int:
        acquire = table.try_acquire
        t0 = time.perf_counter_ns()
        for _ in range(n):
            acquire(h, 5.0)
        return time.perf_counter_ns() - t0

    return loop


def enter_leave(buckets: ModuleType) -> Loop:
    counter = buckets.ParallelCounter()
    h = counter.register("key:parallel")

    def loop(n: int) -> int:
        enter, leave = counter.try_enter, counter.leave
        t0 = time.perf_counter_ns()
        for _ in range(n):
            enter(h, 100)
            leave(h)
        return time.perf_counter_ns() - t0

    return loop


CACHE_KEYS = [i.to_bytes(16, "big") for i in range(4096)]
RESPONSE = b'{"id":"chatcmpl-x","object":"chat.completion","choices":[]}' * 20  # ~1.2 KB


def _filled_cache(cache_mod: ModuleType) -> Any:
    cache = cache_mod.ExactCache(len(CACHE_KEYS), 1 << 30)
    for k in CACHE_KEYS:
        cache.put(k, RESPONSE, 3600.0)
    return cache


def _over_keys(call: Callable[[bytes], object]) -> Loop:
    def loop(n: int) -> int:
        rounds = max(1, n // len(CACHE_KEYS))
        keys = CACHE_KEYS
        t0 = time.perf_counter_ns()
        for _ in range(rounds):
            for k in keys:
                call(k)
        elapsed = time.perf_counter_ns() - t0
        return elapsed * n // (rounds * len(keys))

    return loop


def cache_get_hit(cache_mod: ModuleType) -> Loop:
    return _over_keys(_filled_cache(cache_mod).get)


def cache_get_miss(cache_mod: ModuleType) -> Loop:
    return _over_keys(cache_mod.ExactCache(16, 1 << 20).get)


def cache_put_evict(cache_mod: ModuleType) -> Loop:
    cache = cache_mod.ExactCache(len(CACHE_KEYS) // 2, 1 << 30)  # every put evicts one

    def loop(n: int) -> int:
        rounds = max(1, n // len(CACHE_KEYS))
        keys, put, value = CACHE_KEYS, cache.put, RESPONSE
        t0 = time.perf_counter_ns()
        for _ in range(rounds):
            for k in keys:
                put(k, value, 3600.0)
        elapsed = time.perf_counter_ns() - t0
        return elapsed * n // (rounds * len(keys))

    return loop


CHAT_BODY = (
    b'{"model":"gpt-4o-mini","temperature":0.2,"stream":true,'
    b'"stream_options":{"include_usage":true},"user":"u-123","messages":['
    b'{"role":"system","content":"You are a helpful assistant. Answer briefly."},'
    b'{"role":"user","content":"'
    + b"What is the capital of France? "
    * 20
    + b'"},{"role":"assistant","content":"Paris."},'
    b'{"role":"user","content":"And of Italy?"}]}'
)


def canonical_and_key(_: ModuleType) -> Loop:
    def loop(n: int) -> int:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            cache_key("team-1", canonical_chat(CHAT_BODY, "gpt-4o-mini-2024-07-18"))
        return time.perf_counter_ns() - t0

    return loop


def key_only(_: ModuleType) -> Loop:
    form = canonical_chat(CHAT_BODY, "gpt-4o-mini-2024-07-18")

    def loop(n: int) -> int:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            cache_key("team-1", form)
        return time.perf_counter_ns() - t0

    return loop


def shape_check(jsonshape: ModuleType) -> Loop:
    def loop(n: int) -> int:
        check, body = jsonshape.check_shape, CHAT_BODY
        t0 = time.perf_counter_ns()
        for _ in range(n):
            check(body, 128)
        return time.perf_counter_ns() - t0

    return loop


SSE_CHUNK = (
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o",'
    b'"choices":[{"index":0,"delta":{"content":" Paris"},"finish_reason":null}]}\n\n'
)


def scrub_chunk(_: ModuleType) -> Loop:
    redactor = Redactor(["sk-proj-Abc123Def456Ghi789Jkl012Mno345"])

    def loop(n: int) -> int:
        feed = StreamScrubber(redactor).feed
        t0 = time.perf_counter_ns()
        for _ in range(n):
            feed(SSE_CHUNK)
        return time.perf_counter_ns() - t0

    return loop


def request_id(_: ModuleType) -> Loop:
    def loop(n: int) -> int:
        check, value = client_request_id, "3f2b8c1e-9a4d-4e5f-8b7a-1c2d3e4f5a6b"
        t0 = time.perf_counter_ns()
        for _ in range(n):
            check(value)
        return time.perf_counter_ns() - t0

    return loop


def _twin(name: str) -> tuple[ModuleType, ModuleType | None]:
    pure = importlib.import_module(f"fastgw._core.{name}")
    try:
        compiled: ModuleType | None = importlib.import_module(f"fastgw._core.{name}_c")
    except ImportError:
        compiled = None
    return pure, compiled


def describe_machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import Cython

        cython_version = Cython.__version__
    except ImportError:
        cython_version = "not installed"
    return (
        f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, Cython {cython_version}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs per case; the best counts")
    parser.add_argument("--calls", type=int, default=200_000, help="calls per run")
    args = parser.parse_args()

    buckets = _twin("buckets")
    caches = _twin("exact_cache")
    cases: list[tuple[str, Callable[[ModuleType], Loop], tuple[ModuleType, ModuleType | None]]] = [
        ("TokenBucketTable.try_acquire, admitted", acquire_admitted, buckets),
        ("TokenBucketTable.try_acquire, refused", acquire_refused, buckets),
        ("ParallelCounter.try_enter + leave", enter_leave, buckets),
        ("ExactCache.get, hit (4096 entries)", cache_get_hit, caches),
        ("ExactCache.get, miss", cache_get_miss, caches),
        ("ExactCache.put, evicting one", cache_put_evict, caches),
        (f"check_shape ({len(CHAT_BODY)} B body)", shape_check, _twin("jsonshape")),
    ]

    print(describe_machine())
    loop_ns = best_ns_per_call(empty_loop, args.calls, args.repeat)
    print(f"best of {args.repeat} x {args.calls} calls; empty for-loop: {loop_ns:.1f} ns/iter\n")
    print(f"| {'case':<42} | {'pure ns/op':>10} | {'compiled ns/op':>14} | {'speed-up':>13} |")
    print(f"|{'-' * 44}|{'-' * 11}:|{'-' * 15}:|{'-' * 14}:|")
    for label, case, (pure, compiled) in cases:
        pure_ns = best_ns_per_call(case(pure), args.calls, args.repeat)
        if compiled is None:
            print(f"| {label:<42} | {pure_ns:>10.1f} | {'not built':>14} | {'':>13} |")
            continue
        compiled_ns = best_ns_per_call(case(compiled), args.calls, args.repeat)
        ratio = pure_ns / compiled_ns
        print(f"| {label:<42} | {pure_ns:>10.1f} | {compiled_ns:>14.1f} | {ratio:>12.1f}x |")
    pure_only = [
        (f"canonical_chat + cache_key ({len(CHAT_BODY)} B body)", canonical_and_key),
        ("  of which cache_key", key_only),
        ("StreamScrubber.feed, one key, SSE chunk", scrub_chunk),
        ("client_request_id (a UUID)", request_id),
    ]
    for label, case in pure_only:
        ns = best_ns_per_call(case(buckets[0]), args.calls // 10, args.repeat)
        print(f"| {label:<42} | {ns:>10.1f} | {'(pure only)':>14} | {'':>13} |")


if __name__ == "__main__":
    main()
