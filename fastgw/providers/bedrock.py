"""Amazon Bedrock (Converse, ConverseStream, InvokeModel embeddings): the I/O shell.

The translation is ``fastgw.protocols.bedrock``; this module says where each call goes,
signs it and hands the translation the response headers it reads.

Rules this module keeps:
- Credentials come from the environment variables the config names (read by the config
  module, never logged, never returned): the AWS access key, secret key and optional session
  token for SigV4, or a Bedrock API key (``api_key_env``) sent as ``Authorization: Bearer``
  without signing.
- SigV4 is botocore's signer (service ``bedrock``, the config's region), imported here only,
  when the provider is built (``pip install 'fastgw[bedrock]'``; the config check refuses a
  SigV4 provider without it). What is signed is exactly what is sent: the URL is built from
  the pool's own host header and base path plus the percent-encoded model path, the body is
  the bytes written, and every header sent is in the signed request.
- ``/chat/completions`` goes to Converse (or ConverseStream for ``stream: true``),
  ``/embeddings`` to InvokeModel; the legacy ``/completions`` is refused with a 400.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..config import BedrockProvider as BedrockConfig
from ..config import bedrock_base_url, bedrock_credentials, provider_api_key
from ..errors import InvalidRequest
from ..protocols.bedrock import (
    ChatTranslation,
    EmbeddingTranslation,
    converse_request,
    embeddings_request,
    model_path,
)
from ..protocols.openai.translate import decode_chat, decode_embeddings
from .base import Call
from .translated import Outbound, TranslatedResponse, TranslatingProvider

_JSON = "application/json"
_EVENTSTREAM = "application/vnd.amazon.eventstream"
SIGNING_SERVICE = "bedrock"


class SigV4Signer:
    """Signs one request with botocore's SigV4 (imported on first use: at provider build)."""

    def __init__(self, region: str, access_key: str, secret_key: str, token: str | None) -> None:
        from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
        from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
        from botocore.credentials import Credentials  # type: ignore[import-untyped]

        self._auth: Any = SigV4Auth(
            Credentials(access_key, secret_key, token), SIGNING_SERVICE, region
        )
        self._request: Any = AWSRequest

    def sign(self, url: str, headers: list[tuple[str, str]], body: bytes) -> list[tuple[str, str]]:
        """``headers`` plus the signature's (``X-Amz-Date``, ``Authorization`` and the session
        token if any) for a POST of ``body`` to ``url``."""
        request = self._request(method="POST", url=url, data=body, headers=dict(headers))
        self._auth.add_auth(request)
        return [(str(k), str(v)) for k, v in request.headers.items()]


class BedrockProvider(TranslatingProvider):
    """Bedrock's runtime API behind OpenAI's chat completions and embeddings."""

    protocol = "bedrock"

    def __init__(self, name: str, config: BedrockConfig, loop: asyncio.AbstractEventLoop) -> None:
        api_key = provider_api_key(config)
        self._signer: SigV4Signer | None = None
        secret = api_key
        if api_key is None:
            access_key, secret_key, token = bedrock_credentials(config)
            self._signer = SigV4Signer(config.region, access_key, secret_key, token)
            secret = secret_key
        super().__init__(name, bedrock_base_url(config), config.pool, config.timeouts, loop, secret)
        scheme = "https" if self.pool.ssl is not None else "http"
        self._origin = f"{scheme}://{self.pool.host_header}{self.pool.base_path}"
        self._base_headers = [*config.headers.items()]
        if api_key is not None:
            self._base_headers.append(("authorization", f"Bearer {api_key}"))

    def outbound(self, call: Call) -> Outbound:
        if call.endpoint == "/chat/completions":
            return self._chat(call)
        if call.endpoint == "/embeddings":
            return self._embeddings(call)
        raise InvalidRequest(
            "This model's provider (bedrock) serves chat completions and embeddings only; "
            "send the prompt as a user message to /v1/chat/completions."
        )

    def _chat(self, call: Call) -> Outbound:
        chat = decode_chat(call.body)
        model_id = call.upstream_model
        plan = converse_request(chat, model_id)
        stream = bool(getattr(call.request, "stream", False))
        path = model_path(model_id, "converse-stream" if stream else "converse")
        translation = ChatTranslation(
            f"chatcmpl-{call.request_id}",
            model_id,
            int(time.time()),
            plan.response_tool,
            chat.include_usage or call.stream_usage,
        )
        accept = _EVENTSTREAM if stream else _JSON
        return Outbound(path, self._headers(path, accept, plan.body), plan.body, translation)

    def _embeddings(self, call: Call) -> Outbound:
        request = decode_embeddings(call.body)
        model_id = call.upstream_model
        body = embeddings_request(request, model_id)
        path = model_path(model_id, "invoke")
        translation = EmbeddingTranslation(model_id, model_id, request.encoding_format)
        return Outbound(path, self._headers(path, _JSON, body), body, translation)

    def _headers(self, path: str, accept: str, body: bytes) -> list[tuple[str, str]]:
        headers = [("content-type", _JSON), ("accept", accept), *self._base_headers]
        if self._signer is None:
            return headers
        return self._signer.sign(self._origin + path, headers, body)

    async def send(self, call: Call) -> TranslatedResponse:
        out = self.outbound(call)
        upstream = await self.pool.request(
            "POST", out.path, out.headers, out.body, call.timeouts or self.timeouts
        )
        translation = out.translation
        if isinstance(translation, ChatTranslation | EmbeddingTranslation):
            translation.note(
                upstream.header(b"x-amzn-errortype"),
                upstream.header(b"x-amzn-bedrock-input-token-count"),
            )
        stream = bool(getattr(call.request, "stream", False))
        return TranslatedResponse(upstream, translation, stream)


PROVIDER = BedrockProvider

__all__ = ["PROVIDER", "BedrockProvider", "SigV4Signer"]
