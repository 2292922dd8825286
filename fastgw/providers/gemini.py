"""The ``gemini`` provider: Google's Gemini API (or Vertex AI's), translated from and to
OpenAI's chat completions and embeddings.

Chat goes to ``{base_url}/models/{model}:generateContent`` (``:streamGenerateContent?alt=sse``
when streamed), embeddings to ``:batchEmbedContents``; the translation is
``fastgw.protocols.gemini``. The key comes from the environment variable the TOML names and
goes in ``api_key_header`` (``x-goog-api-key``; with ``authorization`` it is sent as a bearer
token, which is how Vertex AI base URLs are reached). Legacy ``/completions`` is refused
with a 400: Gemini has no text-completion endpoint.

Gemini asks a rate-limited client to wait in its error body (``RetryInfo.retryDelay``), not
in a header: ``GeminiResponse`` offers that wait as ``retry-after``, so routing cools the
deployment down for as long as Google asked and the client sees the header.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from ..config import GeminiProvider as GeminiConfig
from ..config import provider_api_key
from ..errors import InvalidRequest
from ..protocols.gemini.answer import ChatTranslation
from ..protocols.gemini.embed import EmbedTranslation, embed_body, embed_path
from ..protocols.gemini.request import chat_body, model_path
from ..protocols.openai.translate import decode_chat, decode_embeddings
from ..tokens import estimate_text
from ..upstream import UpstreamResponse
from .base import Call, key_headers
from .translated import Outbound, TranslatedResponse, TranslatingProvider


class GeminiResponse(TranslatedResponse):
    """A Gemini answer read as OpenAI's, with a 429's RetryInfo as its ``retry-after``."""

    __slots__ = ("_retry",)

    def __init__(
        self,
        upstream: UpstreamResponse,
        translation: ChatTranslation | EmbedTranslation,
        stream: bool,
    ) -> None:
        super().__init__(upstream, translation, stream)
        self._retry = translation

    def header(self, name: bytes) -> bytes | None:
        value = super().header(name)
        if value is None and name == b"retry-after":
            return self._retry.retry_after
        return value

    @property
    def headers(self) -> Sequence[tuple[bytes, bytes]]:
        headers = super().headers
        retry = self._retry.retry_after
        if retry is not None and all(name != b"retry-after" for name, _ in headers):
            return [*headers, (b"retry-after", retry)]
        return headers


class GeminiProvider(TranslatingProvider):
    protocol = "gemini"

    def __init__(self, name: str, config: GeminiConfig, loop: asyncio.AbstractEventLoop) -> None:
        key = provider_api_key(config)
        super().__init__(name, config.base_url, config.pool, config.timeouts, loop, key)
        headers = [("content-type", "application/json")]
        self._headers = headers + key_headers(key, config.api_key_header, config.headers)

    async def send(self, call: Call) -> GeminiResponse:
        out = self.outbound(call)
        upstream = await self.pool.request(
            "POST", out.path, out.headers, out.body, call.timeouts or self.timeouts
        )
        stream = bool(getattr(call.request, "stream", False))
        translation = out.translation
        assert isinstance(translation, ChatTranslation | EmbedTranslation)
        return GeminiResponse(upstream, translation, stream)

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
