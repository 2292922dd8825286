"""Reload of a real ``fastgw serve`` with two workers, under load: a broken file (SIGHUP) is
refused and every request keeps succeeding; a valid one (``fastgw reload``, then
``POST /admin/reload``) is swapped in by every worker without a failed request, and a stream
in flight across it finishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from fastgw.testing import GatewayProcess
from tests.conftest import DEV_KEY, mock_config

pytestmark = pytest.mark.e2e

DEV = {"authorization": f"Bearer {DEV_KEY}"}
ADMIN_KEY = "admin-secret-for-reload-e2e"
NEW_MODEL = """
[[models]]
name = "gpt-new"
deployments = [{ provider = "mock", model = "mock-new" }]
"""
NEWER_MODEL = NEW_MODEL.replace("gpt-new", "gpt-newer")


def chat(model: str, **extra: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}


class Load:
    """Clients sending chat requests without pause until stopped; every outcome is kept."""

    def __init__(self, base_url: str, threads: int = 4) -> None:
        self.base_url = base_url
        self.statuses: list[int] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            while not self._stop.is_set():
                try:
                    response = client.post(
                        "/v1/chat/completions", headers=DEV, json=chat("gpt-test")
                    )
                    self.statuses.append(response.status_code)
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *args: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)  # poll interval
    raise AssertionError("condition not met in time")


def served_everywhere(client: httpx.Client, model: str, rounds: int = 20) -> bool:
    """Whether ``rounds`` requests in a row (spread over the workers by the kernel) got 200."""
    return all(
        client.post("/v1/chat/completions", headers=DEV, json=chat(model)).status_code == 200
        for _ in range(rounds)
    )


@pytest.fixture
def server(gateway_factory: Callable[..., GatewayProcess]) -> Iterator[GatewayProcess]:
    yield gateway_factory(
        mock_config(tokens=30, chunk_delay_ms=100), workers=2, env={"FASTGW_ADMIN_KEY": ADMIN_KEY}
    )


def test_reload_under_load(server: GatewayProcess) -> None:
    path = server.config_path
    good = path.read_text()
    with (
        httpx.Client(base_url=server.base_url, timeout=10) as client,
        Load(server.base_url) as load,
    ):
        wait_until(lambda: len(load.statuses) > 50)
        # a stream that runs across the reloads below
        with client.stream(
            "POST", "/v1/chat/completions", headers=DEV, json=chat("gpt-test", stream=True)
        ) as stream:
            # 1. a broken file on SIGHUP: refused, logged, the gateway keeps serving
            path.write_text(good + "\n[[models]]\nname = 3\n")
            server.process.send_signal(signal.SIGHUP)
            wait_until(lambda: "reload refused" in server.log())
            assert server.process.poll() is None
            admin = {"authorization": f"Bearer {ADMIN_KEY}"}
            refused = client.post("/admin/reload", headers=admin)
            assert refused.status_code == 400
            assert refused.json()["error"]["code"] == "invalid_config"

            # 2. a valid file through `fastgw reload`: every worker serves the new model
            path.write_text(good + NEW_MODEL)
            cli = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "fastgw",
                    "reload",
                    "--config",
                    str(path),
                    "--port",
                    str(server.port),
                ],
                capture_output=True,
                text=True,
                timeout=30,
                env=os.environ,
            )
            assert cli.returncode == 0, cli.stderr
            wait_until(lambda: served_everywhere(client, "gpt-new"))

            # 3. and through the admin API
            path.write_text(good + NEW_MODEL + NEWER_MODEL)
            assert client.post("/admin/reload", headers=admin).status_code == 200
            wait_until(lambda: served_everywhere(client, "gpt-newer"))
            body = b"".join(stream.iter_bytes())
        assert body.endswith(b"data: [DONE]\n\n")
        count = len(load.statuses)
        wait_until(lambda: len(load.statuses) > count + 50)
    assert load.errors == []
    assert set(load.statuses) == {200}
    assert server.process.poll() is None
    assert server.log().count("reloaded its config") >= 4  # two reloads, two workers each
