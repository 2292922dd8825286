"""A cheap SSE load client: many concurrent chat streams on uvloop with raw asyncio Protocols.

    python benchmarks/stream_client.py --port 8080 --key sk-... --model gpt-bench-stream \
        --streams 200 --duration 10 [--warmup 2]

Each of ``--streams`` keep-alive connections sends a streamed chat completion, reads it to the
end and sends the next, until the measured time is over; connection starts are spread evenly
over ``--warmup`` seconds so the load is steady, and streams that started during the warm-up
are not measured. Per measured stream it records
- time to first token: from writing the request to receiving the first chunk that carries
  ``x_sent_ns`` (the stamp ``benchmarks/mock_upstream.py`` puts in every chunk);
- per chunk: receive time minus that stamp (both ``time.time_ns()``), i.e. how long the chunk
  took from the mock's write to this client, through whatever sits in between.
Run it straight at the mock to measure this client's own floor, then through the gateway; the
difference is the gateway's share. It prints one JSON object (``StreamReport``) on stdout.

Rules this module keeps:
- One ``time.time_ns()`` per ``data_received``: every event in one read arrived together.
- Responses are parsed as HTTP/1.1 with chunked or content-length bodies; SSE events are
  split on blank lines; only the stamp is read from each event (no JSON decoding).
- Everything is bounded in time: a stream that does not finish within ``--stream-timeout``
  counts as an error and its connection is dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import time

import msgspec
import uvloop

_STAMP = b'"x_sent_ns":'


class StreamReport(msgspec.Struct):
    streams: int  # measured streams completed
    errors: int
    error_samples: list[str]
    chunks: int  # measured stamped chunks
    seconds: float  # measured wall time
    streams_per_s: float
    chunks_per_s: float
    ttft_ms: dict[str, float]  # p50, p90, p99, max
    delay_ms: dict[str, float]  # per-chunk receive - stamp: p50, p90, p99, max


def percentiles(values: list[int], scale: float) -> dict[str, float]:
    if not values:
        return {}
    values.sort()
    n = len(values)

    def pick(q: float) -> float:
        return round(values[min(n - 1, int(q * n))] * scale, 4)

    return {"p50": pick(0.50), "p90": pick(0.90), "p99": pick(0.99), "max": pick(1.0)}


class Run:
    """Shared state of one load run: request bytes, clock bounds and the samples."""

    def __init__(self, request: bytes, measure_from: float, stop_at: float, timeout: float) -> None:
        self.request = request
        self.measure_from = measure_from  # time.monotonic()
        self.stop_at = stop_at
        self.timeout = timeout
        self.ttft_ns: list[int] = []
        self.delay_ns: list[int] = []
        self.streams = 0
        self.errors = 0
        self.error_samples: list[str] = []
        self.open = 0
        self.all_closed: asyncio.Future[None] | None = None

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what[:300])


class StreamConnection(asyncio.Protocol):
    def __init__(self, run: Run, loop: asyncio.AbstractEventLoop) -> None:
        self.run = run
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None

    # -- one stream ------------------------------------------------------------------------

    def _begin(self) -> None:
        run = self.run
        if self.transport is None or time.monotonic() >= run.stop_at:
            self._close()
            return
        self.buf = b""
        self.head_done = False
        self.chunked = False
        self.remaining = 0  # bytes left in the current chunk (chunked) or the body
        self.events = b""
        self.first = True
        self.measured = time.monotonic() >= run.measure_from
        self.ttft: int | None = None
        self.delays: list[int] = []
        self.timer = self.loop.call_later(run.timeout, self._timed_out)
        self.sent_ns = time.time_ns()
        self.transport.write(run.request)

    def _finish(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        run = self.run
        if self.measured:
            if self.ttft is None:
                run.error("stream ended without a stamped chunk")
            else:
                run.streams += 1
                run.ttft_ns.append(self.ttft)
                run.delay_ns.extend(self.delays)
        self._begin()

    def _timed_out(self) -> None:
        self.timer = None
        self.run.error(f"stream did not finish within {self.run.timeout}s")
        self._close()

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._begin()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.run.error(f"connection lost mid-stream: {exc}")
        self.transport = None
        run = self.run
        run.open -= 1
        if run.open == 0 and run.all_closed is not None and not run.all_closed.done():
            run.all_closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        now = time.time_ns()
        self.buf += data
        if not self.head_done:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].lower()
            self.buf = self.buf[end + 4 :]
            self.head_done = True
            if not head.startswith(b"http/1.1 200"):
                self.run.error(f"answer: {head[:200].decode('latin-1')} {self.buf[:200]!r}")
                self._close()
                return
            self.chunked = b"transfer-encoding: chunked" in head
            if not self.chunked:
                at = head.find(b"content-length:")
                if at < 0:
                    self.run.error("response without length or chunked encoding")
                    self._close()
                    return
                self.remaining = int(head[at + 15 :].split(b"\r\n", 1)[0])
        done = self._body_chunked(now) if self.chunked else self._body_length(now)
        if done:
            self._finish()

    def _body_length(self, now: int) -> bool:
        take = self.buf[: self.remaining]
        self.buf = self.buf[self.remaining :]
        self.remaining -= len(take)
        self._events(take, now)
        return self.remaining == 0

    def _body_chunked(self, now: int) -> bool:
        buf = self.buf
        pos = 0
        while True:
            if self.remaining > 0:
                take = buf[pos : pos + self.remaining]
                pos += len(take)
                self.remaining -= len(take)
                self._events(take, now)
                if self.remaining > 0:
                    break
                continue
            line_end = buf.find(b"\r\n", pos)
            if line_end < 0:
                break
            size_text = buf[pos:line_end]
            if not size_text:  # the CRLF after a chunk's data
                pos = line_end + 2
                continue
            size = int(size_text.split(b";", 1)[0], 16)
            if size == 0:
                if buf.find(b"\r\n", line_end + 2) < 0:  # wait for the final CRLF
                    break
                self.buf = buf[buf.find(b"\r\n", line_end + 2) + 2 :]
                return True
            pos = line_end + 2
            self.remaining = size
        self.buf = buf[pos:]
        return False

    def _events(self, data: bytes, now: int) -> None:
        events = self.events + data
        start = 0
        while (end := events.find(b"\n\n", start)) >= 0:
            at = events.find(_STAMP, start, end)
            if at >= 0:
                digits = events[at + len(_STAMP) : end].split(b"}", 1)[0].split(b",", 1)[0]
                delay = now - int(digits)
                if self.first:
                    self.first = False
                    self.ttft = now - self.sent_ns
                self.delays.append(delay)
            start = end + 2
        self.events = events[start:]

    def _close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None:
            self.transport.close()


def build_request(
    host: str, port: int, path: str, key: str, model: str, chunks: int | None
) -> bytes:
    body: dict[str, object] = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Write a short poem about connection pooling."},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 256,
    }
    if chunks is not None:
        body["mock_chunks"] = chunks
    data = msgspec.json.encode(body)
    auth = f"authorization: Bearer {key}\r\n" if key else ""
    head = (
        f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
        f"accept: text/event-stream\r\n{auth}content-length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


async def run_streams(
    host: str,
    port: int,
    request: bytes,
    streams: int,
    warmup: float,
    duration: float,
    timeout: float,
) -> StreamReport:
    loop = asyncio.get_running_loop()
    begin = time.monotonic()
    run = Run(request, begin + warmup, begin + warmup + duration, timeout)
    run.all_closed = loop.create_future()
    gap = warmup / streams if warmup > 0 else 0.0
    for i in range(streams):
        target = begin + i * gap
        if (wait := target - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        try:
            await loop.create_connection(lambda: StreamConnection(run, loop), host, port)
            run.open += 1
        except OSError as exc:
            run.error(f"connect: {exc}")
    if run.open:
        try:
            await asyncio.wait_for(run.all_closed, warmup + duration + timeout + 5)
        except TimeoutError:
            run.error("some connections were still open at the deadline")
    measured = max(1e-9, min(time.monotonic(), run.stop_at) - run.measure_from)
    return StreamReport(
        streams=run.streams,
        errors=run.errors,
        error_samples=run.error_samples,
        chunks=len(run.delay_ns),
        seconds=round(measured, 3),
        streams_per_s=round(run.streams / measured, 1),
        chunks_per_s=round(len(run.delay_ns) / measured, 1),
        ttft_ms=percentiles(run.ttft_ns, 1e-6),
        delay_ms=percentiles(run.delay_ns, 1e-6),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/v1/chat/completions")
    parser.add_argument("--key", default="", help="gateway key (Authorization: Bearer)")
    parser.add_argument("--model", default="gpt-bench-stream")
    parser.add_argument("--chunks", type=int, help="ask the mock for this many chunks")
    parser.add_argument("--streams", type=int, default=200, help="concurrent streams")
    parser.add_argument("--warmup", type=float, default=2.0, help="ramp-up, not measured (s)")
    parser.add_argument("--duration", type=float, default=10.0, help="measured time (s)")
    parser.add_argument("--stream-timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    request = build_request(args.host, args.port, args.path, args.key, args.model, args.chunks)
    report = uvloop.run(
        run_streams(
            args.host,
            args.port,
            request,
            args.streams,
            args.warmup,
            args.duration,
            args.stream_timeout,
        )
    )
    sys.stdout.buffer.write(msgspec.json.encode(report) + b"\n")
    return 0 if report.streams else 1


if __name__ == "__main__":
    sys.exit(main())
