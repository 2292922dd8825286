"""A request's admission: what it reserved, to be settled exactly once when it finishes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class Ticket:
    """What ``admit`` took for one request.

    - ``backend``: ``"local"`` or ``"redis"`` (a Redis limiter that fell back to local limits
      settles a local ticket locally).
    - ``tokens``: tokens reserved (prompt estimate + completion allowance);
      ``estimated_cost``: USD reserved against budgets (0 when no budget applies).
    - ``buckets``: the token buckets to correct at settlement (a tuple of handles locally,
      Redis bucket descriptions remotely); ``parallel``: counters to leave; ``budgets``: spend
      counters that hold ``estimated_cost`` in reserve (``Spend`` objects locally, counter
      names remotely).
    - ``headers``: the ``x-ratelimit-*`` headers of the response.
    """

    __slots__ = (
        "backend",
        "buckets",
        "budgets",
        "estimated_cost",
        "headers",
        "parallel",
        "settled",
        "tokens",
    )

    def __init__(
        self,
        backend: str,
        tokens: int,
        estimated_cost: float,
        buckets: Sequence[Any],
        parallel: Sequence[Any],
        budgets: Sequence[Any],
        headers: list[tuple[str, str]],
    ) -> None:
        self.backend = backend
        self.tokens = tokens
        self.estimated_cost = estimated_cost
        self.buckets = buckets
        self.parallel = parallel
        self.budgets = budgets
        self.headers = headers
        self.settled = False
