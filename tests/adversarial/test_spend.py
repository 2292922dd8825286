"""No client can spend more than it used: a real fastgw process in front of a fake
OpenAI-compatible upstream over real HTTP, driven by the official ``openai`` SDK.

Every model here costs $1 an output token (input is free) against a $100 monthly model
budget, and every stream asks for ``max_tokens = 100_000``: a worst case of $100,000, a
thousand times the budget. The fake upstream answers five content tokens ("The fake upstream
answers every"), and sends the usage event only when asked, with ``choices: []``, as OpenAI
does. Spend is read back from ``/admin/usage`` (the usage log).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from fastgw.keys import hash_key
from fastgw.testing import FakeUpstream, Fault, GatewayProcess, RedisServer
from fastgw.tokens import estimate_messages, estimate_streamed
from fastgw.wire import Message

KEYS = {"one": "sk-test-spend-one-0123456789", "two": "sk-test-spend-two-0123456789"}
ADMIN_KEY = "admin-key-for-spend-0123456789"
PROMPT = [{"role": "user", "content": "Tell me something."}]
HUGE = 100_000  # max_tokens: $100,000 at $1 a token
BUDGET = 100.0
SHARE = 0.1  # the default limits.max_reservation_share
WORDS = 5  # content tokens the fake upstream streams
TEXT = "The fake upstream answers every"
MODELS = ("spend-a", "spend-b", "spend-c", "spend-d")


def _config(base_url: str, sqlite_path: Path, state: str = "") -> str:
    parts = [
        state,
        f'[storage]\nsqlite_path = "{sqlite_path}"\n',
        f'[providers.up]\ntype = "openai"\nbase_url = "{base_url}"\n',
        "[prices.fake-gpt]\ninput = 0.0\noutput = 1000000.0\n",  # $1 an output token
    ]
    for model in MODELS:
        parts.append(
            f'[[models]]\nname = "{model}"\n'
            'deployments = [{ provider = "up", model = "fake-gpt" }]\n'
            f'[limits.models."{model}"]\nbudget_month_usd = {BUDGET}\n'
        )
    for ident, key in KEYS.items():
        parts.append(f'[[keys]]\nid = "{ident}"\nhash = "{hash_key(key)}"\n')
    return "\n".join(parts)


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream.in_thread(chunks=WORDS) as up:
        yield up


@pytest.fixture(scope="module")
def gateway(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    sqlite_path = tmp_path_factory.mktemp("spend") / "usage.sqlite3"
    env = {"FASTGW_ADMIN_KEY": ADMIN_KEY}
    with GatewayProcess(_config(upstream.base_url, sqlite_path), env=env) as gw:
        yield gw


@pytest.fixture(scope="module")
def redis_gateway(
    upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    """The same gateway with its limits and spend in Redis."""
    sqlite_path = tmp_path_factory.mktemp("spend-redis") / "usage.sqlite3"
    env = {"FASTGW_ADMIN_KEY": ADMIN_KEY}
    with RedisServer() as redis:
        state = f'[state]\nbackend = "redis"\nredis_url = "{redis.url}"\n'
        with GatewayProcess(_config(upstream.base_url, sqlite_path, state), env=env) as gw:
            yield gw


@pytest.fixture
def sdk(gateway: GatewayProcess, upstream: FakeUpstream) -> Iterator[Callable[..., OpenAI]]:
    clients: list[OpenAI] = []

    def client(key: str, on: GatewayProcess = gateway) -> OpenAI:
        made = OpenAI(base_url=on.base_url + "/v1", api_key=KEYS[key], max_retries=0)
        clients.append(made)
        return made

    yield client
    for made in clients:
        made.close()
    upstream.reset()


def _spent(gateway: GatewayProcess, model: str) -> dict[str, Any]:
    """The usage log's totals for ``model`` (this worker's queued rows are written first)."""
    response = httpx.get(
        gateway.base_url + "/admin/usage",
        params={"model": model},
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data[0] if data else {"requests": 0, "completion_tokens": 0, "cost_usd": 0.0}


def _stream(client: OpenAI, model: str, **options: Any) -> list[Any]:
    return list(
        client.chat.completions.create(
            model=model,
            messages=PROMPT,  # type: ignore[arg-type]
            stream=True,
            max_tokens=HUGE,
            **options,
        )
    )


def _text(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_stream_without_include_usage_is_charged_what_it_produced(
    gateway: GatewayProcess, upstream: FakeUpstream, sdk: Callable[..., OpenAI]
) -> None:
    """A stream with a $100,000 worst case and no include_usage, on a $100 model budget, is
    charged the five tokens it produced ($5), its client sees no usage chunk, and the next
    request of another key is admitted."""
    chunks = _stream(sdk("one"), "spend-a")
    assert _text(chunks) == TEXT
    assert all(c.usage is None and c.choices for c in chunks)  # no usage chunk it did not ask for
    spent = _spent(gateway, "spend-a")
    assert spent["cost_usd"] == pytest.approx(WORDS)
    assert (spent["requests"], spent["completion_tokens"]) == (1, WORDS)
    sent = upstream.requests[-1].json()
    assert sent["stream_options"] == {"include_usage": True}  # the gateway asked for it
    answer = sdk("two").chat.completions.create(
        model="spend-a",
        messages=PROMPT,  # type: ignore[arg-type]
        max_tokens=10,
    )
    assert answer.choices[0].message.content == TEXT


def test_a_restarted_gateway_seeds_what_was_used(
    gateway: GatewayProcess, sdk: Callable[..., OpenAI]
) -> None:
    """The usage log holds what a stream without include_usage used, so a gateway started
    on it (spend is seeded from the log) still admits requests on that model budget."""
    _stream(sdk("one"), "spend-a")
    assert _spent(gateway, "spend-a")["requests"] >= 1  # the usage log is written by now
    env = {"FASTGW_ADMIN_KEY": ADMIN_KEY}
    with GatewayProcess(gateway.config_path.read_text(), env=env) as restarted:
        answer = sdk("two", restarted).chat.completions.create(
            model="spend-a",
            messages=PROMPT,  # type: ignore[arg-type]
            max_tokens=10,
        )
    assert answer.choices[0].message.content == TEXT


def test_client_that_asked_sees_exactly_one_usage_chunk_and_both_pay_what_they_used(
    gateway: GatewayProcess, sdk: Callable[..., OpenAI]
) -> None:
    """Two streams of one model: the client that asked for include_usage gets exactly one
    usage chunk (the last, with no choices), the other none; each is charged its own five
    tokens."""
    asked = _stream(sdk("one"), "spend-b", stream_options={"include_usage": True})
    usages = [c for c in asked if c.usage is not None]
    assert len(usages) == 1 and usages[0] is asked[-1] and asked[-1].choices == []
    assert usages[0].usage.completion_tokens == WORDS
    unasked = _stream(sdk("two"), "spend-b", stream_options={"include_usage": False})
    assert all(c.usage is None and c.choices for c in unasked)
    assert _text(asked) == _text(unasked) == TEXT
    spent = _spent(gateway, "spend-b")
    assert (spent["requests"], spent["completion_tokens"]) == (2, 2 * WORDS)
    assert spent["cost_usd"] == pytest.approx(2 * WORDS)


@pytest.mark.parametrize("include_usage", [False, True])
def test_upstream_that_never_sends_usage_is_charged_the_counted_tokens(
    gateway: GatewayProcess,
    upstream: FakeUpstream,
    sdk: Callable[..., OpenAI],
    include_usage: bool,
) -> None:
    """An upstream that ignores include_usage: the stream is charged the prompt estimate and
    the completion tokens counted from the text relayed, not its $100,000 worst case."""
    before = _spent(gateway, "spend-c")
    upstream.fail_always(Fault(usage=False))
    chunks = _stream(sdk("one"), "spend-c", stream_options={"include_usage": include_usage})
    assert _text(chunks) == TEXT and all(c.usage is None for c in chunks)
    counted = estimate_streamed(len(TEXT.encode()), WORDS)
    spent = _spent(gateway, "spend-c")
    assert spent["requests"] == before["requests"] + 1
    assert spent["completion_tokens"] - before["completion_tokens"] == counted
    prompt = estimate_messages([Message(**m) for m in PROMPT])
    assert spent["prompt_tokens"] - before.get("prompt_tokens", 0) == prompt
    assert spent["cost_usd"] - before["cost_usd"] == pytest.approx(counted)


def test_plain_answer_without_usage_is_charged_the_counted_tokens(
    gateway: GatewayProcess, upstream: FakeUpstream, sdk: Callable[..., OpenAI]
) -> None:
    """A plain answer whose upstream reports no usage is not free: it is charged the prompt
    estimate and the completion counted from its text."""
    before = _spent(gateway, "spend-c")
    upstream.fail_always(Fault(usage=False))
    answer = sdk("one").chat.completions.create(
        model="spend-c",
        messages=PROMPT,  # type: ignore[arg-type]
        max_tokens=HUGE,
    )
    assert answer.choices[0].message.content == TEXT and answer.usage is None
    counted = estimate_streamed(len(TEXT.encode()), 0)
    spent = _spent(gateway, "spend-c")
    assert spent["cost_usd"] - before["cost_usd"] == pytest.approx(counted)
    assert spent["completion_tokens"] - before["completion_tokens"] == counted


@pytest.mark.parametrize("backend", ["local", "redis"])
def test_one_request_reserves_at_most_a_share_of_a_shared_budget(
    request: pytest.FixtureRequest,
    upstream: FakeUpstream,
    sdk: Callable[..., OpenAI],
    backend: str,
) -> None:
    """Streams held open, each with a $100,000 worst case, reserve $10 (10%) of the $100
    model budget each: ten are admitted, the eleventh is refused with a 429 naming the
    budget; once they end, each is charged the two tokens it relayed and requests are
    admitted again. The same with the Redis backend."""
    gateway = request.getfixturevalue("gateway" if backend == "local" else "redis_gateway")
    upstream.fail_always(Fault.stall_stream(3))  # role, "The", " fake", then nothing
    client = sdk("one", gateway)
    held: list[Any] = []
    refused: openai.RateLimitError | None = None
    try:
        for _ in range(int(1 / SHARE) + 1):
            try:
                stream = client.chat.completions.create(
                    model="spend-d",
                    messages=PROMPT,  # type: ignore[arg-type]
                    stream=True,
                    max_tokens=HUGE,
                )
            except openai.RateLimitError as exc:
                refused = exc
                break
            held.append(stream)
            assert next(stream).choices[0].delta.role == "assistant"
    finally:
        for stream in held:
            stream.close()
    assert len(held) == int(1 / SHARE)
    assert refused is not None and refused.code == "insufficient_quota"
    assert "monthly budget of model 'spend-d'" in refused.message
    upstream.fail_always(None)
    # the closed streams settle as the gateway sees each client go: poll the usage log
    for _ in range(200):
        spent = _spent(gateway, "spend-d")
        if spent["requests"] == len(held) + 1:  # the refusal is logged too
            break
    assert spent["requests"] == len(held) + 1
    counted = estimate_streamed(len(b"The fake"), 2)
    assert spent["cost_usd"] == pytest.approx(len(held) * counted)
    other = sdk("two", gateway)
    answer = None
    for _ in range(200):  # Redis settlements are sent in batches: poll until admitted
        try:
            answer = other.chat.completions.create(
                model="spend-d",
                messages=PROMPT,  # type: ignore[arg-type]
                max_tokens=HUGE,
            )
            break
        except openai.RateLimitError:
            assert backend == "redis"
    assert answer is not None and answer.choices[0].message.content == TEXT
