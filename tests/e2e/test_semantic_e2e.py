"""The semantic tier through a real fastgw server and the official ``openai`` SDK: a reworded
question answered from the cache (plain and streamed, as the SDK parses and accumulates
them), a different one sent upstream, and the outcome in the headers, the access log and
``/metrics``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState

from fastgw.testing import GatewayProcess
from tests.conftest import DEV_KEY, mock_config

pytest.importorskip("sentence_transformers")
pytestmark = pytest.mark.e2e

HEADER, SIMILARITY = "x-fastgw-cache", "x-fastgw-cache-similarity"
EXTRA = """
[[models]]
name = "gpt-sem"
deployments = [{ provider = "mock", model = "mock-sem" }]
[models.semantic_cache]
"""


def wait_until_loaded(base_url: str, deadline_s: float = 120.0) -> None:
    """Poll until the tier answers lookups (its models load in the background after start:
    until then requests skip it and carry no cache header)."""
    probe = {
        "model": "gpt-sem",
        "temperature": 0,
        "messages": [{"role": "user", "content": "Is the semantic tier loaded yet?"}],
    }
    headers = {"authorization": f"Bearer {DEV_KEY}", "cache-control": "no-store"}
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        answer = httpx.post(f"{base_url}/v1/chat/completions", json=probe, headers=headers)
        if answer.headers.get(HEADER) == "miss":
            return
        time.sleep(0.2)  # polling the server's state, with a deadline
    raise AssertionError("the semantic tier did not load in time")


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    cwd = tmp_path_factory.mktemp("semantic-e2e")  # its database and disk copy go there
    with GatewayProcess(mock_config(extra=EXTRA), cwd=cwd) as server:
        wait_until_loaded(server.base_url)
        yield server


@pytest.fixture
def sdk(gw: GatewayProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=gw.base_url + "/v1", api_key=DEV_KEY, max_retries=0, timeout=30
    ) as client:
        yield client


def ask(sdk: openai.OpenAI, question: str, **kwargs: Any) -> Any:
    return sdk.chat.completions.with_raw_response.create(
        model="gpt-sem",
        temperature=0,
        messages=[{"role": "user", "content": question}],
        **kwargs,
    )


def test_a_reworded_question_is_answered_from_the_cache(sdk: openai.OpenAI) -> None:
    first = ask(sdk, "How do I renew a passport by mail?")
    second = ask(sdk, "How can I renew a passport by mail?")
    assert (first.headers.get(HEADER), second.headers.get(HEADER)) == ("miss", "semantic-hit")
    assert float(second.headers[SIMILARITY]) >= 0.8
    a, b = first.parse(), second.parse()
    assert b.choices[0].message.content == a.choices[0].message.content
    assert b.usage == a.usage and b.id == a.id


def test_a_streamed_hit_accumulates_into_the_stored_answer(sdk: openai.OpenAI) -> None:
    plain = ask(sdk, "How do I jump start a car battery?").parse()
    raw = ask(
        sdk,
        "How can I jump start a car battery?",
        stream=True,
        stream_options={"include_usage": True},
    )
    assert raw.headers.get(HEADER) == "semantic-hit"
    state = ChatCompletionStreamState()
    usage = None
    for chunk in raw.parse():
        state.handle_chunk(chunk)
        usage = chunk.usage or usage
    completion = state.get_final_completion()
    assert completion.choices[0].message.content == plain.choices[0].message.content
    assert usage == plain.usage


def test_a_different_question_goes_upstream(sdk: openai.OpenAI) -> None:
    ask(sdk, "What is the tallest mountain in Africa?")
    assert ask(sdk, "What is the deepest lake in Africa?").headers.get(HEADER) == "miss"


def test_the_outcome_reaches_the_access_log_and_metrics(
    gw: GatewayProcess, sdk: openai.OpenAI
) -> None:
    ask(sdk, "How do I repot a snake plant?")
    hit = ask(sdk, "How can I repot a snake plant?")
    request_id = hit.headers["x-request-id"]
    lines = _access_lines(gw, request_id)
    assert lines and lines[0]["cache"] == "semantic-hit" and lines[0]["cost_usd"] == 0.0
    text = httpx.get(gw.base_url + "/metrics").text
    assert 'outcome="semantic-hit"' in text and "fastgw_semantic_similarity_ratio" in text


def _access_lines(gw: GatewayProcess, request_id: str) -> list[dict[str, Any]]:
    end = time.monotonic() + 10
    while time.monotonic() < end:
        found = [
            line
            for line in map(json.loads, gw.stdout_path.read_text().splitlines())
            if line.get("request_id") == request_id
        ]
        if found:
            return found
        time.sleep(0.05)  # the access log is flushed by its own task: poll it
    return []
