"""How a model picks one of its available deployments.

Each strategy is a function ``(candidates, turn, random) -> deployment`` over a non-empty list
in configuration order; ``turn`` is the model's request counter (round-robin) and ``random``
returns a float in [0, 1). No I/O, no clock: the load and latency figures are read from the
deployments, which the shell keeps up to date.
"""

from __future__ import annotations

from collections.abc import Callable

from .deployment import DeploymentState

Random = Callable[[], float]
Strategy = Callable[[list[DeploymentState], int, Random], DeploymentState]


def weighted(candidates: list[DeploymentState], turn: int, random: Random) -> DeploymentState:
    """At random, in proportion to the weights."""
    if len(candidates) == 1:
        return candidates[0]
    point = random() * sum(d.weight for d in candidates)
    for deployment in candidates:
        point -= deployment.weight
        if point < 0:
            return deployment
    return candidates[-1]


def round_robin(candidates: list[DeploymentState], turn: int, random: Random) -> DeploymentState:
    """Each in turn."""
    return candidates[turn % len(candidates)]


def ordered(candidates: list[DeploymentState], turn: int, random: Random) -> DeploymentState:
    """The first in configuration order (a primary and its standbys)."""
    return candidates[0]


def _least(
    candidates: list[DeploymentState], key: Callable[[DeploymentState], float], random: Random
) -> DeploymentState:
    best = min(key(d) for d in candidates)
    ties = [d for d in candidates if key(d) == best]
    return ties[0] if len(ties) == 1 else weighted(ties, 0, random)


def least_in_flight(
    candidates: list[DeploymentState], turn: int, random: Random
) -> DeploymentState:
    """The one with the fewest requests under way (ties by weight)."""
    return _least(candidates, lambda d: d.in_flight, random)


def lowest_latency(candidates: list[DeploymentState], turn: int, random: Random) -> DeploymentState:
    """The one with the lowest moving-average latency; one never measured goes first."""
    return _least(candidates, lambda d: -1.0 if d.latency is None else d.latency, random)


def lowest_cost(candidates: list[DeploymentState], turn: int, random: Random) -> DeploymentState:
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
