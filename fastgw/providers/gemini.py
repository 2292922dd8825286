"""The ``gemini`` provider: Google's Gemini API (or Vertex AI's), translated from and to
OpenAI's chat completions and embeddings.

Chat goes to ``{base_url}/models/{model}:generateContent`` (``:streamGenerateContent?alt=sse``
when streamed), embeddings to ``:batchEmbedContents``; the translation is
``fastgw.protocols.gemini``. The key comes from the environment variable the TOML names and
goes in ``api_key_header`` (``x-goog-api-key``; with ``authorization`` it is sent as a bearer
token, which is how Vertex AI base URLs are reached). Legacy ``/completions`` is refused
with a 400: Gemini has no text-completion endpoint.
"""

from __future__ import annotations

import asyncio
import time

from ..config import GeminiProvider as GeminiConfig
from ..config import provider_api_key
from ..errors import InvalidRequest
from ..protocols.gemini.answer import ChatTranslation
from ..protocols.gemini.embed import EmbedTranslation, embed_body, embed_path
from ..protocols.gemini.request import chat_body, model_path
from ..protocols.openai.translate import decode_chat, decode_embeddings
from ..tokens import estimate_text
from .base import Call
from .translated import Outbound, TranslatingProvider


class GeminiProvider(TranslatingProvider):
    protocol = "gemini"

    def __init__(self, name: str, config: GeminiConfig, loop: asyncio.AbstractEventLoop) -> None:
        key = provider_api_key(config)
        super().__init__(name, config.base_url, config.pool, config.timeouts, loop, key)
        headers = [("content-type", "application/json"), ("accept-encoding", "identity")]
        if key:
            header = config.api_key_header.lower()
            headers.append((header, f"Bearer {key}" if header == "authorization" else key))
        headers.extend((k.lower(), v) for k, v in config.headers.items())
        self._headers = headers

    def outbound(self, call: Call) -> Outbound:
        model = call.upstream_model
        if call.endpoint == "/chat/completions":
            chat = decode_chat(call.body)
            include = chat.include_usage or call.stream_usage
            chat_translation = ChatTranslation(call.request_id, model, int(time.time()), include)
            path = model_path(model, chat.stream)
            return Outbound(path, self._headers, chat_body(chat), chat_translation)
        if call.endpoint == "/embeddings":
            request = decode_embeddings(call.body)
            estimate = sum(estimate_text(text) for text in request.texts)
            embed = EmbedTranslation(model, request.encoding_format, estimate)
            return Outbound(embed_path(model), self._headers, embed_body(request, model), embed)
        raise InvalidRequest(
            f"This model's provider (gemini) has no {call.endpoint} endpoint; "
            "use /v1/chat/completions.",
        )


PROVIDER = GeminiProvider
