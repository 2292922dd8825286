"""OpenAI embeddings as Gemini's ``batchEmbedContents`` and back (sans-IO).

Rules this module keeps:
- One request per input text, each naming the model (``models/<name>``), with
  ``outputDimensionality`` when the client sent ``dimensions``.
- The answer's ``embeddings[].values`` become OpenAI's list, float or base64 as asked.
- Gemini reports no token usage for embeddings (newer versions may send
  ``usageMetadata.promptTokenCount``, used when present); otherwise the usage is the
  gateway's own estimate of the inputs (``fastgw.tokens``), computed by the caller.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..openai.translate import Embeddings, embedding_body, error_answer
from .errors import error_answer_of, retry_after
from .wire import decode_embeddings

_encode = msgspec.json.Encoder().encode


def embed_path(model: str) -> str:
    return f"/models/{model.removeprefix('models/')}:batchEmbedContents"


def embed_body(request: Embeddings, model: str) -> bytes:
    name = "models/" + model.removeprefix("models/")
    requests = []
    for text in request.texts:
        item: dict[str, Any] = {"model": name, "content": {"parts": [{"text": text}]}}
        if request.dimensions is not None:
            item["outputDimensionality"] = request.dimensions
        requests.append(item)
    return _encode({"requests": requests})


class EmbedTranslation:
    """One embeddings call's way back (``fastgw.providers.translated.Translation``)."""

    __slots__ = ("encoding_format", "estimate", "model", "retry_after")

    def __init__(self, model: str, encoding_format: str, estimate: int) -> None:
        self.model = model
        self.encoding_format = encoding_format
        self.estimate = estimate  # the inputs' token estimate, used when Gemini says none
        self.retry_after: bytes | None = None

    def answer(self, status: int, body: bytes) -> tuple[int, bytes]:
        if status != 200:
            if status == 429:
                self.retry_after = retry_after(body)
            return error_answer_of(status, body)
        try:
            answer = decode_embeddings(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return error_answer("protocol", f"Gemini's embeddings could not be read: {exc}")
        vectors = [embedding.values for embedding in answer.embeddings]
        meta = answer.usage_metadata
        tokens = meta.prompt_token_count if meta and meta.prompt_token_count else self.estimate
        return 200, embedding_body(vectors, self.model, tokens, self.encoding_format)

    def stream(self) -> Any:
        raise TypeError("embeddings do not stream")
