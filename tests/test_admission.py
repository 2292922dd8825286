"""The admission gate of the local limiter (``fastgw._core.admission``), on the pure module
and its compiled twin alike, over buckets and counters of the same twin (fake clocks)."""

from __future__ import annotations

from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from tests.twins import FakeClock, twin


@pytest.fixture(scope="module", params=["python", "cython"])
def core(request: pytest.FixtureRequest) -> tuple[ModuleType, ModuleType]:
    """(admission twin, buckets twin), both pure or both compiled."""
    return twin("admission", request.param), twin("buckets", request.param)


def _gate(
    core: tuple[ModuleType, ModuleType],
    *,
    rpm: float | None = 60,
    tpm: float | None = 1000,
    parallel: int | None = None,
    budgets: bool = False,
    wall: float = 100.0,
) -> tuple[Any, Any, Any, FakeClock]:
    """A one-scope gate: (gate, table, counters, clock)."""
    admission, buckets = core
    clock = FakeClock()
    table = buckets.TokenBucketTable(clock=clock)
    counters = buckets.ParallelCounter()
    req = table.configure("r", rpm / 60, rpm) if rpm is not None else -1
    tok = table.configure("t", tpm / 60, tpm) if tpm is not None else -1
    pars = ((counters.register("p"), parallel),) if parallel is not None else ()
    gate = admission.Gate(
        table,
        counters,
        (req,),
        (tok,),
        (("x-ratelimit-limit-requests", str(rpm)),),
        (("x-ratelimit-limit-tokens", str(tpm)),),
        pars,
        budgets,
        lambda: wall,
    )
    return gate, table, counters, clock


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0s"),
        (-1.0, "0s"),
        (0.0171, "18ms"),
        (0.999, "999ms"),
        (1.0, "1s"),
        (1.5, "1.5s"),
        (59.9996, "1m0s"),
        (360.0, "6m0s"),
        (61.25, "1m1.25s"),
        (3723.0, "1h2m3s"),
        (float("inf"), "1h0m0s"),
    ],
)
def test_reset_durations_are_written_like_openai(
    core: tuple[ModuleType, ModuleType], seconds: float, text: str
) -> None:
    """Go-style durations, rounded up to the millisecond; an endless wait reads an hour."""
    assert core[0].format_reset(seconds) == text


def test_admit_takes_from_every_bucket_and_writes_the_headers(
    core: tuple[ModuleType, ModuleType],
) -> None:
    """An admission takes one request and its tokens; the six headers say what is left."""
    gate, table, _, _ = _gate(core)
    ticket = gate.admit(100, 0.0)
    assert ticket is not None and ticket.backend == "local" and ticket.tokens == 100
    assert ticket.headers == [
        ("x-ratelimit-limit-requests", "60"),
        ("x-ratelimit-remaining-requests", "59"),
        ("x-ratelimit-reset-requests", "1s"),
        ("x-ratelimit-limit-tokens", "1000"),
        ("x-ratelimit-remaining-tokens", "900"),
        ("x-ratelimit-reset-tokens", "6s"),
    ]
    assert table.remaining(gate.token_handles[0]) == 900.0


def test_a_scope_without_buckets_writes_no_headers(core: tuple[ModuleType, ModuleType]) -> None:
    """Only a parallel limit: no rate-limit headers, and the slot is held until settled."""
    admission, _ = core
    gate, table, counters, _ = _gate(core, rpm=None, tpm=None, parallel=1)
    ticket = gate.admit(10, 0.0)
    assert ticket is not None and ticket.headers == []
    assert gate.admit(10, 0.0) is None and gate.failure == admission.PARALLEL
    admission.settle_ticket(table, counters, ticket, 5, 0.0)
    assert gate.admit(10, 0.0) is not None


def test_a_bucket_refusal_keeps_nothing(core: tuple[ModuleType, ModuleType]) -> None:
    """Too many tokens: None, failure BUCKET at the token bucket's position (1), and the
    request bucket got its request back."""
    admission, _ = core
    gate, table, _, _ = _gate(core, rpm=60, tpm=100)
    assert gate.admit(101, 0.0) is None
    assert (gate.failure, gate.failed) == (admission.BUCKET, 1)
    assert table.remaining(gate.request_handles[0]) == 60.0


def test_a_parallel_refusal_gives_the_buckets_back(core: tuple[ModuleType, ModuleType]) -> None:
    """The second request in flight of a parallel-1 scope is refused after the buckets took
    from it: they get it back; the refusal carries the headers made so far."""
    admission, _ = core
    gate, table, _, _ = _gate(core, parallel=1)
    assert gate.admit(100, 0.0) is not None
    assert gate.admit(100, 0.0) is None
    assert (gate.failure, gate.failed) == (admission.PARALLEL, 0)
    assert ("x-ratelimit-remaining-requests", "58") in gate.headers
    assert table.remaining(gate.request_handles[0]) == 59.0
    assert table.remaining(gate.token_handles[0]) == 900.0


def test_budgets_ask_for_a_period_then_hold_spend_plus_reserved(
    core: tuple[ModuleType, ModuleType],
) -> None:
    """A gate with budgets asks for its period first (PERIOD, with the wall time); then it
    admits while spent + reserved is under each budget and reserves the estimate."""
    admission, _ = core
    gate, table, counters, _ = _gate(core, budgets=True, wall=500.0)
    assert gate.admit(1, 0.4) is None
    assert (gate.failure, gate.now) == (admission.PERIOD, 500.0)
    day, month = admission.Spend(), admission.Spend()
    gate.set_period(0.0, 1000.0, (day, month), (1.0, 5.0))
    first = gate.admit(1, 0.6)
    assert first is not None and (day.reserved, month.reserved) == (0.6, 0.6)
    second = gate.admit(1, 0.6)  # 0.6 < 1.0: admitted, the last one to overshoot
    assert second is not None
    assert gate.admit(1, 0.6) is None
    assert (gate.failure, gate.failed) == (admission.BUDGET, 0)
    admission.settle_ticket(table, counters, first, 1, 0.25)
    assert day.spent == 0.25 and day.reserved == pytest.approx(0.6)
    with pytest.raises(ValueError):
        gate.set_period(0.0, 1000.0, (day,), (1.0, 5.0))


def test_settlement_corrects_the_tokens_once(core: tuple[ModuleType, ModuleType]) -> None:
    """Settling to fewer tokens gives the rest back; a second settlement does nothing."""
    admission, _ = core
    gate, table, counters, _ = _gate(core)
    ticket = gate.admit(300, 0.0)
    admission.settle_ticket(table, counters, ticket, 120, 0.0)
    admission.settle_ticket(table, counters, ticket, 0, 0.0)
    assert ticket.settled
    assert table.remaining(gate.token_handles[0]) == pytest.approx(880.0)


def test_spend_commit_never_leaves_a_negative_reservation(
    core: tuple[ModuleType, ModuleType],
) -> None:
    """Releasing more than was reserved (rounding) floors the reservation at zero."""
    spend = core[0].Spend()
    spend.reserved = 0.1
    spend.commit(0.1 + 1e-13, 0.0)
    assert (spend.spent, spend.reserved) == (0.0, 0.0)
    spend.commit(0.0, 0.5)
    assert spend.spent == 0.5


def test_a_chat_request_reserves_its_estimate_and_its_price(
    core: tuple[ModuleType, ModuleType],
) -> None:
    """admit_chat: ~4 characters a token + 4 a message + 3 a reply, the completion allowance
    (max_completion_tokens, else max_tokens, else the default) per choice, priced per million."""
    admission, _ = core
    gate, *_ = _gate(core, tpm=10_000)
    gate.set_reservation(100, 2.0, 8.0, lambda message: 7)  # 7: any content that is not text
    messages = [SimpleNamespace(content="x" * 40), SimpleNamespace(content=[{"text": "y"}])]
    assert admission.estimate_messages(messages, lambda message: 7) == 3 + (4 + 10) + (4 + 7)
    ticket = gate.admit_chat(messages, None, 50, 2)
    assert ticket.tokens == 28 + 2 * 50 and gate.asked_tokens == 128  # max_tokens, two choices
    assert ticket.estimated_cost == pytest.approx((28 * 2.0 + 100 * 8.0) * 1e-6)
    assert admission.chat_allowance(30, 50, 1, 100) == 30
    assert admission.chat_allowance(None, None, 3, 100) == 300
    ticket = gate.admit_reserved(10, 0)
    assert ticket.tokens == 10 and gate.asked_cost == pytest.approx(20e-6)


def test_a_refused_chat_request_says_what_it_asked(core: tuple[ModuleType, ModuleType]) -> None:
    """After a refusal, asked_tokens and asked_cost hold the request's reservation, for the
    caller that words the 429 or admits again in a new period."""
    admission, _ = core
    gate, *_ = _gate(core, tpm=100)
    gate.set_reservation(500, 1.0, 1.0, lambda message: 0)
    assert gate.admit_chat([SimpleNamespace(content="hi")], None, None, 1) is None
    assert gate.failure == admission.BUCKET
    assert (gate.asked_tokens, gate.asked_cost) == (3 + 4 + 1 + 500, pytest.approx(508e-6))


def test_one_request_reserves_at_most_its_share_of_the_smallest_budget(
    core: tuple[ModuleType, ModuleType],
) -> None:
    """With a reserve share, a request's reservation is capped at that share of the
    smallest budget of the plan (a $100,000 worst case holds $0.10 of a $1 budget); smaller
    estimates are reserved whole; settlement commits what was used, not the cap."""
    admission, _ = core
    gate, table, counters, _ = _gate(core, budgets=True, rpm=None, tpm=None)
    gate.set_reserve_share(0.1)
    day, month = admission.Spend(), admission.Spend()
    gate.admit(1, 0.0)  # asks for its period
    gate.set_period(0.0, 1000.0, (day, month), (1.0, 5.0))
    assert gate.reserve_cap == pytest.approx(0.1)
    huge = gate.admit(1, 100_000.0)
    assert huge is not None and huge.estimated_cost == pytest.approx(0.1)
    assert (day.reserved, month.reserved) == (pytest.approx(0.1), pytest.approx(0.1))
    small = gate.admit(1, 0.05)
    assert small is not None and small.estimated_cost == 0.05
    admission.settle_ticket(table, counters, huge, 1, 0.02)
    assert (day.spent, day.reserved) == (pytest.approx(0.02), pytest.approx(0.05))


def test_capped_reservations_fill_a_budget_one_share_at_a_time(
    core: tuple[ModuleType, ModuleType],
) -> None:
    """At a 0.25 share, four worst-case requests in flight hold a budget; the fifth is
    refused (BUDGET); without a share (the default, 1.0) one request holds it all."""
    admission, _ = core
    for share, admitted in ((0.25, 4), (1.0, 1)):
        gate, *_ = _gate(core, budgets=True, rpm=None, tpm=None)
        if share != 1.0:
            gate.set_reserve_share(share)
        gate.admit(1, 0.0)
        gate.set_period(0.0, 1000.0, (admission.Spend(),), (100.0,))
        tickets = [gate.admit(1, 1e6) for _ in range(admitted)]
        assert all(t is not None for t in tickets)
        assert gate.admit(1, 1e6) is None and gate.failure == admission.BUDGET
