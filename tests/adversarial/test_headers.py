"""Hostile request heads at the socket level: never a 5xx, never a dead worker.

Oversized header values, thousands of headers, huge request lines, bad methods and versions,
bytes a header may not hold, conflicting or malformed Content-Length and Transfer-Encoding,
chunked-encoding tricks. Each is sent raw on its own connection to one real server; the
answer must be a 4xx (from Granian's HTTP/1.1 parser or from fastgw) or a clean close, within
a few seconds, and the server must answer ``/health`` right after. At the end the server log
holds no unhandled error and its one worker was never restarted.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest

from fastgw.testing import GatewayProcess
from tests.conftest import DEV_KEY, mock_config

READ_TIMEOUT_S = 5.0
KEY = b"authorization: Bearer " + DEV_KEY.encode() + b"\r\n"
MODELS = b"GET /v1/models HTTP/1.1\r\nhost: x\r\n"
CHAT = b'{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}'


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayProcess]:
    with GatewayProcess(mock_config()) as process:
        yield process
        log = process.log()
        for sign in ("unhandled error", "Traceback", "panicked"):
            at = log.find(sign)
            assert at < 0, log[max(at - 2000, 0) : at + 6000]
        assert log.count("fastgw worker") == 1, "the worker was restarted:\n" + log[-4000:]


def exchange(port: int, raw: bytes) -> int | None:
    """Send ``raw`` on a new connection; the status of the first response, or None when the
    server closed the connection without one. Fails if nothing happens in READ_TIMEOUT_S."""
    with socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT_S) as sock:
        # refused before all of it was read: the answer may still be there
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        data = b""
        try:
            while b"\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        except TimeoutError:
            pytest.fail(f"no answer and no close within {READ_TIMEOUT_S}s; got {data[:200]!r}")
    if not data:
        return None
    status_line = data.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1."), status_line
    return int(status_line.split(b" ")[1])


def request(head: bytes, body: bytes = b"", method: bytes = b"POST") -> bytes:
    return method + b" /v1/chat/completions HTTP/1.1\r\nhost: x\r\n" + KEY + head + b"\r\n" + body


def chunked(*parts: bytes) -> bytes:
    return request(b"transfer-encoding: chunked\r\n", b"".join(parts))


CASES: dict[str, bytes] = {
    # sizes
    "header value 64 KiB": request(b"x-big: " + b"a" * 65536 + b"\r\n"),
    "header value 1 MiB": request(b"x-big: " + b"a" * 2**20 + b"\r\n"),
    "header name 64 KiB": request(b"x" * 65536 + b": 1\r\n"),
    "5,000 headers": request(b"".join(b"x-h%d: v\r\n" % i for i in range(5000))),
    "100,000 tiny headers": request(b"a: b\r\n" * 100_000),
    "request path 100 KiB": b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nhost: x\r\n\r\n",
    "request path 1 MiB": b"GET /" + b"a" * 2**20 + b" HTTP/1.1\r\nhost: x\r\n\r\n",
    "query 1 MiB": b"GET /health?" + b"q=1&" * 2**18 + b" HTTP/1.1\r\nhost: x\r\n\r\n",
    # request line
    "method with a space": b"GE T /health HTTP/1.1\r\nhost: x\r\n\r\n",
    "unknown method": b"FOO /health HTTP/1.1\r\nhost: x\r\n\r\n",
    "lower-case method": b"get /health HTTP/1.1\r\nhost: x\r\n\r\n",
    "method 10 KiB": b"G" * 10_000 + b" /health HTTP/1.1\r\nhost: x\r\n\r\n",
    "NUL before the method": b"\x00GET /health HTTP/1.1\r\nhost: x\r\n\r\n",
    "CONNECT": b"CONNECT 127.0.0.1:1 HTTP/1.1\r\nhost: 127.0.0.1:1\r\n\r\n",
    "absolute URI": b"GET http://elsewhere/health HTTP/1.1\r\nhost: x\r\n\r\n",
    "asterisk target": b"OPTIONS * HTTP/1.1\r\nhost: x\r\n\r\n",
    "no version": b"GET /health\r\nhost: x\r\n\r\n",
    "HTTP/1.2": b"GET /health HTTP/1.2\r\nhost: x\r\n\r\n",
    "HTTP/9.9": b"GET /health HTTP/9.9\r\nhost: x\r\n\r\n",
    "HTTP/0.9 style": b"GET /health\r\n\r\n",
    "space in the path": b"GET /hea lth HTTP/1.1\r\nhost: x\r\n\r\n",
    "control byte in the path": b"GET /hea\x01lth HTTP/1.1\r\nhost: x\r\n\r\n",
    "bytes over 0x7f in the path": b"GET /\xff\xfe HTTP/1.1\r\nhost: x\r\n\r\n",
    "bare LF line endings": b"GET /health HTTP/1.1\nhost: x\n\n",
    "bare CR line endings": b"GET /health HTTP/1.1\rhost: x\r\r",
    # header bytes
    "space in a header name": request(b"bad name: x\r\n"),
    "space before the colon": request(b"x-a : x\r\n"),
    "header without a colon": request(b"nocolon\r\n"),
    "empty header name": request(b": x\r\n"),
    "NUL in a header value": request(b"x-a: a\x00b\r\n"),
    "DEL in a header value": request(b"x-a: a\x7fb\r\n"),
    "bytes over 0x7f in a header value": request(b"x-a: \xff\xfe\xc3\r\n"),
    "bytes over 0x7f in a header name": request(b"x-\xff: 1\r\n"),
    "separator in a header name": request(b"x(y): 1\r\n"),
    "bare CR in a header value": request(b"x-a: a\rb\r\n"),
    "obsolete line folding": request(b"x-a: a\r\n folded\r\n"),
    "NUL in the authorization": MODELS + b"authorization: Bearer \x00\r\n\r\n",
    "non-ASCII authorization": MODELS + b"authorization: Bearer \xff\xfe\r\n\r\n",
    "huge authorization": MODELS + b"authorization: Bearer " + b"k" * 60_000 + b"\r\n\r\n",
    # Content-Length
    "negative content-length": request(b"content-length: -1\r\n", CHAT),
    "non-numeric content-length": request(b"content-length: abc\r\n", CHAT),
    "content-length with a plus": request(b"content-length: +%d\r\n" % len(CHAT), CHAT),
    "hex content-length": request(b"content-length: 0x10\r\n", CHAT),
    "content-length past 2^64": request(b"content-length: 99999999999999999999999\r\n", CHAT),
    "content-length 2^63": request(b"content-length: 9223372036854775808\r\n", CHAT),
    "content-length list": request(b"content-length: %d, %d\r\n" % (len(CHAT), len(CHAT)), CHAT),
    "two different content-lengths": request(
        b"content-length: %d\r\ncontent-length: 5\r\n" % len(CHAT), CHAT
    ),
    "content-length shorter than the body": request(b"content-length: 5\r\n", CHAT),
    "content-length on a GET": b"GET /health HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello",
    # Transfer-Encoding
    "content-length and chunked": request(
        b"content-length: 4\r\ntransfer-encoding: chunked\r\n",
        b"%x\r\n" % len(CHAT) + CHAT + b"\r\n0\r\n\r\n",
    ),
    "chunked, then identity": request(b"transfer-encoding: chunked, identity\r\n", CHAT),
    "identity encoding": request(b"transfer-encoding: identity\r\n", CHAT),
    "xchunked": request(b"transfer-encoding: xchunked\r\n", CHAT),
    "chunked twice": request(
        b"transfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n",
        b"%x\r\n" % len(CHAT) + CHAT + b"\r\n0\r\n\r\n",
    ),
    "gzip, chunked": request(b"transfer-encoding: gzip, chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n"),
    "chunked on HTTP/1.0": b"POST /v1/chat/completions HTTP/1.0\r\nhost: x\r\n"
    + KEY
    + b"transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    # chunk framing
    "chunk size not hex": chunked(b"zz\r\nhello\r\n0\r\n\r\n"),
    "chunk size past 2^64": chunked(b"ffffffffffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
    "negative chunk size": chunked(b"-5\r\nhello\r\n0\r\n\r\n"),
    "chunk size with 0x": chunked(b"0x5\r\nhello\r\n0\r\n\r\n"),
    "chunk longer than its size": chunked(b"2\r\nhello\r\n0\r\n\r\n"),
    "chunk without its CRLF": chunked(b"5\r\nhello0\r\n\r\n"),
    "chunk extension 100 KiB": chunked(b"5;" + b"e" * 100_000 + b"\r\nhello\r\n0\r\n\r\n"),
    "trailers 100 KiB": chunked(b"5\r\nhello\r\n0\r\n" + b"x-t: " + b"t" * 100_000 + b"\r\n\r\n"),
    "chunked body past the limit": chunked(*[b"8000\r\n" + b"a" * 0x8000 + b"\r\n"] * 4),
    "10,000 one-byte chunks": chunked(b"1\r\na\r\n" * 10_000, b"0\r\n\r\n"),
}
# Answered with a 2xx, as an HTTP/1.1 server may: a body is read as a valid request once
# the framing is resolved the standard way (chunked wins over content-length).
MAY_SUCCEED = {
    "absolute URI",
    "bare LF line endings",
    "chunked twice",
    "content-length and chunked",
    "content-length on a GET",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_head_gets_a_4xx_or_a_close(server: GatewayProcess, case: str) -> None:
    """A 4xx or a clean close within a few seconds, never a 5xx; /health answers after."""
    status = exchange(server.port, CASES[case])
    assert status is None or 400 <= status < 500 or (case in MAY_SUCCEED and status < 300), status
    assert exchange(server.port, b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n") == 200


def test_huge_request_id_is_not_echoed(server: GatewayProcess) -> None:
    """A 64 KiB x-request-id is refused or replaced, never echoed back whole."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=READ_TIMEOUT_S) as sock:
        sock.sendall(
            b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-request-id: "
            + b"r" * 65536
            + b"\r\n\r\n"
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0]
    assert int(head.split(b" ")[1]) < 500
    assert b"r" * 1024 not in head
