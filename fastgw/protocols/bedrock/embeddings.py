"""OpenAI embeddings requests as Bedrock InvokeModel calls, and their answers (sans-IO).

Bedrock has no common embeddings API: InvokeModel takes each model family's own body. The
family is read from the model id: Amazon Titan text embeddings (``amazon.titan-embed-text-*``:
one text per call) and Cohere Embed (``cohere.embed-*``: a list of texts).

Rules this module keeps:
- A request the family cannot take is refused with a 400 naming the field: several inputs for
  Titan (one text per call; the gateway does not fan out), ``dimensions`` for a model without
  them, a model id of another family.
- Token counts come from the body (Titan's ``inputTextTokenCount``) or, when the body has
  none (Cohere), from the ``x-amzn-bedrock-input-token-count`` header the shell hands in.
- Titan v2 is asked for normalised vectors, as OpenAI's are.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ...errors import InvalidRequest
from ..openai.translate import Embeddings, embedding_body, error_answer

_encode = msgspec.json.Encoder().encode
DEFAULT_COHERE_INPUT_TYPE = "search_document"
_COHERE_INPUT_TYPES = ("search_document", "search_query", "classification", "clustering")


class TitanAnswer(msgspec.Struct):
    embedding: list[float]
    inputTextTokenCount: int = 0


class CohereAnswer(msgspec.Struct):
    embeddings: list[list[float]] | dict[str, list[list[float]]]


_titan = msgspec.json.Decoder(TitanAnswer).decode
_cohere = msgspec.json.Decoder(CohereAnswer).decode


def embedding_family(model_id: str) -> str:
    """``titan`` or ``cohere``; a 400 for a model id of neither."""
    if "titan-embed" in model_id:
        return "titan"
    if "cohere.embed" in model_id:
        return "cohere"
    raise InvalidRequest(
        f"The gateway embeds on Bedrock with Amazon Titan text embeddings "
        f"(amazon.titan-embed-text-*) and Cohere Embed (cohere.embed-*), not {model_id!r}.",
        param="model",
    )


def embeddings_request(request: Embeddings, model_id: str) -> bytes:
    """The InvokeModel body for ``request``; raises ``InvalidRequest`` (400)."""
    texts = request.texts
    if embedding_family(model_id) == "titan":
        if len(texts) != 1:
            raise InvalidRequest(
                "Amazon Titan embeddings take one input per request on Bedrock; "
                "send 'input' as one string (or make one request per text).",
                param="input",
            )
        body: dict[str, Any] = {"inputText": texts[0]}
        if "text-v1" not in model_id:  # v2 and later: size and normalisation
            body["normalize"] = True
            if request.dimensions is not None:
                body["dimensions"] = request.dimensions
        elif request.dimensions is not None:
            raise InvalidRequest(f"{model_id} has no 'dimensions'.", param="dimensions")
        return _encode(body)
    input_type = request.input_type or DEFAULT_COHERE_INPUT_TYPE
    if input_type not in _COHERE_INPUT_TYPES:
        raise InvalidRequest(
            f"input_type must be one of {', '.join(_COHERE_INPUT_TYPES)}.", param="input_type"
        )
    body = {"texts": texts, "input_type": input_type}
    if request.dimensions is not None:
        if "v3" in model_id:
            raise InvalidRequest(f"{model_id} has no 'dimensions'.", param="dimensions")
        body["output_dimension"] = request.dimensions
    return _encode(body)


def translate_embeddings(
    body: bytes, model_id: str, model: str, encoding_format: str, header_tokens: int | None
) -> tuple[int, bytes]:
    """A 200 InvokeModel answer as OpenAI's embeddings list (502 if unreadable)."""
    try:
        if embedding_family(model_id) == "titan":
            titan = _titan(body)
            vectors, tokens = [titan.embedding], titan.inputTextTokenCount
        else:
            embeddings = _cohere(body).embeddings
            vectors = embeddings if isinstance(embeddings, list) else embeddings.get("float", [])
            tokens = 0
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return error_answer("protocol", f"Bedrock sent embeddings that cannot be read: {exc}")
    if header_tokens is not None and not tokens:
        tokens = header_tokens
    return 200, embedding_body(vectors, model, tokens, encoding_format)


__all__ = ["embedding_family", "embeddings_request", "translate_embeddings"]
