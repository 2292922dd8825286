"""Micro-benchmark: what settling streams on their usage costs on the stream path.

Run: ``.venv/bin/python benchmarks/micro/bench_stream_usage.py [--repeat N] [--calls M]``

Cases, each on both twins of the SSE framer where it applies:
- ``feed``: the framer watching a realistic OpenAI chat stream (role, 16 content events,
  finish, usage, ``[DONE]``; one event per chunk, as upstreams send them): what a client that
  asked for ``include_usage`` costs (its chunks go out as received);
- ``relay strip``: the same stream through ``SSEFramer.relay`` with ``strip_usage``: what a
  client that did not ask costs (the usage event left out);
- ``with_stream_usage``: the request body asking the upstream for usage (appended to the
  bytes, or decoded and re-encoded when the model is renamed too), beside ``with_model``.

Figures are nanoseconds per stream (per body for the rewrites), best of ``--repeat`` runs with
the garbage collector off, including the loop around the call. ``--against DIR`` also times
the framers of another checkout (``DIR/fastgw/_core``, built), interleaved with these runs so
a busy machine weighs on both alike.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import msgspec
from _timing import best_ns

from fastgw.wire import with_model, with_stream_usage

_HEAD = b'{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk",'
_HEAD += b'"created":1741569952,"model":"gpt-4o-2024-08-06","service_tier":"default",'
_HEAD += b'"system_fingerprint":"fp_f9f4fb6dbf","usage":null,"choices":'
_WORDS = [" the", " gateway", " answers", " every", " request", " quickly", " and", " well"]


def _event(choices: bytes, head: bytes = _HEAD) -> bytes:
    return b"data: " + head + choices + b"}\n\n"


def stream_chunks(words: int = 16) -> list[bytes]:
    role = _event(
        b'[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},'
        b'"logprobs":null,"finish_reason":null}]'
    )
    content = [
        _event(
            b'[{"index":0,"delta":{"content":"' + _WORDS[i % 8].encode() + b'"},'
            b'"logprobs":null,"finish_reason":null}]'
        )
        for i in range(words)
    ]
    finish = _event(b'[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]')
    usage = (
        b"data: "
        + _HEAD.replace(b'"usage":null,', b"")
        + (b'[],"usage":{"prompt_tokens":19,"completion_tokens":16,"total_tokens":35}}\n\n')
    )
    return [role, *content, finish, usage, b"data: [DONE]\n\n"]


BODY = msgspec.json.encode(
    {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant. " * 4},
            {"role": "user", "content": "Write a haiku about gateways and streams. " * 6},
        ],
        "stream": True,
        "max_tokens": 256,
        "temperature": 0.7,
    }
)


def framer_loop(framer_cls: Any, strip: bool | None) -> Callable[[int], int]:
    chunks = stream_chunks()

    def loop(n: int) -> int:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            if strip is None:
                framer = framer_cls()
                for chunk in chunks:
                    framer.feed(chunk)
            else:
                framer = framer_cls(False, strip)
                relay = framer.relay
                for chunk in chunks:
                    relay(chunk)
        return time.perf_counter_ns() - t0

    return loop


def body_loop(rewrite: Callable[[bytes], bytes]) -> Callable[[int], int]:
    def loop(n: int) -> int:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            rewrite(BODY)
        return time.perf_counter_ns() - t0

    return loop


def load(path: Path, name: str) -> Any:
    """The module at ``path`` (a .py or a built extension), not entered in sys.modules."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compare(other: Path, calls: int, repeat: int) -> None:
    """``feed`` here and in ``other``, interleaved; ``relay strip`` here."""
    here = Path(__file__).resolve().parents[2] / "fastgw" / "_core"
    cases: list[tuple[str, Any, bool | None]] = []
    for label, core in (("this", here), ("other", other / "fastgw" / "_core")):
        cases.append((f"{label} python feed", load(core / "sse.py", f"sse_{label}"), None))
        for built in sorted(core.glob("sse_c.*.so")):
            cases.append((f"{label} cython feed", load(built, "fastgw._core.sse_c"), None))
    cases += [(n.replace("feed", "relay strip"), m, True) for n, m, _ in cases[:2]]
    best = dict.fromkeys((c[0] for c in cases), float("inf"))
    for _ in range(repeat):
        for name, module, strip in cases:
            ns = best_ns(framer_loop(module.SSEFramer, strip), calls // 10, 1)
            best[name] = min(best[name], ns)
    events = len(stream_chunks())
    print(f"{'framer (per stream)':<36}{'ns':>12}{'ns/event':>12}")
    for name, ns in best.items():
        print(f"{name:<36}{ns:>12.0f}{ns / events:>12.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--against", type=Path, help="another checkout, to compare framers")
    args = parser.parse_args()
    if args.against is not None:
        compare(args.against, args.calls, args.repeat)
        return
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(
        f"# stream: {len(stream_chunks())} events, {sum(map(len, stream_chunks()))} bytes; "
        f"body: {len(BODY)} bytes"
    )
    twins = [("python", importlib.import_module("fastgw._core.sse").SSEFramer)]
    try:
        twins.append(("cython", importlib.import_module("fastgw._core.sse_c").SSEFramer))
    except ImportError:
        print("# the compiled core is not built: python only")
    print(f"{'case':<36}{'ns':>12}")
    for name, cls in twins:
        for label, strip in (("feed (client asked)", None), ("relay strip (client did not)", True)):
            ns = best_ns(framer_loop(cls, strip), args.calls // 10, args.repeat)
            print(f"{name + ' ' + label:<36}{ns:>12.0f}")
    for label, rewrite in (
        ("with_model", lambda b: with_model(b, "gpt-4o-up")),
        ("with_stream_usage (appended)", with_stream_usage),
        ("with_stream_usage + model", lambda b: with_stream_usage(b, "gpt-4o-up")),
    ):
        print(f"{label:<36}{best_ns(body_loop(rewrite), args.calls, args.repeat):>12.0f}")


if __name__ == "__main__":
    main()
