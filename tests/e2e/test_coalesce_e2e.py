"""Coalescing through a real fastgw server (Granian on a loopback port), the fake upstream and
the official ``openai`` SDK: identical requests in flight at once share one upstream call.

The fake upstream holds its answers at a gate (``FakeUpstream.hold``) so that requests overlap
for sure; the tests wait for the gateway's own count of waiting followers (``/admin/live``),
polled, before letting the upstream answer.
"""

from __future__ import annotations

import json
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from fastgw.keys import hash_key
from fastgw.records.db import connect
from fastgw.testing import FakeUpstream, Fault, GatewayProcess
from tests.conftest import DEV_KEY, mock_config

pytestmark = pytest.mark.e2e

N = 100
HEADER = "x-fastgw-cache"
ADMIN_KEY = "admin-key-for-coalesce-0123456789"
OTHER_KEY = "sk-test-other-namespace-0123456789"
PRICE = 1000.0  # USD per million tokens, input and output: any answer costs something

EXTRA = """
[storage]
sqlite_path = "{sqlite}"

[providers.up]
type = "openai"
base_url = "{base_url}"
timeouts = {{ connect_s = 5, first_byte_s = 30, first_token_s = 30, idle_s = 30, total_s = 60 }}

[[models]]
name = "gpt-up"
deployments = [{{ provider = "up", model = "gpt-up" }}]
retry = {{ retries = 0 }}

[[models]]
name = "gpt-up-cached"
deployments = [{{ provider = "up", model = "gpt-up" }}]
retry = {{ retries = 0 }}
[models.cache]

[[models]]
name = "gpt-up-alone"
deployments = [{{ provider = "up", model = "gpt-up" }}]
coalesce = false

[prices."gpt-up"]
input = {price}
output = {price}

[[keys]]
id = "other"
hash = "{other}"
cache_namespace = "another-team"
"""


@pytest.fixture
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream.in_thread(chunks=5) as server:
        yield server


@pytest.fixture
def sqlite(tmp_path: Path) -> Path:
    return tmp_path / "usage.db"


@pytest.fixture
def gw(
    gateway_factory: Callable[..., GatewayProcess], up: FakeUpstream, sqlite: Path
) -> GatewayProcess:
    extra = EXTRA.format(
        sqlite=sqlite, base_url=up.base_url, price=PRICE, other=hash_key(OTHER_KEY)
    )
    return gateway_factory(mock_config(extra=extra), env={"FASTGW_ADMIN_KEY": ADMIN_KEY})


@pytest.fixture
def sdk(gw: GatewayProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=gw.base_url + "/v1", api_key=DEV_KEY, max_retries=0, timeout=30
    ) as client:
        yield client


def live(gw: GatewayProcess) -> dict[str, Any]:
    response = httpx.get(
        gw.base_url + "/admin/live",
        params={"collect": "1"},
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


def until(predicate: Callable[[], bool], what: str, timeout: float = 20) -> None:
    """Poll ``predicate`` until it holds; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def followers(gw: GatewayProcess, count: int) -> None:
    until(lambda: live(gw)["objects"]["Follower"] == count, f"{count} followers")


def no_flight_left(gw: GatewayProcess) -> None:
    """Every per-request object of coalescing is gone once the requests ended."""

    def idle() -> bool:
        objects = live(gw)["objects"]
        return objects["Flight"] == objects["Follower"] == objects["LeaderProto"] == 0

    until(idle, "the flights to be freed")


def prompt(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def chat(sdk: openai.OpenAI, **kwargs: Any) -> tuple[str | None, Any]:
    fields: dict[str, Any] = {"model": "gpt-up", "temperature": 0, **kwargs}
    raw = sdk.chat.completions.with_raw_response.create(**fields)
    return raw.headers.get(HEADER), raw.parse()


def stream(sdk: openai.OpenAI, **kwargs: Any) -> tuple[str | None, str, Any, int]:
    """(cache header, the text, the usage chunk's usage, chunks) of one streamed chat."""
    fields: dict[str, Any] = {
        "model": "gpt-up",
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        **kwargs,
    }
    raw = sdk.chat.completions.with_raw_response.create(**fields)
    text, usage, count = [], None, 0
    for chunk in raw.parse():
        count += 1
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text.append(choice.delta.content or "")
    return raw.headers.get(HEADER), "".join(text), usage, count


def usage_rows(gw: GatewayProcess, sqlite: Path) -> list[tuple[Any, ...]]:
    """(cache, prompt_tokens, completion_tokens, cost_usd) of every row, once the server
    stopped (which flushes the usage log)."""
    gw.__exit__(None, None, None)
    db = connect(str(sqlite))
    try:
        query = "SELECT cache, prompt_tokens, completion_tokens, cost_usd FROM usage"
        return list(db.execute(query))
    finally:
        db.close()


def test_identical_plain_requests_share_one_upstream_call(
    up: FakeUpstream, gw: GatewayProcess, sdk: openai.OpenAI, sqlite: Path
) -> None:
    """100 identical plain requests at once: one upstream call, every client the whole
    answer with its usage, 99 marked coalesced; the spend is counted once."""
    up.hold()
    with ThreadPoolExecutor(N) as pool:
        futures = [pool.submit(chat, sdk, messages=prompt("Hello")) for _ in range(N)]
        up.wait(lambda u: len(u.requests) == 1)
        followers(gw, N - 1)
        up.release()
        answers = [f.result() for f in futures]
    assert len(up.requests) == 1
    assert Counter(header for header, _ in answers) == {"coalesced": N - 1, None: 1}
    first = answers[0][1]
    assert first.usage is not None and first.usage.total_tokens > 0
    for _, completion in answers:
        assert completion.id == first.id
        assert completion.choices[0].message.content == first.choices[0].message.content
        assert completion.usage == first.usage
    no_flight_left(gw)
    rows = usage_rows(gw, sqlite)
    assert len(rows) == N
    assert Counter(row[0] for row in rows) == {"coalesced": N - 1, None: 1}
    usage = (first.usage.prompt_tokens, first.usage.completion_tokens)
    assert all(row[1:3] == usage for row in rows)  # every row carries the usage
    costs = sorted(row[3] for row in rows)
    assert costs[:-1] == [0.0] * (N - 1) and costs[-1] > 0  # spent once


def test_identical_streams_share_one_upstream_call(
    up: FakeUpstream, gw: GatewayProcess, sdk: openai.OpenAI
) -> None:
    """100 identical streams at once: one upstream call, every client the whole stream
    with its usage chunk."""
    up.hold()
    with ThreadPoolExecutor(N) as pool:
        futures = [pool.submit(stream, sdk, messages=prompt("Stream")) for _ in range(N)]
        up.wait(lambda u: len(u.requests) == 1)
        followers(gw, N - 1)
        up.release()
        answers = [f.result() for f in futures]
    assert len(up.requests) == 1
    assert Counter(a[0] for a in answers) == {"coalesced": N - 1, None: 1}
    _, text, usage, count = answers[0]
    assert text and usage is not None and usage.total_tokens > 0
    assert all(a[1:] == (text, usage, count) for a in answers)
    no_flight_left(gw)


def test_a_late_joiner_gets_the_whole_stream(
    up: FakeUpstream, gw: GatewayProcess, sdk: openai.OpenAI
) -> None:
    """A request that joins a stream already under way gets it from its start, then the
    rest as it arrives: the same text, usage and chunks as the first client."""
    up.hold(after_events=2)
    fields: dict[str, Any] = {
        "model": "gpt-up-cached",
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": prompt("Late"),
    }
    raw = sdk.chat.completions.with_raw_response.create(**fields)
    assert raw.headers.get(HEADER) == "miss"
    chunks = iter(raw.parse())
    started = [next(chunks), next(chunks)]  # the leader's client read two events already
    with ThreadPoolExecutor(1) as pool:
        late = pool.submit(stream, sdk, model="gpt-up-cached", messages=prompt("Late"))
        followers(gw, 1)
        up.release()
        rest = list(chunks)
        header, text, usage, count = late.result()
    assert header == "coalesced"
    assert len(up.requests) == 1
    everything = started + rest
    leader_text = "".join(c.delta.content or "" for k in everything for c in k.choices)
    assert (text, count) == (leader_text, len(everything))
    assert usage is not None and usage == everything[-1].usage
    no_flight_left(gw)


def _raw_request(gw: GatewayProcess, body: dict[str, Any]) -> socket.socket:
    data = json.dumps(body).encode()
    sock = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        f"authorization: Bearer {DEV_KEY}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(data)}\r\n\r\n"
    ).encode()
    sock.sendall(head + data)
    return sock


def test_a_leader_that_leaves_does_not_break_its_followers(
    up: FakeUpstream, gw: GatewayProcess, sdk: openai.OpenAI
) -> None:
    """The first client of a stream leaves mid-stream while three others wait on it: the
    upstream call goes on and each of them gets the whole stream."""
    up.hold(after_events=1)
    body = {
        "model": "gpt-up",
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": prompt("Leaving"),
    }
    leader = _raw_request(gw, body)
    assert leader.recv(65536).startswith(b"HTTP/1.1 200")
    until(lambda: live(gw)["watched_connections"] == 1, "the leader's disconnect watch")
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(stream, sdk, messages=prompt("Leaving")) for _ in range(3)]
        followers(gw, 3)
        until(lambda: live(gw)["watched_connections"] == 4, "the followers' watches")
        leader.close()
        until(lambda: live(gw)["watched_connections"] == 3, "the leader's disconnect")
        up.release()
        answers = [f.result() for f in futures]
    assert len(up.requests) == 1 and up.disconnects == 0
    _, text, usage, _ = answers[0]
    assert text and usage is not None
    assert all(a == ("coalesced", text, usage, answers[0][3]) for a in answers)
    no_flight_left(gw)


def _error(call: Callable[[], Any]) -> tuple[int, dict[str, Any]]:
    try:
        call()
    except openai.APIStatusError as exc:
        return exc.status_code, exc.response.json()
    raise AssertionError("the request succeeded")


@pytest.mark.parametrize(
    ("fault", "status"),
    [(Fault.error(500), 500), (Fault(raw=b"not HTTP at all\r\n\r\n"), 502)],
    ids=["upstream-500", "not-http"],
)
def test_an_upstream_failure_reaches_every_client(
    up: FakeUpstream, gw: GatewayProcess, sdk: openai.OpenAI, fault: Fault, status: int
) -> None:
    """An upstream error answer, or a call that failed (the gateway's own 502), reaches
    every client of the flight as its own error: the same status and OpenAI body."""
    up.fail_next(fault)
    up.hold()
    with ThreadPoolExecutor(10) as pool:
        futures = [
            pool.submit(_error, lambda: chat(sdk, messages=prompt("Fail"))) for _ in range(10)
        ]
        up.wait(lambda u: len(u.requests) == 1)
        followers(gw, 9)
        up.release()
        errors = [f.result() for f in futures]
    assert len(up.requests) == 1
    assert errors[0][0] == status and errors[0][1]["error"]["message"]
    assert all(e == errors[0] for e in errors)
    no_flight_left(gw)


def test_a_stream_that_fails_after_its_head_fails_for_every_client(
    up: FakeUpstream, gw: GatewayProcess, sdk: openai.OpenAI
) -> None:
    """A stream whose upstream sends an error event mid-way: every client gets that error
    event (the SDK raises it), as the first client does."""
    up.fail_next(Fault(error_event_after=2))
    up.hold(after_events=1)

    def one() -> str:
        with pytest.raises(openai.APIError) as caught:
            stream(sdk, messages=prompt("Mid-stream"))
        return caught.value.message

    with ThreadPoolExecutor(5) as pool:
        futures = [pool.submit(one) for _ in range(5)]
        up.wait(lambda u: len(u.requests) == 1)
        followers(gw, 4)
        up.release()
        messages = [f.result() for f in futures]
    assert len(up.requests) == 1
    assert "failed mid-stream" in messages[0]
    assert all(m == messages[0] for m in messages)
    no_flight_left(gw)


@pytest.mark.parametrize(
    ("name", "second"),
    [
        ("another prompt", {"messages": prompt("Something else")}),
        ("another namespace", {"api_key": OTHER_KEY}),
        ("temperature above 0", {"temperature": 0.7, "first": {"temperature": 0.7}}),
        ("no-cache", {"extra_headers": {"cache-control": "no-cache"}}),
        ("coalesce = false", {"model": "gpt-up-alone", "first": {"model": "gpt-up-alone"}}),
        ("plain and stream", {"stream": True}),
    ],
)
def test_requests_that_differ_are_not_coalesced(
    up: FakeUpstream, gw: GatewayProcess, name: str, second: dict[str, Any]
) -> None:
    """Two requests in flight at once that differ (prompt, namespace, sampling, no-cache,
    a model that turns coalescing off, framing) each reach the upstream."""
    second = dict(second)
    first = second.pop("first", {})
    key = second.pop("api_key", DEV_KEY)
    headers = {**second.pop("extra_headers", {}), "authorization": f"Bearer {key}"}
    base = {"model": "gpt-up", "temperature": 0, "messages": prompt("Same")}
    bodies = [
        ({**base, **first}, {"authorization": f"Bearer {DEV_KEY}"}),
        ({**base, **second}, headers),
    ]
    up.hold()
    with ThreadPoolExecutor(2) as pool, httpx.Client(base_url=gw.base_url, timeout=30) as http:
        futures = [
            pool.submit(http.post, "/v1/chat/completions", json=body, headers=h)
            for body, h in bodies
        ]
        up.wait(lambda u: len(u.requests) == 2)  # both reached it while it held
        up.release()
        responses = [f.result() for f in futures]
    assert [r.status_code for r in responses] == [200, 200], name
    assert all(r.headers.get(HEADER) != "coalesced" for r in responses)
    no_flight_left(gw)
