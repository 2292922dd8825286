"""What a failed upstream answer means for routing, in words shared by every protocol.

A provider's ``classify`` maps its protocol's statuses and error bodies onto ``Failure``;
routing acts on the kind only (retry, cool down, fall over, fall back, refuse), so an
upstream speaking another protocol needs no change to routing.
"""

from __future__ import annotations

import enum


class Failure(enum.Enum):
    """Why an attempt did not answer, as routing sees it."""

    TRANSIENT = "transient"  # retry: here after a backoff, or on another deployment
    RATE_LIMITED = "rate_limited"  # 429: this deployment cools down (Retry-After)
    DEPLOYMENT = "deployment"  # our credentials refused (401/403): try another deployment
    CONTEXT_LENGTH = "context_length"  # the prompt is too long for this model
    CONTENT_POLICY = "content_policy"  # the provider's content filter refused it
    INVALID = "invalid"  # any other 4xx: the same request will fail the same way


__all__ = ["Failure"]
