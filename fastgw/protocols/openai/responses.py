"""OpenAI answers read whole: chat and text completions, embedding lists, model lists.

Rules this module keeps:
- One Struct per wire shape, used both to write (the mock, the cache's stored form) and to
  read (the cache checks a body is whole before storing it, and replays it as a stream).
- A completion is OpenAI's plain form: every tool call has its ``type`` and ``arguments``;
  ``content`` is null when a message has only tool calls or a refusal; ``logprobs`` and
  ``finish_reason`` are written even when null, as OpenAI writes them.
- An embedding list is read with its vectors left raw (``EmbeddingList``): checking that a
  body is whole does not decode millions of floats.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

from .usage import Usage


# Not omit_defaults: "type" and an empty "arguments" are part of OpenAI's form (the SDK tells
# tool calls apart by "type"), and msgspec omits a str default only when it is the very same
# object, so whether a decoded "function" was kept would depend on string interning.
class Function(msgspec.Struct):
    name: str | None = None
    arguments: str = ""


class ToolCall(msgspec.Struct):
    id: str | None = None
    type: str = "function"
    function: Function = msgspec.field(default_factory=Function)


class AssistantMessage(msgspec.Struct):
    role: str = "assistant"
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCall] | msgspec.UnsetType = msgspec.UNSET


class ChatChoice(msgspec.Struct):
    index: int
    message: AssistantMessage
    finish_reason: str | None = None
    logprobs: Any = None


class TextChoice(msgspec.Struct):
    index: int
    text: str = ""
    finish_reason: str | None = None
    logprobs: Any = None


C = TypeVar("C", ChatChoice, TextChoice)


class Completion(msgspec.Struct, Generic[C]):
    """A plain chat completion (``Completion[ChatChoice]``, ``object`` "chat.completion") or
    text completion (``Completion[TextChoice]``, "text_completion")."""

    id: str
    object: str
    created: int
    model: str
    choices: list[C]
    system_fingerprint: str | None = None
    usage: Usage | None = None


class Embedding(msgspec.Struct):
    index: int
    embedding: list[float] | str  # floats, or base64 of little-endian float32
    object: str = "embedding"


class EmbeddingList(msgspec.Struct):
    """An embeddings answer as read: ``data`` items left raw. Writers lay out the same
    fields: ``data`` (``Embedding`` items), ``model``, ``usage``, ``object``."""

    data: list[msgspec.Raw]
    model: str = ""
    usage: Usage | None = None
    object: str = "list"


class ModelCard(msgspec.Struct):
    id: str
    created: int
    owned_by: str
    object: str = "model"


class ModelList(msgspec.Struct):
    data: list[ModelCard]
    object: str = "list"


class _Kind(msgspec.Struct):
    object: str = "chat.completion"


chat_decoder = msgspec.json.Decoder(Completion[ChatChoice])
text_decoder = msgspec.json.Decoder(Completion[TextChoice])
embeddings_decoder = msgspec.json.Decoder(EmbeddingList)
_kind_decoder = msgspec.json.Decoder(_Kind)


def completion_kind(body: bytes) -> str:
    """The ``object`` of an answer ("chat.completion" when it names none); raises
    ``msgspec.DecodeError`` for a body that is not a JSON object."""
    return _kind_decoder.decode(body).object
