"""The OpenAI side of every translation: a client's whole chat or embeddings request read for
a translator, and OpenAI's answers, stream chunks and errors written for one (sans-IO).

A translating provider (``fastgw.providers.translated``) turns the client's OpenAI request
into its upstream's protocol and the upstream's answer back into OpenAI's. Each protocol
package reads the request with ``decode_chat`` / ``decode_embeddings`` and writes the answer
with ``completion_body``, ``ChunkWriter``, ``embedding_body`` and ``error_answer``, so every
provider's answers are shaped alike, as OpenAI shapes them.

Rules this module keeps:
- The request Structs hold every chat field a translator maps; unknown fields are ignored
  (the passthrough forwards them, a translation has nowhere to put them). The client's body
  was already checked by ``decode`` (numbers range-checked), so this second decode only
  adds the structure: messages, tools, response_format, stop.
- Fields OpenAI does not define but gateways carry between turns are kept: an assistant
  message's ``reasoning_content`` and ``thinking_blocks`` (Anthropic thinking with its
  signature), a tool call's ``extra_content`` (Gemini's thought signature, as Google's own
  OpenAI-compatible endpoint writes it), and ``cache_control`` on messages, content parts and
  tools (Anthropic prompt caching), so a translator can pass them on untouched.
- Errors are named by kind (``ERROR_KINDS``); the kind fixes the status, the OpenAI error
  type and code, so routing (``openai.failures.classify``) reads a translated error exactly
  as it reads OpenAI's: ``overloaded`` is a retryable 503, ``rate_limited`` a 429,
  ``context_length`` and ``content_policy`` 400s with OpenAI's codes.
- Usage carries OpenAI's details: cached prompt tokens in ``prompt_tokens_details``,
  reasoning tokens in ``completion_tokens_details``.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import msgspec

from ...errors import InvalidRequest
from .errors import error_body

# -- requests -------------------------------------------------------------------------------


class FunctionCall(msgspec.Struct):
    name: str = ""
    arguments: str = ""


class ToolCall(msgspec.Struct):
    id: str = ""
    type: str = "function"
    function: FunctionCall = msgspec.field(default_factory=FunctionCall)
    extra_content: dict[str, Any] | None = None  # Gemini: {"google": {"thought_signature"}}


class ChatMessage(msgspec.Struct):
    role: str
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    reasoning_content: str | None = None
    thinking_blocks: list[dict[str, Any]] | None = None  # Anthropic, signatures included
    cache_control: dict[str, Any] | None = None


class FunctionDef(msgspec.Struct):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(msgspec.Struct):
    function: FunctionDef
    type: str = "function"
    cache_control: dict[str, Any] | None = None


class JSONSchema(msgspec.Struct):
    name: str = "response"
    schema: dict[str, Any] | None = None
    description: str | None = None
    strict: bool | None = None


class ResponseFormat(msgspec.Struct):
    type: str = "text"  # text | json_object | json_schema
    json_schema: JSONSchema | None = None


class StreamOptions(msgspec.Struct):
    include_usage: bool = False


class Chat(msgspec.Struct):
    """A chat completions request as a translator reads it."""

    model: str
    messages: list[ChatMessage]
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    n: int = 1
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    tools: list[Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None
    thinking: dict[str, Any] | None = None  # Anthropic's own thinking parameter, passed on
    user: str | None = None
    metadata: dict[str, Any] | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None

    @property
    def output_limit(self) -> int | None:
        """``max_completion_tokens``, else ``max_tokens``."""
        return self.max_completion_tokens or self.max_tokens

    @property
    def stops(self) -> list[str]:
        stop = self.stop
        return [] if stop is None else [stop] if isinstance(stop, str) else stop

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


class Embeddings(msgspec.Struct):
    """An embeddings request as a translator reads it."""

    model: str
    input: str | list[Any]
    encoding_format: str = "float"
    dimensions: int | None = None
    user: str | None = None
    input_type: str | None = None  # Cohere's, accepted as an extension

    @property
    def texts(self) -> list[str]:
        """The inputs as strings; token-id inputs are refused (no other provider takes them)."""
        items = [self.input] if isinstance(self.input, str) else self.input
        if not all(isinstance(item, str) for item in items):
            raise InvalidRequest(
                "This model's provider embeds text only; send 'input' as strings.",
                param="input",
            )
        return items


_chat = msgspec.json.Decoder(Chat)
_embeddings = msgspec.json.Decoder(Embeddings)


def decode_chat(body: bytes) -> Chat:
    """The client's chat body for a translator; a 400 naming the field when it does not fit."""
    try:
        return _chat.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"Invalid request: {exc}") from None


def decode_embeddings(body: bytes) -> Embeddings:
    try:
        return _embeddings.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"Invalid request: {exc}") from None


def refuse_n(chat: Chat, provider: str) -> None:
    """A 400 for ``n > 1`` on a provider that answers one choice per request."""
    if chat.n != 1:
        raise InvalidRequest(
            f"This model's provider ({provider}) returns one choice per request; "
            "send n = 1 (or leave it out) and make several requests instead.",
            param="n",
        )


# -- answers --------------------------------------------------------------------------------

_encode = msgspec.json.Encoder().encode


def usage(
    prompt: int,
    completion: int,
    cached: int = 0,
    reasoning: int = 0,
    cache_write: int = 0,
) -> dict[str, Any]:
    """OpenAI's usage object. ``prompt`` counts every input token, cached and cache writes
    included (as OpenAI counts them); ``cache_write`` is reported beside OpenAI's fields as
    ``prompt_tokens_details.cache_creation_tokens`` for providers that bill it."""
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    details: dict[str, int] = {"cached_tokens": cached}
    if cache_write:
        details["cache_creation_tokens"] = cache_write
    out["prompt_tokens_details"] = details
    out["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return out


def completion_body(
    id: str,
    model: str,
    created: int,
    message: dict[str, Any],
    finish_reason: str,
    usage: dict[str, Any],
) -> bytes:
    """A whole ``chat.completion`` with one choice; ``message`` is the assistant message
    (``role`` is set here)."""
    return _encode(
        {
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", **message},
                    "finish_reason": finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": usage,
        }
    )


class ChunkWriter:
    """The ``chat.completion.chunk`` events of one translated stream, one choice, written as
    OpenAI writes them: every method returns one SSE event's bytes."""

    __slots__ = ("_head", "_usage_field", "include_usage")

    def __init__(self, id: str, model: str, created: int, include_usage: bool) -> None:
        self._head = {"id": id, "object": "chat.completion.chunk", "created": created}
        self._head["model"] = model
        self.include_usage = include_usage
        self._usage_field = {"usage": None} if include_usage else {}

    def _event(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        body = {**self._head, "choices": [choice], **self._usage_field}
        return b"data: " + _encode(body) + b"\n\n"

    def role(self) -> bytes:
        return self._event({"role": "assistant", "content": ""})

    def text(self, text: str) -> bytes:
        return self._event({"content": text})

    def reasoning(self, text: str) -> bytes:
        return self._event({"reasoning_content": text})

    def thinking_block(self, block: dict[str, Any]) -> bytes:
        """A whole thinking block (its text already streamed as ``reasoning``), sent once its
        signature arrived, so a client can carry it to the next turn."""
        return self._event({"thinking_blocks": [block]})

    def tool_call(
        self, index: int, id: str, name: str, extra: dict[str, Any] | None = None
    ) -> bytes:
        call: dict[str, Any] = {"index": index, "id": id, "type": "function"}
        call["function"] = {"name": name, "arguments": ""}
        if extra is not None:
            call["extra_content"] = extra
        return self._event({"tool_calls": [call]})

    def arguments(self, index: int, fragment: str) -> bytes:
        return self._event({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})

    def finish(self, reason: str) -> bytes:
        return self._event({}, reason)

    def usage(self, usage: dict[str, Any]) -> bytes:
        """The last, choice-less chunk with the usage (only when asked for)."""
        return b"data: " + _encode({**self._head, "choices": [], "usage": usage}) + b"\n\n"


DONE = b"data: [DONE]\n\n"


def embedding_body(
    vectors: list[list[float]], model: str, prompt_tokens: int, encoding_format: str
) -> bytes:
    """OpenAI's embedding list; ``base64`` packs each vector as little-endian float32, as
    OpenAI does (the Python SDK asks for it)."""
    data = []
    for i, vector in enumerate(vectors):
        value: Any = vector
        if encoding_format == "base64":
            value = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": value})
    usage = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
    return _encode({"object": "list", "data": data, "model": model, "usage": usage})


# -- errors ---------------------------------------------------------------------------------

#: kind -> (status, OpenAI error type, code)
ERROR_KINDS: dict[str, tuple[int, str, str | None]] = {
    "invalid": (400, "invalid_request_error", None),
    "context_length": (400, "invalid_request_error", "context_length_exceeded"),
    "content_policy": (400, "invalid_request_error", "content_policy_violation"),
    "auth": (401, "authentication_error", "invalid_api_key"),
    "permission": (403, "permission_error", None),
    "not_found": (404, "invalid_request_error", "model_not_found"),
    "too_large": (413, "invalid_request_error", None),
    "rate_limited": (429, "rate_limit_error", "rate_limit_exceeded"),
    "server": (500, "server_error", None),
    "protocol": (502, "upstream_error", "upstream_protocol_error"),
    "overloaded": (503, "server_error", "overloaded"),
    "timeout": (504, "server_error", "timeout"),
}


def error_answer(kind: str, message: str, param: str | None = None) -> tuple[int, bytes]:
    """An upstream error as OpenAI's status and body (``kind`` in ``ERROR_KINDS``)."""
    status, type_, code = ERROR_KINDS[kind]
    return status, error_body(message, type_, param, code)


def error_event(kind: str, message: str) -> bytes:
    """An in-stream upstream error as the SSE error event that ends the client's stream
    (the relay then sends no ``[DONE]``)."""
    _, type_, code = ERROR_KINDS[kind]
    return b"event: error\ndata: " + error_body(message, type_, None, code) + b"\n\n"


def status_kind(status: int) -> str:
    """The error kind of an HTTP status, for providers whose error body says no more."""
    if status == 429:
        return "rate_limited"
    if status in (401, 403, 404, 413):
        return {401: "auth", 403: "permission", 404: "not_found", 413: "too_large"}[status]
    if status in (503, 529):
        return "overloaded"
    if status in (408, 504):
        return "timeout"
    if status >= 500:
        return "server"
    return "invalid"


__all__ = [
    "DONE",
    "ERROR_KINDS",
    "Chat",
    "ChatMessage",
    "ChunkWriter",
    "Embeddings",
    "Tool",
    "ToolCall",
    "completion_body",
    "decode_chat",
    "decode_embeddings",
    "embedding_body",
    "error_answer",
    "error_event",
    "refuse_n",
    "status_kind",
    "usage",
]
