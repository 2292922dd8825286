"""Which requests the semantic tier may answer, and the partitions it keeps apart
(``fastgw.semantic.partition``): everything but the last user message's text is hashed
exactly, so two requests share a partition only when that text is all they differ in."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import msgspec
import pytest

from fastgw.config import SemanticCacheConfig, parse_config
from fastgw.semantic.partition import (
    INELIGIBLE,
    Eligible,
    chat_partition,
    completion_partition,
)

SETTINGS = SemanticCacheConfig()
QUESTION = "How do I reset my router password?"


def chat(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "gpt",
        "temperature": 0,
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": QUESTION},
        ],
    }
    body.update(fields)
    return body


def part(
    body: dict[str, Any],
    namespace: str = "team-a",
    model: str = "gpt",
    embedder: str = "minilm@1",
    settings: SemanticCacheConfig = SETTINGS,
) -> Eligible | str:
    return chat_partition(msgspec.json.encode(body), model, namespace, embedder, settings)


def eligible(body: dict[str, Any], **kwargs: Any) -> Eligible:
    found = part(body, **kwargs)
    assert isinstance(found, Eligible), found
    return found


def with_last(text: str, **fields: Any) -> dict[str, Any]:
    body = chat(**fields)
    body["messages"][-1]["content"] = text
    return body


def test_only_the_last_user_message_is_embedded_and_the_rest_partitions() -> None:
    a = eligible(chat())
    b = eligible(with_last("What's the way to reset my router's password?"))
    assert a.text == QUESTION
    assert a.partition == b.partition and len(a.partition) == 16


@pytest.mark.parametrize(
    "change",
    [
        {"temperature": 0.0001, "seed": 1},
        {"seed": 7},
        {"temperature": 0.0},
        {"top_p": 0.5},
        {"max_tokens": 10},
        {"max_completion_tokens": 10},
        {"stop": ["\n"]},
        {"response_format": {"type": "json_object"}},
        {"frequency_penalty": 0.5},
        {"presence_penalty": 0.5},
        {"logit_bias": {"50256": -100}},
        {"reasoning_effort": "high"},
        {"verbosity": "low"},
        {"some_future_parameter": True},
    ],
)
def test_every_output_affecting_parameter_is_its_own_partition(change: dict[str, Any]) -> None:
    assert eligible(chat(**change)).partition != eligible(chat()).partition


@pytest.mark.parametrize(
    "change",
    [{"stream": True}, {"user": "u-1"}, {"metadata": {"tags": ["x"]}}, {"store": True}],
)
def test_transport_and_bookkeeping_fields_share_the_partition(change: dict[str, Any]) -> None:
    assert eligible(chat(**change)).partition == eligible(chat()).partition


def test_tenants_models_and_embedders_never_share_a_partition() -> None:
    base = eligible(chat()).partition
    assert eligible(chat(), namespace="team-b").partition != base
    assert eligible(chat(), model="gpt-other").partition != base
    assert eligible(chat(), embedder="minilm@2").partition != base
    # the length prefix: ("ab", "c...") and ("a", "bc...") are not one hashed input
    assert eligible(chat(), namespace="team-ab").partition != base


def test_the_system_prompt_and_every_earlier_turn_are_in_the_partition() -> None:
    base = eligible(chat()).partition
    other_system = chat()
    other_system["messages"][0]["content"] = "You are verbose."
    assert eligible(other_system).partition != base
    no_system = chat()
    del no_system["messages"][0]
    assert eligible(no_system).partition != base


def test_a_follow_up_never_shares_another_conversations_partition() -> None:
    """The same follow-up question after two different first turns: two partitions."""

    def conversation(first: str, answer: str) -> dict[str, Any]:
        return chat(
            messages=[
                {"role": "user", "content": first},
                {"role": "assistant", "content": answer},
                {"role": "user", "content": "What is its population?"},
            ]
        )

    paris = eligible(conversation("What is the capital of France?", "Paris."))
    rome = eligible(conversation("What is the capital of Italy?", "Rome."))
    assert paris.text == rome.text
    assert paris.partition != rome.partition


def test_text_parts_are_joined_and_other_fields_of_the_message_partition() -> None:
    parts = eligible(
        with_last([{"type": "text", "text": "How do I reset"}, {"type": "text", "text": "it?"}])
    )
    assert parts.text == "How do I reset\nit?"
    named = chat()
    named["messages"][-1]["name"] = "alice"
    assert eligible(named).partition != eligible(chat()).partition


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (chat(temperature=0.7), "sampled"),
        (chat(temperature=None), "sampled"),
        (chat(n=2), "n"),
        (chat(logprobs=True), "logprobs"),
        (chat(top_logprobs=2, logprobs=True), "logprobs"),
        (chat(tools=[{"type": "function", "function": {"name": "f"}}]), "tools"),
        (chat(tool_choice="none"), "tools"),
        (chat(functions=[{"name": "f"}]), "tools"),
        (chat(modalities=["text", "audio"]), "content"),
        (chat(audio={"voice": "alloy", "format": "wav"}), "content"),
        (with_last("hi"), "length"),
        (with_last("x" * 2_001), "length"),
        (with_last([{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]), "content"),
        (
            with_last([{"type": "text", "text": QUESTION, "cache_control": {"type": "ephemeral"}}]),
            "content",
        ),
        (with_last(None), "content"),
        (chat(messages=[]), "body"),
        (chat(messages=[{"role": "assistant", "content": QUESTION}]), "role"),
        (
            chat(
                messages=[
                    {"role": "user", "content": QUESTION},
                    {"role": "assistant", "tool_calls": [{"id": "c", "type": "function"}]},
                    {"role": "tool", "tool_call_id": "c", "content": "42"},
                    {"role": "user", "content": QUESTION},
                ]
            ),
            "tools",
        ),
    ],
)
def test_what_is_not_eligible_and_why(body: dict[str, Any], reason: str) -> None:
    assert part(body) == reason
    assert reason in INELIGIBLE


def test_a_seed_makes_a_request_deterministic_and_always_opts_in_sampled_ones() -> None:
    assert isinstance(part(chat(temperature=0.7, seed=1)), Eligible)
    always = SemanticCacheConfig(when="always")
    assert isinstance(part(chat(temperature=0.7), settings=always), Eligible)


def test_length_bounds_come_from_the_model() -> None:
    short = SemanticCacheConfig(min_chars=2, max_chars=40)
    assert isinstance(part(with_last("hi"), settings=short), Eligible)
    assert part(with_last("x" * 41), settings=short) == "length"


def test_a_body_that_is_not_an_object_is_not_eligible() -> None:
    assert chat_partition(b"[1, 2]", "gpt", "ns", "e", SETTINGS) == "body"
    assert chat_partition(b"{" * 10_000, "gpt", "ns", "e", SETTINGS) == "body"


def test_completions_with_one_string_prompt() -> None:
    def completion(**fields: Any) -> Eligible | str:
        body = {"model": "gpt", "prompt": QUESTION, "temperature": 0, **fields}
        return completion_partition(msgspec.json.encode(body), "gpt", "ns", "e", SETTINGS)

    found = completion()
    assert isinstance(found, Eligible) and found.text == QUESTION
    assert completion(prompt=[QUESTION, QUESTION]) == "content"
    assert completion(logprobs=2) == "logprobs"
    assert completion(best_of=3) == "n"
    assert completion(suffix="end") == "content"
    chat_found = eligible(chat(messages=[{"role": "user", "content": QUESTION}]))
    assert found.partition != chat_found.partition  # the endpoint is in the partition


# -- the config --------------------------------------------------------------------------

MODEL = """
[providers.mock]
type = "mock"

[[models]]
name = "gpt"
deployments = [{ provider = "mock", model = "m" }]
[models.semantic_cache]
"""


def test_thresholds_and_bounds_are_range_checked() -> None:
    text = MODEL + "threshold = 0.5\nttl_s = 0\nmax_entries = 0\nmin_chars = 50\nmax_chars = 10\n"
    with pytest.raises(Exception) as caught:
        parse_config(text, "t.toml", {})
    message = str(caught.value)
    for key in ("threshold", "ttl_s", "max_entries", "min_chars <= max_chars"):
        assert key in message


def test_turning_it_on_without_the_extra_is_refused_with_the_install_command() -> None:
    """A real interpreter in which faiss cannot be found (a meta-path finder hides it)."""
    script = f"""
import sys
class Hide:
    def find_spec(self, name, path=None, target=None):
        return None
    def find_module(self, name, path=None):
        return None
import importlib.machinery
class Block(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name == "faiss" or name.startswith("faiss."):
            return None
        return super().find_spec(name, path, target)
sys.meta_path[:] = [f for f in sys.meta_path if f is not importlib.machinery.PathFinder]
sys.meta_path.append(Block)
sys.modules.pop("faiss", None)
from fastgw.config import parse_config, ConfigError
try:
    parse_config({MODEL!r}, "t.toml", {{}})
except ConfigError as exc:
    print(exc)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "models[0].semantic_cache" in out
    assert "pip install 'fastgw[semantic]'" in out


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("no-cache", (True, False, None)),
        ("No-Store, max-age=60", (False, True, 60.0)),
        ('max-age="5"', (False, False, 5.0)),
        ("max-age=-1", (False, False, None)),
        ("max-age=abc", (False, False, None)),
        ("max-age=" + "9" * 400, (False, False, float(10 * 365 * 86_400))),
        ("x" * 5000 + ",no-cache", (False, False, None)),  # past the first KiB: not read
    ],
)
def test_cache_control_directives(header: str, expected: tuple[Any, ...]) -> None:
    from fastgw.cache.keys import directives

    assert directives(header) == expected
