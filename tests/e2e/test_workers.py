"""A worker that dies is replaced; the server keeps serving on the same port, and the other
worker's open connections never notice.

Two workers. Each keep-alive connection asks ``GET /admin/live`` which worker it is on (its
``pid``); one connection is held on each worker, the first worker is killed with SIGKILL, and
chat completions (official ``openai`` SDK over that same connection) keep going on the other
one while Granian starts a replacement.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator

import httpx
import openai
import pytest

from fastgw.testing import GatewayProcess
from tests.conftest import DEV_KEY, mock_config

pytestmark = pytest.mark.e2e

ADMIN_KEY = "admin-key-for-e2e-0123456789"
PROMPT = [{"role": "user", "content": "Are you still there?"}]
MAX_CONNECTIONS_TRIED = 200  # new connections opened to find one on each worker
RESPAWN_TIMEOUT_S = 20.0


def _connection(gateway: GatewayProcess) -> httpx.Client:
    """A client holding exactly one keep-alive connection."""
    return httpx.Client(
        base_url=gateway.base_url,
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        timeout=5,
    )


def _pid(client: httpx.Client) -> int:
    answer = client.get("/admin/live", headers={"authorization": f"Bearer {ADMIN_KEY}"})
    assert answer.status_code == 200, answer.text
    pid: int = answer.json()["pid"]
    return pid


@contextlib.contextmanager
def _one_connection_per_worker(gateway: GatewayProcess) -> Iterator[dict[int, httpx.Client]]:
    """Open connections until one is held on each worker: {worker pid: its client}."""
    held: dict[int, httpx.Client] = {}
    spare: list[httpx.Client] = []
    try:
        for _ in range(MAX_CONNECTIONS_TRIED):
            client = _connection(gateway)
            pid = _pid(client)
            if pid in held:
                spare.append(client)  # kept open, so the next connection is a new one
            else:
                held[pid] = client
            if len(held) == len(gateway.worker_pids()):
                break
        assert len(held) == 2, f"{MAX_CONNECTIONS_TRIED} connections all reached {set(held)}"
        for client in spare:
            client.close()
        yield held
    finally:
        for client in [*held.values(), *spare]:
            client.close()


def _chat(sdk: openai.OpenAI) -> str:
    completion = sdk.chat.completions.create(model="gpt-test", messages=PROMPT)
    return completion.choices[0].message.content or ""


def _new_connection_pid(gateway: GatewayProcess) -> int | None:
    """The worker a new connection lands on, or None if it is not answered."""
    try:
        with _connection(gateway) as client:
            return _pid(client)
    except httpx.HTTPError:
        return None


def test_killed_worker_is_replaced_and_the_other_keeps_serving(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    """SIGKILL of one of two workers: Granian starts a new worker that answers on the same
    port, and every request on the surviving worker's open connection succeeds meanwhile."""
    gateway = gateway_factory(mock_config(), workers=2, env={"FASTGW_ADMIN_KEY": ADMIN_KEY})
    before = gateway.worker_pids()
    assert len(before) == 2, before
    with _one_connection_per_worker(gateway) as held:
        assert set(held) == set(before)
        victim, survivor = before
        sdk = openai.OpenAI(
            base_url=gateway.base_url + "/v1",
            api_key=DEV_KEY,
            max_retries=0,
            http_client=held[survivor],
        )
        expected = _chat(sdk)

        os.kill(victim, signal.SIGKILL)
        answered_meanwhile = 0
        replacement: int | None = None
        deadline = time.monotonic() + RESPAWN_TIMEOUT_S
        while time.monotonic() < deadline:
            assert _chat(sdk) == expected  # the survivor's connection is never disturbed
            answered_meanwhile += 1
            new = set(gateway.worker_pids()) - set(before)
            if new and replacement is None:
                replacement = new.pop()
            if replacement is not None and _new_connection_pid(gateway) == replacement:
                break  # the replacement serves new connections on the same port
        else:
            pytest.fail(f"no replacement worker answered within {RESPAWN_TIMEOUT_S}s")

        assert _pid(held[survivor]) == survivor  # still the same connection, same worker
        assert gateway.process.poll() is None
        assert victim not in gateway.worker_pids()
        assert sorted(gateway.worker_pids()) == sorted([survivor, replacement])
        assert answered_meanwhile >= 1
    assert "Respawning worker" in gateway.log()
