"""Helpers for testing fastgw and testing against it.

- ``GatewayProcess``: a real ``fastgw serve`` on a free loopback port, ready when it returns.
- ``free_port``: a free TCP port on 127.0.0.1.
- ``FakeUpstream``: a fake OpenAI-compatible upstream on loopback that records what it saw and
  misbehaves on demand (``Fault``); ``RecordedRequest`` is one request it saw;
  ``openai_error`` is the OpenAI error body for a status.
- ``AnthropicUpstream``, ``GeminiUpstream``, ``BedrockUpstream`` (with ``BedrockFault``) and
  ``CohereUpstream``: the same for each provider's own protocol (Messages API,
  generateContent, Converse with its binary event stream and SigV4 check, v2 chat), each
  checked by that provider's official SDK; they take the same ``Fault`` values.
- ``ResponsesUpstream``: ``FakeUpstream`` that also answers OpenAI's Responses API
  (``/v1/responses``, plain and streamed), for native passthrough; checked by the openai
  SDK's ``responses``.
- ``RedisServer``: a real ``redis-server`` on a free loopback port that can be killed and
  started again on the same port (outage tests).
- ``RSGIClient``: drives a ``Gateway`` in-process through fake Granian RSGI objects, with the
  worker's init/del hooks; answers are ``RSGIResponse``.
"""

from .anthropic_upstream import AnthropicUpstream
from .bedrock_upstream import BedrockFault, BedrockUpstream
from .cohere_upstream import CohereUpstream
from .gemini_upstream import GeminiUpstream
from .process import GatewayProcess, free_port
from .redis import RedisServer
from .responses_upstream import ResponsesUpstream
from .rsgi import RSGIClient, RSGIResponse
from .upstream import FakeUpstream, Fault, RecordedRequest, openai_error

__all__ = [
    "AnthropicUpstream",
    "BedrockFault",
    "BedrockUpstream",
    "CohereUpstream",
    "FakeUpstream",
    "Fault",
    "GatewayProcess",
    "GeminiUpstream",
    "RSGIClient",
    "RSGIResponse",
    "RecordedRequest",
    "RedisServer",
    "ResponsesUpstream",
    "free_port",
    "openai_error",
]
