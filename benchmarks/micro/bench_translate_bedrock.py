"""Micro-benchmark: what translating Amazon Bedrock costs per stream chunk and per answer.

Run: ``.venv/bin/python benchmarks/micro/bench_translate_bedrock.py [--repeat N]``

Cases:
- ``stream chunk``: a realistic ConverseStream body (messageStart, 32 text deltas, a tool call
  with 8 input deltas, the block stops, messageStop, metadata; one frame per chunk, as Bedrock
  sends them) through ``ConverseStreamTranslator.feed``: frames read (both CRCs), each event's
  JSON decoded, OpenAI chunks written. Reported per chunk (goal: at most 5 us).
- ``frames only``: the same chunks through fastgw's ``FrameReader`` and through botocore's
  ``EventStreamBuffer`` (the measurement behind writing our own reader).
- ``plain answer``: a Converse answer (text and a tool call) as an OpenAI completion.
- ``request``: an OpenAI chat body (system, 3 turns, 2 tools) as a Converse body.
- ``sigv4 sign``: botocore's SigV4 over that request (paid once per upstream request).

Figures are microseconds, best of ``--repeat`` runs with the garbage collector off, including
the loop around the call.
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

from fastgw.protocols.bedrock import ChatTranslation, converse_request
from fastgw.protocols.bedrock.eventstream import FrameReader
from fastgw.protocols.openai.translate import decode_chat
from fastgw.testing.bedrock_upstream import event

MODEL = "us.anthropic.claude-sonnet-4-20250514-v1:0"
_WORDS = [" the", " gateway", " answers", " every", " request", " quickly", " and", " well"]


def stream_chunks() -> list[bytes]:
    frames = [event("messageStart", {"role": "assistant"})]
    for i in range(32):
        frames.append(
            event("contentBlockDelta", {"delta": {"text": _WORDS[i % 8]}, "contentBlockIndex": 0})
        )
    frames.append(event("contentBlockStop", {"contentBlockIndex": 0}))
    start = {"toolUse": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "get_weather"}}
    frames.append(event("contentBlockStart", {"start": start, "contentBlockIndex": 1}))
    for piece in ['{"ci', 'ty": "P', "aris", '", "u', 'nit":', ' "cel', "sius", '"}']:
        delta = {"toolUse": {"input": piece}}
        frames.append(event("contentBlockDelta", {"delta": delta, "contentBlockIndex": 1}))
    frames.append(event("contentBlockStop", {"contentBlockIndex": 1}))
    frames.append(event("messageStop", {"stopReason": "tool_use"}))
    usage = {"inputTokens": 412, "outputTokens": 58, "totalTokens": 470}
    frames.append(event("metadata", {"usage": usage, "metrics": {"latencyMs": 812}}))
    return frames


ANSWER = msgspec.json.encode(
    {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"text": "".join(_WORDS * 8)},
                    {
                        "toolUse": {
                            "toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                            "name": "get_weather",
                            "input": {"city": "Paris", "unit": "celsius"},
                        }
                    },
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 412, "outputTokens": 58, "totalTokens": 470},
        "metrics": {"latencyMs": 812},
    }
)

TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
BODY = msgspec.json.encode(
    {
        "model": "claude",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant. " * 4},
            {"role": "user", "content": "What is the weather in Paris? " * 4},
            {"role": "assistant", "content": "Let me check."},
            {"role": "user", "content": "Please do."},
        ],
        "tools": [TOOL, {**TOOL, "function": {**TOOL["function"], "name": "get_time"}}],
        "max_tokens": 512,
        "temperature": 0.5,
    }
)


def best(fn: Callable[[], object], repeat: int, loops: int) -> float:
    """Best microseconds per call."""
    times = []
    gc.disable()
    try:
        for _ in range(repeat):
            start = time.perf_counter()
            for _ in range(loops):
                fn()
            times.append((time.perf_counter() - start) / loops)
    finally:
        gc.enable()
    return min(times) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    chunks = stream_chunks()
    n = len(chunks)

    def translate_stream() -> None:
        translation = ChatTranslation("chatcmpl-1", MODEL, 1700000000, None, True)
        translator = translation.stream()
        for chunk in chunks:
            translator.feed(chunk)
        translator.end()

    def ours() -> None:
        reader = FrameReader()
        for chunk in chunks:
            reader.feed(chunk)

    from botocore.eventstream import EventStreamBuffer

    def botocore() -> None:
        buffer = EventStreamBuffer()
        for chunk in chunks:
            buffer.add_data(chunk)
            for _ in buffer:
                pass

    translation = ChatTranslation("chatcmpl-1", MODEL, 1700000000, None, False)

    def answer() -> None:
        translation.answer(200, ANSWER)

    def request() -> None:
        converse_request(decode_chat(BODY), MODEL)

    from fastgw.providers.bedrock import SigV4Signer

    signer = SigV4Signer("us-east-1", "AKIDEXAMPLE", "secret", None)
    plan = converse_request(decode_chat(BODY), MODEL)
    url = "https://bedrock-runtime.us-east-1.amazonaws.com/model/x/converse"
    headers = [("content-type", "application/json"), ("accept", "application/json")]

    def sign() -> None:
        signer.sign(url, headers, plan.body)

    print(f"python {platform.python_version()} on {platform.machine()}, {n} chunks a stream")
    per_stream = best(translate_stream, args.repeat, 300)
    print(f"stream chunk          {per_stream / n:8.2f} us/chunk ({per_stream:.1f} us/stream)")
    print(f"frames only (fastgw)  {best(ours, args.repeat, 300) / n:8.2f} us/chunk")
    print(f"frames only (botocore){best(botocore, args.repeat, 300) / n:8.2f} us/chunk")
    print(f"plain answer          {best(answer, args.repeat, 3000):8.2f} us/answer")
    print(f"request               {best(request, args.repeat, 3000):8.2f} us/request")
    print(f"sigv4 sign            {best(sign, args.repeat, 1000):8.2f} us/request")


if __name__ == "__main__":
    main()
