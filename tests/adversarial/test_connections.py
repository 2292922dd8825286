"""Connections cannot exhaust the server (issue 12, item 1).

A client holding thousands of dead connections (no bytes, a partial request line or head, a
keyed request whose body stalls or trickles) must not stop others from being served, and
the server closes each dead one within its configured time: ``server.header_timeout_s``
for a head (and an idle keep-alive connection), ``server.body_timeout_s`` for a body (408 in
OpenAI's error shape). A key limited to N requests in flight is refused with 429 on its
head, before any body is sent, past N. Short timeouts keep the suite fast; every wait is
bounded and polled (epoll on the held sockets), never slept.
"""

from __future__ import annotations

import contextlib
import http.client
import resource
import selectors
import socket
import time
from collections.abc import Callable, Iterator

import msgspec
import openai
import pytest
from openai import OpenAI

from fastgw.keys import hash_key
from fastgw.testing import GatewayProcess
from tests.conftest import DEV_KEY, mock_config

IDLE = 2_500  # past Granian's old cap (backlog 2048 // 1 worker = 2048 connections)
PARTIAL = 300
HEADER_TIMEOUT_S = 2.0
BODY_TIMEOUT_S = 1.5
SERVED_WITHIN_S = 2.0  # /health and a chat completion while the dead connections are held
CLOSE_MARGIN_S = 1.5  # past the configured timeout (sweeps, scheduling on a busy machine)
PAR_KEY = "sk-test-parallel-key-0123456789"
PARALLEL = 2
CHAT = [{"role": "user", "content": "Are you still there?"}]


def _config(header_timeout_s: float, body_timeout_s: float, extra: str = "", **mock: float) -> str:
    text = mock_config(extra=extra, **mock)  # type: ignore[arg-type]
    marker = "drain_timeout_s = 10\n"
    assert marker in text
    return text.replace(
        marker,
        f"{marker}header_timeout_s = {header_timeout_s}\nbody_timeout_s = {body_timeout_s}\n",
    )


@pytest.fixture(autouse=True)
def _enough_files() -> Iterator[None]:
    """This process holds a few thousand sockets: raise its open-file limit (the server's
    own is raised by ``fastgw serve``, up to the same hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = IDLE + PARTIAL + 1_000
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"needs {wanted} open files; the hard limit is {hard}")
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _open(port: int, count: int, first_bytes: bytes = b"") -> list[tuple[socket.socket, float]]:
    """``count`` connections that sent ``first_bytes`` (maybe none), each with when it was
    opened."""
    held = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if first_bytes:
            sock.sendall(first_bytes)
        held.append((sock, time.monotonic()))
    return held


def _wait_closed(
    held: list[tuple[socket.socket, float]],
    within_s: float,
    tick: Callable[[], None] | None = None,
) -> tuple[list[float], list[bytes]]:
    """Wait until the server closed every connection of ``held`` (recv gives b'' or a
    reset), for at most ``within_s``; ``tick`` runs between polls. Returns how long each
    lived, and what each received before its end."""
    selector = selectors.DefaultSelector()
    for i, (sock, _opened) in enumerate(held):
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, i)
    lived: list[float] = [-1.0] * len(held)
    received = [b""] * len(held)
    left = len(held)
    deadline = time.monotonic() + within_s
    try:
        while left and time.monotonic() < deadline:
            for event, _mask in selector.select(timeout=0.25):
                i = event.data
                sock, opened = held[i]
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    continue
                except ConnectionError:
                    data = b""
                if data:
                    received[i] += data
                    continue
                lived[i] = time.monotonic() - opened
                selector.unregister(sock)
                sock.close()
                left -= 1
            if tick is not None:
                tick()
    finally:
        selector.close()
        for sock, _opened in held:
            sock.close()
    assert left == 0, f"{left} of {len(held)} connections still open after {within_s}s"
    return lived, received


def _health_latency(gw: GatewayProcess) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=SERVED_WITHIN_S)
    try:
        start = time.perf_counter()
        conn.request("GET", "/health")
        response = conn.getresponse()
        assert response.status == 200 and response.read() == b'{"status":"ok"}'
        return time.perf_counter() - start
    finally:
        conn.close()


def _chat(gw: GatewayProcess, key: str = DEV_KEY) -> float:
    with OpenAI(
        base_url=gw.base_url + "/v1", api_key=key, max_retries=0, timeout=SERVED_WITHIN_S
    ) as client:
        start = time.perf_counter()
        answer = client.chat.completions.create(model="gpt-test", messages=CHAT)  # type: ignore[arg-type]
        assert answer.choices[0].message.content
        return time.perf_counter() - start


def _head(key: str, extra: str = "", length: int = 200) -> bytes:
    return (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n{extra}\r\n"
    ).encode()


def _error(response: bytes) -> tuple[int, dict[str, object]]:
    """The status and OpenAI error object of one raw HTTP/1.1 response."""
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    error = msgspec.json.decode(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    return status, error


def test_idle_and_partial_connections_neither_block_others_nor_stay_open(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    """2,500 silent connections, 300 partial request heads and 100 heads trickled a byte at a
    time are held while /health and a keyed chat completion are served; the server closes
    each (and an idle keep-alive connection) within header_timeout_s, without an answer."""
    gw = gateway_factory(_config(HEADER_TIMEOUT_S, 30.0))
    keepalive = _open(gw.port, 1, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    held = _open(gw.port, IDLE)
    held += _open(gw.port, PARTIAL // 2, b"GET /hea")
    held += _open(gw.port, PARTIAL // 2, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
    trickled = _open(gw.port, 100, b"GET /health HTTP/1.1\r\nX-Slow: ")
    assert _health_latency(gw) < SERVED_WITHIN_S
    assert _chat(gw) < SERVED_WITHIN_S

    def trickle() -> None:  # one more byte of a header that never ends (slowloris)
        for sock, _opened in trickled:
            with contextlib.suppress(OSError):  # closed already
                sock.send(b"x")

    lived, received = _wait_closed(
        keepalive + held + trickled, HEADER_TIMEOUT_S + CLOSE_MARGIN_S + 2.0, trickle
    )
    assert received[0].startswith(b"HTTP/1.1 200")  # the keep-alive one, then idle
    assert all(not data for data in received[1:])  # closed without an answer
    assert max(lived) <= HEADER_TIMEOUT_S + CLOSE_MARGIN_S, max(lived)
    assert _health_latency(gw) < SERVED_WITHIN_S


def test_stalled_and_trickled_bodies_are_answered_408_and_closed(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    """Keyed requests whose body stalls (content-length or chunked) or trickles one byte at a
    time hold nobody else up, and each is answered 408 (OpenAI error shape) and closed
    within body_timeout_s."""
    gw = gateway_factory(_config(10.0, BODY_TIMEOUT_S))
    stalled = _open(gw.port, 300, _head(DEV_KEY) + b'{"model": "gpt-te')
    chunked = _open(
        gw.port, 50, _head(DEV_KEY).replace(b"Content-Length: 200", b"Transfer-Encoding: chunked")
    )
    for sock, _opened in chunked:
        sock.sendall(b'8\r\n{"model"\r\n')
    trickled = _open(gw.port, 100, _head(DEV_KEY) + b"{")
    assert _health_latency(gw) < SERVED_WITHIN_S
    assert _chat(gw) < SERVED_WITHIN_S

    def trickle() -> None:
        for sock, _opened in trickled:
            with contextlib.suppress(OSError):  # answered and closed already
                sock.send(b" ")

    held = stalled + chunked + trickled
    lived, received = _wait_closed(held, BODY_TIMEOUT_S + CLOSE_MARGIN_S + 3.0, trickle)
    for data in received:
        status, error = _error(data)
        assert status == 408 and error["code"] == "request_timeout", data
    assert max(lived) <= BODY_TIMEOUT_S + CLOSE_MARGIN_S, max(lived)
    assert _health_latency(gw) < SERVED_WITHIN_S


def _answer(sock: socket.socket, within_s: float) -> bytes:
    """One whole HTTP/1.1 response (head and content-length body) read from ``sock``."""
    sock.settimeout(within_s)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed without an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return head + b"\r\n\r\n" + body


def test_parallel_limited_key_is_refused_before_its_body(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    """A key with parallel = 2 holding two stalled bodies gets 429 on every further head,
    before any body byte is sent; after requests that failed on every path (408, 404, 400,
    413, a client gone mid-body) its two slots are free again: nothing leaked."""
    extra = f'[[keys]]\nid = "par"\nhash = "{hash_key(PAR_KEY)}"\nparallel = {PARALLEL}\n'
    gw = gateway_factory(_config(10.0, BODY_TIMEOUT_S, extra))

    def refused_past_limit() -> None:
        stalled = _open(gw.port, PARALLEL, _head(PAR_KEY))
        start = time.monotonic()
        for sock, _opened in _open(gw.port, 20, _head(PAR_KEY)):
            status, error = _error(_answer(sock, BODY_TIMEOUT_S / 2))
            assert status == 429 and error["code"] == "rate_limit_exceeded", error
            assert error["type"] == "requests"
            sock.close()
        assert time.monotonic() - start < BODY_TIMEOUT_S  # all before the stalled were cut
        _lived, received = _wait_closed(stalled, BODY_TIMEOUT_S + CLOSE_MARGIN_S + 2.0)
        assert [_error(data)[0] for data in received] == [408] * PARALLEL

    refused_past_limit()
    assert _chat(gw, PAR_KEY) < SERVED_WITHIN_S
    with (
        OpenAI(base_url=gw.base_url + "/v1", api_key=PAR_KEY, max_retries=0) as client,
        pytest.raises(openai.NotFoundError),
    ):
        client.chat.completions.create(model="gpt-nope", messages=CHAT)  # type: ignore[arg-type]
    for raw, status in (
        (_head(PAR_KEY, length=3) + b"{x}", 400),
        (_head(PAR_KEY, length=10**8), 413),
    ):
        ((sock, _opened),) = _open(gw.port, 1, raw)
        assert _error(_answer(sock, 5.0))[0] == status
        sock.close()
    ((gone, _opened),) = _open(gw.port, 1, _head(PAR_KEY, "x-request-id: gone-mid-body\r\n") + b"{")
    gone.close()
    deadline = time.monotonic() + 5.0
    while '"request_id":"gone-mid-body"' not in gw.log():
        assert time.monotonic() < deadline, "the abandoned request was never finished"
        time.sleep(0.05)  # polling the server's access log
    refused_past_limit()


def test_short_client_timeouts_never_cut_a_slow_answer_or_stream(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    """The head and body deadlines bound only what the client sends: with both at 0.5 s, an
    answer whose first token takes 1 s and a stream lasting ~2 s arrive whole, and the
    keep-alive connection that carried them serves the next request."""
    gw = gateway_factory(
        _config(0.5, 0.5, tokens=10, chunk_delay_ms=100, first_token_delay_ms=1000)
    )
    with OpenAI(base_url=gw.base_url + "/v1", api_key=DEV_KEY, max_retries=0) as client:
        stream = client.chat.completions.create(model="gpt-test", messages=CHAT, stream=True)  # type: ignore[arg-type]
        assert len([c for c in stream if c.choices and c.choices[0].delta.content]) == 10
        answer = client.chat.completions.create(model="gpt-test", messages=CHAT)  # type: ignore[arg-type]
        assert answer.usage is not None and answer.usage.completion_tokens == 10
