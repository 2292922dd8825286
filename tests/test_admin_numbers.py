"""Numbers and dates of the admin API and of the TOML: limits and budgets finite and in range,
``expires_at`` a moment a UTC calendar can show. Refused with a 400 (a config error) naming
the field before anything is stored; the listings keep answering 200."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from fastgw import Gateway, parse_config
from fastgw.config import MAX_BUDGET_USD, MAX_LIMIT, ConfigError
from fastgw.testing.rsgi import RSGIClient
from tests.conftest import mock_config

ADMIN_KEY = "admin-key-for-tests-0123456789"
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}

LIMITS = ["rpm", "tpm", "parallel"]
BUDGETS = ["budget_day_usd", "budget_month_usd"]
BAD_LIMITS = [0, -1, -(2**63), MAX_LIMIT + 1, 2**63 - 1, 2**63, 2**64, 10**30]
BAD_BUDGETS = [0, -1.0, MAX_BUDGET_USD * 2, 1e308, 2**64]
OUT_OF_CALENDAR = [
    "9999-12-31T23:00:00-05:00",  # year 10000 in UTC
    "9999-12-31T23:59:59.999999+00:00",  # rounds up past the last second as Unix time
    "0001-01-01T00:00:00+01:00",  # year 0 in UTC
]


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[RSGIClient]:
    monkeypatch.setenv("FASTGW_ADMIN_KEY", ADMIN_KEY)
    with RSGIClient(Gateway(parse_config(mock_config(), "mock.toml", {}))) as c:
        yield c


def _refused(client: RSGIClient, method: str, path: str, body: Any, param: str) -> None:
    """A 400 naming ``param``; the listings still answer 200 with nothing new in them."""
    before = {p: client.get(p, headers=ADMIN).json() for p in ("/admin/keys", "/admin/teams")}
    response = client.request(method, path, json=body, headers=ADMIN)
    assert response.status == 400, response.body
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    for listing, seen in before.items():
        again = client.get(listing, headers=ADMIN)
        assert again.status == 200 and again.json() == seen


@pytest.mark.parametrize("value", BAD_LIMITS)
@pytest.mark.parametrize("field", LIMITS)
def test_limits_out_of_range_are_400(client: RSGIClient, field: str, value: int) -> None:
    """rpm, tpm, parallel below 1 or past MAX_LIMIT (up to 2^64 and beyond, which SQLite
    cannot even hold): refused with invalid_value, on create and on change, key and team."""
    client.post("/admin/keys", json={"id": "k"}, headers=ADMIN)
    client.post("/admin/teams", json={"id": "t"}, headers=ADMIN)
    _refused(client, "POST", "/admin/keys", {"id": "k2", field: value}, field)
    _refused(client, "PATCH", "/admin/keys/k", {field: value}, field)
    _refused(client, "POST", "/admin/teams", {"id": "t2", field: value}, field)
    _refused(client, "PATCH", "/admin/teams/t", {field: value}, field)


@pytest.mark.parametrize("value", BAD_BUDGETS)
@pytest.mark.parametrize("field", BUDGETS)
def test_budgets_out_of_range_are_400(client: RSGIClient, field: str, value: float) -> None:
    client.post("/admin/keys", json={"id": "k"}, headers=ADMIN)
    _refused(client, "POST", "/admin/keys", {"id": "k2", field: value}, field)
    _refused(client, "PATCH", "/admin/keys/k", {field: value}, field)
    _refused(client, "POST", "/admin/teams", {"id": "t2", field: value}, field)


@pytest.mark.parametrize("text", [b"1e999", b"-1e999", b"NaN", b"Infinity"])
def test_budgets_past_a_double_are_400(client: RSGIClient, text: bytes) -> None:
    body = b'{"id":"k","budget_day_usd":' + text + b"}"
    response = client.request("POST", "/admin/keys", body=body, headers=ADMIN)
    assert response.status == 400, response.body
    assert client.get("/admin/keys", headers=ADMIN).status == 200


def test_the_largest_limits_are_accepted(client: RSGIClient) -> None:
    body = {"id": "big", "rpm": MAX_LIMIT, "tpm": MAX_LIMIT, "parallel": MAX_LIMIT}
    body |= {"budget_day_usd": MAX_BUDGET_USD, "budget_month_usd": 0.01}
    created = client.post("/admin/keys", json=body, headers=ADMIN)
    assert created.status == 201, created.body
    shown = client.get("/admin/keys/big", headers=ADMIN).json()
    assert {k: shown[k] for k in body if k != "id"} == {k: v for k, v in body.items() if k != "id"}


@pytest.mark.parametrize("text", OUT_OF_CALENDAR)
def test_an_expiry_that_cannot_be_shown_is_400(client: RSGIClient, text: str) -> None:
    """Such a key once made ``GET /admin/keys`` answer 500 for everyone: now it is refused
    before anything is stored, on create and on change."""
    client.post("/admin/keys", json={"id": "k"}, headers=ADMIN)
    _refused(client, "POST", "/admin/keys", {"id": "k2", "expires_at": text}, "expires_at")
    _refused(client, "PATCH", "/admin/keys/k", {"expires_at": text}, "expires_at")


def test_the_calendar_ends_are_accepted(client: RSGIClient) -> None:
    for i, text in enumerate(["0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59+00:00"]):
        created = client.post(
            "/admin/keys", json={"id": f"k{i}", "expires_at": text}, headers=ADMIN
        )
        assert created.status == 201 and created.json()["expires_at"] == text


@pytest.mark.parametrize(
    ("stamp", "shown"),
    [(1e13, "9999-12-31T23:59:59.999999+00:00"), (-1e12, "0001-01-01T00:00:00+00:00")],
)
def test_a_stored_expiry_out_of_the_calendar_does_not_break_the_listing(
    client: RSGIClient, stamp: float, shown: str
) -> None:
    """A key stored before such dates were refused is listed with the calendar's edge."""
    client.post("/admin/keys", json={"id": "old"}, headers=ADMIN)
    db = sqlite3.connect("fastgw.sqlite3")
    with db:
        db.execute("UPDATE keys SET expires_at = ? WHERE id = 'old'", (stamp,))
    db.close()
    listing = client.get("/admin/keys", headers=ADMIN)
    assert listing.status == 200, listing.body
    assert {k["id"]: k["expires_at"] for k in listing.json()["data"]}["old"] == shown
    assert client.get("/admin/keys/old", headers=ADMIN).json()["expires_at"] == shown


# -- the TOML ----------------------------------------------------------------------------------


def _errors(extra: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(mock_config(extra=extra), "t.toml", {})
    return caught.value.errors


@pytest.mark.parametrize(
    ("toml", "path"),
    [
        ("[usage]\nflush_interval_s = nan\n", "usage.flush_interval_s"),
        ("[usage]\nflush_interval_s = inf\n", "usage.flush_interval_s"),
        ("[state]\ntimeout_s = -inf\n", "state.timeout_s"),
        ('[prices."m"]\ninput = nan\noutput = 1.0\n', "prices.m.input"),
        ("[cache]\nmax_entries = 99999999999999999999\n", "cache.max_entries"),
        ("[usage]\nbatch_max = -9223372036854775809\n", "usage.batch_max"),
    ],
)
def test_toml_numbers_are_finite_and_fit_64_bits(toml: str, path: str) -> None:
    """TOML allows nan and inf, and Python reads integers of any size: both are refused with
    the key path."""
    assert any(e.startswith(path + ":") for e in _errors(toml)), _errors(toml)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (f"rpm = {MAX_LIMIT + 1}", "rpm: must be at most"),
        ("tpm = 9223372036854775807", "tpm: must be at most"),
        ("parallel = 0", "parallel: must be at least 1"),
        ("budget_day_usd = 1e300", "budget_day_usd: must be at most"),
        ("budget_month_usd = nan", "budget_month_usd:"),
        ("budget_month_usd = inf", "budget_month_usd:"),
        ('expires_at = "9999-12-31T23:00:00-05:00"', "expires_at:"),
    ],
)
def test_toml_limits_budgets_and_dates_are_in_range(line: str, message: str) -> None:
    extra = f'\n[[keys]]\nid = "k"\nhash = "sha256:{"0" * 64}"\n{line}\n'
    assert any(message in e for e in _errors(extra)), _errors(extra)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            "[limits]\ndefault_completion_tokens = 16777217\n",
            "default_completion_tokens: must be at most",
        ),
        ('[providers.m2]\ntype = "mock"\ntokens = 65537\n', "tokens: must be at most"),
        (
            '[providers.m2]\ntype = "mock"\nembedding_dims = 4097\n',
            "embedding_dims: must be at most",
        ),
    ],
)
def test_toml_bounds_of_per_request_work(toml: str, message: str) -> None:
    """The default reservation is at most what a request may ask, and the mock's answer
    length and embedding size are bounded (its work per request follows from them)."""
    assert any(message in e for e in _errors(toml)), _errors(toml)
