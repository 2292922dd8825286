"""The JSON access line: every number in plain decimal notation, the value unchanged."""

from __future__ import annotations

import asyncio
import io
import re

import msgspec
import pytest

from fastgw.accesslog import AccessLine, AccessLog

#: a JSON number value with an exponent
EXPONENT = re.compile(rb":-?[0-9][0-9.]*[eE][+-]?[0-9]+[,}]")

COSTS = [
    0.0,
    1.5e-05,  # what 10 tokens of a $1.50/M model cost
    9.9e-07,
    2.5e-07,
    1e-07,  # one token of a $0.10/M model: msgspec alone writes "1e-7"
    3e-12,
    0.30000000000000004,
    1.0,
    12345.678,
    1e16,
    1.2345678901234568e17,
]


def _written(costs: list[float]) -> list[bytes]:
    sink = io.BytesIO()
    loop = asyncio.new_event_loop()
    try:
        log = AccessLog(loop, sink)
        for i, cost in enumerate(costs):
            log.write(
                AccessLine(
                    1796378567.752289,
                    f"r{i}",
                    "POST",
                    "/v1/chat/completions",
                    200,
                    0.441,
                    prompt_tokens=1,
                    cost_usd=cost,
                )
            )
        log.flush()
    finally:
        loop.close()
    return sink.getvalue().splitlines()


def test_costs_print_as_plain_decimals_with_their_exact_value() -> None:
    """A cost of any size is written without an exponent and decodes to the same float."""
    lines = _written(COSTS)
    assert len(lines) == len(COSTS)
    for cost, line in zip(COSTS, lines, strict=True):
        assert not EXPONENT.search(line), line
        assert msgspec.json.decode(line)["cost_usd"] == cost


@pytest.mark.parametrize(
    ("cost", "text"),
    [(1e-07, b'"cost_usd":0.0000001'), (2.5e-07, b'"cost_usd":0.00000025')],
)
def test_tiny_cost_digits(cost: float, text: bytes) -> None:
    """A tiny cost keeps the digits of its shortest repr, in fixed notation."""
    (line,) = _written([cost])
    assert text in line


def test_cost_that_is_not_finite_is_null() -> None:
    """A cost that overflowed is written as null (valid JSON), never as 'Infinity'."""
    (line,) = _written([float("inf")])
    assert msgspec.json.decode(line)["cost_usd"] is None
