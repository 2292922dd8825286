"""fastgw.upstream.Pool against a real FakeUpstream on loopback: keep-alive, framing,
streaming, every timeout, error mapping, the pool limit, aborts and the one retry."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from fastgw.config import PoolConfig, Timeouts
from fastgw.errors import UpstreamProtocolError, UpstreamTimeout, UpstreamUnreachable
from fastgw.testing import FakeUpstream, Fault, free_port
from fastgw.upstream import Pool, UpstreamResponse

CHAT = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'
STREAM = b'{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}'
HEADERS = [("content-type", "application/json"), ("authorization", "Bearer sk-up")]
FAST = Timeouts(connect_s=2, first_byte_s=2, idle_s=2, total_s=5)


@pytest.fixture
async def up() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream(chunks=4) as server:
        yield server


@pytest.fixture
async def pool(up: FakeUpstream) -> AsyncIterator[Pool]:
    p = Pool(up.base_url, PoolConfig(max_connections=8))
    yield p
    await p.close()


async def post(pool: Pool, body: bytes = CHAT, timeouts: Timeouts = FAST) -> UpstreamResponse:
    return await pool.request("POST", "/chat/completions", HEADERS, body, timeouts)


async def test_sequential_requests_reuse_one_keepalive_connection(
    up: FakeUpstream, pool: Pool
) -> None:
    """Three requests in a row travel over one connection, with path, host and headers set."""
    for _ in range(3):
        response = await post(pool)
        assert response.status == 200
        await response.read()
        response.close()
    assert up.connections == 1
    assert pool.stats() == {"open": 1, "idle": 1}
    rec = up.requests[0]
    assert (rec.method, rec.path) == ("POST", "/v1/chat/completions")
    assert rec.headers["host"] == f"127.0.0.1:{up.port}"
    assert rec.headers["authorization"] == "Bearer sk-up"
    assert rec.body == CHAT and rec.headers["content-length"] == str(len(CHAT))


async def test_content_length_body_is_read_whole(up: FakeUpstream, pool: Pool) -> None:
    """A content-length response body is returned exactly as the upstream sent it."""
    response = await post(pool)
    assert response.header(b"content-length") is not None
    assert await response.read() == up.requests[0].sent
    assert await response.next_chunk() is None
    response.close()


async def test_chunked_body_is_decoded(up: FakeUpstream, pool: Pool) -> None:
    """A chunked response body is returned without its chunk framing."""
    response = await post(pool, STREAM)
    assert response.header(b"transfer-encoding") == b"chunked"
    body = await response.read()
    assert body == up.requests[0].sent
    assert body.endswith(b"data: [DONE]\n\n")
    response.close()


async def test_stream_chunks_are_delivered_as_they_arrive(up: FakeUpstream, pool: Pool) -> None:
    """Each SSE event comes out as its own chunk while the upstream has not sent the rest."""
    up.fail_next(Fault.stall_stream(3))  # send 3 events, then hold the stream open
    response = await post(pool, STREAM)
    chunks = [await response.next_chunk() for _ in range(3)]
    assert chunks == up.requests[0].response
    assert not up.requests[0].completed
    response.close()


async def test_connect_timeout() -> None:
    """A TCP connect that cannot complete raises UpstreamTimeout after connect_s."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)  # an accept queue of one, never accepted
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):  # fills the queue
            pool = Pool(f"http://127.0.0.1:{port}/v1", PoolConfig())
            start = time.monotonic()
            with pytest.raises(UpstreamTimeout, match="Connecting"):
                await post(pool, timeouts=Timeouts(connect_s=0.2, total_s=5))
            assert time.monotonic() - start < 2
            assert pool.stats() == {"open": 0, "idle": 0}
            await pool.close()


async def test_first_byte_timeout_aborts_the_request(up: FakeUpstream, pool: Pool) -> None:
    """A slow response head raises UpstreamTimeout and the upstream sees the request dropped."""
    up.fail_next(Fault(head_delay=5))
    with pytest.raises(UpstreamTimeout, match="first byte"):
        await post(pool, timeouts=Timeouts(first_byte_s=0.2, total_s=5))
    await up.until(lambda u: u.disconnects == 1)
    assert up.requests[0].disconnected


async def test_idle_gap_timeout(up: FakeUpstream, pool: Pool) -> None:
    """A stream that goes quiet for longer than idle_s raises UpstreamTimeout."""
    up.fail_next(Fault.stall_stream(2))
    response = await post(pool, STREAM, Timeouts(idle_s=0.2, total_s=5))
    assert await response.next_chunk() and await response.next_chunk()
    with pytest.raises(UpstreamTimeout, match="idle"):
        await response.next_chunk()
    response.close()
    await up.until(lambda u: u.disconnects == 1)


async def test_total_timeout_while_streaming(up: FakeUpstream, pool: Pool) -> None:
    """A stream whose gaps are each short but whose whole runs too long hits total_s."""
    up.chunks, up.chunk_delay = 50, 0.05
    response = await post(pool, STREAM, Timeouts(idle_s=1, total_s=0.4))
    start = time.monotonic()
    with pytest.raises(UpstreamTimeout, match="total"):
        await response.read()
    assert time.monotonic() - start < 1
    response.close()
    await up.until(lambda u: u.disconnects == 1)


async def test_total_timeout_bounds_the_first_byte(up: FakeUpstream, pool: Pool) -> None:
    """total_s also bounds the wait for the head when it is shorter than first_byte_s."""
    up.fail_next(Fault(stall=True))
    start = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        await post(pool, timeouts=Timeouts(first_byte_s=5, total_s=0.2))
    assert time.monotonic() - start < 1


async def test_refused_connection_is_unreachable() -> None:
    """Nothing listening on the port raises UpstreamUnreachable."""
    pool = Pool(f"http://127.0.0.1:{free_port()}/v1", PoolConfig())
    with pytest.raises(UpstreamUnreachable, match="Could not connect"):
        await post(pool)
    assert pool.stats() == {"open": 0, "idle": 0}
    await pool.close()


@pytest.mark.parametrize(
    "raw",
    [b"NOT HTTP AT ALL\r\n\r\n", b"HTTP/1.1 200 OK\r\ncontent-length: ten\r\n\r\n"],
    ids=["status-line", "content-length"],
)
async def test_malformed_head_is_a_protocol_error(up: FakeUpstream, pool: Pool, raw: bytes) -> None:
    """A response head the parser rejects raises UpstreamProtocolError."""
    up.fail_next(Fault(raw=raw))
    with pytest.raises(UpstreamProtocolError, match="malformed"):
        await post(pool)


async def test_switching_protocols_is_a_protocol_error(up: FakeUpstream, pool: Pool) -> None:
    """An upstream that answers 101 Switching Protocols fails the request with
    UpstreamProtocolError and its connection is dropped (httptools raises HttpParserUpgrade,
    which is not an HttpParserError, out of data_received)."""
    up.fail_next(
        Fault(raw=b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: ws\r\n\r\n")
    )
    with pytest.raises(UpstreamProtocolError, match="switched protocols"):
        await post(pool)
    assert pool.stats() == {"open": 0, "idle": 0}


async def test_interim_responses_are_skipped(up: FakeUpstream, pool: Pool) -> None:
    """1xx responses before the answer (103 Early Hints, 100 Continue) are not the answer:
    the status, headers and body are those of the final response (before, the 103 was taken
    as the answer)."""
    up.fail_next(
        Fault(
            raw=b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n"
            b"HTTP/1.1 100 Continue\r\n\r\n"
            b'HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{"id":"x"}'
        )
    )
    response = await post(pool)
    assert response.status == 200
    assert response.header(b"link") is None
    assert await response.read() == b'{"id":"x"}'
    response.close()


async def test_malformed_chunk_mid_stream_is_a_protocol_error(up: FakeUpstream, pool: Pool) -> None:
    """A broken chunk-size line after good events raises UpstreamProtocolError after them."""
    up.fail_next(Fault(malformed_after=2))
    response = await post(pool, STREAM)
    assert [await response.next_chunk(), await response.next_chunk()] == up.requests[0].response
    with pytest.raises(UpstreamProtocolError):
        await response.next_chunk()
    response.close()


async def test_stream_cut_mid_body_is_a_protocol_error(up: FakeUpstream, pool: Pool) -> None:
    """A chunked body cut by the upstream raises UpstreamProtocolError, never a clean end."""
    up.fail_next(Fault.cut(3))
    response = await post(pool, STREAM)
    with pytest.raises(UpstreamProtocolError, match="cut"):
        await response.read()
    response.close()
    assert pool.stats() == {"open": 0, "idle": 0}


async def test_content_length_body_cut_is_a_protocol_error(up: FakeUpstream, pool: Pool) -> None:
    """A body shorter than its content-length, then a close, raises UpstreamProtocolError."""
    up.fail_next(Fault(raw=b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"id":'))
    response = await post(pool)
    with pytest.raises(UpstreamProtocolError, match="cut"):
        await response.read()
    response.close()


async def test_body_delimited_by_close_is_complete(up: FakeUpstream, pool: Pool) -> None:
    """A response without length that ends with the connection (connection: close) is whole."""
    up.fail_next(Fault(raw=b'HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{"id":"x"}'))
    response = await post(pool)
    assert await response.read() == b'{"id":"x"}'
    response.close()


async def test_pool_limit_makes_the_second_request_wait(up: FakeUpstream) -> None:
    """With max_connections=1 a second request waits for the first, then reuses its connection."""
    pool = Pool(up.base_url, PoolConfig(max_connections=1))
    first = await post(pool)
    second = asyncio.ensure_future(post(pool))
    with pytest.raises(TimeoutError):  # nothing reaches the upstream while the first is open
        await up.until(lambda u: len(u.requests) > 1, timeout=0.2)
    assert not second.done()
    await first.read()
    first.close()
    response = await second
    assert response.status == 200 and len(up.requests) == 2
    assert up.connections == 1
    await response.read()
    response.close()
    await pool.close()


async def test_pool_wait_is_bounded_by_the_total_timeout(up: FakeUpstream) -> None:
    """A request that never gets a free connection raises UpstreamTimeout at total_s."""
    pool = Pool(up.base_url, PoolConfig(max_connections=1))
    first = await post(pool)
    with pytest.raises(UpstreamTimeout, match="free"):
        await post(pool, timeouts=Timeouts(total_s=0.2))
    first.close()
    await pool.close()


async def test_closing_an_unfinished_response_aborts_the_upstream(
    up: FakeUpstream, pool: Pool
) -> None:
    """close() before the end of the body drops the connection; the upstream sees it."""
    up.fail_next(Fault.stall_stream(2))
    response = await post(pool, STREAM)
    assert await response.next_chunk() == up.requests[0].response[0]
    response.close()
    await up.until(lambda u: u.disconnects == 1)
    assert up.requests[0].disconnected
    assert pool.stats() == {"open": 0, "idle": 0}


async def test_retry_once_when_a_reused_connection_was_closed(up: FakeUpstream, pool: Pool) -> None:
    """A reused connection closed before any response byte is retried once, on a new one."""
    response = await post(pool)
    await response.read()
    response.close()
    up.fail_next(Fault(close=True))  # the next request is read, then its connection closed
    response = await post(pool)
    assert response.status == 200
    await response.read()
    response.close()
    assert len(up.requests) == 3 and up.connections == 2


async def test_retry_when_the_server_closed_the_idle_connection(
    up: FakeUpstream, pool: Pool
) -> None:
    """The server's keep-alive close racing the next request is retried on a new connection."""
    response = await post(pool)
    await response.read()
    response.close()
    up.close_idle()  # the client has not seen the close yet when it writes the next request
    response = await post(pool)
    assert response.status == 200
    await response.read()
    response.close()
    assert up.connections == 2


async def test_fresh_connection_closed_without_answer_is_not_retried(
    up: FakeUpstream, pool: Pool
) -> None:
    """A new connection closed before any byte raises UpstreamUnreachable, with no retry."""
    up.fail_next(Fault(close=True))
    with pytest.raises(UpstreamUnreachable, match="without answering"):
        await post(pool)
    assert len(up.requests) == 1


async def test_expired_idle_connection_is_not_reused(up: FakeUpstream) -> None:
    """An idle connection older than keepalive_expiry_s is dropped, not reused."""
    pool = Pool(up.base_url, PoolConfig(keepalive_expiry_s=0.0))
    for _ in range(2):
        response = await post(pool)
        await response.read()
        response.close()
    assert up.connections == 2
    await pool.close()


async def test_unread_complete_body_leaves_a_usable_connection(
    up: FakeUpstream, pool: Pool
) -> None:
    """A connection returned with a received but unread long stream serves the next request."""
    up.chunks = 200  # more events than the client buffers before pausing the socket
    response = await post(pool, STREAM)
    await up.until(lambda u: u.requests[0].completed)
    assert await response.next_chunk() == up.requests[0].response[0]
    response.close()
    up.chunks = 4
    response = await post(pool, timeouts=Timeouts(first_byte_s=1, total_s=2))
    assert await response.read() == up.requests[1].sent
    response.close()


def test_fake_upstream_in_thread_answers_sync_callers() -> None:
    """FakeUpstream.in_thread() serves from its own loop; wait() blocks until a condition."""
    with FakeUpstream.in_thread(chunks=2) as up, httpx.Client(base_url=up.base_url) as client:
        response = client.post("/embeddings", content=b'{"model":"e","input":["a","b"]}')
        assert response.status_code == 200
        assert len(response.json()["data"]) == 2
        up.wait(lambda u: len(u.requests) == 1 and u.requests[0].completed)
        assert up.requests[0].sent == response.content


async def test_cancelled_waiter_passes_its_turn_on(up: FakeUpstream) -> None:
    """A waiting request cancelled just after it was woken does not strand the next waiter."""
    pool = Pool(up.base_url, PoolConfig(max_connections=1))
    first = await post(pool)
    await first.read()
    second = asyncio.ensure_future(post(pool))
    third = asyncio.ensure_future(post(pool))
    for _ in range(3):  # both reach the pool's wait queue (no I/O happens before that)
        await asyncio.sleep(0)
    first.close()  # wakes the second ...
    second.cancel()  # ... which is cancelled before it runs
    response = await asyncio.wait_for(third, 1)
    assert response.status == 200 and second.cancelled()
    await response.read()
    response.close()
    await pool.close()
