"""The ``cohere`` provider: Cohere's v2 API (``/v2/chat``, ``/v2/embed``) behind OpenAI's chat
completions and embeddings.

The translation is ``fastgw.protocols.cohere``; this module is the I/O shell: the key from the
environment variable the TOML names (``api_key_env``), sent as ``Authorization: Bearer`` (or
in the configured ``api_key_header``), the configured extra headers, and the endpoint each
call goes to. ``/completions`` (legacy) has no Cohere v2 equivalent: a 400.
"""

from __future__ import annotations

import asyncio
import time

from ..config import CohereProvider as CohereConfig
from ..config import provider_api_key
from ..errors import InvalidRequest, UpstreamProtocolError
from ..protocols.cohere import CohereStream, chat_answer, chat_body, embed_answer, embed_body
from ..protocols.openai.translate import decode_chat, decode_embeddings
from .base import Call, key_headers
from .translated import Outbound, StreamTranslator, TranslatingProvider


class ChatTranslation:
    """A ``/v2/chat`` call's way back to OpenAI's chat completions."""

    __slots__ = ("created", "id", "include_usage", "model")

    def __init__(self, id: str, model: str, include_usage: bool) -> None:
        self.id = id
        self.model = model
        self.created = int(time.time())
        self.include_usage = include_usage

    def answer(self, status: int, body: bytes) -> tuple[int, bytes]:
        return chat_answer(status, body, self.model, self.created)

    def stream(self) -> StreamTranslator:
        return CohereStream(self.id, self.model, self.created, self.include_usage)


class EmbedTranslation:
    """A ``/v2/embed`` call's way back to OpenAI's embeddings."""

    __slots__ = ("encoding_format", "model")

    def __init__(self, model: str, encoding_format: str) -> None:
        self.model = model
        self.encoding_format = encoding_format

    def answer(self, status: int, body: bytes) -> tuple[int, bytes]:
        return embed_answer(status, body, self.model, self.encoding_format)

    def stream(self) -> StreamTranslator:
        raise UpstreamProtocolError("Embeddings do not stream.")


class CohereProvider(TranslatingProvider):
    protocol = "cohere"

    def __init__(self, name: str, config: CohereConfig, loop: asyncio.AbstractEventLoop) -> None:
        key = provider_api_key(config)
        super().__init__(name, config.base_url, config.pool, config.timeouts, loop, key)
        headers = [("content-type", "application/json")]
        self._headers = headers + key_headers(key, config.api_key_header, config.headers)

    def outbound(self, call: Call) -> Outbound:
        headers = [*self._headers, ("x-request-id", call.request_id)]
        if call.endpoint == "/chat/completions":
            chat = decode_chat(call.body)
            body = chat_body(chat, call.upstream_model)
            include = chat.include_usage or call.stream_usage
            translation = ChatTranslation(
                f"chatcmpl-{call.request_id}", call.upstream_model, include
            )
            return Outbound("/v2/chat", headers, body, translation)
        if call.endpoint == "/embeddings":
            request = decode_embeddings(call.body)
            body = embed_body(request, call.upstream_model)
            embed = EmbedTranslation(call.upstream_model, request.encoding_format)
            return Outbound("/v2/embed", headers, body, embed)
        raise InvalidRequest(
            f"This model's provider (cohere) does not serve {call.endpoint}; "
            "use /chat/completions or /embeddings."
        )


PROVIDER = CohereProvider

__all__ = ["PROVIDER", "ChatTranslation", "CohereProvider", "EmbedTranslation"]
