"""``GET /admin/live`` in-process (``RSGIClient``): guarded like the rest of the admin API, its
parameters checked, zeros on an idle worker, and counts that follow live objects.
(tests/adversarial/test_dropped_streams.py drives it against a real server.)"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from typing import Any

import pytest

from fastgw import Gateway, parse_config
from fastgw.admin.live import PER_REQUEST, count_live, rss_bytes
from fastgw.exchange import Exchange
from fastgw.testing.rsgi import RSGIClient
from tests.conftest import DEV_KEY, mock_config

ADMIN_KEY = "admin-key-for-live-tests-0123456789"
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}
CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "Say hello"}]}


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[RSGIClient]:
    monkeypatch.setenv("FASTGW_ADMIN_KEY", ADMIN_KEY)
    with RSGIClient(Gateway(parse_config(mock_config(), "mock.toml", {}))) as c:
        yield c


def error_code(response: Any, status: int) -> str | None:
    assert response.status == status, response.body
    code: str | None = response.json()["error"]["code"]
    return code


def test_live_needs_the_admin_key(client: RSGIClient) -> None:
    """No admin key or a gateway key: 401, like every admin path."""
    assert error_code(client.get("/admin/live"), 401) == "invalid_admin_key"
    dev = {"authorization": f"Bearer {DEV_KEY}"}
    assert error_code(client.get("/admin/live", headers=dev), 401) == "invalid_admin_key"


def test_live_is_get_only(client: RSGIClient) -> None:
    """Another method: 405 with Allow: GET."""
    response = client.post("/admin/live", headers=ADMIN, json={})
    assert error_code(response, 405) == "method_not_allowed"
    assert ("allow", "GET") in response.headers


@pytest.mark.parametrize("query", ["collect=yes", "collect=2", "other=1", "collect=1&x=1"])
def test_live_refuses_unknown_parameters(client: RSGIClient, query: str) -> None:
    """Only collect=0 or collect=1 is accepted; anything else is a 400 naming the parameter."""
    response = client.get(f"/admin/live?{query}", headers=ADMIN)
    assert error_code(response, 400) is None
    assert response.json()["error"]["param"] in ("collect", "other", "x")


def test_answered_requests_leave_no_count_behind(client: RSGIClient) -> None:
    """After answered requests nothing of theirs is alive and nothing is in flight (counts
    as before them: the test process may hold objects of its own); every per-request class
    is listed; the resident size is this process's."""
    before = client.get("/admin/live?collect=1", headers=ADMIN).json()
    dev = {"authorization": f"Bearer {DEV_KEY}"}
    for _ in range(3):
        assert client.post("/v1/chat/completions", json=CHAT, headers=dev).status == 200
    body = client.get("/admin/live?collect=1", headers=ADMIN).json()
    assert body["pid"] == os.getpid()
    assert body["in_flight"] == 0
    assert body["watched_connections"] == 0
    assert body["upstream"] == {}  # the mock has no connection pool
    assert body["uncollectable"] == 0
    assert set(body["objects"]) == set(PER_REQUEST.values())
    assert body["objects"] == before["objects"]
    assert body["rss_bytes"] is None or body["rss_bytes"] > 1 << 20


def test_count_live_counts_exact_types_and_skips() -> None:
    """``count_live`` counts live instances of each class by exact type, minus those skipped."""
    gc.collect()
    (base,) = count_live({Exchange: "Exchange"}).values()
    made = [Exchange(f"req_{i}", "POST", "/v1/chat/completions", None) for i in range(5)]
    assert count_live({Exchange: "Exchange"}) == {"Exchange": base + 5}
    assert count_live({Exchange: "Exchange"}, skip=(made[0], made[1])) == {"Exchange": base + 3}
    del made
    assert count_live({Exchange: "Exchange"}) == {"Exchange": base}


def test_rss_bytes_is_positive_on_linux() -> None:
    """The resident size comes from /proc where it exists."""
    size = rss_bytes()
    if os.path.exists("/proc/self/statm"):
        assert size is not None and size > 1 << 20
    else:
        assert size is None
