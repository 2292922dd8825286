"""Shared fixtures.

- ``DEV_KEY`` / ``mock_config()``: a gateway config answered by the embedded mock provider.
- ``gateway_factory``: starts real ``fastgw serve`` processes on free loopback ports and stops
  them (SIGTERM, drain) after the test.
- ``gateway``: one such server with ``mock_config()``, shared by the module.
- every test runs with its ``tmp_path`` as the working directory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fastgw.keys import hash_key
from fastgw.testing import GatewayProcess

DEV_KEY = "sk-test-dev-key-0123456789"
LIMITED_KEY = "sk-test-limited-key-0123456789"


def mock_config(
    *,
    tokens: int = 8,
    chunk_delay_ms: float = 0,
    first_token_delay_ms: float = 0,
    max_body_bytes: int = 65536,
    extra: str = "",
) -> str:
    """TOML for a gateway whose models are answered by the mock provider.

    Models: ``gpt-test`` (chat, completions), ``embed-test`` (embeddings), ``gpt-other``.
    Keys: ``DEV_KEY`` (id ``dev``, every model), ``LIMITED_KEY`` (id ``limited``, ``gpt-test``).
    ``extra`` is appended verbatim (more providers, models or keys).
    """
    return f"""
[server]
max_body_bytes = {max_body_bytes}
drain_timeout_s = 10

[providers.mock]
type = "mock"
tokens = {tokens}
chunk_delay_ms = {chunk_delay_ms}
first_token_delay_ms = {first_token_delay_ms}

[[models]]
name = "gpt-test"
deployments = [{{ provider = "mock", model = "mock-gpt" }}]

[[models]]
name = "embed-test"
deployments = [{{ provider = "mock", model = "mock-embed" }}]

[[models]]
name = "gpt-other"
deployments = [{{ provider = "mock", model = "mock-other" }}]

[[keys]]
id = "dev"
hash = "{hash_key(DEV_KEY)}"

[[keys]]
id = "limited"
hash = "{hash_key(LIMITED_KEY)}"
models = ["gpt-test"]
{extra}
"""


@pytest.fixture(scope="module", autouse=True)
def _module_in_tmp_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Module-scoped gateways start before ``_in_tmp_dir`` runs: they too get a directory of
    their own (for their SQLite files and the caches' disk copy), never the checkout, so no
    module's saved cache reaches another's gateway."""
    before = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("module"))
    try:
        yield
    finally:
        os.chdir(before)


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in its own directory: the default SQLite file (a relative path) of an
    in-process gateway lands there, not in the checkout. (A served config resolves it next to
    its file, in the GatewayProcess's own directory.)"""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def gateway_factory() -> Iterator[Callable[..., GatewayProcess]]:
    started: list[GatewayProcess] = []

    def start(config_text: str, **kwargs: Any) -> GatewayProcess:
        process = GatewayProcess(config_text, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        process.__exit__(None, None, None)


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayProcess]:
    with GatewayProcess(mock_config()) as process:
        yield process
