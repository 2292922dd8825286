"""Amazon Bedrock's runtime protocol (Converse, ConverseStream, InvokeModel for embeddings),
translated from and to OpenAI's (sans-IO).

``request`` writes Converse bodies from OpenAI chat requests, ``answer`` and ``stream`` read
Converse answers and ConverseStream event streams (``eventstream`` frames them) back into
OpenAI's, ``embeddings`` does both for InvokeModel embeddings, ``errors`` maps Bedrock's
exceptions to OpenAI error kinds and ``translation`` ties one call's way back together.
The I/O shell (SigV4 signing, sending) is ``fastgw.providers.bedrock``.
"""

from __future__ import annotations

from .embeddings import embeddings_request
from .request import ConversePlan, converse_request, model_path
from .translation import ChatTranslation, EmbeddingTranslation

__all__ = [
    "ChatTranslation",
    "ConversePlan",
    "EmbeddingTranslation",
    "converse_request",
    "embeddings_request",
    "model_path",
]
