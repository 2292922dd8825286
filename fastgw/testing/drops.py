"""Clients that leave a streamed answer before its end, over raw HTTP/1.1 sockets.

Used by the adversarial suite (tests/adversarial/test_dropped_streams.py) and the soak
(benchmarks/soak_drops.py) to prove that a dropped stream leaves nothing behind in fastgw.

A drop is a ``Kind``: the connection (``fresh``, or ``keepalive``: it first carries a
complete stream), the point where the client leaves (``sent``: right after the request, often
before the server read it; ``head``: before the response head, as a client whose read timeout
is shorter than the first token; ``chunks``: after 1 to 30 SSE events) and how it closes
(``fin``, or ``rst``: ``SO_LINGER`` 0, so the kernel resets the connection). Every wait is
bounded; only 127.0.0.1 is spoken to.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections import Counter
from collections.abc import Callable

import msgspec

POINTS = ("sent", "head", "chunks")
CLOSES = ("fin", "rst")
CONNECTIONS = ("fresh", "keepalive")
Kind = tuple[str, str, str]  # (connection, point, close)
KINDS: list[Kind] = [(c, p, x) for c in CONNECTIONS for p in POINTS for x in CLOSES]
_END_OF_CHUNKED = b"\r\n0\r\n\r\n"


def stream_request(model: str, key: str, max_tokens: int | None = None) -> bytes:
    """The bytes of a streamed chat completion request (HTTP/1.1, keep-alive)."""
    body: dict[str, object] = {
        "model": model,
        "stream": True,
        "messages": [{"role": "user", "content": "Tell a long story."}],
    }
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    data = msgspec.json.encode(body)
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        f"authorization: Bearer {key}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


async def read_until(
    reader: asyncio.StreamReader, done: Callable[[bytes], bool], limit: int = 1 << 20
) -> bytes:
    """Read until ``done(received)`` holds, the server closes, or ``limit`` bytes came."""
    received = b""
    while not done(received) and len(received) < limit:
        data = await reader.read(65536)
        if not data:
            break
        received += data
    return received


def reset_on_close(writer: asyncio.StreamWriter) -> None:
    """Make closing this connection send RST instead of FIN."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


async def drop_stream(
    port: int,
    request: bytes,
    kind: Kind,
    rng: random.Random,
    *,
    prelude: bytes = b"",
    first_token_s: float = 0.03,
    timeout: float = 20.0,
) -> None:
    """Send ``request`` (a stream) to 127.0.0.1:``port`` and leave as ``kind`` says.
    ``prelude`` is the complete stream a ``keepalive`` connection carries first (it must end
    with ``data: [DONE]``, else ``AssertionError``); ``first_token_s`` bounds the read
    timeout of a ``head`` drop (kept under the server's time to its response head)."""
    connection, point, close = kind
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        async with asyncio.timeout(timeout):
            if connection == "keepalive":
                writer.write(prelude)
                whole = await read_until(reader, lambda b: b.endswith(_END_OF_CHUNKED))
                if not (whole.startswith(b"HTTP/1.1 200") and b"data: [DONE]" in whole):
                    raise AssertionError(f"the keep-alive prelude failed: {whole[:300]!r}")
            writer.write(request)
            if point == "head":
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reader.read(1), rng.uniform(0.001, first_token_s * 0.8))
            elif point == "chunks":
                events = rng.randint(1, 30)
                await read_until(reader, lambda b: b.count(b"data: ") >= events)
    finally:
        if close == "rst":
            reset_on_close(writer)
            writer.transport.abort()
        else:
            writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def drop_streams(
    port: int,
    request: bytes,
    count: int,
    *,
    seed: int = 0,
    prelude: bytes = b"",
    first_token_s: float = 0.03,
    concurrency: int = 48,
    timeout: float = 60.0,
) -> Counter[Kind]:
    """``count`` drops, every kind of ``KINDS`` in turn, ``concurrency`` at a time, all done
    within ``timeout`` seconds; returns how many of each kind were made. Reproducible: drop
    ``i`` draws its read timeout and chunk count from ``random.Random(f"{seed}:{i}")``."""
    gate = asyncio.Semaphore(concurrency)
    done: Counter[Kind] = Counter()

    async def one(i: int) -> None:
        kind = KINDS[i % len(KINDS)]
        async with gate:
            rng = random.Random(f"{seed}:{i}")
            await drop_stream(
                port, request, kind, rng, prelude=prelude, first_token_s=first_token_s
            )
        done[kind] += 1

    async with asyncio.timeout(timeout):
        await asyncio.gather(*(one(i) for i in range(count)))
    return done
