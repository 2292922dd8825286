"""Validation of the routing options: each mistake is reported with its key path, all at once,
and the old configs (no routing keys) keep loading with the named defaults."""

from __future__ import annotations

import pytest

from fastgw.config import (
    DEFAULT_BREAKER_COOLDOWN_S,
    DEFAULT_FIRST_TOKEN_TIMEOUT_S,
    ConfigError,
    Timeouts,
    deployment_names,
    parse_config,
)

PROVIDERS = """
[providers.m]
type = "mock"
[providers.o]
type = "openai"
base_url = "http://127.0.0.1:9/v1"
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(PROVIDERS + text, env={})
    return caught.value.errors


def test_routing_defaults_and_full_example() -> None:
    """Without routing keys a model has the defaults; every key decodes to its Struct."""
    config = parse_config(
        PROVIDERS
        + """
[[models]]
name = "big"
deployments = [{ provider = "o", model = "big" }]

[[models]]
name = "a"
strategy = "least-in-flight"
fallbacks = ["big"]
context_fallbacks = ["big"]
retry = { retries = 2, backoff_s = 0.1, max_attempts = 4 }
circuit = { failures = 3, error_ratio = 0.5 }
timeouts = { connect_s = 2 }
health_check = { interval_s = 10 }

[[models.deployments]]
provider = "o"
model = "x"
weight = 2
tags = ["eu"]
rpm = 60
tpm = 1000
input_cost_per_mtok = 0.15
output_cost_per_mtok = 0.6
timeouts = { first_token_s = 3 }

[[models.deployments]]
provider = "o"
model = "y"
name = "backup"

[[models.deployments]]
provider = "m"
model = "z"
""",
        env={},
    )
    plain, model = config.models
    assert plain.strategy == "weighted" and plain.retry is None and plain.circuit is None
    assert plain.content_policy_fallbacks == [] and plain.health_check is None
    assert Timeouts().first_token_s == DEFAULT_FIRST_TOKEN_TIMEOUT_S
    assert model.retry is not None and model.retry.max_attempts == 4
    assert model.circuit is not None and model.circuit.cooldown_s == DEFAULT_BREAKER_COOLDOWN_S
    assert deployment_names(model) == ["o/x", "backup", "m"]


def test_routing_mistakes_are_all_reported_with_their_paths() -> None:
    errors = errors_of(
        """
[[models]]
name = "a"
fallbacks = ["nope", "a"]
content_policy_fallbacks = ["ghost"]
deployments = [
  { provider = "o", model = "x", weight = 0, rpm = 0, timeouts = { idle_s = -1 } },
  { provider = "o", model = "x", input_cost_per_mtok = -1 },
]
retry = { retries = -1, backoff_s = -0.5, jitter = 2, budget_s = 0, max_attempts = 0 }
circuit = { failures = 0, error_ratio = 1.5, cooldown_s = -1, min_requests = 0 }
timeouts = { first_token_s = 0 }
health_check = { interval_s = 0 }
"""
    )
    assert errors == [
        "models[0].deployments[0].weight: must be above 0",
        "models[0].deployments[0].rpm: must be at least 1 (leave it out for no limit)",
        "models[0].deployments[0].timeouts.idle_s: must be above 0",
        "models[0].deployments[1]: another deployment of this model is also named 'o/x'; "
        "give each a unique name",
        "models[0].deployments[1]: costs cannot be negative",
        "models[0].timeouts.first_token_s: must be above 0",
        "models[0].fallbacks[0]: unknown model 'nope'; use a [[models]] name",
        "models[0].fallbacks[1]: a model cannot fall back to itself",
        "models[0].content_policy_fallbacks[0]: unknown model 'ghost'; use a [[models]] name",
        "models[0].retry.retries: cannot be negative",
        "models[0].retry.max_attempts: must be at least 1",
        "models[0].retry.budget_s: must be above 0",
        "models[0].retry.backoff_s: cannot be negative",
        "models[0].retry.jitter: must be between 0 and 1",
        "models[0].circuit.failures: must be at least 1",
        "models[0].circuit.error_ratio: must be above 0 and at most 1",
        "models[0].circuit: window_s and cooldown_s must be above 0",
        "models[0].circuit.min_requests: must be at least 1",
        "models[0].health_check: interval_s and timeout_s must be above 0",
    ]


def test_unknown_strategy_and_retry_key() -> None:
    errors = errors_of(
        """
[[models]]
name = "a"
strategy = "fastest"
deployments = [{ provider = "o", model = "x" }]
retry = { retires = 1 }
"""
    )
    assert errors[0].startswith("models[0].strategy: expected one of 'weighted', 'round-robin'")
    assert errors[1] == "models[0].retry.retires: unknown key; did you mean 'retries'?"


def test_readme_routing_example_is_valid() -> None:
    """The README's worked example (two providers and a fallback) loads as written."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Routing and resilience", 1)[1]
    example = section.split("A model served by two providers, with a fallback:", 1)[1]
    text = example.split("```toml\n", 1)[1].split("```", 1)[0]
    env = {"AZURE_OPENAI_API_KEY": "k", "OPENAI_API_KEY": "k"}
    config = parse_config(text, "README.md", env)
    (main, *_) = config.models
    assert main.fallbacks == ["gpt-4o-mini"] and main.context_fallbacks == ["gpt-4.1"]
    assert deployment_names(main) == ["azure", "openai"]


def test_readme_all_providers_example_loads() -> None:
    """The README's four-provider example (one public name, a fallback) loads as written."""
    from pathlib import Path

    from fastgw.config import BedrockProvider

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    example = readme.split("All four behind one public name, with a fallback:", 1)[1]
    text = example.split("```toml\n", 1)[1].split("```", 1)[0]
    names = ("OPENAI", "ANTHROPIC", "GEMINI", "COHERE")
    env = {f"{name}_API_KEY": "k" for name in names}
    env |= {"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s"}
    config = parse_config(text, "README.md", env)
    assistant = config.models[0]
    assert deployment_names(assistant) == ["anthropic", "gemini", "bedrock", "cohere"]
    assert assistant.fallbacks == ["assistant-backup"]
    assert isinstance(config.providers["bedrock"], BedrockProvider)
