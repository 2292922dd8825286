"""Micro-benchmark: what serving the Responses API through chat completions costs per request,
per answer and per stream chunk (the translation at the edge, ``fastgw.protocols.responses``).

Run: ``.venv/bin/python benchmarks/micro/bench_translate_responses.py [--repeat N] [--calls M]``

Cases (the translation is pure Python, the same under both builds):
- ``request``: a Responses body (instructions, a string input, a function tool) into the chat
  body through ``read_request`` + ``to_chat``;
- ``request items``: the same with a 6-item conversation (messages, a function call and its
  output) as a stateless client sends every turn;
- ``plain answer``: a whole chat completion into the response object (``from_completion``)
  and its JSON;
- ``stream text``: 32 text chunks, the finish chunk, the usage chunk and ``[DONE]``, one SSE
  event per chunk, through ``EventStream``: microseconds per upstream chunk;
- ``stream tool call``: one tool call whose arguments come in 16 chunks.

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

from fastgw.protocols.responses.answer import encode, from_completion
from fastgw.protocols.responses.request import read_request, to_chat
from fastgw.protocols.responses.stream import EventStream

_enc = msgspec.json.encode
_WORDS = [" the", " gateway", " answers", " every", " request", " quickly", " and", " well"]
TOOL = {
    "type": "function",
    "name": "weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
REQUEST = _enc(
    {
        "model": "gpt-4o-mini",
        "instructions": "You are a helpful assistant. " * 4,
        "input": "Write a haiku about gateways and streams. " * 6,
        "tools": [TOOL],
        "max_output_tokens": 256,
        "temperature": 0.7,
        "stream": True,
    }
)
ITEMS = _enc(
    {
        "model": "gpt-4o-mini",
        "input": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
            {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny, 21C"},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "It is sunny.", "annotations": []}],
            },
            {"role": "user", "content": "And tomorrow?"},
        ],
        "tools": [TOOL],
        "store": False,
    }
)
ECHO = to_chat(read_request(REQUEST), []).echo
USAGE = {"prompt_tokens": 85, "completion_tokens": 32, "total_tokens": 117}
ANSWER = _enc(
    {
        "id": "chatcmpl-x",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(_WORDS * 4)},
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
    }
)


def _chunk(
    delta: dict[str, object] | None, finish: str | None = None, usage: object = None
) -> bytes:
    body: dict[str, object] = {"id": "c", "object": "chat.completion.chunk", "created": 1}
    body["model"] = "gpt-4o-mini"
    body["choices"] = (
        [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    )
    if usage is not None:
        body["usage"] = usage
    return b"data: " + _enc(body) + b"\n\n"


def text_stream(words: int = 32) -> list[bytes]:
    out = [_chunk({"role": "assistant", "content": ""})]
    out += [_chunk({"content": _WORDS[i % 8]}) for i in range(words)]
    return [*out, _chunk({}, "stop"), _chunk(None, usage=USAGE), b"data: [DONE]\n\n"]


def tool_stream(pieces: int = 16) -> list[bytes]:
    call = {"index": 0, "id": "call_1", "type": "function"}
    out = [
        _chunk(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{**call, "function": {"name": "weather", "arguments": ""}}],
            }
        )
    ]
    for i in range(pieces):
        out.append(
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": f'"k{i}":"v",'}}]})
        )
    return [*out, _chunk({}, "tool_calls"), _chunk(None, usage=USAGE), b"data: [DONE]\n\n"]


def stream_loop(chunks: list[bytes]) -> Callable[[int], int]:
    def loop(n: int) -> int:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            translator = EventStream("resp_x", 1741569952, "gpt-4o-mini", ECHO)
            feed = translator.feed
            for chunk in chunks:
                feed(chunk)
            translator.end()
        return time.perf_counter_ns() - t0

    return loop


def request_loop(body: bytes) -> Callable[[int], int]:
    def loop(n: int) -> int:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            to_chat(read_request(body), [])
        return time.perf_counter_ns() - t0

    return loop


def answer_loop(n: int) -> int:
    t0 = time.perf_counter_ns()
    for _ in range(n):
        encode(from_completion(ANSWER, "resp_x", 1741569952, "gpt-4o-mini", ECHO))
    return time.perf_counter_ns() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--calls", type=int, default=2_000)
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"{'case':<22}{'µs/call':>10}{'chunks':>8}{'µs/chunk':>10}")
    for name, loop in (
        ("request", request_loop(REQUEST)),
        ("request items", request_loop(ITEMS)),
        ("plain answer", answer_loop),
    ):
        ns = best_ns(loop, args.calls * 5, args.repeat)
        print(f"{name:<22}{ns / 1000:>10.1f}")
    for name, chunks in (("stream text", text_stream()), ("stream tool call", tool_stream())):
        ns = best_ns(stream_loop(chunks), args.calls, args.repeat)
        print(f"{name:<22}{ns / 1000:>10.1f}{len(chunks):>8}{ns / 1000 / len(chunks):>10.2f}")


if __name__ == "__main__":
    main()
