"""OpenAI stream chunks (``chat.completion.chunk``, streamed ``text_completion``) and their
SSE framing.

Rules this module keeps:
- One Struct per shape, read and written: the mock writes its streams with them, the cache
  reads a stream's chunks to store it and writes chunks to replay it.
- Read leniently: every field has a default, so a provider's extra or missing fields (Azure's
  leading prompt-filter chunk without choices) decode; a chunk's choice carries ``delta``
  (chat) or ``text`` (completions), the other one ``UNSET``.
- Written as OpenAI writes them: ``finish_reason`` and ``logprobs`` always present (null
  when unset), a delta only with the fields it carries, ``usage`` absent unless the client
  asked for it (then null on every chunk and set on the last, choice-less one).
- ``legacy`` delta fields fastgw does not model (``function_call``, ``audio``) are read so
  that a stream carrying them is known not to be storable; they are never written.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .usage import Usage

DONE = b"data: [DONE]\n\n"
#: The bytes that open an SSE data field: a stream's first event is complete once they
#: arrived (routing commits to an attempt there).
DATA_FIELD = b"data:"


class FunctionDelta(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(msgspec.Struct):
    index: int = 0
    id: str | None = None
    type: str | None = None
    function: FunctionDelta | None = None


class Delta(msgspec.Struct, omit_defaults=True):
    role: str | None = None
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCallDelta] | None = None
    function_call: Any = None  # legacy functions API: read, not modelled, never written
    audio: Any = None  # audio output: read, not modelled, never written


class ChunkChoice(msgspec.Struct):
    index: int = 0
    delta: Delta | msgspec.UnsetType | None = msgspec.UNSET  # chat
    text: str | msgspec.UnsetType | None = msgspec.UNSET  # completions
    finish_reason: str | None = None
    logprobs: Any = None


class Chunk(msgspec.Struct):
    id: str = ""
    object: str = ""
    created: int = 0
    model: str = ""
    choices: list[ChunkChoice] = []
    system_fingerprint: str | None = None
    usage: Usage | msgspec.UnsetType | None = msgspec.UNSET


_chunk_decoder = msgspec.json.Decoder(Chunk)
_encode = msgspec.json.Encoder().encode


def decode_chunk(payload: bytes) -> Chunk:
    """The chunk an SSE ``data`` payload carries; raises ``msgspec.DecodeError``."""
    return _chunk_decoder.decode(payload)


def chunk_event(chunk: Chunk) -> bytes:
    """``chunk`` as one SSE event."""
    return b"data: " + _encode(chunk) + b"\n\n"
