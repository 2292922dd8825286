"""The ``openai`` provider: any OpenAI-compatible upstream, passed through untranslated.

The client's body is forwarded as received; only the top-level ``model`` is rewritten, and
only when the deployment's upstream model name differs from the one the client asked for,
and ``stream_options.include_usage`` is set when the gateway wants a stream's usage the
client did not ask for (unless the provider's ``stream_usage`` is false).
The upstream key comes from the environment variable the TOML names and goes into the
configured header (``authorization: Bearer ...`` by default, ``api-key`` for Azure).

With ``responses = true`` the upstream speaks OpenAI's Responses API itself: a client of the
gateway's ``/v1/responses`` (``Call.inbound``) is sent to ``{base_url}/responses`` with the
body the inbound front wrote for it (``protocols.responses.native``: the client's, ``store``
false, a continuation's input expanded), only ``model`` renamed; the answer is in the
Responses API's protocol and the inbound edge relays it as is (``answers_natively``).
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

from ..config import OpenAIProvider as OpenAIConfig
from ..config import provider_api_key
from ..protocols.openai.rewrite import with_model, with_stream_usage
from ..upstream import Pool, UpstreamResponse
from .base import Call, answers_natively, key_headers
from .openai_wire import OpenAIWire

RESPONSES = "/responses"


class OpenAIProvider(OpenAIWire):
    def __init__(self, name: str, config: OpenAIConfig, loop: asyncio.AbstractEventLoop) -> None:
        self.name = name
        self.config = config
        self.pool = Pool(config.base_url, config.pool, loop)
        self._query = "?" + urlencode(config.query) if config.query else ""
        key = provider_api_key(config)
        if key:
            self.secret = key.encode()
        common = key_headers(key, config.api_key_header, config.headers)
        self._common = common  # what every request carries but its content type
        self._headers = [("content-type", "application/json"), *common]
        #: the inbound APIs this upstream speaks itself (``base.answers_natively``)
        self.native = frozenset({"responses"}) if config.responses else frozenset()

    async def send(self, call: Call) -> UpstreamResponse:
        body = call.body
        rename = call.upstream_model != call.request.model
        endpoint, inbound = call.endpoint, call.inbound
        if self.native and inbound is not None and answers_natively(self, call):
            endpoint, body = RESPONSES, inbound[1]
            if rename:
                body = with_model(body, call.upstream_model)
        elif call.stream_usage and self.config.stream_usage:
            body = with_stream_usage(body, call.upstream_model if rename else None)
        elif rename:
            body = with_model(body, call.upstream_model)
        headers = [*self._headers, ("x-request-id", call.request_id)]
        return await self.pool.request(
            "POST",
            endpoint + self._query,
            headers,
            body,
            call.timeouts or self.config.timeouts,
        )

    async def forward(
        self, method: str, path: str, content_type: str | None, body: bytes, request_id: str
    ) -> UpstreamResponse:
        """A passthrough request (``fastgw.passthrough``): ``body`` as the client sent it, with
        its ``content_type`` (JSON, multipart...), to ``path`` under the ``base_url``, carrying
        this provider's key and headers instead of the client's."""
        headers = [*self._common, ("x-request-id", request_id)]
        if content_type is not None:
            headers.append(("content-type", content_type))
        return await self.pool.request(
            method, path + self._query, headers, body, self.config.timeouts
        )

    async def close(self) -> None:
        await self.pool.close()
