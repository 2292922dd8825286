"""A fast OpenAI-compatible mock upstream for the benchmarks: uvloop, raw asyncio Protocol.

    python benchmarks/mock_upstream.py --port 9001 --chunks 100 --delay-ms 20 [--processes 2]

Answers ``POST /v1/chat/completions`` (and ``/chat/completions``):
- without ``"stream": true``: a canned chat completion with ``usage``;
- with it: an SSE stream (chunked transfer encoding) of ``--chunks`` content chunks,
  ``--delay-ms`` apart, the first sent with the response head; then a chunk with
  ``finish_reason``, one with ``usage`` and ``data: [DONE]``. Every content and finish chunk
  carries ``"x_sent_ns": <time.time_ns() when written>`` so a client can compute how long the
  chunk took to reach it (``benchmarks/stream_client.py`` does). A request body may override
  the defaults with ``"mock_chunks": N`` and ``"mock_delay_ms": D``.
``GET /health`` answers 200; anything else 404.

Rules this module keeps:
- HTTP/1.1 parsing is minimal on purpose (request line, ``content-length``, ``connection``):
  the only clients are wrk, fastgw, nginx and the suite's own stream client. Keep-alive and
  pipelined requests are handled; chunked *request* bodies are not.
- Chunk times are scheduled from the stream's start (``start + k * delay``), not chained, so a
  late chunk does not push every later one back and the offered load stays constant.
- ``--processes N`` forks N servers on one port with SO_REUSEPORT (the kernel spreads the
  connections); children die with the parent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import sys
import time

import msgspec
import uvloop

MAX_HEAD = 64 * 1024
CREATED = 1_700_000_000
COMPLETION = msgspec.json.encode(
    {
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": CREATED,
        "model": "mock",
        "system_fingerprint": "fp_mock",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Connection pooling reuses established connections, "
                    "which removes handshake latency from every request.",
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 31, "completion_tokens": 16, "total_tokens": 47},
    }
)
_JSON_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n"
_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n%s\r\n"
)
_KEEP = b""
_CLOSE = b"connection: close\r\n"
_CHUNK_PREFIX = (
    b'data: {"id":"chatcmpl-mock","object":"chat.completion.chunk","created":1700000000,'
    b'"model":"mock","choices":[{"index":0,"delta":{'
)
_FINISH = b'},"finish_reason":"stop"}],"x_sent_ns":'
_CONTENT = b'"content":"tok "},"finish_reason":null}],"x_sent_ns":'
_FIRST = b'"role":"assistant","content":"tok "},"finish_reason":null}],"x_sent_ns":'
_USAGE = (
    b'data: {"id":"chatcmpl-mock","object":"chat.completion.chunk","created":1700000000,'
    b'"model":"mock","choices":[],"usage":{"prompt_tokens":31,"completion_tokens":%d,'
    b'"total_tokens":%d}}\n\n'
)
_DONE = b"data: [DONE]\n\n"
_NOT_FOUND = b'{"error":{"message":"not found","type":"invalid_request_error"}}'


class StreamRequest(msgspec.Struct):
    stream: bool = False
    mock_chunks: int | None = None
    mock_delay_ms: float | None = None


_decode = msgspec.json.Decoder(StreamRequest).decode


def _chunk(event: bytes) -> bytes:
    """One HTTP/1.1 chunk holding one SSE event."""
    return b"%x\r\n%b\r\n" % (len(event), event)


class MockProtocol(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop, chunks: int, delay_s: float) -> None:
        self.loop = loop
        self.chunks = chunks
        self.delay_s = delay_s
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.streaming = False
        self.timer: asyncio.TimerHandle | None = None
        self.close_after = False
        self.total = self.sent = 0
        self.delay = self.start = 0.0
        self.pending: list[tuple[bytes, bytes, bool]] = []  # requests read during a stream

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEAD:
                    self._close()
                return
            head = self.buf[:end]
            length, close = _parse_head(head)
            total = end + 4 + length
            if len(self.buf) < total:
                return
            body = self.buf[end + 4 : total]
            self.buf = self.buf[total:]
            if self.streaming:
                self.pending.append((head, body, close))
            else:
                self._handle(head, body, close)

    def _handle(self, head: bytes, body: bytes, close: bool) -> None:
        transport = self.transport
        if transport is None:
            return
        target = head.split(b" ", 2)[1].split(b"?", 1)[0] if head.count(b" ") >= 2 else b""
        conn = _CLOSE if close else _KEEP
        if head.startswith(b"POST") and target.endswith(b"/chat/completions"):
            try:
                request = _decode(body)
            except msgspec.DecodeError:
                request = StreamRequest()
            if request.stream:
                chunks = request.mock_chunks or self.chunks
                delay_ms = request.mock_delay_ms
                delay = self.delay_s if delay_ms is None else delay_ms / 1000
                self._start_stream(max(1, chunks), delay, close)
                return
            transport.write(_JSON_HEAD % (len(COMPLETION), conn) + COMPLETION)
        elif target == b"/health":
            transport.write(_JSON_HEAD % (2, conn) + b"{}")
        else:
            transport.write(
                (_JSON_HEAD % (len(_NOT_FOUND), conn)).replace(b"200 OK", b"404 Not Found", 1)
                + _NOT_FOUND
            )
        if close:
            self._close()

    # -- streams ---------------------------------------------------------------------------

    def _start_stream(self, chunks: int, delay_s: float, close: bool) -> None:
        assert self.transport is not None
        self.streaming = True
        self.close_after = close
        self.total = chunks
        self.sent = 1
        self.delay = delay_s
        self.start = self.loop.time()
        head = _SSE_HEAD % (_CLOSE if close else _KEEP)
        first = _chunk(_CHUNK_PREFIX + _FIRST + b"%d}\n\n" % time.time_ns())
        self.transport.write(head + first)
        self._schedule()

    def _schedule(self) -> None:
        self.timer = self.loop.call_at(self.start + self.sent * self.delay, self._next_chunk)

    def _next_chunk(self) -> None:
        self.timer = None
        transport = self.transport
        if transport is None:
            return
        if self.sent < self.total:
            transport.write(_chunk(_CHUNK_PREFIX + _CONTENT + b"%d}\n\n" % time.time_ns()))
            self.sent += 1
            self._schedule()
            return
        n = self.total
        transport.write(
            _chunk(_CHUNK_PREFIX + _FINISH + b"%d}\n\n" % time.time_ns())
            + _chunk(_USAGE % (n, n + 31))
            + _chunk(_DONE)
            + b"0\r\n\r\n"
        )
        self.streaming = False
        if self.close_after:
            self._close()
            return
        pending, self.pending = self.pending, []
        for head, body, close in pending:
            self._handle(head, body, close)

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _parse_head(head: bytes) -> tuple[int, bool]:
    """(content-length, connection: close) from a request head."""
    length = 0
    close = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip() or b"0")
        elif name == b"connection" and value.strip().lower() == b"close":
            close = True
    return length, close


async def serve(host: str, port: int, chunks: int, delay_s: float, reuse_port: bool) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: MockProtocol(loop, chunks, delay_s),
        host,
        port,
        reuse_port=reuse_port,
        backlog=4096,
    )
    stop: asyncio.Future[None] = loop.create_future()

    def on_signal() -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    async with server:
        await stop


def _die_with_parent() -> None:
    """Ask the kernel to send SIGTERM to this child when its parent exits (Linux prctl)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--chunks", type=int, default=100, help="content chunks per stream")
    parser.add_argument("--delay-ms", type=float, default=20.0, help="gap between chunks")
    parser.add_argument("--processes", type=int, default=1, help="servers on one port")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the mock upstream listens on loopback only")
    children: list[int] = []
    for _ in range(args.processes - 1):
        pid = os.fork()
        if pid == 0:
            _die_with_parent()
            children = []
            break
        children.append(pid)
    try:
        delay_s = args.delay_ms / 1000
        uvloop.run(serve(args.host, args.port, args.chunks, delay_s, args.processes > 1))
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
