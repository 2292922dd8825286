"""Hostile numbers against a real fastgw server: every number a client sends is range-checked
before any arithmetic, and a request's work is bounded whatever it asks for.

- Every numeric field of chat, completions and embeddings at 2^63, 2^64, -2^63-1, 1e308,
  1e999, NaN-like strings and literals: a 400 OpenAI error naming the field, never a 500.
- max_tokens x n that wraps a 64-bit word is refused (it was admitted on a key with a small
  token limit), locally and with Redis, and the key's parallel slot is free afterwards.
- n=200000 and 20,000 embedding inputs are refused at once while another client is served;
  the largest requests OpenAI allows (2,048 inputs) do not stall that other client.
- Admin API numbers and dates out of range are 400 and ``GET /admin/keys`` keeps answering.
"""

from __future__ import annotations

import asyncio
import http.client
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import msgspec
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from fastgw.keys import hash_key
from fastgw.testing import GatewayProcess, RedisServer
from tests.conftest import DEV_KEY, mock_config

SMALL_KEY = "sk-test-small-tpm-key-0123456789"
ADMIN_KEY = "admin-key-for-adversarial-0123456789"
MESSAGES = [{"role": "user", "content": "Say something deterministic."}]
ERROR_FIELDS = ["message", "type", "param", "code"]
BODY_LIMIT = 4 * 1024 * 1024
SMALL_KEY_TOML = (
    f'\n[[keys]]\nid = "small"\nhash = "{hash_key(SMALL_KEY)}"\ntpm = 1000\nparallel = 1\n'
)

# JSON values no bounded field accepts (the seed's int64 range included)
HOSTILE: list[Any] = [
    2**63,
    2**64,
    2**64 + 1,
    -(2**63) - 1,
    -(2**64),
    10**30,
    1e308,
    -1e308,
    "NaN",
    "Infinity",
    "1e999",
    "9223372036854775808",
]
# raw JSON number texts: past a double, or not JSON at all
RAW = [b"1e999", b"-1e999", b"NaN", b"Infinity", b"-Infinity"]
CHAT_FIELDS = [
    "max_tokens",
    "max_completion_tokens",
    "n",
    "seed",
    "temperature",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "top_logprobs",
]
COMPLETION_FIELDS = [
    "max_tokens",
    "n",
    "seed",
    "temperature",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "best_of",
    "logprobs",
]


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayProcess]:
    cached = '\n[[models]]\nname = "gpt-cached"\n'
    cached += 'deployments = [{ provider = "mock", model = "mock-cached" }]\n[models.cache]\n'
    config = mock_config(max_body_bytes=BODY_LIMIT, extra=SMALL_KEY_TOML + cached)
    with GatewayProcess(config, env={"FASTGW_ADMIN_KEY": ADMIN_KEY}) as process:
        yield process


@pytest.fixture(scope="module")
def sdk(gateway: GatewayProcess) -> Iterator[OpenAI]:
    with OpenAI(base_url=gateway.base_url + "/v1", api_key=DEV_KEY, max_retries=0) as client:
        yield client


def _bad_request(create: Callable[..., Any], param: str, **arguments: Any) -> None:
    """``create(**arguments)`` (an SDK call) raises BadRequestError: a 400 OpenAI error
    naming ``param``."""
    with pytest.raises(openai.BadRequestError) as caught:
        create(**arguments)
    error = caught.value
    assert error.status_code == 400
    assert isinstance(error.body, dict) and list(error.body) == ERROR_FIELDS
    assert (error.body["type"], error.body["param"]) == ("invalid_request_error", param)
    assert error.body["code"] in ("invalid_value", "invalid_type")


def test_every_numeric_field_out_of_range_is_400_never_500(sdk: OpenAI) -> None:
    """Each numeric field of each endpoint, at each hostile value, through the openai SDK."""
    chat, completions, embeddings = sdk.chat.completions, sdk.completions, sdk.embeddings
    for value in HOSTILE:
        for field in CHAT_FIELDS:
            _bad_request(
                chat.create, field, model="gpt-test", messages=MESSAGES, extra_body={field: value}
            )
        _bad_request(
            chat.create, "logit_bias", model="gpt-test", messages=MESSAGES, logit_bias={"5": value}
        )
        for field in COMPLETION_FIELDS:
            _bad_request(
                completions.create, field, model="gpt-test", prompt="Hi", extra_body={field: value}
            )
        _bad_request(
            embeddings.create,
            "dimensions",
            model="embed-test",
            input="Hi",
            extra_body={"dimensions": value},
        )
        _bad_request(embeddings.create, "input[0][1]", model="embed-test", input=[[1, value]])


@pytest.mark.parametrize("model", ["gpt-test", "gpt-cached"])
def test_a_number_past_a_double_in_a_field_fastgw_does_not_read_is_not_a_500(
    gateway: GatewayProcess, model: str
) -> None:
    """1e999 in a field fastgw forwards without reading: with the exact cache on, its
    canonical form cannot be made, so the request bypasses the cache (it raised: a 500);
    the mock upstream then answers it."""
    body = (
        b'{"model":"' + model.encode() + b'","temperature":0,"x_custom":1e999,'
        b'"messages":[{"role":"user","content":"Hi"}]}'
    )
    headers = {"authorization": f"Bearer {DEV_KEY}", "content-type": "application/json"}
    response = httpx.post(
        gateway.base_url + "/v1/chat/completions", content=body, headers=headers, timeout=10
    )
    assert response.status_code == 200, response.text
    assert response.headers.get("x-fastgw-cache") in (None, "bypass")


def test_number_literals_no_double_holds_are_400(gateway: GatewayProcess) -> None:
    """Raw JSON numbers past a double (1e999) and NaN/Infinity literals, in every numeric
    field: 400 with an OpenAI error body, never a 500."""
    headers = {"authorization": f"Bearer {DEV_KEY}", "content-type": "application/json"}
    starts = {
        "/v1/chat/completions": (
            b'{"model":"gpt-test","messages":[{"role":"user","content":"x"}],',
            CHAT_FIELDS,
        ),
        "/v1/completions": (b'{"model":"gpt-test","prompt":"x",', COMPLETION_FIELDS),
        "/v1/embeddings": (b'{"model":"embed-test","input":"x",', ["dimensions"]),
    }
    with httpx.Client(base_url=gateway.base_url, headers=headers, timeout=10) as client:
        for path, (start, fields) in starts.items():
            for field in fields:
                for raw in RAW:
                    body = start + f'"{field}":'.encode() + raw + b"}"
                    response = client.post(path, content=body)
                    assert response.status_code == 400, (path, field, raw, response.text)
                    assert list(response.json()["error"]) == ERROR_FIELDS


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.mark.parametrize("backend", ["local", "redis"])
def test_a_wrapped_token_product_is_refused_on_a_small_token_key(
    gateway_factory: Callable[..., GatewayProcess], redis_server: RedisServer, backend: str
) -> None:
    """max_tokens 2^62 x n 4 wrapped to 0 in the compiled admission and was admitted under a
    1,000-token limit (and in Redis mode then broke the settlement batch, leaving the slot
    taken). Now: a 400; the largest product the wire allows (2^24 x 128) is a 429 of the
    token limit; and the key's one parallel slot is free for the next requests."""
    state = ""
    if backend == "redis":
        state = f'[state]\nbackend = "redis"\nredis_url = "{redis_server.url}"\n'
        state += f'prefix = "n{time.monotonic_ns()}:"\n'
    gw = gateway_factory(mock_config(extra=state + SMALL_KEY_TOML))
    with OpenAI(base_url=gw.base_url + "/v1", api_key=SMALL_KEY, max_retries=0) as small:
        chat = small.chat.completions
        for max_tokens, n in ((2**62, 4), (2**61, 8), (2**63 - 1, 2)):
            _bad_request(
                chat.create,
                "max_tokens",
                model="gpt-test",
                messages=MESSAGES,
                max_tokens=max_tokens,
                n=n,
            )
        with pytest.raises(openai.RateLimitError) as refused:
            chat.create(model="gpt-test", messages=MESSAGES, max_tokens=2**24, n=128)
        assert refused.value.type == "tokens"
        for _ in range(3):  # one slot: each request frees it for the next
            answer = chat.create(model="gpt-test", messages=MESSAGES, max_tokens=8)
            assert answer.usage is not None and answer.usage.completion_tokens == 8


async def _served_meanwhile(base_url: str, busy: asyncio.Task[Any]) -> list[float]:
    """Latencies of plain chat requests another client sends until ``busy`` is done."""
    latencies: list[float] = []
    other_client = AsyncOpenAI(base_url=base_url + "/v1", api_key=DEV_KEY, max_retries=0, timeout=5)
    async with other_client as other:
        while not busy.done() or not latencies:
            start = time.perf_counter()
            answer = await other.chat.completions.create(model="gpt-test", messages=MESSAGES)
            latencies.append(time.perf_counter() - start)
            assert answer.choices[0].message.content
    return latencies


async def _timed(client: httpx.AsyncClient, path: str, body: bytes) -> tuple[Any, float]:
    start = time.perf_counter()
    response = await client.post(path, content=body)
    return response, time.perf_counter() - start


def test_huge_requests_are_refused_fast_while_another_client_is_served(
    gateway: GatewayProcess,
) -> None:
    """n=200000 (43 MB of answer, seconds of a blocked worker) and 20,000 embedding inputs
    (24 s, 2 GB): each a 400 naming the param within a second, while another client's
    requests keep being answered within a second. (The hostile bodies are encoded before
    the clock starts: the times measure the gateway, not this test's JSON encoding.)"""
    chat = {"model": "gpt-test", "messages": MESSAGES, "n": 200_000}
    hostile = [
        ("/v1/chat/completions", chat, "n"),
        ("/v1/embeddings", {"model": "embed-test", "input": ["tok"] * 20_000}, "input"),
        ("/v1/embeddings", {"model": "embed-test", "input": [[7] * 4] * 20_000}, "input"),
        ("/v1/completions", {"model": "gpt-test", "prompt": "Hi", "n": 200_000}, "n"),
    ]
    bodies = [(path, msgspec.json.encode(body)) for path, body, _param in hostile]
    headers = {"authorization": f"Bearer {DEV_KEY}", "content-type": "application/json"}

    async def run() -> None:
        async with httpx.AsyncClient(base_url=gateway.base_url, headers=headers, timeout=10) as c:
            calls = [_timed(c, path, body) for path, body in bodies]
            busy = asyncio.ensure_future(asyncio.gather(*calls))
            latencies = await _served_meanwhile(gateway.base_url, busy)
            for (response, seconds), (path, _b, param) in zip(busy.result(), hostile, strict=True):
                assert response.status_code == 400, (path, response.text[:200])
                assert response.json()["error"]["param"] == param
                assert seconds < 1.0, (path, param, seconds)
            assert max(latencies) < 1.0, latencies

    asyncio.run(run())


def _post_in_thread(base_url: str, path: str, body: bytes) -> tuple[int, bytes]:
    """A blocking POST (http.client: the body is read in large C-level reads), for a thread:
    receiving a large answer does not hold this test's event loop."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        headers = {"authorization": f"Bearer {DEV_KEY}", "content-type": "application/json"}
        connection.request("POST", path, body, headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_the_largest_allowed_embeddings_request_does_not_stall_others(
    gateway: GatewayProcess,
) -> None:
    """2,048 inputs of 1,536 dimensions (what OpenAI allows: about 3M floats, 65 MB of JSON)
    is answered, and the mock builds it in slices: another client is served all along, none
    of its requests waiting more than half the big one's time (before, the worker was
    blocked for all of it: 4 s). Relative, so that a loaded machine does not fail it, with a
    floor of 1 s: the big answer now takes well under a second, and the test's own client
    (which reads 65 MB in a thread of this process) can delay a small request by a few
    hundred ms."""
    body = msgspec.json.encode({"model": "embed-test", "input": [f"in {i}" for i in range(2048)]})

    async def run() -> None:
        start = time.perf_counter()
        big = asyncio.to_thread(_post_in_thread, gateway.base_url, "/v1/embeddings", body)
        busy = asyncio.ensure_future(big)
        latencies = await _served_meanwhile(gateway.base_url, busy)
        status, answer = busy.result()
        took = time.perf_counter() - start
        assert status == 200
        assert answer.count(b'"object":"embedding"') == 2048
        assert len(latencies) >= 3 and max(latencies) < max(took / 2, 1.0), (took, latencies)

    asyncio.run(run())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rpm", 2**64),
        ("tpm", 2**63),
        ("parallel", 10**13),
        ("budget_day_usd", 1e308),
        ("budget_month_usd", 1e300),
        ("expires_at", "9999-12-31T23:00:00-05:00"),
        ("expires_at", "0001-01-01T00:00:00+01:00"),
    ],
)
def test_admin_numbers_and_dates_out_of_range_are_400(
    gateway: GatewayProcess, field: str, value: Any
) -> None:
    """Refused before anything is stored: ``GET /admin/keys`` keeps answering 200 for all."""
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=gateway.base_url, headers=headers, timeout=10) as admin:
        before = admin.get("/admin/keys")
        response = admin.post("/admin/keys", json={field: value})
        assert response.status_code == 400, response.text
        assert msgspec.json.decode(response.content)["error"]["param"] == field
        listing = admin.get("/admin/keys")
        assert listing.status_code == 200, listing.text
        assert listing.json() == before.json()
