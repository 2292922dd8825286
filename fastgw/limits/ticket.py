"""A request's admission: what it reserved, to be settled exactly once when it finishes.

The class lives in the compiled core (``fastgw._core.admission``: the local backend's
admission builds one per request there); the Redis backend builds the same tickets.
"""

from __future__ import annotations

from .._core import Ticket

__all__ = ["Ticket"]
