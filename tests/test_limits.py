"""The I/O-free parts of limits and budgets: periods, headers, prices, reservations, and the
local limiter on both twins of the compiled buckets (fake clocks, no sockets)."""

from __future__ import annotations

import datetime
import sqlite3
import zoneinfo
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from fastgw.config import ModelLimits, Price, check_workers, limits_wanted, parse_config
from fastgw.errors import QuotaExceeded, RateLimited
from fastgw.exchange import Exchange
from fastgw.keys import KeyRecord, TeamRecord, hash_key
from fastgw.limits import Limiter, build_limiter
from fastgw.limits.headers import rate_headers, retry_after
from fastgw.limits.layout import settle_calls
from fastgw.limits.local import LocalLimiter
from fastgw.limits.periods import Periods, period_at
from fastgw.limits.reserve import reserve_tokens
from fastgw.limits.spend import SpendBook, seed_from_usage_log, spend_name
from fastgw.limits.ticket import Ticket
from fastgw.metrics import Metrics
from fastgw.pricing import PriceTable
from fastgw.records.db import initialise
from fastgw.wire import ChatRequest, CompletionRequest, EmbeddingRequest, Message
from tests.twins import FakeClock, twin
from tests.usage_rows import usage_row, write_batch

PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def _ts(zone: datetime.tzinfo, *parts: int) -> float:
    return datetime.datetime(*parts, tzinfo=zone).timestamp()  # type: ignore[misc]


# --- periods -------------------------------------------------------------------------------


def test_period_ids_and_bounds_in_utc() -> None:
    """A moment's day and month, with their Unix bounds, in UTC."""
    p = period_at(_ts(datetime.UTC, 2026, 11, 22, 13, 5), datetime.UTC)
    assert (p.day, p.month) == ("d20261122", "m202611")
    assert p.day_start == _ts(datetime.UTC, 2026, 11, 22)
    assert p.day_end == _ts(datetime.UTC, 2026, 11, 23)
    assert p.month_start == _ts(datetime.UTC, 2026, 11, 1)
    assert p.month_end == _ts(datetime.UTC, 2026, 12, 1)


def test_period_follows_the_local_calendar() -> None:
    """23:30 UTC on 31 Dec is already 1 Jan in Paris: a new day, month (and year) there."""
    moment = _ts(datetime.UTC, 2026, 12, 31, 23, 30)
    assert period_at(moment, datetime.UTC).month == "m202612"
    paris = period_at(moment, PARIS)
    assert (paris.day, paris.month) == ("d20270101", "m202701")
    assert paris.day_start == _ts(datetime.UTC, 2026, 12, 31, 23)


@pytest.mark.parametrize(
    ("day", "hours"),
    [((2026, 3, 29), 23), ((2026, 10, 25), 25), ((2026, 6, 1), 24)],
)
def test_dst_days_are_23_or_25_hours(day: tuple[int, int, int], hours: int) -> None:
    """Budget days end at local midnight even on the days the clocks change."""
    p = period_at(_ts(PARIS, *day, 12), PARIS)
    assert p.day_end - p.day_start == hours * 3600


def test_periods_memoise_until_the_day_ends() -> None:
    """The current period is recomputed only once its day is over."""
    periods = Periods("UTC")
    first = periods.current(_ts(datetime.UTC, 2026, 11, 22, 1))
    assert periods.current(_ts(datetime.UTC, 2026, 11, 22, 23, 59)) is first
    assert periods.current(_ts(datetime.UTC, 2026, 11, 23)).day == "d20261123"


# --- headers -------------------------------------------------------------------------------


def test_rate_headers_and_retry_after() -> None:
    """Six headers from the tightest limits; remaining floored at 0; Retry-After >= 1 s."""
    headers = dict(rate_headers((60, 12.7, 48.0), (1000, -5.0, 0.5)))
    assert headers == {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "12",
        "x-ratelimit-reset-requests": "48s",
        "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "500ms",
    }
    assert rate_headers(None, None) == []
    assert (retry_after(0.01), retry_after(2.1), retry_after(float("inf"))) == ("1", "3", "60")


# --- prices --------------------------------------------------------------------------------


def test_shipped_prices_and_overrides() -> None:
    """Shipped prices per million tokens; a TOML override wins; dated names fall back."""
    table = PriceTable({"gpt-4o": Price(input=1.0, output=2.0)})
    assert table.cost("gpt-4o", 1_000_000, 500_000) == pytest.approx(2.0)
    assert table.cost("gpt-4o-mini-2024-07-18", 1_000_000, 0) == pytest.approx(0.15)
    assert table.cost("openai/gpt-4.1", 0, 1_000_000) == pytest.approx(8.0)
    assert table.cost("claude-3-5-sonnet-20241022", 1000, 1000) == pytest.approx(0.018)


def test_cached_prompt_tokens_use_the_cached_rate() -> None:
    """Cached prompt tokens bill at cached_input (or input when the model has none)."""
    table = PriceTable()
    assert table.cost("gpt-4o", 1_000_000, 0, cached_tokens=400_000) == pytest.approx(
        0.6 * 2.5 + 0.4 * 1.25
    )
    assert table.cost("gpt-3.5-turbo", 1_000_000, 0, cached_tokens=10) == pytest.approx(0.5)


def test_unknown_model_costs_nothing_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    table = PriceTable()
    assert table.cost("no-such-model", 1000, 1000) == 0.0
    assert table.cost("no-such-model", 1000, 1000) == 0.0
    assert table.cost(None, 1000, 1000) == 0.0
    assert sum("no-such-model" in r.message for r in caplog.records) == 1


# --- reservations and settlement -----------------------------------------------------------


def test_token_reservation() -> None:
    """Prompt estimate plus max_completion_tokens / max_tokens / the default, times n."""
    msgs = [Message("user", "x" * 40)]
    assert reserve_tokens(ChatRequest("m", msgs, max_tokens=50, n=2), 100) == (17, 100)
    assert reserve_tokens(ChatRequest("m", msgs, max_completion_tokens=7), 100) == (17, 7)
    assert reserve_tokens(ChatRequest("m", msgs), 100) == (17, 100)
    assert reserve_tokens(CompletionRequest("m", "x" * 8), 30) == (2, 30)
    assert reserve_tokens(EmbeddingRequest("m", ["abcd", "efgh"]), 30) == (2, 0)


def _ex(**fields: Any) -> Exchange:
    ex = Exchange("r", "POST", "/v1/chat/completions", None)
    for name, value in fields.items():
        setattr(ex, name, value)
    return ex


def _gpt_limiter(key_limits: str) -> Limiter:
    """The limiter of a gateway with one model, "gpt", and one key, "k", with ``key_limits``
    (TOML lines)."""
    config = parse_config(
        '[providers.m]\ntype = "mock"\n'
        '[[models]]\nname = "gpt"\ndeployments = [{ provider = "m", model = "gpt-4o-mini" }]\n'
        f'[[keys]]\nid = "k"\nhash = "{hash_key("sk-k")}"\n{key_limits}\n'
    )
    limiter = build_limiter(config, PriceTable(), Metrics())
    assert limiter is not None
    return limiter


def test_what_a_finished_request_settles() -> None:
    """Usage wins; a cache hit and a failure cost nothing; a stream without usage keeps its
    reservation and is charged its estimated cost."""
    limiter = _gpt_limiter("tpm = 1000\nbudget_day_usd = 5.0")
    request = ChatRequest(model="gpt", messages=[Message(role="user", content="hi")], max_tokens=92)
    key = _key(tpm=1000, budget_day_usd=5.0)
    cases = [  # the finished exchange, then the tokens and USD it settles to
        (_ex(prompt_tokens=10, completion_tokens=5, cost_usd=0.1), 15, 0.1),
        (_ex(cache="hit", prompt_tokens=10, completion_tokens=5), 0, 0.0),
        (_ex(stream=True, ttft=0.1), 100, None),  # its reservation: 8 + 92 tokens
        (_ex(status=502), 0, 0.0),
    ]
    table = limiter.local.buckets
    for ex, tokens, cost in cases:
        ticket = limiter.admit_local(key, None, "gpt", request)
        assert ticket.tokens == 100
        handle = table.handle("key:k:t")  # the key's token bucket
        before = table.remaining(handle)
        limiter.settle(ticket, ex)
        assert table.remaining(handle) == pytest.approx(before + 100 - tokens, abs=0.1)
        if cost is None:  # charged the estimate the ticket reserved
            assert ex.cost_usd == ticket.estimated_cost and ex.cost_usd > 0


# --- the local limiter on both twins --------------------------------------------------------


@pytest.fixture(params=["python", "cython"])
def impl(request: pytest.FixtureRequest) -> SimpleNamespace:
    """One twin of the buckets and of the admission gate: both pure or both compiled."""
    buckets = twin("buckets", request.param)
    return SimpleNamespace(
        TokenBucketTable=buckets.TokenBucketTable,
        ParallelCounter=buckets.ParallelCounter,
        admission=twin("admission", request.param),
    )


def _limiter(impl: Any, clock: FakeClock, wall: float = 1_795_000_000.0) -> LocalLimiter:
    return LocalLimiter(
        Periods("UTC"),
        Metrics(),
        impl.TokenBucketTable(clock=clock),
        impl.ParallelCounter(),
        wall=lambda: wall,
        admission=impl.admission,
    )


def _key(**limits: Any) -> KeyRecord:
    return KeyRecord(id="k", digest=b"", models=None, namespace="k", **limits)


def test_rpm_bucket_admits_a_minute_then_one_per_second(impl: Any) -> None:
    """60 rpm: 60 at once, then 429 (type requests, Retry-After 1) until a second passes."""
    clock = FakeClock()
    limiter = _limiter(impl, clock)
    key = _key(rpm=60)
    for _ in range(60):
        limiter.admit_now([("key", "k", key)], 10, 0.0)
    with pytest.raises(RateLimited) as refused:
        limiter.admit_now([("key", "k", key)], 10, 0.0)
    assert (refused.value.status, refused.value.type) == (429, "requests")
    assert refused.value.code == "rate_limit_exceeded"
    headers = dict(refused.value.headers)
    assert headers["retry-after"] == "1"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    clock.now = 1.0
    ticket = limiter.admit_now([("key", "k", key)], 10, 0.0)
    assert dict(ticket.headers)["x-ratelimit-limit-requests"] == "60"


def test_tokens_are_reserved_then_settled_to_usage(impl: Any) -> None:
    """A reservation of 600 tokens settled at 100 gives 500 back."""
    clock = FakeClock()
    limiter = _limiter(impl, clock)
    key = _key(tpm=1000)
    ticket = limiter.admit_now([("key", "k", key)], 600, 0.0)
    assert dict(ticket.headers)["x-ratelimit-remaining-tokens"] == "400"
    with pytest.raises(RateLimited) as refused:
        limiter.admit_now([("key", "k", key)], 600, 0.0)
    assert refused.value.type == "tokens"
    limiter.settle_now(ticket, 100, 0.0)
    limiter.settle_now(ticket, 100, 0.0)  # settling twice changes nothing
    ticket = limiter.admit_now([("key", "k", key)], 600, 0.0)
    assert dict(ticket.headers)["x-ratelimit-remaining-tokens"] == "300"


def test_a_refusal_gives_back_what_earlier_scopes_took(impl: Any) -> None:
    """The team's bucket is full: the key's request token is returned."""
    clock = FakeClock()
    limiter = _limiter(impl, clock)
    key, team = _key(rpm=10), TeamRecord(id="t", rpm=1)
    scopes = [("key", "k", key), ("team", "t", team)]
    limiter.admit_now(scopes, 1, 0.0)
    with pytest.raises(RateLimited, match="team 't'"):
        limiter.admit_now(scopes, 1, 0.0)
    ticket = limiter.admit_now([("key", "k", key)], 1, 0.0)
    assert dict(ticket.headers)["x-ratelimit-remaining-requests"] == "8"


def test_parallel_slots_are_freed_at_settlement(impl: Any) -> None:
    clock = FakeClock()
    limiter = _limiter(impl, clock)
    key = _key(parallel=2)
    first = limiter.admit_now([("key", "k", key)], 1, 0.0)
    limiter.admit_now([("key", "k", key)], 1, 0.0)
    with pytest.raises(RateLimited, match="parallel"):
        limiter.admit_now([("key", "k", key)], 1, 0.0)
    limiter.settle_now(first, 0, 0.0)
    limiter.admit_now([("key", "k", key)], 1, 0.0)


def test_a_limit_changed_at_run_time_applies_at_once(impl: Any) -> None:
    """The admin API may PATCH a key's rpm: the next admission uses the new limit."""
    clock = FakeClock()
    limiter = _limiter(impl, clock)
    limiter.admit_now([("key", "k", _key(rpm=5))], 1, 0.0)
    ticket = limiter.admit_now([("key", "k", _key(rpm=2))], 1, 0.0)
    assert dict(ticket.headers)["x-ratelimit-limit-requests"] == "2"
    assert dict(ticket.headers)["x-ratelimit-remaining-requests"] == "1"  # clamped to 2, took 1
    limiter.admit_now([("key", "k", _key(rpm=2))], 1, 0.0)
    with pytest.raises(RateLimited):
        limiter.admit_now([("key", "k", _key(rpm=2))], 1, 0.0)


def test_budget_admits_while_spent_plus_reserved_is_under_it(impl: Any) -> None:
    """In-flight reservations count: with 0.4 of a 1.0 budget reserved twice and 0.3 spent,
    the next request is refused with insufficient_quota naming the budget and its reset."""
    limiter = _limiter(impl, FakeClock(), wall=_ts(datetime.UTC, 2026, 11, 22, 12))
    model = ModelLimits(budget_day_usd=1.0)
    scopes = [("model", "gpt", model)]
    a = limiter.admit_now(scopes, 1, 0.4)
    limiter.admit_now(scopes, 1, 0.4)
    limiter.settle_now(a, 1, 0.3)
    limiter.admit_now(scopes, 1, 0.4)  # 0.3 + 0.4 < 1.0
    with pytest.raises(QuotaExceeded) as refused:
        limiter.admit_now(scopes, 1, 0.4)
    assert (refused.value.status, refused.value.code) == (429, "insufficient_quota")
    assert "daily budget of model 'gpt'" in refused.value.message
    assert "2026-11-23 00:00 UTC" in refused.value.message


def test_spend_is_seeded_from_the_usage_log(tmp_path: Path) -> None:
    """Current-period spend per key, team and model comes back from the SQLite usage log;
    older rows count for the month only; a missing file or table seeds nothing."""
    period = period_at(_ts(datetime.UTC, 2026, 11, 22, 12), datetime.UTC)
    path = tmp_path / "fastgw.sqlite3"
    book = SpendBook()
    assert seed_from_usage_log(book, str(path), period, ["key"]) == 0
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE other (x)")
    db.commit()
    db.close()
    assert seed_from_usage_log(book, str(path), period, ["key"]) == 0
    initialise(str(path))
    rows = [
        (_ts(datetime.UTC, 2026, 11, 22, 1), "k", "t", "gpt", 0.5),
        (_ts(datetime.UTC, 2026, 11, 3), "k", None, "gpt", 2.0),
        (_ts(datetime.UTC, 2026, 10, 30), "k", "t", "gpt", 9.0),
    ]
    write_batch(
        str(path),
        [usage_row(ts=ts, key_id=k, team_id=t, model=m, cost_usd=c) for ts, k, t, m, c in rows],
    )
    seed_from_usage_log(book, str(path), period, ["key", "team", "model"])
    assert book.used(spend_name("key", "k", "d20261122")) == 0.5
    assert book.used(spend_name("key", "k", "m202611")) == 2.5
    assert book.used(spend_name("team", "t", "m202611")) == 0.5
    assert book.used(spend_name("model", "gpt", "d20261122")) == 0.5


# --- configuration -------------------------------------------------------------------------

_BASE = """
[providers.mock]
type = "mock"
[[models]]
name = "m"
deployments = [{ provider = "mock", model = "mock-m" }]
[[keys]]
id = "k"
hash = "sha256:%s"
""" % ("0" * 64)


def test_limiter_is_wanted_only_when_something_is_limited() -> None:
    assert not limits_wanted(parse_config(_BASE))
    assert limits_wanted(parse_config(_BASE + "rpm = 5\n"))
    assert limits_wanted(parse_config(_BASE + "[limits]\nenabled = true\n"))
    assert not limits_wanted(parse_config(_BASE + "rpm = 5\n[limits]\nenabled = false\n"))


def test_several_workers_with_local_limits_are_refused() -> None:
    """Per-process buckets would multiply the limits: Redis is required for workers > 1."""
    with pytest.raises(Exception, match='backend = "redis"'):
        parse_config("[server]\nworkers = 2\n" + _BASE + "rpm = 5\n")
    config = parse_config(_BASE + "rpm = 5\n")
    assert check_workers(config, 1) == []
    assert check_workers(config, 3)
    parse_config("[server]\nworkers = 2\n[state]\nbackend = 'redis'\n" + _BASE + "rpm = 5\n")


def test_redis_url_with_password_is_never_echoed() -> None:
    with pytest.raises(Exception) as refused:
        parse_config("[state]\nbackend = 'redis'\nredis_url = 'http://u:hunter2@h'\n" + _BASE)
    assert "hunter2" not in str(refused.value)


def test_settlements_of_a_batch_are_summed_into_one_script_call() -> None:
    """Two tickets sharing a bucket, a budget and a parallel counter settle as one call whose
    arguments are the sums; a counter only one of them holds keeps its own value."""
    budget = ("p:key:k:s:2026-11", "p:key:k:v:2026-11", 100)
    a = Ticket("redis", 300, 0.5, [("p:key:k:t", 10.0, 600.0)], ["p:key:k:p"], [budget], [])
    b = Ticket(
        "redis",
        200,
        0.25,
        [("p:key:k:t", 10.0, 600.0), ("p:team:t:t", 1.0, 60.0)],
        ["p:key:k:p"],
        [budget],
        [],
    )
    keys, args = settle_calls([(a, 250, 0.125), (b, 120, 0.0625)])
    assert keys == [budget[0], budget[1], "p:key:k:t", "p:team:t:t", "p:key:k:p"]
    budgets, buckets = ["0.75", "0.1875", 100], ["10.0", "600.0", "-130.0", "1.0", "60.0", "-80.0"]
    assert args == [1, 2, 1, *budgets, *buckets, 2]


def test_a_kept_plan_follows_the_budget_day(impl: Any) -> None:
    """A plan kept across midnight moves its budgets to the new day's counters (the month's
    carries on); a request admitted the day before still settles on its own counters."""
    now = [_ts(datetime.UTC, 2026, 11, 22, 23)]
    limiter = LocalLimiter(
        Periods("UTC"),
        Metrics(),
        impl.TokenBucketTable(clock=FakeClock()),
        impl.ParallelCounter(),
        wall=lambda: now[0],
        admission=impl.admission,
    )
    plan = limiter.plan([("key", "k", _key(budget_day_usd=1.0, budget_month_usd=1.5))])
    late = limiter.admit_plan(plan, 1, 1.0)
    with pytest.raises(QuotaExceeded, match="daily budget"):
        limiter.admit_plan(plan, 1, 0.1)
    now[0] = _ts(datetime.UTC, 2026, 11, 23, 1)
    early = limiter.admit_plan(plan, 1, 0.5)  # a new day: 1.0 + 0.5 of the month's 1.5
    with pytest.raises(QuotaExceeded, match="monthly budget"):
        limiter.admit_plan(plan, 1, 0.5)
    limiter.settle_now(late, 1, 0.2)
    limiter.settle_now(early, 1, 0.1)
    book = limiter.book
    assert book.used(spend_name("key", "k", "d20261123")) == pytest.approx(0.1)
    assert book.used(spend_name("key", "k", "m202611")) == pytest.approx(0.3)
    assert book.used(spend_name("key", "k", "d20261122")) == 0.0  # dropped at the roll


def test_the_limiter_keeps_a_plan_while_the_records_are_the_same() -> None:
    """Limiter.admit_local reuses the (key, model) plan for the same record objects and
    builds a new one when the admin API replaces a record (a new rpm applies at once)."""
    limiter = _gpt_limiter("rpm = 5")
    request = ChatRequest(model="gpt", messages=[Message(role="user", content="hi")])
    key = _key(rpm=5)
    first = limiter.admit_local(key, None, "gpt", request)
    plan = limiter._plans["k", "gpt"].plan
    second = limiter.admit_local(key, None, "gpt", request)
    assert limiter._plans["k", "gpt"].plan is plan
    assert dict(second.headers)["x-ratelimit-remaining-requests"] == "3"
    third = limiter.admit_local(_key(rpm=2), None, "gpt", request)
    assert limiter._plans["k", "gpt"].plan is not plan
    assert dict(third.headers)["x-ratelimit-limit-requests"] == "2"
    assert dict(third.headers)["x-ratelimit-remaining-requests"] == "1"  # clamped to 2, took 1
    for ticket in (first, second, third):
        limiter.settle(ticket, Exchange("r", "POST", "/x", None))
