"""Dropped streams: a client that leaves a stream at any point takes its request's memory with it.

Each test starts a real gateway (one worker) and drops thousands of streamed chat completions
at every point a client can leave: right after sending the request (often before the server
read it), before the response head (a client read timeout shorter than the first token), and
after a few chunks; closing with FIN and with RST (``SO_LINGER`` 0); on a fresh connection
and on a keep-alive one that has just carried a complete stream; over raw sockets speaking
HTTP/1.1, and through the openai SDK (a stream closed early, a timeout before the head).
Then, from the worker itself (``GET /admin/live?collect=1``): no request in flight, no live
instance of any per-request class (exchange, decoded request, routing answer, provider
response, SSE framer, Granian transport, disconnect watch...), as many asyncio tasks as an
idle worker has, no uncollectable garbage, and a resident size that stays flat across a
second round of drops once a first one has warmed the worker up.

The mock provider is the upstream of the first test (a long answer, 2 ms between chunks);
the second puts a real HTTP upstream (``FakeUpstream``) behind the gateway, so that every
dropped stream also aborts its upstream connection: none is left in use, and the upstream
sees each exchange either completed or cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import openai
import pytest

from fastgw.admin.live import PER_REQUEST
from fastgw.keys import hash_key
from fastgw.testing import AnthropicUpstream, FakeUpstream, Fault, GatewayProcess
from fastgw.testing.drops import (
    KINDS,
    Kind,
    drop_streams,
    read_until,
    reset_on_close,
    stream_request,
)
from tests.conftest import DEV_KEY, mock_config

pytestmark = pytest.mark.e2e

ADMIN_KEY = "admin-key-dropped-streams-0123456789"
ENV = {"FASTGW_ADMIN_KEY": ADMIN_KEY}
FIRST_TOKEN_S = 0.03  # the head goes out with the first event: "before the head" is earlier
CONCURRENCY = 48  # drops in progress at once
#: Per-request classes that must have no live instance once every request has ended. Tasks are
#: compared with an idle worker's own (background tasks); upstream connections with the pools.
MUST_BE_ZERO = sorted(set(PER_REQUEST.values()) - {"Task", "UpstreamConnection"})
#: RSS growth allowed over the measured round, after a warm-up round. Before the fix each drop
#: kept ~60 KB here (the mock's 200-chunk answer with its request): 1,500 drops grew a worker
#: by ~90 MB. The allowance covers allocator and Granian buffer noise (seen up to ~8 MB).
RSS_GROWTH_BOUND_MB = 12.0


async def sdk_drops(base_url: str, model: str, count: int, seed: int) -> Counter[str]:
    """``count`` streams through the openai SDK: half closed after a few chunks, half given
    up by a timeout before the response head."""
    rng = random.Random(seed)
    done: Counter[str] = Counter()
    gate = asyncio.Semaphore(16)
    async with openai.AsyncOpenAI(
        base_url=base_url + "/v1", api_key=DEV_KEY, max_retries=0, timeout=20
    ) as client:

        async def one(i: int) -> None:
            async with gate:
                if i % 2:
                    stream = await client.chat.completions.create(
                        model=model,
                        messages=[{"role": "user", "content": "Tell a long story."}],
                        stream=True,
                    )
                    wanted, seen = rng.randint(1, 20), 0
                    async for _chunk in stream:
                        seen += 1
                        if seen >= wanted:
                            break
                    await stream.close()
                    done["closed after chunks"] += 1
                else:
                    try:
                        stream = await client.chat.completions.create(
                            model=model,
                            messages=[{"role": "user", "content": "Tell a long story."}],
                            stream=True,
                            timeout=rng.uniform(0.002, FIRST_TOKEN_S * 0.8),
                        )
                    except openai.APITimeoutError:
                        done["timed out before the head"] += 1
                    else:  # a busy test loop ran the timer late: leave at the head instead
                        await stream.close()
                        done["closed at the head"] += 1

        async with asyncio.timeout(60):
            await asyncio.gather(*(one(i) for i in range(count)))
    return done


async def live(admin: httpx.AsyncClient) -> dict[str, Any]:
    response = await admin.get("/admin/live", params={"collect": "1"})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def _leftovers(state: dict[str, Any], idle_tasks: int) -> dict[str, int]:
    """What the worker still holds for requests that have ended (empty: nothing)."""
    left = {name: state["objects"][name] for name in MUST_BE_ZERO if state["objects"][name]}
    if state["in_flight"]:
        left["in_flight"] = state["in_flight"]
    if state["watched_connections"]:
        left["watched_connections"] = state["watched_connections"]
    if state["objects"]["Task"] > idle_tasks:
        left["Task"] = state["objects"]["Task"] - idle_tasks
    pooled = sum(p["open"] for p in state["upstream"].values())
    if state["objects"]["UpstreamConnection"] > pooled:
        left["UpstreamConnection"] = state["objects"]["UpstreamConnection"] - pooled
    for name, pool in state["upstream"].items():
        if pool["open"] != pool["idle"]:
            left[f"upstream {name} in use"] = pool["open"] - pool["idle"]
    if state["uncollectable"]:
        left["uncollectable"] = state["uncollectable"]
    if state["semantic_waiting"]:
        left["semantic_waiting"] = state["semantic_waiting"]
    return left


async def settled(admin: httpx.AsyncClient, idle_tasks: int, timeout: float = 15) -> dict[str, Any]:
    """The worker's state once every dropped request has ended (polled), or as it stands at
    the timeout (the caller's assertion then shows what is left)."""
    deadline = time.monotonic() + timeout
    while True:
        state = await live(admin)
        if not _leftovers(state, idle_tasks) or time.monotonic() > deadline:
            return state
        await asyncio.sleep(0.05)  # poll interval


@contextlib.asynccontextmanager
async def admin_client(gateway: GatewayProcess) -> Any:
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(base_url=gateway.base_url, headers=headers, timeout=10) as c:
        yield c


async def _drops(port: int, request: bytes, count: int, seed: int, prelude: bytes) -> Counter[Kind]:
    return await drop_streams(
        port,
        request,
        count,
        seed=seed,
        prelude=prelude,
        first_token_s=FIRST_TOKEN_S,
        concurrency=CONCURRENCY,
    )


async def rounds(
    gateway: GatewayProcess, model: str, warmup: int, measured: int, sdk: int, prelude: bytes
) -> tuple[dict[str, Any], dict[str, Any], Counter[Kind]]:
    """A warm-up round and a measured round of drops; the settled state after each."""
    async with admin_client(gateway) as admin:
        idle = await live(admin)
        assert not _leftovers(idle, idle["objects"]["Task"]), idle
        idle_tasks = idle["objects"]["Task"]
        request = stream_request(model, DEV_KEY)
        kinds = await _drops(gateway.port, request, warmup, 1, prelude)
        after_warmup = await settled(admin, idle_tasks)
        assert not _leftovers(after_warmup, idle_tasks), after_warmup
        kinds += await _drops(gateway.port, request, measured, 2, prelude)
        if sdk:
            by_sdk = await sdk_drops(gateway.base_url, model, sdk, 3)
            assert by_sdk["closed after chunks"] == sdk // 2, by_sdk
            assert by_sdk["timed out before the head"] >= sdk // 10, by_sdk
        after = await settled(admin, idle_tasks)
    return after_warmup, after, kinds


def _check(
    after_warmup: dict[str, Any],
    after: dict[str, Any],
    kinds: Counter[Kind],
    measured: int,
    rss_bound_mb: float | None,
) -> None:
    raw = sum(kinds.values())
    assert set(kinds) == set(KINDS) and min(kinds.values()) >= raw // len(KINDS), kinds
    assert after["pid"] == after_warmup["pid"]  # the same worker all along
    assert not _leftovers(after, after_warmup["objects"]["Task"]), after
    growth_mb = (after["rss_bytes"] - after_warmup["rss_bytes"]) / 2**20
    print(
        f"worker RSS after warm-up {after_warmup['rss_bytes'] / 2**20:.1f} MB, after "
        f"{measured} more drops {after['rss_bytes'] / 2**20:.1f} MB ({growth_mb:+.1f} MB)"
    )
    if rss_bound_mb is not None:
        assert growth_mb < rss_bound_mb, (after_warmup, after)


async def test_the_count_sees_live_streams(gateway_factory: Any) -> None:
    """The count is not vacuous: with 20 streams held open mid-answer, the worker reports 20
    requests in flight and 20 live instances of their per-request objects; once the clients
    leave (RST), every count is back to zero."""
    gateway = gateway_factory(
        mock_config(tokens=2000, chunk_delay_ms=20, first_token_delay_ms=0), env=ENV
    )
    held: list[asyncio.StreamWriter] = []
    async with admin_client(gateway) as admin:
        idle = await live(admin)
        for _ in range(20):
            reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
            held.append(writer)
            writer.write(stream_request("gpt-test", DEV_KEY))
            async with asyncio.timeout(10):
                await read_until(reader, lambda b: b"data: " in b)
        busy = await live(admin)
        for writer in held:
            reset_on_close(writer)
            writer.transport.abort()
        after = await settled(admin, idle["objects"]["Task"])
    assert busy["in_flight"] == 20
    for name in (
        "Exchange",
        "ChatRequest",
        "Call",
        "Answer",
        "Watch",
        "MockResponse",
        "SSEFramer",
        "RSGIHTTPProtocol",
        "RSGIHTTPStreamTransport",
    ):
        assert busy["objects"][name] == 20, (name, busy)
    assert busy["objects"]["Task"] >= idle["objects"]["Task"] + 20
    assert not _leftovers(after, idle["objects"]["Task"]), after


async def test_dropped_streams_leave_nothing_behind_mock(gateway_factory: Any) -> None:
    """2,500 streams of the mock provider dropped at every point, with FIN and RST, fresh and
    keep-alive, raw and through the SDK: nothing per request stays alive, and a second round
    of 1,500 drops after a warm-up of 800 grows the worker by less than the bound."""
    gateway = gateway_factory(
        mock_config(tokens=200, chunk_delay_ms=2, first_token_delay_ms=FIRST_TOKEN_S * 1000),
        env=ENV,
    )
    # the keep-alive prelude lasts ~90 ms: long enough to arm the connection's disconnect watch
    prelude = stream_request("gpt-test", DEV_KEY, max_tokens=30)
    after_warmup, after, kinds = await rounds(gateway, "gpt-test", 800, 1500, 200, prelude)
    _check(after_warmup, after, kinds, 1500 + 200, RSS_GROWTH_BOUND_MB)


def _upstream_config(up: FakeUpstream) -> str:
    patient = "{ connect_s = 2, first_byte_s = 10, idle_s = 10, total_s = 30 }"
    return f"""
[server]
drain_timeout_s = 2

[providers.up]
type = "openai"
base_url = "{up.base_url}"
timeouts = {patient}

[[models]]
name = "gpt-up"
deployments = [{{ provider = "up", model = "gpt-up" }}]

[[keys]]
id = "dev"
hash = "{hash_key(DEV_KEY)}"
"""


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream.in_thread(chunks=100, chunk_delay=0.002) as up:
        up.fail_always(Fault(first_event_delay=FIRST_TOKEN_S))  # a slow first token, then normal
        yield up


async def test_dropped_streams_leave_nothing_behind_proxied(
    gateway_factory: Any, upstream: FakeUpstream
) -> None:
    """1,500 streams proxied from a real HTTP upstream, dropped the same ways: nothing per
    request stays alive in the gateway, no upstream connection is left in use, and every
    exchange the upstream saw ended (completed, or cut by the gateway when its client left)."""
    gateway = gateway_factory(_upstream_config(upstream), env=ENV)
    prelude = stream_request("gpt-up", DEV_KEY)
    after_warmup, after, kinds = await rounds(gateway, "gpt-up", 600, 900, 100, prelude)
    _check(after_warmup, after, kinds, 900 + 100, None)
    await asyncio.to_thread(
        upstream.wait, lambda u: all(r.completed or r.disconnected for r in u.requests), 10
    )
    chunk_drops = sum(n for (_, point, _), n in kinds.items() if point == "chunks")
    assert upstream.disconnects >= chunk_drops, (upstream.disconnects, chunk_drops)


def inbound_stream_request(path: str, body: dict[str, Any], key: str) -> bytes:
    """The bytes of a streamed request to an inbound API (HTTP/1.1, keep-alive)."""
    data = msgspec.json.encode(body)
    head = (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        f"authorization: Bearer {key}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


INBOUND_STREAMS = {
    "/v1/messages": {
        "model": "gpt-test",
        "max_tokens": 4096,
        "stream": True,
        "messages": [{"role": "user", "content": "Tell a long story."}],
    },
    "/v1/responses": {
        "model": "gpt-test",
        "stream": True,
        "store": False,
        "input": "Tell a long story.",
    },
}


@pytest.mark.parametrize("path", sorted(INBOUND_STREAMS))
async def test_dropped_inbound_streams_leave_nothing_behind(
    gateway_factory: Any, path: str
) -> None:
    """Streams of the inbound APIs (their edge wraps Granian's protocol and transport) dropped
    at every point, with FIN and RST, fresh and keep-alive: nothing per request stays alive."""
    gateway = gateway_factory(
        mock_config(tokens=200, chunk_delay_ms=2, first_token_delay_ms=FIRST_TOKEN_S * 1000),
        env=ENV,
    )
    prelude = stream_request("gpt-test", DEV_KEY, max_tokens=30)
    request = inbound_stream_request(path, INBOUND_STREAMS[path], DEV_KEY)
    async with admin_client(gateway) as admin:
        idle = await live(admin)
        idle_tasks = idle["objects"]["Task"]
        kinds = await _drops(gateway.port, request, 400, 1, prelude)
        kinds += await _drops(gateway.port, request, 600, 2, prelude)
        after = await settled(admin, idle_tasks)
    raw = sum(kinds.values())
    assert set(kinds) == set(KINDS) and min(kinds.values()) >= raw // len(KINDS) // 2, kinds
    assert not _leftovers(after, idle_tasks), after


async def test_dropped_translated_streams_leave_nothing_behind(gateway_factory: Any) -> None:
    """Streams translated from an Anthropic upstream (``TranslatedResponse`` around the
    upstream's response), dropped at every point: nothing per request stays alive, no upstream
    connection is left in use, and every exchange the upstream saw ended."""
    with AnthropicUpstream.in_thread(chunks=100, chunk_delay=0.002) as upstream:
        upstream.fail_always(Fault(first_event_delay=FIRST_TOKEN_S))
        text = (
            _upstream_config(upstream)
            .replace('type = "openai"', 'type = "anthropic"')
            .replace(upstream.base_url, upstream.base_url.removesuffix("/v1"))
        )
        gateway = gateway_factory(text, env=ENV)
        request = stream_request("gpt-up", DEV_KEY)
        async with admin_client(gateway) as admin:
            idle = await live(admin)
            idle_tasks = idle["objects"]["Task"]
            kinds = await _drops(gateway.port, request, 600, 1, request)
            after = await settled(admin, idle_tasks)
        raw = sum(kinds.values())
        assert set(kinds) == set(KINDS) and min(kinds.values()) >= raw // len(KINDS) // 2, kinds
        assert not _leftovers(after, idle_tasks), after
        await asyncio.to_thread(
            upstream.wait, lambda u: all(r.completed or r.disconnected for r in u.requests), 10
        )


SEMANTIC_MODEL = """
[[models]]
name = "gpt-sem"
deployments = [{ provider = "mock", model = "mock-sem" }]
[models.semantic_cache]
when = "always"
"""


async def test_dropped_streams_through_the_semantic_tier_leave_nothing_behind(
    gateway_factory: Any,
) -> None:
    """Streams of a model with the semantic tier (in its own process; every request eligible)
    dropped at every point, many while their lookup is in the tier: no lookup is left
    waiting, nothing per request stays alive, and the tier still answers afterwards."""
    gateway = gateway_factory(
        mock_config(
            tokens=200,
            chunk_delay_ms=2,
            first_token_delay_ms=FIRST_TOKEN_S * 1000,
            extra=SEMANTIC_MODEL,
        ),
        env=ENV,
    )
    body = {"model": "gpt-sem", "messages": [{"role": "user", "content": "Name a blue fruit."}]}
    headers = {"authorization": f"Bearer {DEV_KEY}"}
    async with httpx.AsyncClient(base_url=gateway.base_url, headers=headers, timeout=10) as c:

        async def outcome() -> str | None:
            response = await c.post("/v1/chat/completions", json=body)
            assert response.status_code == 200, response.text
            return response.headers.get("x-fastgw-cache")

        deadline = time.monotonic() + 120
        while await outcome() is None:  # the tier loads its models: polled
            assert time.monotonic() < deadline, "the semantic tier never became ready"
            await asyncio.sleep(0.1)
        prelude = stream_request("gpt-sem", DEV_KEY, max_tokens=30)
        after_warmup, after, kinds = await rounds(gateway, "gpt-sem", 300, 600, 0, prelude)
        _check(after_warmup, after, kinds, 600, None)
        assert after["semantic_waiting"] == 0
        assert await outcome() == "semantic-hit"  # the tier survived it all
