"""Cohere's v2 API (``/v2/chat``, ``/v2/embed``) translated from and to OpenAI's (sans-IO).

``request`` writes Cohere's bodies from OpenAI requests, ``answer`` reads Cohere's whole
answers and errors as OpenAI's, ``stream`` translates Cohere's chat stream event by event.
The I/O shell is ``fastgw.providers.cohere``.
"""

from .answer import chat_answer, embed_answer, error, error_kind
from .request import chat_body, embed_body
from .stream import CohereStream

__all__ = [
    "CohereStream",
    "chat_answer",
    "chat_body",
    "embed_answer",
    "embed_body",
    "error",
    "error_kind",
]
