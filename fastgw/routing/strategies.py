"""How a model picks one of its available deployments.

Each strategy is a function ``(candidates, turn, random, stream) -> deployment`` over a
non-empty list in configuration order; ``turn`` is the model's request counter (round-robin),
``random`` returns a float in [0, 1) and ``stream`` says whether the request streams (which
latency matters). No I/O, no clock: the load and latency figures are read from the
deployments, which the shell keeps up to date.
"""

from __future__ import annotations

from collections.abc import Callable

from .deployment import DeploymentState

Random = Callable[[], float]
Strategy = Callable[[list[DeploymentState], int, Random, bool], DeploymentState]


def weighted(
    candidates: list[DeploymentState], turn: int, random: Random, stream: bool = False
) -> DeploymentState:
    """At random, in proportion to the weights."""
    if len(candidates) == 1:
        return candidates[0]
    point = random() * sum(d.weight for d in candidates)
    for deployment in candidates:
        point -= deployment.weight
        if point < 0:
            return deployment
    return candidates[-1]


def round_robin(
    candidates: list[DeploymentState], turn: int, random: Random, stream: bool = False
) -> DeploymentState:
    """Each in turn."""
    return candidates[turn % len(candidates)]


def ordered(
    candidates: list[DeploymentState], turn: int, random: Random, stream: bool = False
) -> DeploymentState:
    """The first in configuration order (a primary and its standbys)."""
    return candidates[0]


def _least(
    candidates: list[DeploymentState], key: Callable[[DeploymentState], float], random: Random
) -> DeploymentState:
    best = min(key(d) for d in candidates)
    ties = [d for d in candidates if key(d) == best]
    return ties[0] if len(ties) == 1 else weighted(ties, 0, random)


def least_in_flight(
    candidates: list[DeploymentState], turn: int, random: Random, stream: bool = False
) -> DeploymentState:
    """The one with the fewest requests under way (ties by weight)."""
    return _least(candidates, lambda d: d.in_flight, random)


def lowest_latency(
    candidates: list[DeploymentState], turn: int, random: Random, stream: bool = False
) -> DeploymentState:
    """The one with the lowest moving-average time to first token (a stream) or to the whole
    answer (a plain request), each falling back to the other while it has no sample; one
    never measured goes first."""

    def expected(d: DeploymentState) -> float:
        latency = d.expected_latency(stream)
        return -1.0 if latency is None else latency

    return _least(candidates, expected, random)


def lowest_cost(
    candidates: list[DeploymentState], turn: int, random: Random, stream: bool = False
) -> DeploymentState:
    """The cheapest per token (ties by weight)."""
    return _least(candidates, lambda d: d.cost, random)


STRATEGIES: dict[str, Strategy] = {
    "weighted": weighted,
    "round-robin": round_robin,
    "ordered": ordered,
    "least-in-flight": least_in_flight,
    "lowest-latency": lowest_latency,
    "lowest-cost": lowest_cost,
}
