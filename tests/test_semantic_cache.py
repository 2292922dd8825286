"""The semantic tier in the gateway, in process (``RSGIClient``) with its real models: what it
answers, for whom, what it stores, what a request can ask of it, and how it stays off the
loop's back (``fastgw.pipeline.semantic``, ``fastgw.semantic.service``).

One gateway serves the module (the models load once); each test asks about its own topic, so
entries of one test never answer another's. Upstream calls are counted: a hit is proved by
the upstream not being asked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("faiss")

from fastgw import Gateway, parse_config
from fastgw.keys import hash_key
from fastgw.semantic import service as semantic_service
from fastgw.semantic.engine import load_engine
from fastgw.semantic.partition import Eligible
from fastgw.semantic.service import QUEUE_FULL, Driver, SemanticService, Skipped
from fastgw.testing import FakeUpstream, Fault, RSGIClient, RSGIResponse
from tests.conftest import DEV_KEY, mock_config

HEADER, SIMILARITY = "x-fastgw-cache", "x-fastgw-cache-similarity"
OTHER_KEY = "sk-test-other-tenant-0123456789"
DEV = {"authorization": f"Bearer {DEV_KEY}"}
OTHER = {"authorization": f"Bearer {OTHER_KEY}"}

EXTRA = f"""
[providers.up]
type = "openai"
base_url = "{{base_url}}"
timeouts = {{{{ connect_s = 2, first_byte_s = 5, idle_s = 5, total_s = 10 }}}}

[[models]]
name = "gpt-sem"
deployments = [{{{{ provider = "mock", model = "mock-sem" }}}}]
[models.semantic_cache]

[[models]]
name = "gpt-both"
deployments = [{{{{ provider = "mock", model = "mock-both" }}}}]
[models.cache]
[models.semantic_cache]

[[models]]
name = "gpt-up"
deployments = [{{{{ provider = "up", model = "gpt-up" }}}}]
[models.semantic_cache]

[[keys]]
id = "other"
hash = "{hash_key(OTHER_KEY)}"
"""


class Semantic:
    """The module's gateway, its upstream call counts and a way to post questions."""

    def __init__(self, client: RSGIClient) -> None:
        self.client = client
        self.calls: list[str] = []
        for name in ("mock", "up"):
            provider = client.app.pipelines.providers[name]
            send = provider.send

            async def counting(call: Any, send: Any = send) -> Any:
                self.calls.append(call.endpoint)
                return await send(call)

            provider.send = counting

    @property
    def service(self) -> Driver:
        service = self.client.app.pipelines.semantic
        assert service is not None
        return service

    def ask(
        self,
        question: str,
        model: str = "gpt-sem",
        headers: dict[str, str] | None = None,
        **fields: Any,
    ) -> RSGIResponse:
        body = {
            "model": model,
            "temperature": 0,
            "messages": [{"role": "user", "content": question}],
            **fields,
        }
        return self.client.post("/v1/chat/completions", json=body, headers=headers or DEV)

    def outcome(self, question: str, **kwargs: Any) -> str | None:
        return self.ask(question, **kwargs).header(HEADER)


@pytest.fixture(scope="module")
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream.in_thread(chunks=4) as server:
        yield server


def wait_ready(client: RSGIClient, service: Driver) -> bool:
    """Run the worker's loop until the tier is ready (the process driver hears it there),
    polled, for at most two minutes (the models load)."""

    async def ready() -> bool:
        deadline = time.monotonic() + 120
        while not service.ready.is_set() and service.failed is None:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
        return service.ready.is_set()

    return client.run(ready())


@pytest.fixture(scope="module", params=["process", "thread"])
def sem(
    request: pytest.FixtureRequest, up: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Semantic]:
    """The gateway with the tier in its process (the default) and in a thread."""
    store = tmp_path_factory.mktemp("semantic") / "fastgw.sqlite3"  # not the test's cwd
    text = mock_config(extra=EXTRA.format(base_url=up.base_url))
    text += f'\n[storage]\nsqlite_path = "{store}"\n'
    text += f"\n[cache]\nsemantic_process = {str(request.param == 'process').lower()}\n"

    with RSGIClient(Gateway(parse_config(text, "semantic.toml", {}))) as client:
        gateway = Semantic(client)
        assert wait_ready(client, gateway.service), gateway.service.failed
        yield gateway


@pytest.fixture(autouse=True)
def _fresh(sem: Semantic, up: FakeUpstream) -> None:
    sem.calls.clear()
    up.reset()


def test_a_reworded_question_is_answered_from_the_cache(sem: Semantic) -> None:
    first = sem.ask("How do I install numpy on Windows?")
    second = sem.ask("How can I install numpy on Windows?")
    assert (first.header(HEADER), second.header(HEADER)) == ("miss", "semantic-hit")
    assert second.body == first.body and second.status == 200
    assert 0.8 <= float(second.header(SIMILARITY) or 0) <= 1.0
    assert second.json()["usage"] == first.json()["usage"]  # the stored answer's usage
    assert sem.calls == ["/chat/completions"]


def test_a_different_question_goes_upstream(sem: Semantic) -> None:
    assert sem.outcome("What is the boiling point of water at sea level?") == "miss"
    assert sem.outcome("Who painted the ceiling of the Sistine Chapel?") == "miss"
    assert len(sem.calls) == 2


def test_a_semantic_hit_is_never_stored_again(sem: Semantic) -> None:
    sem.ask("How do I relieve lower back pain with exercise?")
    assert sem.outcome("How can I relieve lower back pain with exercise?") == "semantic-hit"
    before = sem.service.entries()  # the first answer's store ran before that lookup (FIFO)
    assert sem.outcome("How do you relieve lower back pain with exercise?") == "semantic-hit"
    no_store = {**DEV, "cache-control": "no-store"}
    sem.ask("What is a lookup that only flushes the queue?", headers=no_store)
    assert sem.service.entries() == before


def test_one_tenant_never_gets_anothers_answer(sem: Semantic) -> None:
    assert sem.outcome("How do I bake sourdough bread at home?") == "miss"
    assert sem.outcome("How can I bake sourdough bread at home?", headers=OTHER) == "miss"
    # the same words as DEV's entry, answered from OTHER's own
    assert sem.outcome("How do I bake sourdough bread at home?", headers=OTHER) == ("semantic-hit")
    assert len(sem.calls) == 2


def test_a_follow_up_is_never_answered_from_another_conversation(sem: Semantic) -> None:
    def follow_up(country: str, capital: str) -> str | None:
        return sem.ask(
            "What is its population?",
            messages=[
                {"role": "user", "content": f"What is the capital of {country}?"},
                {"role": "assistant", "content": f"{capital}."},
                {"role": "user", "content": "What is its population?"},
            ],
        ).header(HEADER)

    assert follow_up("France", "Paris") == "miss"
    assert follow_up("Italy", "Rome") == "miss"
    assert follow_up("France", "Paris") == "semantic-hit"


def test_the_exact_tier_answers_a_repeat_first(sem: Semantic) -> None:
    question = "How do I change the oil in a motorcycle?"
    assert sem.outcome(question, model="gpt-both") == "miss"
    assert sem.outcome(question, model="gpt-both") == "hit"
    assert sem.outcome("How can I change the oil in a motorcycle?", model="gpt-both") == (
        "semantic-hit"
    )
    assert len(sem.calls) == 1


def test_a_streamed_request_gets_the_stored_answer_replayed(sem: Semantic) -> None:
    plain = sem.ask("How do I remove a stripped screw?")
    streamed = sem.ask(
        "How can I remove a stripped screw?",
        stream=True,
        stream_options={"include_usage": True},
    )
    assert streamed.header(HEADER) == "semantic-hit"
    assert streamed.header("content-type") == "text/event-stream"
    chunks = [msgspec.json.decode(p) for p in streamed.sse_data()[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == plain.json()["choices"][0]["message"]["content"]
    assert chunks[-1]["usage"] == plain.json()["usage"]
    assert streamed.sse_data()[-1] == b"[DONE]"


def test_a_request_can_raise_the_threshold_but_never_lower_it(sem: Semantic) -> None:
    sem.ask("How do I clean a cast iron pan?")
    strict = {**DEV, "x-fastgw-cache-threshold": "1"}
    assert sem.outcome("How can I clean a cast iron pan?", headers=strict) == "miss"
    loose = {**DEV, "x-fastgw-cache-threshold": "0.1"}  # taken as the model's own
    assert sem.outcome("What is the best way to clean a cast iron pan?", headers=loose) in (
        "miss",
        "semantic-hit",
    )
    assert sem.outcome("How do I clean the cast iron pan?", headers=loose) == "semantic-hit"
    for bad in ("abc", "1.5", "-0.1", "nan", "9" * 40):
        answer = sem.ask(
            "How do I clean a cast iron pan?", headers={**DEV, **{"x-fastgw-cache-threshold": bad}}
        )
        assert answer.status == 400, bad
        assert answer.json()["error"]["code"] == "invalid_value"


def test_cache_control_no_cache_no_store_and_max_age(sem: Semantic) -> None:
    sem.ask("How do I tune a guitar by ear?")
    assert (
        sem.outcome("How can I tune a guitar by ear?", headers={**DEV, "cache-control": "no-cache"})
        == "bypass"
    )
    assert (
        sem.outcome(
            "How can I tune a guitar by ear?", headers={**DEV, "cache-control": "max-age=0"}
        )
        == "miss"
    )
    assert (
        sem.outcome(
            "How can I tune a guitar by ear?", headers={**DEV, "cache-control": "max-age=3600"}
        )
        == "semantic-hit"
    )
    # no-store: answered and looked up, never filed
    assert (
        sem.outcome(
            "Why is the sky blue during the day?", headers={**DEV, "cache-control": "no-store"}
        )
        == "miss"
    )
    assert sem.outcome("Why is the sky blue during the day?") == "miss"
    assert sem.outcome("Why is the sky blue in the daytime?") == "semantic-hit"


def test_ineligible_requests_skip_the_tier_and_are_counted(sem: Semantic) -> None:
    sampled = sem.ask("How do I fold a paper crane?", temperature=0.9)
    assert sampled.status == 200 and sampled.header(HEADER) is None
    tools = sem.ask(
        "How do I fold a paper crane?",
        tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
    )
    assert tools.status == 200 and tools.header(HEADER) is None
    text = sem.client.get("/metrics").body.decode()
    assert 'fastgw_semantic_skipped_total{model="gpt-sem",reason="sampled"}' in text
    assert 'fastgw_semantic_skipped_total{model="gpt-sem",reason="tools"}' in text


def test_outcomes_and_similarities_reach_the_metrics(sem: Semantic) -> None:
    sem.ask("How do I descale an espresso machine?")
    sem.ask("How can I descale an espresso machine?")
    text = sem.client.get("/metrics").body.decode()
    assert 'fastgw_cache_requests_total{model="gpt-sem",outcome="semantic-hit"}' in text
    assert 'fastgw_semantic_similarity_ratio_count{decision="hit",model="gpt-sem"}' in text
    assert "fastgw_semantic_cache_entries" in text


# -- what is stored ----------------------------------------------------------------------


def _completion(finish_reason: str) -> bytes:
    return msgspec.json.encode(
        {
            "id": "c1",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-up",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "filtered"},
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
        }
    )


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Fault.error(500), id="error"),
        pytest.param(Fault.error(429), id="rate-limited"),
        pytest.param(Fault(body=_completion("content_filter")), id="content-filter"),
    ],
)
def test_errors_and_filtered_answers_are_never_stored(
    sem: Semantic, up: FakeUpstream, fault: Fault, request: pytest.FixtureRequest
) -> None:
    topic = request.node.callspec.id
    up.fail_next(fault)
    sem.ask(f"What should I know about {topic} handling in my app?", model="gpt-up")
    again = sem.ask(f"What must I know about {topic} handling in my app?", model="gpt-up")
    assert again.header(HEADER) == "miss" and again.status == 200
    assert len(up.requests) == 2


def test_a_cut_stream_is_never_stored(sem: Semantic, up: FakeUpstream) -> None:
    up.fail_next(Fault.cut(2))
    stream = {"stream": True}
    sem.ask("How do I wire a three-way light switch?", model="gpt-up", **stream)
    again = sem.ask("How can I wire a three-way light switch?", model="gpt-up")
    assert again.header(HEADER) == "miss"
    assert len(up.requests) == 2


def test_a_clean_stream_is_stored(sem: Semantic, up: FakeUpstream) -> None:
    sem.ask("How do I grow basil indoors?", model="gpt-up", stream=True)
    plain = sem.ask("How can I grow basil indoors?", model="gpt-up")
    assert plain.header(HEADER) == "semantic-hit"
    assert plain.json()["usage"]["completion_tokens"] > 0
    assert len(up.requests) == 1


# -- the worker thread -------------------------------------------------------------------


def _eligible(text: str) -> Eligible:
    return Eligible(b"t" * 16, text)


def test_lookups_are_skipped_while_the_models_load_and_when_the_queue_is_full() -> None:
    loop = asyncio.new_event_loop()
    try:
        service = SemanticService(load_engine, loop, queue_size=2)
        first = loop.run_until_complete(service.lookup(_eligible("How do I?"), "m", 0.9, None))
        assert isinstance(first, Skipped) and first.reason == "loading"
        assert service.ready.wait(120), service.failed

        async def burst() -> list[Any]:
            questions = [_eligible(f"Question number {i} about boats") for i in range(50)]
            return await asyncio.gather(*(service.lookup(q, "m", 0.9, None) for q in questions))

        results = loop.run_until_complete(burst())
        assert QUEUE_FULL in results  # skipped, counted by the stage, never waited for
        assert all(r is None or r is QUEUE_FULL for r in results)
        service.close()
    finally:
        loop.close()


def test_a_lookup_waits_at_most_its_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread that never answers (stopped here; stuck in production) costs a request at
    most ``LOOKUP_TIMEOUT_S``: the lookup is skipped as ``timeout`` and the request goes on."""
    loop = asyncio.new_event_loop()
    try:
        service = SemanticService(load_engine, loop)
        assert service.ready.wait(120), service.failed
        assert service.close()  # the thread is gone: nothing will answer the lookup
        monkeypatch.setattr(semantic_service, "LOOKUP_TIMEOUT_S", 0.05)
        found = loop.run_until_complete(service.lookup(_eligible("How do I?"), "m", 0.9, None))
        assert isinstance(found, Skipped) and found.reason == "timeout"
    finally:
        loop.close()
