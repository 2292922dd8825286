"""The timing loop the micro-benchmarks share: the best of ``repeat`` runs, per call."""

from __future__ import annotations

import gc
from collections.abc import Callable


def best_ns(loop: Callable[[int], int], calls: int, repeat: int) -> float:
    """The fewest nanoseconds per call over ``repeat`` runs of ``loop(calls)`` (which returns
    the nanoseconds it took), with the garbage collector off while it runs."""
    best = float("inf")
    gc.disable()
    try:
        for _ in range(repeat):
            best = min(best, loop(calls) / calls)
    finally:
        gc.enable()
    return best
