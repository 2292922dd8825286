"""The Structs Gemini's answers are read with (``GenerateContentResponse``, its error body and
``BatchEmbedContentsResponse``).

Rules this module keeps:
- Only the fields a translation uses are declared; unknown fields are ignored, so a new
  field Google adds never breaks a translation.
- Field names are Gemini's camelCase (``rename="camel"``).
- A function call's ``args`` is kept as the raw JSON bytes Gemini sent: they become OpenAI's
  ``arguments`` string without a decode and re-encode.
"""

from __future__ import annotations

import msgspec


class FunctionCall(msgspec.Struct):
    name: str = ""
    args: msgspec.Raw = msgspec.Raw(b"{}")  # a call without arguments: an empty object


class Part(msgspec.Struct, rename="camel"):
    text: str | None = None
    thought: bool = False
    thought_signature: str | None = None
    function_call: FunctionCall | None = None


class Content(msgspec.Struct):
    parts: list[Part] = []
    role: str = "model"


class Candidate(msgspec.Struct, rename="camel"):
    content: Content | None = None
    finish_reason: str | None = None


class UsageMetadata(msgspec.Struct, rename="camel"):
    prompt_token_count: int = 0
    candidates_token_count: int = 0
    thoughts_token_count: int = 0
    cached_content_token_count: int = 0
    tool_use_prompt_token_count: int = 0


class PromptFeedback(msgspec.Struct, rename="camel"):
    block_reason: str | None = None
    block_reason_message: str | None = None


class ErrorDetail(msgspec.Struct):
    type: str = msgspec.field(default="", name="@type")
    retry_delay: str | None = msgspec.field(default=None, name="retryDelay")  # RetryInfo


class Error(msgspec.Struct):
    code: int = 0
    message: str = ""
    status: str = ""
    details: list[ErrorDetail] = []


class GenerateContentResponse(msgspec.Struct, rename="camel"):
    candidates: list[Candidate] = []
    usage_metadata: UsageMetadata | None = None
    prompt_feedback: PromptFeedback | None = None
    model_version: str | None = None
    response_id: str | None = None
    error: Error | None = None  # an error object sent inside a stream


class ErrorBody(msgspec.Struct):
    error: Error


class Embedding(msgspec.Struct):
    values: list[float] = []


class EmbedUsage(msgspec.Struct, rename="camel"):
    prompt_token_count: int = 0


class BatchEmbedContentsResponse(msgspec.Struct, rename="camel"):
    embeddings: list[Embedding] = []
    usage_metadata: EmbedUsage | None = None


decode_response = msgspec.json.Decoder(GenerateContentResponse).decode
decode_error = msgspec.json.Decoder(ErrorBody).decode
decode_embeddings = msgspec.json.Decoder(BatchEmbedContentsResponse).decode
