"""What an upstream answer means for routing: the ``Failure`` kinds, and OpenAI's mapping.

Routing itself asks the deployment's provider (``Provider.classify``, ``Provider.cooldown``),
so that an upstream speaking another protocol classifies its own answers. The kinds are
``fastgw.protocols.failure``'s; OpenAI's statuses, error codes and ``Retry-After`` are read in
``fastgw.protocols.openai.failures``, re-exported here.
"""

from __future__ import annotations

from ..protocols.failure import Failure
from ..protocols.openai.failures import RETRYABLE_STATUSES, classify, classify_400, retry_after

__all__ = ["RETRYABLE_STATUSES", "Failure", "classify", "classify_400", "retry_after"]
