"""One call's way back from Bedrock to OpenAI: the ``Translation`` objects (sans-IO).

Rules this module keeps:
- A translation is made per call with what the answer needs (id, model, the response tool,
  whether usage was asked for) and handed the two response headers a Bedrock answer reads
  (``note``): the exception name (``x-amzn-ErrorType``) and the input token count that Cohere
  embeddings carry only there.
- Every non-200 answer is read as a Bedrock error (``errors.translate_error``).
"""

from __future__ import annotations

from ..openai.translate import ChunkWriter
from .answer import translate_answer
from .embeddings import translate_embeddings
from .errors import translate_error
from .stream import ConverseStreamTranslator


class _Noted:
    __slots__ = ("error_type", "input_tokens")

    def __init__(self) -> None:
        self.error_type: str | None = None
        self.input_tokens: int | None = None

    def note(self, error_type: bytes | None, input_tokens: bytes | None) -> None:
        """The response headers a Bedrock answer is read with (None when absent)."""
        if error_type is not None:
            self.error_type = error_type.decode("latin-1")
        if input_tokens is not None and input_tokens.isdigit():
            self.input_tokens = int(input_tokens)


class ChatTranslation(_Noted):
    """A Converse or ConverseStream call's answer as OpenAI's."""

    __slots__ = ("created", "id", "include_usage", "model", "response_tool")

    def __init__(
        self, id: str, model: str, created: int, response_tool: str | None, include_usage: bool
    ) -> None:
        super().__init__()
        self.id = id
        self.model = model
        self.created = created
        self.response_tool = response_tool
        self.include_usage = include_usage

    def answer(self, status: int, body: bytes) -> tuple[int, bytes]:
        if status != 200:
            return translate_error(status, body, self.error_type)
        return translate_answer(body, self.id, self.model, self.created, self.response_tool)

    def stream(self) -> ConverseStreamTranslator:
        writer = ChunkWriter(self.id, self.model, self.created, self.include_usage)
        return ConverseStreamTranslator(writer, self.response_tool)


class EmbeddingTranslation(_Noted):
    """An InvokeModel embeddings call's answer as OpenAI's."""

    __slots__ = ("encoding_format", "model", "model_id")

    def __init__(self, model_id: str, model: str, encoding_format: str) -> None:
        super().__init__()
        self.model_id = model_id
        self.model = model
        self.encoding_format = encoding_format

    def answer(self, status: int, body: bytes) -> tuple[int, bytes]:
        if status != 200:
            return translate_error(status, body, self.error_type)
        return translate_embeddings(
            body, self.model_id, self.model, self.encoding_format, self.input_tokens
        )

    def stream(self) -> ConverseStreamTranslator:
        raise NotImplementedError("embeddings do not stream")


__all__ = ["ChatTranslation", "EmbeddingTranslation"]
