"""Routing and resilience: which deployment answers a request, and what happens when one
fails (strategies, retries with backoff, fallbacks, circuit breakers, timeouts).

``Router`` is built once per worker from the config; ``Router.answer`` is the only call on
the request path. The decisions are I/O-free modules (``plan``, ``strategies``, ``breaker``,
``policy``); what a failed answer means is its provider's word (``Provider.classify``);
``router`` and ``attempt`` are the thin async shell around them.
"""

from .attempt import Answer
from .router import ATTEMPTS_HEADER, Router

__all__ = ["ATTEMPTS_HEADER", "Answer", "Router"]
