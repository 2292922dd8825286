"""OpenAI request Structs: the few fields the gateway reads, with OpenAI's documented bounds.

Rules this module keeps:
- Request Structs hold only what fastgw routes, limits, caches or mocks on; every other field
  stays in the client's original bytes and is forwarded untouched.
- Every number a client sends that fastgw decodes is range-checked at decode (msgspec
  ``Meta`` bounds: C comparisons, no Python per field), to what OpenAI's API reference accepts
  (openapi.yaml: ``n`` 1..128, ``top_logprobs`` 0..20, ``temperature`` 0..2, ``top_p`` 0..1,
  penalties -2..2, ``logit_bias`` -100..100, ``best_of`` 0..20, ``logprobs`` 0..5, ``seed`` an
  int64, embeddings ``input`` 1..2048 items), whatever the provider; token counts are bounded by
  ``MAX_TOKENS``. So nothing downstream (admission arithmetic, Redis scripts, the mock) ever
  sees a number it could overflow on. Fields decoded only for this check are marked so.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec


class StreamOptions(msgspec.Struct):
    include_usage: bool = False


class Message(msgspec.Struct):
    role: str
    content: str | list[Any] | None = None


# OpenAI's documented bounds (openapi.yaml, CreateChatCompletionRequest, CreateCompletionRequest,
# CreateEmbeddingRequest); refused at decode with a 400 naming the param, before any upstream.
MAX_CHOICES = 128  # n
MAX_EMBEDDING_INPUTS = 2048  # items of an embeddings input array
MAX_TOP_LOGPROBS = 20
MAX_BEST_OF = 20
MAX_LOGPROBS = 5  # legacy completions
# max_tokens, max_completion_tokens: OpenAI documents no maximum (each model refuses past its
# own); 2^24 is above every model's context window (the largest, 10M tokens) and keeps
# n x max_tokens (at most 2^31) exact in a C integer, a double and a Redis (Lua) number.
MAX_TOKENS = 2**24
# embeddings dimensions: OpenAI documents no maximum (its largest model has 3072)
MAX_DIMENSIONS = 65_536
MAX_TOKEN_ID = 2**32 - 1  # a token of a prompt or an embeddings input given as integers
_INT64 = 2**63

Tokens = Annotated[int, msgspec.Meta(ge=1, le=MAX_TOKENS)]
Choices = Annotated[int, msgspec.Meta(ge=1, le=MAX_CHOICES)]
Dimensions = Annotated[int, msgspec.Meta(ge=1, le=MAX_DIMENSIONS)]
Seed = Annotated[int, msgspec.Meta(ge=-_INT64, le=_INT64 - 1)]
Temperature = Annotated[float, msgspec.Meta(ge=0, le=2)]
TopP = Annotated[float, msgspec.Meta(ge=0, le=1)]
Penalty = Annotated[float, msgspec.Meta(ge=-2, le=2)]
LogitBias = dict[str, Annotated[float, msgspec.Meta(ge=-100, le=100)]]
TopLogprobs = Annotated[int, msgspec.Meta(ge=0, le=MAX_TOP_LOGPROBS)]
Token = Annotated[int, msgspec.Meta(ge=0, le=MAX_TOKEN_ID)]
TokenList = Annotated[list[Token], msgspec.Meta(min_length=1)]
EmbeddingInputs = Annotated[
    list[str | Token | TokenList], msgspec.Meta(min_length=1, max_length=MAX_EMBEDDING_INPUTS)
]


class ChatRequest(msgspec.Struct):
    model: str
    messages: list[Message]
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: Tokens | None = None
    max_completion_tokens: Tokens | None = None
    n: Choices = 1
    temperature: Temperature | None = None
    seed: Seed | None = None
    metadata: dict[str, Any] | None = None  # routing reads metadata.tags
    # decoded only to be range-checked (the upstream gets the original bytes)
    top_p: TopP | None = None
    frequency_penalty: Penalty | None = None
    presence_penalty: Penalty | None = None
    logit_bias: LogitBias | None = None
    top_logprobs: TopLogprobs | None = None


class CompletionRequest(msgspec.Struct):
    model: str
    prompt: str | list[str | Token | TokenList]
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: Tokens | None = None
    n: Choices = 1
    temperature: Temperature | None = None
    seed: Seed | None = None
    metadata: dict[str, Any] | None = None
    # decoded only to be range-checked (the upstream gets the original bytes)
    top_p: TopP | None = None
    frequency_penalty: Penalty | None = None
    presence_penalty: Penalty | None = None
    logit_bias: LogitBias | None = None
    best_of: Annotated[int, msgspec.Meta(ge=0, le=MAX_BEST_OF)] | None = None
    logprobs: Annotated[int, msgspec.Meta(ge=0, le=MAX_LOGPROBS)] | None = None


class EmbeddingRequest(msgspec.Struct):
    model: str
    input: str | EmbeddingInputs
    encoding_format: str = "float"
    dimensions: Dimensions | None = None


Request = ChatRequest | CompletionRequest | EmbeddingRequest
