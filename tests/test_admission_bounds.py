"""The admission arithmetic cannot wrap (``fastgw._core.admission``, pure and compiled alike):
counts of any size saturate at ``TOKEN_CEILING`` instead of wrapping or raising, so a huge
``max_tokens x n`` is refused by a small token limit, never admitted."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastgw._core.admission import PER_REPLY, TOKEN_CEILING
from tests.twins import PROPERTY, FakeClock, twin

HUGE = [2**31, 2**53, 2**53 + 1, 2**62, 2**63 - 1, 2**63, 2**64, 2**64 + 1, 10**40]
counts = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 2**53 - 1, 2**53, 2**53 + 1, 2**62, 2**63 - 1, 2**63, 2**64]),
)


@pytest.fixture(scope="module", params=["python", "cython"])
def core(request: pytest.FixtureRequest) -> tuple[ModuleType, ModuleType]:
    """(admission twin, buckets twin), both pure or both compiled."""
    return twin("admission", request.param), twin("buckets", request.param)


def _expected(max_completion_tokens: Any, max_tokens: Any, n: int, default: int) -> int:
    chosen = max_completion_tokens or max_tokens or default
    per_choice = min(max(chosen, 0), TOKEN_CEILING)
    return min(per_choice * min(max(n, 0), TOKEN_CEILING), TOKEN_CEILING)


@PROPERTY
@given(
    max_completion_tokens=st.none() | counts,
    max_tokens=st.none() | counts,
    n=counts,
    default=st.integers(min_value=1, max_value=2**24),
)
def test_chat_allowance_saturates_and_never_wraps(
    core: tuple[ModuleType, ModuleType],
    max_completion_tokens: int | None,
    max_tokens: int | None,
    n: int,
    default: int,
) -> None:
    """The allowance is the exact product, clamped into [0, TOKEN_CEILING], for any ints."""
    got = core[0].chat_allowance(max_completion_tokens, max_tokens, n, default)
    assert got == _expected(max_completion_tokens, max_tokens, n, default)


@pytest.mark.parametrize("value", HUGE)
def test_token_count_clamps_any_int(core: tuple[ModuleType, ModuleType], value: int) -> None:
    assert core[0].token_count(value) == min(value, TOKEN_CEILING)
    assert core[0].token_count(-value) == 0


def _gate(core: tuple[ModuleType, ModuleType], tpm: int) -> tuple[Any, Any]:
    admission, buckets = core
    table = buckets.TokenBucketTable(clock=FakeClock())
    counters = buckets.ParallelCounter()
    tok = table.configure("t", tpm / 60, tpm)
    gate = admission.Gate(
        table,
        counters,
        (-1,),
        (tok,),
        (("x-ratelimit-limit-requests", "None"),),
        (("x-ratelimit-limit-tokens", str(tpm)),),
        ((counters.register("p"), 1),),
        False,
        lambda: 100.0,
    )
    gate.set_reservation(16, 0.0, 0.0, lambda m: 0)
    return gate, counters


@pytest.mark.parametrize(
    ("max_tokens", "n"),
    [(2**62, 4), (2**61, 8), (2**63 - 1, 2), (2**32, 2**32), (2**64, 1), (1, 2**64)],
)
def test_a_product_past_the_word_is_refused_by_a_small_token_limit(
    core: tuple[ModuleType, ModuleType], max_tokens: int, n: int
) -> None:
    """max_tokens x n that wraps a 64-bit word (2^62 x 4 = 0) or does not fit one: refused by a
    1,000-token limit (nothing kept: the parallel slot is free again), never admitted."""
    gate, counters = _gate(core, 1000)
    assert gate.admit_chat([], None, max_tokens, n) is None
    assert gate.asked_tokens == PER_REPLY + TOKEN_CEILING
    assert counters.active(0) == 0
    ticket = gate.admit_chat([], None, 10, 1)  # the key itself still works
    assert ticket is not None and ticket.tokens == PER_REPLY + 10


@PROPERTY
@given(prompt=counts, allowance=counts)
def test_admit_reserved_sums_clamped_counts(
    core: tuple[ModuleType, ModuleType], prompt: int, allowance: int
) -> None:
    """prompt + allowance is the sum of the clamped counts (at most 2^54): no overflow."""
    gate, _ = _gate(core, 10**6)
    ticket = gate.admit_reserved(prompt, allowance)
    asked = min(max(prompt, 0), TOKEN_CEILING) + min(max(allowance, 0), TOKEN_CEILING)
    assert gate.asked_tokens == asked
    assert (ticket is not None) == (asked <= 10**6)
