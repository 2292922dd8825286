"""Reload inside one worker: the pipelines swap, requests in flight finish on the old ones,
deployment state carries over, and a broken file is refused while the old config serves."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fastgw import Gateway, parse_config
from fastgw.keys import hash_key
from fastgw.testing import RSGIClient
from tests.conftest import DEV_KEY, mock_config

DEV = {"authorization": f"Bearer {DEV_KEY}"}
ADMIN_KEY = "admin-secret-for-reload-tests"
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}
ROUTED = """
[[models]]
name = "gpt-routed"
deployments = [
  {{ provider = "mock", model = "mock-a", name = "a" }},
  {{ provider = "mock", model = "mock-b", name = "b" }},
]
{more}
"""
NEW_MODEL = """
[[models]]
name = "gpt-new"
deployments = [{ provider = "mock", model = "mock-new" }]
"""


def chat(model: str, **extra: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}


def _gateway(path: Path, text: str) -> Gateway:
    path.write_text(text)
    return Gateway(parse_config(text, str(path), {}), config_path=str(path))


def test_a_reload_adds_and_removes_models(tmp_path: Path) -> None:
    path = tmp_path / "fastgw.toml"
    with RSGIClient(_gateway(path, mock_config())) as client:
        assert (
            client.post("/v1/chat/completions", headers=DEV, json=chat("gpt-other")).status == 200
        )
        assert client.post("/v1/chat/completions", headers=DEV, json=chat("gpt-new")).status == 404
        text = mock_config(extra=NEW_MODEL).replace(
            '[[models]]\nname = "gpt-other"\ndeployments = [{ provider = "mock", model = '
            '"mock-other" }]\n',
            "",
        )
        path.write_text(text)
        assert client.app.reload_file()
        assert client.post("/v1/chat/completions", headers=DEV, json=chat("gpt-new")).status == 200
        gone = client.post("/v1/chat/completions", headers=DEV, json=chat("gpt-other"))
        assert gone.status == 404 and gone.json()["error"]["code"] == "model_not_found"


def test_a_broken_file_is_refused_and_the_running_config_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("FASTGW_ADMIN_KEY", ADMIN_KEY)
    path = tmp_path / "fastgw.toml"
    with RSGIClient(_gateway(path, mock_config())) as client:
        before = client.app.pipelines
        path.write_text(mock_config() + "\n[[models]]\nname = 3\n")
        assert not client.app.reload_file()
        assert client.app.pipelines is before
        assert "reload refused" in caplog.text
        refused = client.post("/admin/reload", headers=ADMIN)
        assert refused.status == 400
        error = refused.json()["error"]
        assert error["code"] == "invalid_config" and "models" in error["message"]
        assert client.app.pipelines is before
        assert client.post("/v1/chat/completions", headers=DEV, json=chat("gpt-test")).status == 200
        path.write_text(mock_config(extra=NEW_MODEL))
        accepted = client.post("/admin/reload", headers=ADMIN)
        assert accepted.status == 200 and accepted.json() == {"status": "reloading"}
        assert client.app.pipelines is not before
        assert client.post("/v1/chat/completions", headers=DEV, json=chat("gpt-new")).status == 200


def test_deployment_state_survives_a_reload(tmp_path: Path) -> None:
    path = tmp_path / "fastgw.toml"
    text = mock_config(extra=ROUTED.format(more=""))
    with RSGIClient(_gateway(path, text)) as client:
        pipes = client.app.pipelines
        assert pipes is not None
        a, b = pipes.groups["gpt-routed"].deployments
        assert a.breaker is not None
        a.breaker.failure(pipes.router.clock())
        a.breaker.opens = 2  # as a breaker that opened twice before
        a.latency, b.requests = 0.25, 7
        path.write_text(mock_config(extra=ROUTED.format(more=NEW_MODEL)))
        assert client.app.reload_file()
        new = client.app.pipelines
        assert new is not None and new is not pipes
        a2, b2 = new.groups["gpt-routed"].deployments
        assert a2 is not a and a2.breaker is a.breaker and a2.breaker.opens == 2
        assert a2.latency == 0.25 and b2.requests == 7
        assert new.providers["mock"] is pipes.providers["mock"]  # same settings: same provider


def test_a_stream_in_flight_finishes_on_the_old_pipelines(tmp_path: Path) -> None:
    path = tmp_path / "fastgw.toml"
    text = mock_config(tokens=6, chunk_delay_ms=20)
    gpt_test = 'name = "gpt-test"\ndeployments = [{ provider = "mock", model = "mock-gpt" }]\n'
    without = text.replace("[[models]]\n" + gpt_test, "")
    without = without.replace('models = ["gpt-test"]', 'models = ["gpt-other"]')  # a key's
    assert without != text
    with RSGIClient(_gateway(path, text)) as client:

        async def scenario() -> tuple[bytes, int]:
            stream = client.start(
                "POST", "/v1/chat/completions", headers=DEV, json=chat("gpt-test", stream=True)
            )
            await stream.proto.wait_chunks(2)  # the stream is under way
            path.write_text(without)
            assert client.app.reload_file()
            after = await client.send(
                "POST", "/v1/chat/completions", headers=DEV, json=chat("gpt-test")
            )
            response = await asyncio.wait_for(stream, 10)
            return response.body, after.status

        body, status_after = client.run(scenario())
        assert body.endswith(b"data: [DONE]\n\n")
        assert status_after == 404


def test_rate_limit_buckets_carry_over_a_reload(tmp_path: Path) -> None:
    """A key that spent its requests of the minute is still refused after a reload that
    keeps its limit: the bucket tables are the process's, not the config's."""
    rate_key = "sk-test-reload-rate-0123456789"
    limited = f'\n[[keys]]\nid = "rate"\nhash = "{hash_key(rate_key)}"\nrpm = 2\n'
    path = tmp_path / "fastgw.toml"
    rate = {"authorization": f"Bearer {rate_key}"}
    with RSGIClient(_gateway(path, mock_config(extra=limited))) as client:
        for _ in range(2):
            assert (
                client.post("/v1/chat/completions", headers=rate, json=chat("gpt-test")).status
                == 200
            )
        path.write_text(mock_config(extra=limited + NEW_MODEL))
        assert client.app.reload_file()
        refused = client.post("/v1/chat/completions", headers=rate, json=chat("gpt-new"))
        assert refused.status == 429
        assert client.post("/v1/chat/completions", headers=DEV, json=chat("gpt-new")).status == 200
