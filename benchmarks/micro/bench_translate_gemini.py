"""Micro-benchmark: what translating Gemini's answers into OpenAI's costs.

Run: ``.venv/bin/python benchmarks/micro/bench_translate_gemini.py [--repeat N] [--calls M]``

Cases:
- ``stream chunk``: a realistic ``streamGenerateContent?alt=sse`` stream (32 text events,
  CRLF-framed, usageMetadata on each, finishReason on the last; one event per chunk, as
  Gemini sends them) through ``GeminiStream.feed`` and ``end``: the cost per upstream chunk
  (the goal is at most 5 us).
- ``tool-call chunk``: one event holding a functionCall with a 400-byte args object and a
  thought signature (start, arguments in deltas, finish).
- ``plain answer``: a whole ``generateContent`` answer (a paragraph, usage) through
  ``ChatTranslation.answer``.
- ``request``: a 6-message chat with a tool, through ``decode_chat`` + ``chat_body``.

Figures are microseconds, best of ``--repeat`` runs with the garbage collector off.
"""

from __future__ import annotations

import argparse
import gc
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import msgspec

from fastgw.protocols.gemini.answer import ChatTranslation
from fastgw.protocols.gemini.request import chat_body
from fastgw.protocols.openai.translate import decode_chat

_WORDS = [" the", " gateway", " answers", " every", " request", " quickly", " and", " well"]
_USAGE = b'"usageMetadata":{"promptTokenCount":112,"candidatesTokenCount":%d,"totalTokenCount":%d}'
_HEAD = b'"modelVersion":"gemini-2.5-flash","responseId":"Xo3maK2mB9u8nvgPt4W6wQ4"'


def _event(parts: bytes, n: int, finish: bytes = b"") -> bytes:
    candidate = b'{"content":{"parts":' + parts + b',"role":"model"}' + finish + b',"index":0}'
    usage = _USAGE % (n, 112 + n)
    return b'data: {"candidates":[' + candidate + b"]," + usage + b"," + _HEAD + b"}\r\n\r\n"


def text_stream(words: int = 32) -> list[bytes]:
    events = [
        _event(b'[{"text":"' + _WORDS[i % 8].encode() + b'"}]', i + 1) for i in range(words - 1)
    ]
    events.append(_event(b'[{"text":" done."}]', words, b',"finishReason":"STOP"'))
    return events


def tool_stream() -> list[bytes]:
    args = msgspec.json.encode({f"field_{i}": "value " * 6 for i in range(10)})
    part = b'[{"functionCall":{"name":"lookup","args":' + args + b'},"thoughtSignature":"'
    part += b"Q" * 200 + b'"}]'
    return [_event(part, 30, b',"finishReason":"STOP"')]


PLAIN = (
    b'{"candidates":[{"content":{"parts":[{"text":"'
    + b"The gateway answers every request quickly and well. " * 12
    + b'"}],"role":"model"},"finishReason":"STOP","index":0}],'
    + _USAGE % (150, 262)
    + b","
    + _HEAD
    + b"}"
)
REQUEST = msgspec.json.encode(
    {
        "model": "gemini-2.5-flash",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Find the record for Paris."},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"city":"Paris"}'},
                        "extra_content": {"google": {"thought_signature": "c2lnbmF0dXJl"}},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": '{"population": 2100000}'},
            {"role": "assistant", "content": "Paris has 2.1 million people."},
            {"role": "user", "content": "And Lyon?"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "lookup",
                    "description": "Look a city up",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }
        ],
        "temperature": 0.2,
        "max_tokens": 500,
    }
)


def _stream_once(chunks: list[bytes]) -> Callable[[], None]:
    def run() -> None:
        stream = ChatTranslation("req_0123456789ab", "gemini-2.5-flash", 1, True).stream()
        for chunk in chunks:
            stream.feed(chunk)
        stream.end()

    return run


def _plain() -> None:
    ChatTranslation("req_0123456789ab", "gemini-2.5-flash", 1, False).answer(200, PLAIN)


def _request() -> None:
    chat_body(decode_chat(REQUEST))


def best(fn: Callable[[], None], calls: int, repeat: int) -> float:
    """Best seconds per call of ``repeat`` runs of ``calls`` calls."""
    times = []
    gc.disable()
    try:
        for _ in range(repeat):
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            times.append((time.perf_counter() - start) / calls)
    finally:
        gc.enable()
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}")
    text = text_stream()
    tool = tool_stream()
    per_stream = best(_stream_once(text), args.calls // 10 or 1, args.repeat)
    print(f"stream chunk     {per_stream / len(text) * 1e6:7.2f} us  ({len(text)} text events)")
    per_tool = best(_stream_once(tool), args.calls, args.repeat)
    print(f"tool-call chunk  {per_tool * 1e6:7.2f} us  (one functionCall event, 4 arg deltas)")
    print(f"plain answer     {best(_plain, args.calls, args.repeat) * 1e6:7.2f} us")
    print(f"request          {best(_request, args.calls, args.repeat) * 1e6:7.2f} us")


if __name__ == "__main__":
    main()
