"""TokenBucketTable and ParallelCounter, on the pure module and its compiled twin alike."""

from __future__ import annotations

import importlib
import math
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.twins import PROPERTY, FakeClock, twin


@pytest.fixture(scope="module", params=["python", "cython"])
def impl(request: pytest.FixtureRequest) -> ModuleType:
    """``fastgw._core.buckets`` or its compiled twin ``buckets_c``."""
    return twin("buckets", request.param)


def make(
    impl: ModuleType, rate: float, capacity: float, start: float = 0.0
) -> tuple[Any, int, FakeClock]:
    """A table on a fake clock with one bucket ``"k"``: (table, handle, clock)."""
    clock = FakeClock(start)
    table = impl.TokenBucketTable(clock=clock)
    return table, table.configure("k", rate, capacity), clock


# --- exact sequences ---------------------------------------------------------------------


def test_new_bucket_starts_full(impl: ModuleType) -> None:
    """A new bucket holds its capacity and needs no time to be full."""
    table, h, _ = make(impl, 2.0, 7)
    assert table.remaining(h) == 7.0
    assert isinstance(table.remaining(h), float)
    assert table.reset_after(h) == 0.0


def test_60_per_minute_burst_5_admits_5_then_one_per_second(impl: ModuleType) -> None:
    """60/min with burst 5 admits exactly 5 at once, then exactly one per second."""
    table, h, clock = make(impl, 60 / 60, 5)
    assert [table.try_acquire(h, 1) for _ in range(5)] == [0.0] * 5
    assert table.try_acquire(h, 1) == 1.0
    clock.now = 0.25
    assert table.try_acquire(h, 1) == 0.75
    for second in range(1, 20):
        clock.now = float(second)
        assert table.try_acquire(h, 1) == 0.0
        assert table.try_acquire(h, 1) == 1.0
    clock.now = 100.0  # idle long enough to refill to the burst, and no further
    assert [table.try_acquire(h, 1) for _ in range(6)] == [0.0] * 5 + [1.0]


def test_inexact_rate_admits_exactly_on_schedule(impl: ModuleType) -> None:
    """100/min (0.6 s per request, not exact in binary) admits at each k*0.6 s, not before."""
    table, h, clock = make(impl, 100 / 60, 1)
    assert table.try_acquire(h, 1) == 0.0
    for k in range(1, 2000):
        clock.now = k * 0.6 - 1e-6
        assert table.try_acquire(h, 1) > 0.0
        clock.now = k * 0.6
        assert table.try_acquire(h, 1) == 0.0, k


def test_waiting_the_returned_time_succeeds(impl: ModuleType) -> None:
    """Retrying after exactly the returned wait succeeds, for an awkward rate and cost."""
    table, h, clock = make(impl, 7 / 3, 10)
    table.try_acquire(h, 10)
    for cost in (3.3, 1, 9.99, 0.1, 10):
        wait = table.try_acquire(h, cost)
        assert 0.0 < wait < math.inf
        clock.now += wait
        assert table.try_acquire(h, cost) == 0.0


def test_tokens_per_minute_with_fractional_refill(impl: ModuleType) -> None:
    """1000 tokens/min: 600 + 400 drain the burst, one more token waits 60 ms."""
    table, h, clock = make(impl, 1000 / 60, 1000)
    assert table.try_acquire(h, 600) == 0.0
    assert table.try_acquire(h, 400) == 0.0
    assert table.try_acquire(h, 1) == pytest.approx(0.06)
    clock.now = 0.06
    assert table.try_acquire(h, 1) == 0.0
    assert table.remaining(h) == pytest.approx(0.0, abs=1e-9)


def test_refused_acquisition_takes_nothing(impl: ModuleType) -> None:
    """A refusal leaves the level as it was."""
    table, h, _ = make(impl, 1.0, 5)
    table.try_acquire(h, 3)
    assert table.try_acquire(h, 4) == 2.0
    assert table.remaining(h) == 2.0


def test_cost_above_capacity_is_infinite_and_takes_nothing(impl: ModuleType) -> None:
    """A cost above the capacity can never succeed: ``inf``, and the level is untouched."""
    table, h, clock = make(impl, 1.0, 5)
    assert table.try_acquire(h, 5.000001) == math.inf
    clock.now = 1e9
    assert table.try_acquire(h, 6) == math.inf
    assert table.remaining(h) == 5.0
    assert table.try_acquire(h, 5) == 0.0


def test_zero_rate_is_a_fixed_allowance(impl: ModuleType) -> None:
    """Rate 0 never refills: the capacity is spent once, then every shortfall is ``inf``."""
    table, h, clock = make(impl, 0.0, 3)
    assert [table.try_acquire(h, 1) for _ in range(3)] == [0.0] * 3
    clock.now = 1e6
    assert table.try_acquire(h, 1) == math.inf
    assert table.reset_after(h) == math.inf


def test_zero_cost_succeeds_unless_in_debt(impl: ModuleType) -> None:
    """Cost 0 is admitted on an empty bucket but not while it is in debt."""
    table, h, _ = make(impl, 1.0, 2)
    table.try_acquire(h, 2)
    assert table.try_acquire(h, 0) == 0.0
    table.settle(h, 1)
    assert table.try_acquire(h, 0) == 1.0


def test_zero_capacity_admits_only_zero_cost(impl: ModuleType) -> None:
    """Capacity 0 admits cost 0 and reports any positive cost as ``inf``."""
    table, h, _ = make(impl, 5.0, 0)
    assert table.try_acquire(h, 0) == 0.0
    assert table.try_acquire(h, 1) == math.inf


def test_settle_positive_delta_leaves_debt_that_delays_acquisitions(impl: ModuleType) -> None:
    """Usage above the reservation goes into debt, which later acquisitions wait out."""
    table, h, clock = make(impl, 1.0, 5)
    assert table.try_acquire(h, 5) == 0.0
    table.settle(h, 3)
    assert table.remaining(h) == -3.0
    assert table.try_acquire(h, 1) == 4.0
    assert table.reset_after(h) == 8.0
    clock.now = 4.0
    assert table.try_acquire(h, 1) == 0.0


def test_settle_negative_delta_refunds_up_to_capacity(impl: ModuleType) -> None:
    """A refund gives tokens back but never fills the bucket above its capacity."""
    table, h, _ = make(impl, 1.0, 10)
    table.try_acquire(h, 8)
    table.settle(h, -5)
    assert table.remaining(h) == 7.0
    table.settle(h, -100)
    assert table.remaining(h) == 10.0


def test_settle_refills_before_applying(impl: ModuleType) -> None:
    """A refund lands on the refilled level, so time already elapsed is not lost."""
    table, h, clock = make(impl, 1.0, 10)
    table.try_acquire(h, 10)
    clock.now = 4.0
    table.settle(h, -3)
    assert table.remaining(h) == 7.0


def test_reconfigure_keeps_level_clamped_and_handle(impl: ModuleType) -> None:
    """Reconfiguring returns the same handle and keeps the level, clamped to the new capacity."""
    table, h, _ = make(impl, 1.0, 10)
    table.try_acquire(h, 4)
    assert table.configure("k", 1.0, 3) == h
    assert table.remaining(h) == 3.0
    assert table.configure("k", 1.0, 20) == h
    assert table.remaining(h) == 3.0
    assert len(table) == 1


def test_reconfigure_refills_at_the_old_rate_first(impl: ModuleType) -> None:
    """Time before a rate change refills at the old rate; time after it at the new one."""
    table, h, clock = make(impl, 1.0, 100)
    table.try_acquire(h, 100)
    clock.now = 2.0
    table.configure("k", 10.0, 100)
    assert table.remaining(h) == 2.0
    clock.now = 3.0
    assert table.remaining(h) == 12.0


def test_reconfigure_keeps_debt(impl: ModuleType) -> None:
    """A reconfiguration does not forgive debt."""
    table, h, _ = make(impl, 1.0, 5)
    table.try_acquire(h, 5)
    table.settle(h, 2)
    table.configure("k", 2.0, 50)
    assert table.remaining(h) == -2.0


def test_reset_after_is_time_to_full(impl: ModuleType) -> None:
    """``reset_after`` is the missing tokens over the rate, and 0 once full."""
    table, h, clock = make(impl, 4.0, 10)
    table.try_acquire(h, 6)
    assert table.reset_after(h) == 1.5
    clock.now = 1.5
    assert table.reset_after(h) == 0.0


def test_clock_going_backwards_refills_nothing(impl: ModuleType) -> None:
    """A clock that steps back neither refills nor moves the bucket's timestamp."""
    table, h, clock = make(impl, 1.0, 10, start=10.0)
    table.try_acquire(h, 10)
    clock.now = 5.0
    assert table.remaining(h) == 0.0
    clock.now = 11.0
    assert table.remaining(h) == 1.0


def test_buckets_are_independent_and_handles_dense(impl: ModuleType) -> None:
    """Many buckets (past several growths) get handles 0..n-1 and keep separate levels."""
    clock = FakeClock()
    table = impl.TokenBucketTable(clock=clock)
    handles = [table.configure(f"key-{i}", 1.0, i) for i in range(1000)]
    assert handles == list(range(1000))
    assert len(table) == 1000
    for i in range(0, 1000, 7):
        table.try_acquire(i, i)
    for i in range(1000):
        assert table.remaining(i) == (0.0 if i % 7 == 0 else float(i))
        assert table.handle(f"key-{i}") == i


def test_unknown_handles_and_keys_are_errors(impl: ModuleType) -> None:
    """Out-of-range handles raise ``IndexError``; an unconfigured key raises ``KeyError``."""
    table, _, _ = make(impl, 1.0, 5)
    for bad in (-1, 1, 10**6):
        with pytest.raises(IndexError):
            table.try_acquire(bad, 1)
        with pytest.raises(IndexError):
            table.settle(bad, 1)
        with pytest.raises(IndexError):
            table.remaining(bad)
        with pytest.raises(IndexError):
            table.reset_after(bad)
    with pytest.raises(KeyError):
        table.handle("nope")


@pytest.mark.parametrize(
    ("rate", "capacity"),
    [(-1.0, 5.0), (1.0, -5.0), (math.nan, 5.0), (1.0, math.nan), (math.inf, 5.0), (1.0, math.inf)],
)
def test_invalid_configuration_is_rejected(impl: ModuleType, rate: float, capacity: float) -> None:
    """Negative, NaN or infinite rates and capacities raise ``ValueError`` and add nothing."""
    table = impl.TokenBucketTable(clock=FakeClock())
    with pytest.raises(ValueError):
        table.configure("k", rate, capacity)
    assert len(table) == 0


@pytest.mark.parametrize("cost", [-1.0, math.nan, math.inf])
def test_invalid_cost_is_rejected(impl: ModuleType, cost: float) -> None:
    """A negative, NaN or infinite cost raises ``ValueError``."""
    table, h, _ = make(impl, 1.0, 5)
    with pytest.raises(ValueError):
        table.try_acquire(h, cost)


@pytest.mark.parametrize("delta", [math.nan, math.inf, -math.inf])
def test_invalid_delta_is_rejected(impl: ModuleType, delta: float) -> None:
    """A NaN or infinite settlement raises ``ValueError`` and leaves the level alone."""
    table, h, _ = make(impl, 1.0, 5)
    with pytest.raises(ValueError):
        table.settle(h, delta)
    assert table.remaining(h) == 5.0


def test_clock_errors_propagate(impl: ModuleType) -> None:
    """An exception raised by the clock reaches the caller."""

    def broken() -> float:
        raise RuntimeError("clock")

    table = impl.TokenBucketTable(clock=broken)
    with pytest.raises(RuntimeError):
        table.configure("k", 1.0, 1.0)


def test_default_clock_is_monotonic_seconds(impl: ModuleType) -> None:
    """Without an injected clock the table refills from real monotonic time."""
    table = impl.TokenBucketTable()
    h = table.configure("k", 0.001, 1)
    assert table.try_acquire(h, 1) == 0.0
    wait = table.try_acquire(h, 1)
    assert 0.0 < wait <= 1000.0


# --- properties ----------------------------------------------------------------------------

rates = st.floats(min_value=0.0, max_value=1e4, allow_nan=False)
capacities = st.floats(min_value=0.0, max_value=1e6, allow_nan=False)
steps = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=10.0, allow_nan=False),
        st.floats(min_value=0.0, max_value=1.2, allow_nan=False),
    ),
    max_size=60,
)


@PROPERTY
@given(rate=rates, capacity=capacities, ops=steps)
def test_never_admits_more_than_capacity_plus_refill(
    impl: ModuleType, rate: float, capacity: float, ops: list[tuple[float, float]]
) -> None:
    """In every time window, admitted tokens <= capacity + rate * window length."""
    clock = FakeClock()
    table = impl.TokenBucketTable(clock=clock)
    h = table.configure("k", rate, capacity)
    admitted: list[tuple[float, float]] = []
    for dt, fraction in ops:
        clock.now += dt
        cost = fraction * capacity
        if table.try_acquire(h, cost) == 0.0:
            admitted.append((clock.now, cost))
    for i, (start, _) in enumerate(admitted):
        total = 0.0
        for end, cost in admitted[i:]:
            total += cost
            bound = capacity + rate * (end - start)
            assert total <= bound + 1e-9 * (1.0 + bound)


@PROPERTY
@given(rate=st.floats(min_value=1e-3, max_value=1e4), capacity=capacities, ops=steps)
def test_refusal_wait_is_exact(
    impl: ModuleType, rate: float, capacity: float, ops: list[tuple[float, float]]
) -> None:
    """A refusal's wait is finite for costs within capacity, and waiting it out succeeds."""
    clock = FakeClock()
    table = impl.TokenBucketTable(clock=clock)
    h = table.configure("k", rate, capacity)
    for dt, fraction in ops:
        clock.now += dt
        cost = min(fraction, 1.0) * capacity
        wait = table.try_acquire(h, cost)
        assert 0.0 <= wait < math.inf
        if wait > 0.0:
            clock.now += wait
            assert table.try_acquire(h, cost) == 0.0


@PROPERTY
@given(
    rate=rates,
    capacity=capacities,
    ops=st.lists(
        st.tuples(
            st.sampled_from(["acquire", "settle", "remaining", "reset_after", "configure"]),
            st.floats(min_value=0.0, max_value=10.0, allow_nan=False),
            st.floats(min_value=-1.5, max_value=1.5, allow_nan=False),
        ),
        max_size=60,
    ),
)
def test_twins_agree_and_level_stays_at_most_capacity(
    impl: ModuleType, rate: float, capacity: float, ops: list[tuple[str, float, float]]
) -> None:
    """The twin under test matches the pure module op for op; the level never tops capacity."""
    reference = importlib.import_module("fastgw._core.buckets")
    clocks = [FakeClock(), FakeClock()]
    tables = [impl.TokenBucketTable(clock=clocks[0]), reference.TokenBucketTable(clock=clocks[1])]
    caps = [capacity, capacity]
    for table in tables:
        table.configure("k", rate, capacity)
    for op, dt, x in ops:
        results = []
        for i, table in enumerate(tables):
            clocks[i].now += dt
            if op == "acquire":
                results.append(table.try_acquire(0, abs(x) * capacity))
            elif op == "settle":
                table.settle(0, x * capacity)
            elif op == "configure":
                caps[i] = abs(x) * capacity
                table.configure("k", rate * abs(x), caps[i])
            results.append(table.remaining(0))
            results.append(table.reset_after(0))
            assert table.remaining(0) <= caps[i]
        half = len(results) // 2
        assert results[:half] == pytest.approx(results[half:], rel=1e-12, abs=1e-12)


# --- parallel-request counter --------------------------------------------------------------


def test_parallel_counter_admits_up_to_limit(impl: ModuleType) -> None:
    """``try_enter`` admits while fewer than ``limit`` are in flight; ``leave`` frees a slot."""
    counter = impl.ParallelCounter()
    h = counter.register("k")
    assert [counter.try_enter(h, 3) for _ in range(4)] == [True, True, True, False]
    assert counter.active(h) == 3
    counter.leave(h)
    assert counter.active(h) == 2
    assert counter.try_enter(h, 3) is True
    assert counter.try_enter(h, 3) is False


def test_parallel_counter_limit_applies_per_call(impl: ModuleType) -> None:
    """Lowering the limit refuses new entries until enough leave; limit 0 admits none."""
    counter = impl.ParallelCounter()
    h = counter.register("k")
    for _ in range(5):
        counter.try_enter(h, 5)
    assert counter.try_enter(h, 2) is False
    for _ in range(4):
        counter.leave(h)
    assert counter.try_enter(h, 2) is True
    assert counter.try_enter(h, 0) is False


def test_parallel_counter_register_is_idempotent_and_keys_independent(impl: ModuleType) -> None:
    """One key keeps one handle; counters for different keys do not interact."""
    counter = impl.ParallelCounter()
    handles = [counter.register(f"k{i}") for i in range(100)]
    assert handles == list(range(100))
    assert counter.register("k7") == 7
    assert counter.handle("k42") == 42
    assert len(counter) == 100
    counter.try_enter(7, 1)
    assert counter.try_enter(7, 1) is False
    assert counter.try_enter(8, 1) is True
    with pytest.raises(KeyError):
        counter.handle("nope")


def test_parallel_counter_errors(impl: ModuleType) -> None:
    """An unpaired ``leave`` raises ``ValueError``; unknown handles raise ``IndexError``."""
    counter = impl.ParallelCounter()
    h = counter.register("k")
    with pytest.raises(ValueError):
        counter.leave(h)
    assert counter.active(h) == 0
    for bad in (-1, 1):
        with pytest.raises(IndexError):
            counter.try_enter(bad, 1)
        with pytest.raises(IndexError):
            counter.leave(bad)
        with pytest.raises(IndexError):
            counter.active(bad)


@PROPERTY
@given(limit=st.integers(0, 8), ops=st.lists(st.booleans(), max_size=100))
def test_parallel_counter_matches_a_plain_count(
    impl: ModuleType, limit: int, ops: list[bool]
) -> None:
    """Any enter/leave sequence tracks a plain integer count that never exceeds the limit."""
    counter = impl.ParallelCounter()
    h = counter.register("k")
    count = 0
    for enter in ops:
        if enter:
            admitted = counter.try_enter(h, limit)
            assert admitted == (count < limit)
            count += admitted
        elif count:
            counter.leave(h)
            count -= 1
        assert counter.active(h) == count <= limit


# --- one call per admission: acquire_all, tightest, settle_all ----------------------------


def test_acquire_all_takes_from_every_bucket(impl: ModuleType) -> None:
    """Success takes one from each request bucket and ``cost`` from each token bucket."""
    table = impl.TokenBucketTable(clock=FakeClock())
    r1, t1 = table.configure("r1", 1, 5), table.configure("t1", 10, 100)
    r2 = table.configure("r2", 1, 3)
    assert table.acquire_all((r1, r2), (t1, -1), 30.0) == -1
    assert [table.remaining(h) for h in (r1, t1, r2)] == [4.0, 70.0, 2.0]
    assert table.acquire_all((), (), 1.0) == -1


def test_acquire_all_refusal_gives_everything_back(impl: ModuleType) -> None:
    """The first bucket short of tokens is named by its position, its wait is the one
    ``try_acquire`` gives, and the buckets before it are as they were."""
    clock = FakeClock()
    table = impl.TokenBucketTable(clock=clock)
    r1, t1 = table.configure("r1", 1, 5), table.configure("t1", 10, 100)
    r2, t2 = table.configure("r2", 2, 1), table.configure("t2", 10, 100)
    assert table.try_acquire(r2, 1) == 0.0
    assert table.acquire_all((r1, r2), (t1, t2), 30.0) == 2
    assert table.last_wait() == 0.5
    assert [table.remaining(h) for h in (r1, t1, r2, t2)] == [5.0, 100.0, 0.0, 100.0]
    clock.now = 0.5
    assert table.acquire_all((r1, r2), (t1, t2), 99.0) == -1
    # tokens refused at the second scope: 3 = 2 * 1 + 1
    assert table.acquire_all((r1, -1), (-1, t2), 10.0) == 3
    assert table.last_wait() == pytest.approx(0.9)
    assert [table.remaining(h) for h in (r1, t1, t2)] == [4.0, 1.0, 1.0]
    assert table.acquire_all((-1,), (t1,), 101.0) == 1
    assert table.last_wait() == math.inf


def test_acquire_all_checks_before_taking(impl: ModuleType) -> None:
    """A bad handle, cost or shape raises and takes nothing."""
    table = impl.TokenBucketTable(clock=FakeClock())
    r = table.configure("r", 1, 5)
    with pytest.raises(IndexError):
        table.acquire_all((r, 7), (-1, -1), 1.0)
    with pytest.raises(IndexError):
        table.acquire_all((r,), (-2,), 1.0)
    with pytest.raises(ValueError):
        table.acquire_all((r,), (), 1.0)
    with pytest.raises(ValueError):
        table.acquire_all((r,), (-1,), math.nan)
    assert table.remaining(r) == 5.0


def test_tightest_and_settle_all(impl: ModuleType) -> None:
    """``tightest`` names the bucket with the fewest tokens left (the first of equals) with
    its remaining and reset; ``settle_all`` settles each handle like ``settle``."""
    table = impl.TokenBucketTable(clock=FakeClock())
    a, b, c = table.configure("a", 1, 10), table.configure("b", 2, 10), table.configure("c", 0, 4)
    assert table.tightest(()) is None
    assert table.tightest((-1,)) is None
    assert table.tightest((a, b)) == (0, 10.0, 0.0)
    table.settle_all((a, b), 4.0)
    assert table.tightest((-1, a, b)) == (1, 6.0, 4.0)
    table.settle_all((b,), 1.0)
    assert table.tightest((a, b)) == (1, 5.0, 2.5)
    table.try_acquire(c, 1)
    assert table.tightest((a, c)) == (1, 3.0, math.inf)
    table.settle_all((a, b), -100.0)
    assert [table.remaining(h) for h in (a, b)] == [10.0, 10.0]
    with pytest.raises(IndexError):
        table.settle_all((a, 9), 1.0)
    with pytest.raises(ValueError):
        table.settle_all((a,), math.inf)


@PROPERTY
@given(
    ops=st.lists(
        st.tuples(
            st.lists(st.integers(-1, 2), min_size=0, max_size=3),
            st.integers(0, 12),
            st.floats(0, 3),
        ),
        max_size=30,
    )
)
def test_acquire_all_matches_try_acquire_one_by_one(
    impl: ModuleType, ops: list[tuple[list[int], int, float]]
) -> None:
    """``acquire_all`` agrees with a loop of ``try_acquire`` that gives back on refusal."""
    clocks = FakeClock(), FakeClock()
    fast, slow = (impl.TokenBucketTable(clock=c) for c in clocks)
    for table in (fast, slow):
        for i, (rate, cap) in enumerate([(1, 3), (0.5, 2), (2, 20)]):
            table.configure(f"b{i}", rate, cap)
    for handles, cost, step in ops:
        for c in clocks:
            c.now += step
        requests = tuple(handles)
        tokens = tuple(-1 if h < 0 else (h + 1) % 3 for h in handles)
        got = fast.acquire_all(requests, tokens, float(cost))
        want, taken = -1, []
        for pos in range(2 * len(handles)):
            h = requests[pos // 2] if pos % 2 == 0 else tokens[pos // 2]
            if h < 0:
                continue
            c = 1.0 if pos % 2 == 0 else float(cost)
            wait = slow.try_acquire(h, c)
            if wait:
                for th, tc in taken:
                    slow.settle(th, -tc)
                want = pos
                assert fast.last_wait() == wait
                break
            taken.append((h, c))
        assert got == want
        assert [fast.remaining(h) for h in range(3)] == [slow.remaining(h) for h in range(3)]
