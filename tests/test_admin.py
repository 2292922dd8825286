"""The admin API in-process (``RSGIClient``): every endpoint of ``/admin/keys``,
``/admin/teams`` and ``/admin/usage``, its errors, and the key store's effect on auth."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fastgw import Gateway, parse_config
from fastgw.testing.rsgi import RSGIClient, RSGIResponse
from tests.conftest import DEV_KEY, mock_config

ADMIN_KEY = "admin-key-for-tests-0123456789"
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}
DEV = {"authorization": f"Bearer {DEV_KEY}"}
CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "Say hello"}]}
TEAMS = '\n[[teams]]\nid = "toml-team"\nrpm = 100\n'


def gateway(extra: str = "") -> Gateway:
    return Gateway(parse_config(mock_config(extra=TEAMS + extra), "mock.toml", {}))


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[RSGIClient]:
    monkeypatch.setenv("FASTGW_ADMIN_KEY", ADMIN_KEY)
    with RSGIClient(gateway()) as c:
        yield c


def error_of(response: RSGIResponse, status: int) -> dict[str, Any]:
    assert response.status == status, response.body
    body = response.json()
    assert list(body) == ["error"]
    assert list(body["error"]) == ["message", "type", "param", "code"]
    error: dict[str, Any] = body["error"]
    return error


def chat(client: RSGIClient, key: str) -> RSGIResponse:
    return client.post(
        "/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {key}"}
    )


# -- the guard -------------------------------------------------------------------------------------


def test_admin_api_is_off_without_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """With FASTGW_ADMIN_KEY unset every /admin/ path is 403 naming the variable to set."""
    monkeypatch.delenv("FASTGW_ADMIN_KEY", raising=False)
    with RSGIClient(gateway()) as c:
        for path in ("/admin/keys", "/admin/teams", "/admin/usage", "/admin/nope"):
            error = error_of(c.get(path, headers=ADMIN), 403)
            assert error["code"] == "admin_disabled"
            assert "FASTGW_ADMIN_KEY" in error["message"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong"}, {"authorization": f"Basic {ADMIN_KEY}"}, DEV],
)
def test_missing_or_wrong_admin_key_is_401(client: RSGIClient, headers: dict[str, str]) -> None:
    """No admin key, a wrong one, another scheme or a gateway key: 401 invalid_admin_key."""
    error = error_of(client.get("/admin/keys", headers=headers), 401)
    assert error["code"] == "invalid_admin_key"
    assert ADMIN_KEY not in error["message"]


def test_admin_key_env_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """``[admin] key_env`` chooses the variable the admin key is read from."""
    monkeypatch.setenv("MY_ADMIN", "another-admin-key-012345")
    with RSGIClient(gateway('\n[admin]\nkey_env = "MY_ADMIN"\n')) as c:
        headers = {"authorization": "Bearer another-admin-key-012345"}
        assert c.get("/admin/keys", headers=headers).status == 200


def test_unknown_admin_path_and_wrong_method(client: RSGIClient) -> None:
    """Unknown admin paths are 404; a wrong method is 405 with Allow."""
    assert error_of(client.get("/admin/nope", headers=ADMIN), 404)["code"] is None
    assert error_of(client.get("/admin/keys/a/b", headers=ADMIN), 404)["code"] is None
    response = client.request("PUT", "/admin/keys", headers=ADMIN)
    assert error_of(response, 405)["code"] == "method_not_allowed"
    assert response.header("allow") == "GET, POST"
    assert client.request("POST", "/admin/keys/x", headers=ADMIN).header("allow") == (
        "GET, PATCH, DELETE"
    )


def test_admin_requests_are_not_usage_rows(client: RSGIClient) -> None:
    """Admin, health and model-list requests leave no usage row; proxied ones do."""
    client.get("/admin/keys", headers=ADMIN)
    client.get("/health")
    client.get("/v1/models", headers=DEV)
    chat(client, DEV_KEY)
    assert client.get("/admin/usage", headers=ADMIN).json()["data"][0]["requests"] == 1


# -- keys ------------------------------------------------------------------------------------------


def test_create_key_returns_the_key_once_and_it_works(client: RSGIClient) -> None:
    """POST returns the key once (201); it authenticates at once; no later answer has it."""
    response = client.post(
        "/admin/keys", json={"id": "app-1", "models": ["gpt-test"]}, headers=ADMIN
    )
    assert response.status == 201, response.body
    created = response.json()
    key = created["key"]
    assert key.startswith("sk-fgw-")
    assert created["id"] == "app-1" and created["source"] == "api"
    assert created["models"] == ["gpt-test"] and created["digest_prefix"].startswith("sha256:")
    assert chat(client, key).status == 200
    for path in ("/admin/keys", "/admin/keys/app-1"):
        body = client.get(path, headers=ADMIN).body
        assert key.encode() not in body and b'"key"' not in body
    # the store holds the digest only
    db = sqlite3.connect("fastgw.sqlite3")
    dump = "\n".join(db.iterdump())
    assert key not in dump


def test_create_key_generates_an_id_and_lists_toml_keys(client: RSGIClient) -> None:
    """Without an id one is generated; GET lists TOML keys (source config) and store keys."""
    created = client.post("/admin/keys", json={}, headers=ADMIN).json()
    assert created["id"].startswith("key-")
    listing = client.get("/admin/keys", headers=ADMIN).json()
    assert listing["object"] == "list"
    sources = {k["id"]: k["source"] for k in listing["data"]}
    assert sources == {"dev": "config", "limited": "config", created["id"]: "api"}


def test_key_fields_round_trip(client: RSGIClient) -> None:
    """Every field given at creation is shown back by GET."""
    body = {
        "id": "full",
        "team": "toml-team",
        "models": ["gpt-test", "embed-test"],
        "cache_namespace": "shared",
        "rpm": 10,
        "tpm": 1000,
        "parallel": 2,
        "budget_day_usd": 1.5,
        "budget_month_usd": 20.0,
        "expires_at": "2099-01-31T00:00:00Z",
        "enabled": True,
        "metadata": {"owner": "alice"},
    }
    client.post("/admin/keys", json=body, headers=ADMIN)
    shown = client.get("/admin/keys/full", headers=ADMIN).json()
    for field, value in body.items():
        if field != "expires_at":
            assert shown[field] == (sorted(value) if field == "models" else value), field
    assert shown["expires_at"] == "2099-01-31T00:00:00+00:00"


@pytest.mark.parametrize(
    "body, param",
    [
        ({"rpm": "ten"}, "rpm"),
        ({"rpm": 0}, "rpm"),
        ({"budget_day_usd": -1}, "budget_day_usd"),
        ({"models": ["nope"]}, "models"),
        ({"team": "no-such-team"}, "team"),
        ({"expires_at": "tomorrow"}, "expires_at"),
        ({"id": "bad id!"}, "id"),
        ({"colour": "blue"}, "colour"),
        ({"metadata": {"a": 1}}, "metadata"),
    ],
)
def test_bad_key_body_is_400_with_param(client: RSGIClient, body: Any, param: str) -> None:
    """Each invalid field is a 400 invalid_request_error naming the field."""
    error = error_of(client.post("/admin/keys", json=body, headers=ADMIN), 400)
    assert (error["type"], error["param"]) == ("invalid_request_error", param)


def test_malformed_json_is_400(client: RSGIClient) -> None:
    error = error_of(client.post("/admin/keys", body=b"{nope", headers=ADMIN), 400)
    assert error["code"] == "invalid_json"


def test_duplicate_and_toml_ids_conflict(client: RSGIClient) -> None:
    """A used id is 409; keys from the TOML cannot be created, changed or deleted here."""
    client.post("/admin/keys", json={"id": "twice"}, headers=ADMIN)
    assert (
        error_of(client.post("/admin/keys", json={"id": "twice"}, headers=ADMIN), 409)["param"]
        == "id"
    )
    assert error_of(client.post("/admin/keys", json={"id": "dev"}, headers=ADMIN), 409)
    error = error_of(client.request("PATCH", "/admin/keys/dev", json={}, headers=ADMIN), 409)
    assert error["code"] == "key_in_config" and "config file" in error["message"]
    assert error_of(client.request("DELETE", "/admin/keys/dev", headers=ADMIN), 409)
    assert client.get("/admin/keys/dev", headers=ADMIN).json()["source"] == "config"


def test_unknown_key_id_is_404(client: RSGIClient) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        response = client.request(method, "/admin/keys/ghost", json={}, headers=ADMIN)
        assert error_of(response, 404)["code"] == "key_not_found"


def test_patch_disable_expire_and_delete_refuse_the_key(client: RSGIClient) -> None:
    """PATCH enabled=false → key_disabled; a past expires_at → key_expired; re-enabled works;
    DELETE → invalid_api_key and 404 on GET."""
    key = client.post("/admin/keys", json={"id": "k"}, headers=ADMIN).json()["key"]
    patched = client.request("PATCH", "/admin/keys/k", json={"enabled": False}, headers=ADMIN)
    assert patched.status == 200 and patched.json()["enabled"] is False
    assert error_of(chat(client, key), 401)["code"] == "key_disabled"
    client.request("PATCH", "/admin/keys/k", json={"enabled": True}, headers=ADMIN)
    assert chat(client, key).status == 200
    client.request("PATCH", "/admin/keys/k", json={"expires_at": "2001-01-01"}, headers=ADMIN)
    assert error_of(chat(client, key), 401)["code"] == "key_expired"
    client.request("PATCH", "/admin/keys/k", json={"expires_at": None}, headers=ADMIN)
    assert chat(client, key).status == 200
    deleted = client.request("DELETE", "/admin/keys/k", headers=ADMIN)
    assert deleted.json() == {"id": "k", "object": "gateway.key", "deleted": True}
    assert error_of(chat(client, key), 401)["code"] == "invalid_api_key"
    assert error_of(client.get("/admin/keys/k", headers=ADMIN), 404)


def test_patch_models_and_limits(client: RSGIClient) -> None:
    """PATCH changes only the fields given; null clears a limit; models are enforced."""
    key = client.post("/admin/keys", json={"id": "m", "rpm": 5}, headers=ADMIN).json()["key"]
    shown = client.request(
        "PATCH", "/admin/keys/m", json={"models": ["gpt-other"], "rpm": None}, headers=ADMIN
    ).json()
    assert (shown["models"], shown["rpm"]) == (["gpt-other"], None)
    assert error_of(chat(client, key), 403)["code"] == "model_not_allowed"
    error = error_of(client.request("PATCH", "/admin/keys/m", json={"tpm": 0}, headers=ADMIN), 400)
    assert error["param"] == "tpm"


# -- teams -----------------------------------------------------------------------------------------


def test_team_lifecycle(client: RSGIClient) -> None:
    """Create, list, show, patch and delete a team; a key may join it; TOML teams are read-only."""
    created = client.post("/admin/teams", json={"id": "ml", "rpm": 60}, headers=ADMIN)
    assert created.status == 201 and created.json()["rpm"] == 60
    ids = {t["id"]: t["source"] for t in client.get("/admin/teams", headers=ADMIN).json()["data"]}
    assert ids == {"toml-team": "config", "ml": "api"}
    key = client.post("/admin/keys", json={"id": "in-ml", "team": "ml"}, headers=ADMIN).json()
    assert key["team"] == "ml"
    patched = client.request("PATCH", "/admin/teams/ml", json={"tpm": 500}, headers=ADMIN).json()
    assert (patched["rpm"], patched["tpm"]) == (60, 500)
    assert client.get("/admin/teams/ml", headers=ADMIN).json()["tpm"] == 500
    # a team with keys cannot be deleted
    assert error_of(client.request("DELETE", "/admin/teams/ml", headers=ADMIN), 409)
    client.request("DELETE", "/admin/keys/in-ml", headers=ADMIN)
    assert client.request("DELETE", "/admin/teams/ml", headers=ADMIN).status == 200
    assert error_of(client.get("/admin/teams/ml", headers=ADMIN), 404)["code"] == "team_not_found"
    assert (
        error_of(client.request("DELETE", "/admin/teams/toml-team", headers=ADMIN), 409)["code"]
        == "team_in_config"
    )
    assert error_of(client.post("/admin/teams", json={"id": "toml-team"}, headers=ADMIN), 409)
    assert (
        error_of(client.post("/admin/teams", json={"id": "ml2", "x": 1}, headers=ADMIN), 400)[
            "param"
        ]
        == "x"
    )
    assert error_of(client.post("/admin/teams", json={}, headers=ADMIN), 400)["param"] == "id"


def test_team_id_reaches_the_usage_log(client: RSGIClient) -> None:
    """A request with a team's key is logged with that team."""
    client.post("/admin/teams", json={"id": "ops"}, headers=ADMIN)
    key = client.post("/admin/keys", json={"team": "ops"}, headers=ADMIN).json()["key"]
    chat(client, key)
    usage = client.get("/admin/usage?group_by=team", headers=ADMIN).json()
    assert usage["data"] == [
        {
            "group": "ops",
            "requests": 1,
            "prompt_tokens": usage["data"][0]["prompt_tokens"],
            "completion_tokens": 8,
            "cost_usd": 0.0,
            "errors": 0,
            "cache_hits": 0,
        }
    ]


# -- usage -----------------------------------------------------------------------------------------


def test_usage_summary_groups_and_filters(client: RSGIClient) -> None:
    """Requests, tokens, errors per model and key; filters narrow; bad filters are 400."""
    for _ in range(3):
        assert chat(client, DEV_KEY).status == 200
    embed = {"model": "embed-test", "input": "x", "dimensions": 4}
    client.post("/v1/embeddings", json=embed, headers=DEV)
    assert client.post("/v1/chat/completions", json={"model": "nope", "messages": []}, headers=DEV)
    chat(client, "sk-wrong-key-0123456789")  # 401: logged with no key
    by_model = client.get("/admin/usage?group_by=model", headers=ADMIN).json()
    groups = {g["group"]: g for g in by_model["data"]}
    assert groups["gpt-test"]["requests"] == 3 and groups["gpt-test"]["completion_tokens"] == 24
    assert groups["embed-test"]["requests"] == 1
    assert groups["nope"]["errors"] == 1
    assert groups[None]["errors"] == 1
    total = client.get("/admin/usage", headers=ADMIN).json()["data"]
    assert [(t["group"], t["requests"], t["errors"]) for t in total] == [(None, 6, 2)]
    only = client.get("/admin/usage?model=gpt-test&key=dev&group_by=day", headers=ADMIN).json()
    assert len(only["data"]) == 1 and only["data"][0]["requests"] == 3
    assert len(only["data"][0]["group"]) == 10  # YYYY-MM-DD
    future = client.get("/admin/usage?start=2999-01-01", headers=ADMIN).json()
    assert future["data"][0]["requests"] == 0
    for query, param in (("start=soon", "start"), ("group_by=hour", "group_by"), ("x=1", "x")):
        error = error_of(client.get(f"/admin/usage?{query}", headers=ADMIN), 400)
        assert error["param"] == param


def test_usage_disabled_writes_no_rows(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With [usage] enabled = false nothing is queued or written."""
    monkeypatch.setenv("FASTGW_ADMIN_KEY", ADMIN_KEY)
    with RSGIClient(gateway("\n[usage]\nenabled = false\n")) as c:
        assert c.app.runtime.usage is None
        chat(c, DEV_KEY)
        assert c.get("/admin/usage", headers=ADMIN).json()["data"][0]["requests"] == 0
