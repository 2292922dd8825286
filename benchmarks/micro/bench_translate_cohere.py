"""Micro-benchmark: what translating Cohere's v2 chat costs per stream chunk and per answer.

Run: ``.venv/bin/python benchmarks/micro/bench_translate_cohere.py [--repeat N] [--calls M]``

Cases (the translation is pure Python, the same under both builds):
- ``stream text``: a Cohere text stream (message-start, content-start, 32 content deltas,
  content-end, message-end with usage), one event per chunk as Cohere sends them, through
  ``CohereStream`` with the usage chunk asked for: microseconds per upstream chunk;
- ``stream tool call``: a tool plan, one call whose arguments come in 16 deltas;
- ``plain answer``: a whole text answer with usage through ``chat_answer``;
- ``request``: an OpenAI chat body (system, user, a tool) into Cohere's through
  ``decode_chat`` + ``chat_body``.

Figures are best of ``--repeat`` runs with the garbage collector off, including the loop.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import msgspec
from _timing import best_ns

from fastgw.protocols.cohere import CohereStream, chat_answer, chat_body
from fastgw.protocols.openai.translate import decode_chat

_enc = msgspec.json.encode
_WORDS = [" the", " gateway", " answers", " every", " request", " quickly", " and", " well"]


def _ev(data: dict[str, object]) -> bytes:
    return b"event: " + str(data["type"]).encode() + b"\ndata: " + _enc(data) + b"\n\n"


def _usage() -> dict[str, object]:
    return {
        "billed_units": {"input_tokens": 19, "output_tokens": 32},
        "tokens": {"input_tokens": 85, "output_tokens": 32},
    }


def text_stream(words: int = 32) -> list[bytes]:
    start = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": []}
    out = [_ev({"id": "5a2b1d0c-aaaa-bbbb", "type": "message-start", "delta": {"message": start}})]
    head = {"type": "text", "text": ""}
    out.append(_ev({"type": "content-start", "index": 0, "delta": {"message": {"content": head}}}))
    for i in range(words):
        content = {"text": _WORDS[i % 8]}
        out.append(
            _ev({"type": "content-delta", "index": 0, "delta": {"message": {"content": content}}})
        )
    out.append(_ev({"type": "content-end", "index": 0}))
    end = {"finish_reason": "COMPLETE", "usage": _usage()}
    out.append(_ev({"type": "message-end", "delta": end}))
    return out


def tool_stream(pieces: int = 16) -> list[bytes]:
    out = [text_stream()[0]]
    for word in ("I", " will", " look", " it", " up."):
        out.append(_ev({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": word}}}))
    call = {"id": "w0", "type": "function", "function": {"name": "weather", "arguments": ""}}
    out.append(
        _ev({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": call}}})
    )
    for i in range(pieces):
        args = {"function": {"arguments": f'"k{i}":"v",'}}
        out.append(
            _ev({"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": args}}})
        )
    out.append(_ev({"type": "tool-call-end", "index": 0}))
    out.append(_ev({"type": "message-end", "delta": {"finish_reason": "TOOL_CALL"}}))
    return out


ANSWER = _enc(
    {
        "id": "5a2b1d0c-aaaa-bbbb",
        "finish_reason": "COMPLETE",
        "message": {
            "role": "assistant",
            "content": [{"type": "text", "text": "".join(_WORDS * 4)}],
        },
        "usage": _usage(),
    }
)
REQUEST = _enc(
    {
        "model": "command",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant. " * 4},
            {"role": "user", "content": "Write a haiku about gateways and streams. " * 6},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }
        ],
        "stream": True,
        "max_tokens": 256,
        "temperature": 0.7,
    }
)


def stream_loop(chunks: list[bytes]) -> Callable[[int], int]:
    def loop(n: int) -> int:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            translator = CohereStream("chatcmpl-x", "command-a-03-2025", 1741569952, True)
            feed = translator.feed
            for chunk in chunks:
                feed(chunk)
            translator.end()
        return time.perf_counter_ns() - t0

    return loop


def answer_loop(n: int) -> int:
    t0 = time.perf_counter_ns()
    for _ in range(n):
        chat_answer(200, ANSWER, "command-a-03-2025", 1741569952)
    return time.perf_counter_ns() - t0


def request_loop(n: int) -> int:
    t0 = time.perf_counter_ns()
    for _ in range(n):
        chat_body(decode_chat(REQUEST), "command-a-03-2025")
    return time.perf_counter_ns() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--calls", type=int, default=2_000)
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"{'case':<22}{'µs/call':>10}{'chunks':>8}{'µs/chunk':>10}")
    for name, chunks in (("stream text", text_stream()), ("stream tool call", tool_stream())):
        ns = best_ns(stream_loop(chunks), args.calls, args.repeat)
        print(f"{name:<22}{ns / 1000:>10.1f}{len(chunks):>8}{ns / 1000 / len(chunks):>10.2f}")
    for name, loop in (("plain answer", answer_loop), ("request", request_loop)):
        ns = best_ns(loop, args.calls * 5, args.repeat)
        print(f"{name:<22}{ns / 1000:>10.1f}")


if __name__ == "__main__":
    main()
