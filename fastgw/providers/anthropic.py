"""The ``anthropic`` provider: Anthropic's Messages API behind OpenAI's chat completions.

The I/O shell around ``fastgw.protocols.anthropic``: the request is translated there, sent
to ``{base_url}/v1/messages`` with the key from the environment variable the TOML names
(``x-api-key`` by default, never logged nor passed back), ``anthropic-version`` and, when
configured, ``anthropic-beta``; the answer is read back as OpenAI's by the frame
(``translated.TranslatedResponse``). Anthropic has no embeddings and no legacy completions:
those endpoints are a 400 naming the endpoint.

A client of fastgw's own Messages API (``fastgw.inbound.anthropic``) is sent byte for byte:
its original body (``Call.inbound``), only ``model`` renamed, so thinking signatures, cache
markers and fields the translation has no place for (``top_k``, new ones) reach Anthropic as
written; the answer still comes back as OpenAI's, and the inbound edge writes it as
Anthropic's again.
"""

from __future__ import annotations

import asyncio
import time

from ..config import AnthropicProvider as AnthropicConfig
from ..config import provider_api_key
from ..errors import InvalidRequest
from ..protocols.anthropic import MessagesTranslation, messages_request
from ..protocols.anthropic.front_passthrough import rename_model
from ..protocols.openai.translate import decode_chat
from .base import Call, key_headers
from .translated import Outbound, TranslatingProvider

PATH = "/v1/messages"


class AnthropicProvider(TranslatingProvider):
    protocol = "anthropic"

    def __init__(self, name: str, config: AnthropicConfig, loop: asyncio.AbstractEventLoop) -> None:
        key = provider_api_key(config)
        super().__init__(name, config.base_url, config.pool, config.timeouts, loop, key)
        self.config = config
        headers = [("content-type", "application/json"), ("anthropic-version", config.version)]
        if config.beta:
            headers.append(("anthropic-beta", ",".join(config.beta)))
        headers += key_headers(key, config.api_key_header, config.headers)
        self._headers = headers

    def outbound(self, call: Call) -> Outbound:
        if call.endpoint != "/chat/completions":
            what = "embeddings" if call.endpoint == "/embeddings" else "legacy completions"
            raise InvalidRequest(
                f"This model's provider (Anthropic) has no {what} endpoint "
                f"({call.endpoint}); use /v1/chat/completions or another model.",
            )
        headers = [*self._headers, ("x-request-id", call.request_id)]
        inbound = call.inbound
        if inbound is not None and inbound[0] == "anthropic":
            options = getattr(call.request, "stream_options", None)
            asked = options is not None and options.include_usage
            translation = MessagesTranslation(int(time.time()), asked or call.stream_usage, None)
            body = rename_model(inbound[1], call.upstream_model)
            return Outbound(PATH, headers, body, translation)
        chat = decode_chat(call.body)
        request = messages_request(chat, call.upstream_model, self.config.max_tokens)
        include_usage = request.include_usage or call.stream_usage
        translation = MessagesTranslation(int(time.time()), include_usage, request.json_tool)
        return Outbound(PATH, headers, request.body, translation)


PROVIDER = AnthropicProvider

__all__ = ["PROVIDER", "AnthropicProvider"]
