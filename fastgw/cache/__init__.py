"""Response caching: canonical request forms and cache keys (``canonical``).

The exact cache's storage is the compiled ``fastgw._core.ExactCache``; this package holds
the pure-Python protocol logic around it.
"""

from .canonical import (
    CHAT_IGNORED,
    COMPLETION_IGNORED,
    EMBEDDING_IGNORED,
    cache_key,
    canonical_chat,
    canonical_completion,
    canonical_embedding,
)

__all__ = [
    "CHAT_IGNORED",
    "COMPLETION_IGNORED",
    "EMBEDDING_IGNORED",
    "cache_key",
    "canonical_chat",
    "canonical_completion",
    "canonical_embedding",
]
