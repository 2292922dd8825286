"""The OpenAI wire names the rest of fastgw imports, re-exported from ``fastgw.protocols.openai``.

Nothing is defined here: each Struct, decoder and bound is written once, in the protocol
package (``requests``, ``decode``, ``rewrite``, ``usage``, ``responses``). This module keeps
existing imports working; new code imports from the protocol package.
"""

from __future__ import annotations

from ._core.jsonshape import MAX_TOP_LEVEL_KEYS
from .protocols.openai.decode import DECODERS, MAX_JSON_DEPTH, check_shape_code, decode_request
from .protocols.openai.requests import (
    MAX_BEST_OF,
    MAX_CHOICES,
    MAX_DIMENSIONS,
    MAX_EMBEDDING_INPUTS,
    MAX_LOGPROBS,
    MAX_TOKEN_ID,
    MAX_TOKENS,
    MAX_TOP_LOGPROBS,
    ChatRequest,
    CompletionRequest,
    EmbeddingRequest,
    Message,
    Request,
    StreamOptions,
)
from .protocols.openai.responses import ModelCard, ModelList
from .protocols.openai.rewrite import encode, with_model, with_stream_usage
from .protocols.openai.usage import (
    MAX_USAGE_TOKENS,
    PromptTokensDetails,
    TokenCount,
    Usage,
    decode_usage,
)

__all__ = [
    "DECODERS",
    "MAX_BEST_OF",
    "MAX_CHOICES",
    "MAX_DIMENSIONS",
    "MAX_EMBEDDING_INPUTS",
    "MAX_JSON_DEPTH",
    "MAX_LOGPROBS",
    "MAX_TOKENS",
    "MAX_TOKEN_ID",
    "MAX_TOP_LEVEL_KEYS",
    "MAX_TOP_LOGPROBS",
    "MAX_USAGE_TOKENS",
    "ChatRequest",
    "CompletionRequest",
    "EmbeddingRequest",
    "Message",
    "ModelCard",
    "ModelList",
    "PromptTokensDetails",
    "Request",
    "StreamOptions",
    "TokenCount",
    "Usage",
    "check_shape_code",
    "decode_request",
    "decode_usage",
    "encode",
    "with_model",
    "with_stream_usage",
]
