"""How many dead connections fastgw holds while it keeps serving others, and how fast it
closes them (issue 12, item 1).

Starts one ``fastgw serve`` worker on loopback (mock provider, the ``[server]`` bounds given
below, their defaults otherwise), opens ``--idle`` silent connections, ``--partial`` partial
request heads and ``--stalled`` keyed requests whose body stalls after its first byte, then,
while they are held, times ``--probes`` sequential ``GET /health`` and chat completions
(each on a new connection). Then it waits (epoll on the held sockets) until the server has
closed every one and reports when: each kind's lifetime from its open to the server's close
(b'' or a reset; the stalled bodies after their 408). ``--over N`` opens N more connections
past ``server.max_connections`` first, to show what a client then waits for.

    .venv/bin/python benchmarks/connections.py                     # defaults (10 s / 30 s)
    .venv/bin/python benchmarks/connections.py --idle 9000 --header-timeout 5 --body-timeout 5

Needs an open-file limit above the connections held (it raises its own soft limit to the
hard one; ``fastgw serve`` does the same).
"""

from __future__ import annotations

import argparse
import http.client
import resource
import selectors
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastgw.keys import hash_key
from fastgw.testing import GatewayProcess

KEY = "sk-bench-connections-0123456789"
CHAT = b'{"model":"gpt-test","messages":[{"role":"user","content":"Still there?"}]}'


def config(args: argparse.Namespace) -> str:
    server = [
        f"{name} = {value}"
        for name, value in (
            ("header_timeout_s", args.header_timeout),
            ("body_timeout_s", args.body_timeout),
            ("max_connections", args.max_connections),
        )
        if value is not None
    ]
    return "\n".join(
        [
            "[server]",
            "access_log = false",
            *server,
            '[providers.mock]\ntype = "mock"\ntokens = 8',
            '[[models]]\nname = "gpt-test"\ndeployments = [{ provider = "mock", model = "m" }]',
            f'[[keys]]\nid = "bench"\nhash = "{hash_key(KEY)}"',
            "",
        ]
    )


def open_many(port: int, count: int, first: bytes) -> list[tuple[socket.socket, float]]:
    held = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        if first:
            sock.sendall(first)
        held.append((sock, time.monotonic()))
    return held


def timed(port: int, method: str, path: str, body: bytes | None, timeout: float) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    start = time.perf_counter()
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            return float("nan")
        return time.perf_counter() - start
    except OSError:
        return float("inf")
    finally:
        conn.close()


def wait_closed(kinds: dict[str, list[tuple[socket.socket, float]]], within: float) -> dict:
    selector = selectors.DefaultSelector()
    lived: dict[str, list[float]] = {kind: [] for kind in kinds}
    answered: dict[str, int] = dict.fromkeys(kinds, 0)
    for kind, held in kinds.items():
        for sock, opened in held:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, (kind, opened))
    left = sum(len(held) for held in kinds.values())
    deadline = time.monotonic() + within
    while left and time.monotonic() < deadline:
        for event, _mask in selector.select(timeout=0.25):
            kind, opened = event.data
            sock = event.fileobj
            try:
                data = sock.recv(65536)  # type: ignore[union-attr]
            except BlockingIOError:
                continue
            except ConnectionError:
                data = b""
            if data:
                answered[kind] += data.startswith(b"HTTP/1.1 408")
                continue
            lived[kind].append(time.monotonic() - opened)
            selector.unregister(sock)
            sock.close()  # type: ignore[union-attr]
            left -= 1
    selector.close()
    for held in kinds.values():
        for sock, _opened in held:
            sock.close()
    return {"lived": lived, "answered_408": answered, "still_open": left}


def summary(values: list[float]) -> str:
    if not values:
        return "-"
    ms = sorted(v * 1000 for v in values)
    return (
        f"n={len(ms)} min {ms[0]:.0f} ms, p50 {statistics.median(ms):.0f} ms, max {ms[-1]:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=int, default=8000)
    parser.add_argument("--partial", type=int, default=1000)
    parser.add_argument("--stalled", type=int, default=500)
    parser.add_argument("--over", type=int, default=0)
    parser.add_argument("--probes", type=int, default=20)
    parser.add_argument("--header-timeout", type=float, default=None)
    parser.add_argument("--body-timeout", type=float, default=None)
    parser.add_argument("--max-connections", type=int, default=None)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = args.idle + args.partial + args.stalled + args.over + 1000
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))

    with GatewayProcess(config(args)) as gw:
        port = gw.port
        baseline = [timed(port, "GET", "/health", None, 5) for _ in range(args.probes)]
        start = time.monotonic()
        kinds = {
            "idle": open_many(port, args.idle, b""),
            "partial": open_many(port, args.partial, b"POST /v1/chat/completions HTTP/1.1\r\n"),
            "stalled_body": open_many(
                port,
                args.stalled,
                (
                    f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                    f"Authorization: Bearer {KEY}\r\nContent-Length: {len(CHAT)}\r\n\r\n"
                ).encode()
                + CHAT[:1],
            ),
        }
        if args.over:
            kinds["over_cap"] = open_many(port, args.over, b"")
        opened_s = time.monotonic() - start
        held = sum(len(v) for v in kinds.values())
        health = [timed(port, "GET", "/health", None, 60) for _ in range(args.probes)]
        chat = [timed(port, "POST", "/v1/chat/completions", CHAT, 60) for _ in range(args.probes)]
        probed_s = time.monotonic() - start
        closed = wait_closed(kinds, 120)
        print(f"held {held} dead connections (opened in {opened_s:.2f} s): {args}")
        print(f"/health before          : {summary(baseline)}")
        print(f"/health while held      : {summary(health)}")
        print(f"chat while held         : {summary(chat)}")
        print(f"probes done at          : {probed_s:.2f} s after the first open")
        for kind, lived in closed["lived"].items():
            print(f"closed {kind:<17}: {summary(lived)}")
        print(f"408 answers             : {closed['answered_408']}")
        print(f"still open after 120 s  : {closed['still_open']}")
        after = [timed(port, "GET", "/health", None, 5) for _ in range(args.probes)]
        print(f"/health after           : {summary(after)}")


if __name__ == "__main__":
    main()
