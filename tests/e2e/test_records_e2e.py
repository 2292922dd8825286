"""Keys and the usage log through a real server with two Granian workers.

Proxied calls use the official ``openai`` SDK (``max_retries=0``); the admin API is driven with
``httpx``. Each worker names its request ids with its own random prefix (``req_<12 hex>…``),
so the ``x-request-id`` of an answer says which worker gave it; requests are sent with
``Connection: close`` so that each is a new connection, which Granian hands to either worker.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest

from fastgw.testing import GatewayProcess
from tests.conftest import mock_config

pytestmark = pytest.mark.e2e

ADMIN_KEY = "admin-key-for-e2e-0123456789"
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}
ENV = {"FASTGW_ADMIN_KEY": ADMIN_KEY}
PROMPT = [{"role": "user", "content": "Hello there"}]
WORKERS = 2


def config(sqlite_path: Path) -> str:
    return mock_config(extra=f'\n[storage]\nsqlite_path = "{sqlite_path}"\n')


def worker_of(request_id: str) -> str:
    return request_id[4:16]  # "req_" + the worker's 12-hex prefix


def ask(gateway: GatewayProcess, key: str) -> tuple[str, int, str | None]:
    """One chat completion on a new connection: (worker, status, error code)."""
    with openai.OpenAI(
        base_url=gateway.base_url + "/v1",
        api_key=key,
        max_retries=0,
        default_headers={"connection": "close"},
    ) as sdk:
        try:
            raw = sdk.chat.completions.with_raw_response.create(model="gpt-test", messages=PROMPT)
            return worker_of(raw.headers["x-request-id"]), raw.status_code, None
        except openai.APIStatusError as exc:
            body = exc.response.json()
            return (
                worker_of(exc.response.headers["x-request-id"]),
                exc.status_code,
                body["error"]["code"],
            )


def every_worker(
    gateway: GatewayProcess,
    key: str,
    expect: tuple[int, str | None],
    previous: tuple[int, str | None] = (200, None),
) -> float:
    """Ask until each worker has answered ``expect`` (status, code); the seconds it took.
    Before a worker's first ``expect`` it may answer ``previous`` (the state before the
    change), never anything else, and never ``previous`` after; all within 5 s."""
    start = time.monotonic()
    done: set[str] = set()
    while len(done) < WORKERS:
        assert time.monotonic() - start < 5, f"only {len(done)} workers answered {expect}"
        worker, status, code = ask(gateway, key)
        if (status, code) == expect:
            done.add(worker)
        else:
            assert worker not in done, f"worker {worker} answered {status} after {expect}"
            assert (status, code) == previous, (status, code)
    return time.monotonic() - start


def admin(gateway: GatewayProcess, method: str, path: str, **kwargs: object) -> httpx.Response:
    return httpx.request(method, gateway.base_url + path, headers=ADMIN, timeout=10, **kwargs)  # type: ignore[arg-type]


def test_admin_key_works_at_once_on_every_worker_and_survives_restart(
    gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    """A key made through the admin API answers 200 from both workers on the very first
    requests (before any refresh), and again after the server restarts on the same file."""
    sqlite_path = tmp_path / "shared.sqlite3"
    gateway = gateway_factory(config(sqlite_path), workers=WORKERS, env=ENV)
    created = admin(gateway, "POST", "/admin/keys", json={"id": "fresh"})
    assert created.status_code == 201
    key = created.json()["key"]
    every_worker(gateway, key, (200, None))
    gateway.stop()

    again = gateway_factory(config(sqlite_path), workers=WORKERS, env=ENV)
    every_worker(again, key, (200, None))
    assert admin(again, "GET", "/admin/keys/fresh").json()["source"] == "api"
    assert "key" not in admin(again, "GET", "/admin/keys/fresh").json()


def test_disabled_deleted_and_expired_keys_are_refused_within_a_second(
    gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    """After PATCH enabled=false, DELETE, or passing expires_at, both workers refuse the key
    within one second."""
    gateway = gateway_factory(config(tmp_path / "keys.sqlite3"), workers=WORKERS, env=ENV)
    key = admin(gateway, "POST", "/admin/keys", json={"id": "k"}).json()["key"]
    every_worker(gateway, key, (200, None))  # both workers hold it in their ring

    admin(gateway, "PATCH", "/admin/keys/k", json={"enabled": False})
    assert every_worker(gateway, key, (401, "key_disabled")) < 1.0

    admin(gateway, "PATCH", "/admin/keys/k", json={"enabled": True})
    every_worker(gateway, key, (200, None), previous=(401, "key_disabled"))
    admin(gateway, "DELETE", "/admin/keys/k")
    assert every_worker(gateway, key, (401, "invalid_api_key")) < 1.0

    key = admin(gateway, "POST", "/admin/keys", json={"id": "short"}).json()["key"]
    every_worker(gateway, key, (200, None))
    expiry = time.time() + 0.3
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(expiry)) + f"{expiry % 1:.3f}"[1:]
    admin(gateway, "PATCH", "/admin/keys/short", json={"expires_at": stamp + "+00:00"})
    every_worker(gateway, key, (401, "key_expired"))
    assert time.time() - expiry < 1.0


class Client(threading.Thread):
    """Sends chat completions back to back until the server stops answering."""

    def __init__(self, gateway: GatewayProcess, name: str) -> None:
        super().__init__(daemon=True)
        self.gateway, self.name_ = gateway, name
        self.answered: list[str] = []  # request ids that got an HTTP answer
        self.statuses: list[int] = []

    def run(self) -> None:
        sdk = openai.OpenAI(
            base_url=self.gateway.base_url + "/v1",
            api_key="sk-test-dev-key-0123456789",
            max_retries=0,
            timeout=15,
        )
        with sdk:
            for i in range(100_000):
                request_id = f"{self.name_}-{i}"
                try:
                    sdk.chat.completions.create(
                        model="gpt-test" if i % 10 else "no-such-model",
                        messages=PROMPT,
                        stream=i % 3 == 0,
                        extra_headers={"x-request-id": request_id},
                    )
                    self.statuses.append(200)
                except openai.APIStatusError as exc:
                    self.statuses.append(exc.status_code)
                except openai.APIConnectionError:
                    return  # the server stopped accepting: shutdown
                self.answered.append(request_id)


def test_usage_rows_equal_requests_served_after_sigterm_under_load(
    gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    """8 clients for ~1 s, then SIGTERM: every answered request (200s, streams and 404s) has
    exactly one usage row, and ``fastgw usage`` and ``/admin/usage`` agree with the rows."""
    sqlite_path = tmp_path / "usage.sqlite3"
    gateway = gateway_factory(config(sqlite_path), workers=WORKERS, env=ENV)
    clients = [Client(gateway, f"c{n}") for n in range(8)]
    for client in clients:
        client.start()
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        time.sleep(0.02)  # poll interval while the load runs
    live = admin(gateway, "GET", "/admin/usage").json()["data"][0]["requests"]
    gateway.terminate()
    for client in clients:
        client.join(30)
        assert not client.is_alive()
    assert gateway.process.wait(30) == 0
    answered = [rid for c in clients for rid in c.answered]
    print(f"{len(answered)} answered before and during the drain")
    assert len(answered) >= 50 and 404 in {s for c in clients for s in c.statuses}

    import sqlite3

    db = sqlite3.connect(sqlite_path)
    logged = [row[0] for row in db.execute("SELECT request_id FROM usage")]
    db.close()
    assert sorted(logged) == sorted(answered)
    assert 0 < live <= len(answered)

    config_path = tmp_path / "fastgw.toml"
    config_path.write_text(config(sqlite_path))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fastgw",
            "usage",
            "--config",
            str(config_path),
            "--json",
            "--group-by",
            "model",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    groups = {g["group"]: g for g in json.loads(result.stdout)["data"]}
    ok = sum(s == 200 for c in clients for s in c.statuses)
    assert groups["gpt-test"]["requests"] == ok
    assert groups["no-such-model"]["errors"] == len(answered) - ok
    table = subprocess.run(
        [sys.executable, "-m", "fastgw", "usage", "--config", str(config_path), "--key", "dev"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.splitlines()
    assert table[0].split() == [
        "total",
        "requests",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "errors",
        "cache_hits",
    ]
    assert table[1].split()[:2] == ["all", str(len(answered))]
