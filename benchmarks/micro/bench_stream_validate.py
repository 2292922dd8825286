"""Micro-benchmark: what validating every stream event as JSON costs, and which validator.

Run: ``.venv/bin/python benchmarks/micro/bench_stream_validate.py [--repeat N] [--calls M]
[--against DIR]``

Parts:
- ``rejects``: each candidate validator on malformed payloads (truncated, trailing bytes,
  bad escapes, lone surrogates, NaN, bytes that are not UTF-8...): a candidate that lets one
  through is not a validator, however fast;
- ``validators``: ns per event over the payloads of a realistic OpenAI chat stream (the same
  as ``bench_stream_usage``: role, 16 content events, finish, usage; ~290 bytes each), ASCII
  and with non-ASCII text: ``is_json`` of both twins (what the framer calls), msgspec's
  parser skipping the values (``Decoder(Raw)``) bare, and a full decode (``Decoder()``);
- ``framer``: ns per stream (21 events, one per chunk) of the relay's per-chunk call: here
  ``SSEFramer.relay`` (validating), and with ``--against DIR`` (a checkout built before
  validation) that checkout's ``feed`` (what the relay called per chunk then) and ``relay``,
  interleaved round by round so a busy machine weighs on both alike.

Figures are the best of ``--repeat`` runs with the garbage collector off, loop included,
in the thread's CPU time (``time.thread_time_ns``): on a shared machine the time this
process spends descheduled does not count (what the others do to the caches still does).
The framer cases also print the median of the rounds, and the spread is worth reading.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import msgspec
from bench_stream_usage import best_ns, load, stream_chunks

MALFORMED = {
    "truncated object": b'{"a":[1,2',
    "truncated string": b'{"a":"abc',
    "trailing bytes": b'{"a":1} x',
    "two values": b'{"a":1}{"b":2}',
    "invalid escape": b'{"a":"\\x41"}',
    "lone high surrogate": b'{"a":"\\ud800"}',
    "lone low surrogate": b'{"a":"\\udc00"}',
    "NaN": b'{"a":NaN}',
    "Infinity": b'{"a":Infinity}',
    "raw newline in string": b'{"a":"x\ny"}',
    "trailing comma": b'{"a":1,}',
    "not UTF-8": b'{"a":"\xff"}',
    "UTF-8 surrogate": b'{"a":"\xed\xa0\x80"}',
    "nested 5000 deep": b"[" * 5000 + b"]" * 5000,
}
VALID = {"1e400 (out of double range)": b"1e400", "surrogate pair": b'"\\ud83d\\ude00"'}


def _accepts(decode: Callable[[bytes], Any]) -> Callable[[bytes], bool]:
    def check(payload: bytes) -> bool:
        try:
            decode(payload)
        except (msgspec.DecodeError, RecursionError):
            return False
        return True

    return check


def candidates() -> dict[str, Callable[[bytes], bool]]:
    found = {
        "is_json (python twin)": importlib.import_module("fastgw._core.sse").is_json,
        "Decoder(Raw) bare": _accepts(msgspec.json.Decoder(msgspec.Raw).decode),
        "Decoder() full decode": _accepts(msgspec.json.Decoder().decode),
    }
    try:
        found["is_json (cython twin)"] = importlib.import_module("fastgw._core.sse_c").is_json
    except ImportError:
        print("# the compiled core is not built: python only")
    return found


def payloads(non_ascii: bool) -> list[bytes]:
    events = [c[6:-2] for c in stream_chunks() if c != b"data: [DONE]\n\n"]
    if non_ascii:
        events = [p.replace(b"gateway", " gätewäy ☕".encode()) for p in events]
    return events


def validator_loop(check: Callable[[bytes], bool], events: list[bytes]) -> Callable[[int], int]:
    def loop(n: int) -> int:
        t0 = time.thread_time_ns()
        for _ in range(n):
            for payload in events:
                check(payload)
        return time.thread_time_ns() - t0

    return loop


def relay_loop(framer_cls: Any, method: str) -> Callable[[int], int]:
    chunks = stream_chunks()

    def loop(n: int) -> int:
        t0 = time.thread_time_ns()
        for _ in range(n):
            call = getattr(framer_cls(), method)
            for chunk in chunks:
                call(chunk)
        return time.thread_time_ns() - t0

    return loop


def framers(other: Path | None) -> list[tuple[str, Any, str]]:
    here = Path(__file__).resolve().parents[2] / "fastgw" / "_core"
    sides = [("this", here)] + ([("before", other / "fastgw" / "_core")] if other else [])
    cases = []
    for label, core in sides:
        methods = ["relay"] if label == "this" else ["feed", "relay"]
        modules = [("python", load(core / "sse.py", f"sse_{label}"))]
        for built in sorted(core.glob("sse_c.*.so")):
            modules.append(("cython", load(built, "fastgw._core.sse_c")))
        for twin, module in modules:
            cases += [(f"{label} {twin} {m}", module.SSEFramer, m) for m in methods]
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--against", type=Path, help="a checkout before validation, built")
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"# msgspec {msgspec.__version__}")
    checks = candidates()

    print(f"\n{'rejects':<36}" + "".join(f"{name[:22]:>24}" for name in checks))
    for label, cases, want in (("malformed", MALFORMED, False), ("valid", VALID, True)):
        for name, payload in cases.items():
            row = ["ok" if check(payload) is want else "WRONG" for check in checks.values()]
            print(f"{label + ': ' + name:<36}" + "".join(f"{cell:>24}" for cell in row))

    print(f"\n{'validators (ns per event)':<30}{'ascii':>12}{'non-ascii':>12}")
    for name, check in checks.items():
        figures = [
            best_ns(validator_loop(check, payloads(flag)), args.calls // 20, args.repeat)
            / len(payloads(flag))
            for flag in (False, True)
        ]
        print(f"{name:<30}" + "".join(f"{ns:>12.0f}" for ns in figures))

    cases = framers(args.against)
    rounds: dict[str, list[float]] = {c[0]: [] for c in cases}
    for _ in range(args.repeat):  # interleaved: each round times every case once
        for name, cls, method in cases:
            rounds[name].append(best_ns(relay_loop(cls, method), args.calls // 20, 1))
    events = len(stream_chunks())
    print(f"\n{'framer (per stream)':<30}{'best ns':>12}{'ns/event':>12}{'median ns':>12}")
    for name, figures in rounds.items():
        best, median = min(figures), sorted(figures)[len(figures) // 2]
        print(f"{name:<30}{best:>12.0f}{best / events:>12.0f}{median:>12.0f}")


if __name__ == "__main__":
    main()
