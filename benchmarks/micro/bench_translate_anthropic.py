"""Micro-benchmark: what translating Anthropic's Messages API costs, per stream chunk and per
plain answer, beside the OpenAI passthrough's own per-chunk work (the SSE framer).

Run: ``.venv/bin/python benchmarks/micro/bench_translate_anthropic.py [--repeat N] [--calls M]``

Cases:
- ``stream``: a realistic Anthropic text stream (message_start, ping, a text block of 16
  ``text_delta`` events, message_delta, message_stop; one event per chunk, as the API sends
  them) through ``MessagesStream.feed`` with the usage chunk asked for: microseconds per
  stream and per upstream chunk; ``text_delta`` alone is the steady-state cost of one
  content chunk (the issue's goal: at most 5 us).
- ``tool stream``: the same with a tool call whose arguments arrive in 16 ``input_json_delta``
  fragments.
- ``passthrough framer``: the compiled SSE framer watching the equivalent OpenAI stream,
  which is all the OpenAI passthrough does per chunk: the translation's added cost per
  chunk is the difference.
- ``request``: a two-message chat body decoded and translated to a Messages body;
  ``answer``: a Messages answer translated to a chat completion.

Figures are best of ``--repeat`` runs of CPU time (``process_time``: a busy shared machine
weighs less than on wall time) with the garbage collector off, loop included.
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

import msgspec
from _timing import best_ns

from fastgw.protocols.anthropic import MessagesStream, messages_request, translate_answer
from fastgw.protocols.openai.translate import decode_chat

_WORDS = [" the", " gateway", " answers", " every", " request", " quickly", " and", " well"]
_enc = msgspec.json.encode


def _sse(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + _enc({"type": kind, **data}) + b"\n\n"


def _head() -> list[bytes]:
    message = {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 472,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 2,
            "service_tier": "standard",
        },
    }
    return [_sse("message_start", {"message": message}), _sse("ping", {})]


def _tail(stop: str) -> list[bytes]:
    delta = {"delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 16}}
    return [_sse("message_delta", delta), _sse("message_stop", {})]


def text_stream(words: int = 16) -> list[bytes]:
    start = {"index": 0, "content_block": {"type": "text", "text": ""}}
    deltas = [
        _sse("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": w}})
        for w in (_WORDS[i % 8] for i in range(words))
    ]
    return [
        *_head(),
        _sse("content_block_start", start),
        *deltas,
        _sse("content_block_stop", {"index": 0}),
        *_tail("end_turn"),
    ]


def tool_stream(fragments: int = 16) -> list[bytes]:
    block = {"type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather"}
    start = {"index": 0, "content_block": {**block, "input": {}}}
    pieces = ['{"city": "Pa', 'ris", "days"', ": 3, ", '"unit": "c"'] * (fragments // 4)
    deltas = [
        _sse(
            "content_block_delta",
            {"index": 0, "delta": {"type": "input_json_delta", "partial_json": p}},
        )
        for p in [*pieces, "}"]
    ]
    return [
        *_head(),
        _sse("content_block_start", start),
        *deltas,
        _sse("content_block_stop", {"index": 0}),
        *_tail("tool_use"),
    ]


def openai_stream(words: int = 16) -> list[bytes]:
    head = b'{"id":"chatcmpl-msg_01XFDUDYJgAACzvnptvVoYEL","object":"chat.completion.chunk",'
    head += b'"created":1741569952,"model":"claude-sonnet-4-5-20250929","usage":null,"choices":'

    def event(delta: bytes, finish: bytes = b"null") -> bytes:
        choice = b'[{"index":0,"delta":' + delta + b',"finish_reason":' + finish + b"}]"
        return b"data: " + head + choice + b"}\n\n"

    content = [event(b'{"content":"' + _WORDS[i % 8].encode() + b'"}') for i in range(words)]
    return [event(b'{"role":"assistant","content":""}'), *content, event(b"{}", b'"stop"')]


CHAT = _enc(
    {
        "model": "claude",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant. " * 4},
            {"role": "user", "content": "Write a haiku about gateways and streams. " * 6},
        ],
        "stream": True,
        "max_tokens": 256,
        "temperature": 0.7,
    }
)
ANSWER = _enc(
    {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": "".join(_WORDS * 8)}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 472, "cache_read_input_tokens": 0, "output_tokens": 64},
    }
)


def stream_loop(chunks: list[bytes]) -> Callable[[int], int]:
    def loop(n: int) -> int:
        t0 = time.process_time_ns()
        for _ in range(n):
            translator = MessagesStream(1741569952, True, None)
            feed = translator.feed
            for chunk in chunks:
                feed(chunk)
            translator.end()
        return time.process_time_ns() - t0

    return loop


def delta_loop() -> Callable[[int], int]:
    """One text_delta chunk into a translator already past message_start."""
    chunk = text_stream(1)[3]
    translator = MessagesStream(1741569952, True, None)
    for head in text_stream(1)[:3]:
        translator.feed(head)

    def loop(n: int) -> int:
        feed = translator.feed
        t0 = time.process_time_ns()
        for _ in range(n):
            feed(chunk)
        return time.process_time_ns() - t0

    return loop


def framer_loop(framer_cls: Any, chunks: list[bytes]) -> Callable[[int], int]:
    def loop(n: int) -> int:
        t0 = time.process_time_ns()
        for _ in range(n):
            framer = framer_cls()
            for chunk in chunks:
                framer.feed(chunk)
        return time.process_time_ns() - t0

    return loop


def call_loop(fn: Callable[[], object]) -> Callable[[int], int]:
    def loop(n: int) -> int:
        t0 = time.process_time_ns()
        for _ in range(n):
            fn()
        return time.process_time_ns() - t0

    return loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    calls, repeat = args.calls, args.repeat
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"{'case':<40}{'us':>10}{'us/chunk':>10}")
    for label, chunks in (
        ("stream (16 text deltas)", text_stream()),
        ("tool stream", tool_stream()),
    ):
        ns = best_ns(stream_loop(chunks), calls // 20, repeat)
        print(f"{label:<40}{ns / 1000:>10.2f}{ns / 1000 / len(chunks):>10.2f}")
    ns = best_ns(delta_loop(), calls, repeat)
    print(f"{'text_delta chunk (steady state)':<40}{'':>10}{ns / 1000:>10.2f}")
    try:
        framer = importlib.import_module("fastgw._core.sse_c").SSEFramer
        label = "passthrough framer (cython)"
    except ImportError:
        framer = importlib.import_module("fastgw._core.sse").SSEFramer
        label = "passthrough framer (python)"
    chunks = openai_stream()
    ns = best_ns(framer_loop(framer, chunks), calls // 20, repeat)
    print(f"{label:<40}{ns / 1000:>10.2f}{ns / 1000 / len(chunks):>10.2f}")
    for label, fn in (
        ("request (decode + translate)", lambda: messages_request(decode_chat(CHAT), "c", 4096)),
        ("answer (plain, 64 words)", lambda: translate_answer(200, ANSWER, 1741569952, None)),
    ):
        print(f"{label:<40}{best_ns(call_loop(fn), calls, repeat) / 1000:>10.2f}")


if __name__ == "__main__":
    main()
