"""The pipelines a config builds, and the one response seam.

- Composition: a feature that is off has no stage (no limits: no hold, admit, leave or
  settle; no cache on a model: no exact_cache or cache_store on that model; ``coalesce =
  false``: no coalesce; no usage or access log: no such account step).
- The seam: for a spread of answers (200, cache hit, 401, 404, 429, upstream 500, a stream)
  the status the client received, the usage row and the access line agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from fastgw import Gateway, parse_config
from fastgw.keys import hash_key
from fastgw.records.db import connect
from fastgw.testing import FakeUpstream, Fault, RSGIClient
from tests.conftest import DEV_KEY, mock_config

RATE_KEY = "sk-test-rate-key-0123456789"
LIMITS = f"""
[[keys]]
id = "rate"
hash = "{hash_key(RATE_KEY)}"
rpm = 2
"""
CACHED = """
[[models]]
name = "gpt-cached"
deployments = [{ provider = "mock", model = "mock-cached" }]
[models.cache]
"""

UNCOALESCED = """
[[models]]
name = "gpt-alone"
deployments = [{ provider = "mock", model = "mock-alone" }]
coalesce = false

[[models]]
name = "gpt-cached-alone"
deployments = [{ provider = "mock", model = "mock-cached" }]
coalesce = false
[models.cache]
"""


def _client(text: str) -> RSGIClient:
    return RSGIClient(Gateway(parse_config(text, "mock.toml", {})))


def _stages(client: RSGIClient, model: str, endpoint: str = "/chat/completions") -> Any:
    pipes = client.app.pipelines
    assert pipes is not None
    pipeline = pipes.endpoints[endpoint]
    return (
        tuple(stage.name for stage in pipeline.head_stages),
        pipeline.models[model].names,
        pipes.account.names,
    )


def test_a_plain_config_has_only_identify_coalesce_route_and_account() -> None:
    with _client(mock_config()) as client:
        head, model, account = _stages(client, "gpt-test")
        assert head == ("identify",)
        assert model == ("coalesce", "route")
        assert account == ("cost", "observe", "record", "access")
        assert _stages(client, "embed-test", "/embeddings")[1] == ("coalesce", "route")


def test_coalescing_turned_off_is_no_stage() -> None:
    """``coalesce = false`` on a model: no coalesce stage there (the others keep theirs), and
    its route watches disconnects directly."""
    text = mock_config(extra=CACHED + UNCOALESCED)
    with _client(text) as client:
        assert _stages(client, "gpt-alone")[1] == ("route",)
        assert _stages(client, "gpt-cached-alone")[1] == ("exact_cache", "route", "cache_store")
        assert _stages(client, "gpt-test")[1] == ("coalesce", "route")
        pipes = client.app.pipelines
        assert pipes is not None
        route = pipes.endpoints["/chat/completions"].models["gpt-alone"].route
        assert route.watch == pipes.runtime.disconnects.watch


def test_limits_add_hold_admit_leave_and_settle() -> None:
    with _client(mock_config(extra=LIMITS)) as client:
        head, model, account = _stages(client, "gpt-test")
        assert head == ("identify", "hold")
        assert model == ("admit", "coalesce", "route")
        assert account == ("leave", "cost", "settle", "observe", "record", "access")


def test_the_cache_is_a_stage_only_on_the_models_that_enable_it() -> None:
    with _client(mock_config(extra=CACHED)) as client:
        assert _stages(client, "gpt-cached")[1] == (
            "exact_cache",
            "coalesce",
            "route",
            "cache_store",
        )
        assert _stages(client, "gpt-test")[1] == ("coalesce", "route")
        assert _stages(client, "gpt-cached", "/completions")[1] == (
            "exact_cache",
            "coalesce",
            "route",
            "cache_store",
        )


SEMANTIC = """
[[models]]
name = "gpt-semantic"
deployments = [{ provider = "mock", model = "mock-semantic" }]
[models.cache]
[models.semantic_cache]

[[models]]
name = "gpt-semantic-off"
deployments = [{ provider = "mock", model = "mock-semantic" }]
[models.semantic_cache]
enabled = false
"""


def test_the_semantic_tier_is_a_stage_only_where_it_can_answer() -> None:
    """After the exact cache and before coalescing, on chat and completions of the models
    that turn it on; not on embeddings, not on other models, not when disabled."""
    with _client(mock_config(extra=SEMANTIC)) as client:
        both = ("exact_cache", "semantic_cache", "coalesce", "route", "cache_store")
        for endpoint in ("/chat/completions", "/completions"):
            assert _stages(client, "gpt-semantic", endpoint)[1] == (*both, "semantic_store")
        assert _stages(client, "gpt-semantic", "/embeddings")[1] == both[:1] + both[2:]
        assert _stages(client, "gpt-semantic-off")[1] == ("coalesce", "route")
        assert _stages(client, "gpt-test")[1] == ("coalesce", "route")
    with _client(mock_config()) as client:  # no model turns it on: no thread either
        pipes = client.app.pipelines
        assert pipes is not None and pipes.semantic is None
        assert pipes.runtime.semantic is None


def test_no_usage_log_and_no_access_log_are_no_account_steps() -> None:
    text = mock_config().replace("[server]\n", "[server]\naccess_log = false\n", 1)
    text += "\n[usage]\nenabled = false\n"
    with _client(text) as client:
        assert _stages(client, "gpt-test")[2] == ("cost", "observe")


# -- the response seam --------------------------------------------------------------------------


UP = """
[providers.up]
type = "openai"
base_url = "{base_url}"
timeouts = {{ connect_s = 2, first_byte_s = 5, idle_s = 5, total_s = 10 }}

[[models]]
name = "gpt-up"
deployments = [{{ provider = "up", model = "gpt-up" }}]
"""


@pytest.fixture
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream.in_thread(chunks=3) as server:
        yield server


def test_response_usage_row_and_access_line_agree(
    up: FakeUpstream, capsys: pytest.CaptureFixture[str]
) -> None:
    chat = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
    cached = {**chat, "model": "gpt-cached", "temperature": 0}
    dev = {"authorization": f"Bearer {DEV_KEY}"}
    rate = {"authorization": f"Bearer {RATE_KEY}"}
    cases: list[tuple[str, dict[str, str], dict[str, Any], int]] = [
        ("ok", dev, chat, 200),
        ("miss", dev, cached, 200),
        ("hit", dev, cached, 200),
        ("no-key", {}, chat, 401),
        ("no-model", dev, {**chat, "model": "nope"}, 404),
        ("rate-1", rate, chat, 200),
        ("rate-2", rate, chat, 200),
        ("rate-3", rate, chat, 429),
        ("upstream", dev, {**chat, "model": "gpt-up"}, 500),
        ("stream", dev, {**chat, "stream": True}, 200),
    ]
    text = mock_config(extra=LIMITS + CACHED + UP.format(base_url=up.base_url))
    with _client(text) as client:
        seen: dict[str, int] = {}
        for name, headers, body, expected in cases:
            if name == "upstream":
                up.fail_next(Fault.error(500))
            response = client.post(
                "/v1/chat/completions", headers={**headers, "x-request-id": name}, json=body
            )
            assert response.status == expected, (name, response.body)
            assert response.header("x-request-id") == name
            if name == "hit":
                assert response.header("x-fastgw-cache") == "hit"
            if name.startswith("rate"):  # admitted or refused: the limits are said
                assert response.header("x-ratelimit-limit-requests") == "2"
            seen[name] = response.status
        runtime = client.app.runtime
        assert runtime is not None and runtime.usage is not None
        client.run(runtime.usage.sync())
        path = runtime.config.storage.sqlite_path
    db = connect(path)
    try:
        rows = dict(db.execute("SELECT request_id, status FROM usage").fetchall())
    finally:
        db.close()
    lines = [
        msgspec.json.decode(line)
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("{")
    ]
    logged = {line["request_id"]: line["status"] for line in lines}
    for name, status in seen.items():
        assert rows[name] == status == logged[name], name
