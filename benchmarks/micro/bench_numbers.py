"""Micro-benchmark: what the range checks of client numbers cost on the request path.

Run: ``.venv/bin/python benchmarks/micro/bench_numbers.py [--repeat N] [--calls M]``

- ``decode_request`` of typical bodies: the bounds are msgspec ``Meta`` constraints, checked
  in C while decoding; the sampling fields decoded only to be checked (``top_p``, penalties,
  ``logit_bias``, ``top_logprobs``) cost something only when a body carries them.
- ``chat_allowance`` and one admission (``Gate.admit_chat`` + ``settle_ticket``) on each
  twin: the counts are clamped as Python ints before the C arithmetic.

Same method as ``bench_core.py`` (best of ``--repeat`` runs, GC off, ns per call including
the loop); run it on two checkouts to compare them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import best_ns_per_call, describe_machine, empty_loop

from fastgw import wire

Loop = Callable[[int], int]

_TYPICAL = (
    b'{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},'
    b'{"role":"user","content":"Say hello to the benchmark."}],"max_tokens":256,'
    b'"temperature":0.7}'
)
_SAMPLING = (
    b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello."}],'
    b'"max_completion_tokens":256,"n":2,"temperature":0.7,"top_p":0.9,"seed":42,'
    b'"frequency_penalty":0.5,"presence_penalty":-0.5,"top_logprobs":5,'
    b'"logit_bias":{"50256":-100,"11":5}}'
)
_EMBEDDINGS = (
    b'{"model":"text-embedding-3-small","input":['
    + b",".join(b'"input number %d"' % i for i in range(16))
    + b'],"dimensions":256}'
)


def decoding(cls: Any, body: bytes) -> Loop:
    def loop(n: int) -> int:
        decode = wire.decode_request
        t0 = time.perf_counter_ns()
        for _ in range(n):
            decode(cls, body)
        return time.perf_counter_ns() - t0

    return loop


def allowance(admission: ModuleType) -> Loop:
    def loop(n: int) -> int:
        call = admission.chat_allowance
        t0 = time.perf_counter_ns()
        for _ in range(n):
            call(None, 256, 1, 1024)
        return time.perf_counter_ns() - t0

    return loop


def admission_round(admission: ModuleType, buckets: ModuleType) -> Loop:
    """One chat admission and its settlement on a key with rpm, tpm and a parallel limit."""
    table = buckets.TokenBucketTable()
    counters = buckets.ParallelCounter()
    req = table.configure("r", 1e12, 1e12)
    tok = table.configure("t", 1e15, 1e15)
    gate = admission.Gate(
        table,
        counters,
        (req,),
        (tok,),
        (("x-ratelimit-limit-requests", "1"),),
        (("x-ratelimit-limit-tokens", "1"),),
        ((counters.register("p"), 10),),
        False,
        time.time,
    )
    gate.set_reservation(1024, 0.0, 0.0, lambda m: 0)
    messages = wire.decode_request(wire.ChatRequest, _TYPICAL).messages
    settle = admission.settle_ticket

    def loop(n: int) -> int:
        admit = gate.admit_chat
        t0 = time.perf_counter_ns()
        for _ in range(n):
            settle(table, counters, admit(messages, None, 256, 1), 300, 0.0)
        return time.perf_counter_ns() - t0

    return loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args()
    print(describe_machine())
    print(f"empty loop: {best_ns_per_call(empty_loop, args.calls, args.repeat):.1f} ns/call")
    cases: list[tuple[str, Loop]] = [
        ("decode ChatRequest, typical body", decoding(wire.ChatRequest, _TYPICAL)),
        ("decode ChatRequest, every sampling field", decoding(wire.ChatRequest, _SAMPLING)),
        ("decode EmbeddingRequest, 16 inputs", decoding(wire.EmbeddingRequest, _EMBEDDINGS)),
    ]
    for twin in ("admission", "admission_c"):
        try:
            admission = importlib.import_module(f"fastgw._core.{twin}")
            buckets = importlib.import_module(
                "fastgw._core.buckets" + ("_c" if twin.endswith("_c") else "")
            )
        except ImportError:
            continue
        label = "compiled" if twin.endswith("_c") else "pure"
        cases.append((f"chat_allowance ({label})", allowance(admission)))
        cases.append((f"admit_chat + settle_ticket ({label})", admission_round(admission, buckets)))
    for name, loop in cases:
        print(f"{name:48} {best_ns_per_call(loop, args.calls, args.repeat):9.1f} ns/call")


if __name__ == "__main__":
    main()
