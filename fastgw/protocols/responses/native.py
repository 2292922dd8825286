"""The Responses API sent as written to an upstream that speaks it (sans-IO): the body the
upstream gets, and what the gateway reads of its whole answer (the response's id, its usage).

Rules this module keeps:
- The upstream body is the client's: its top-level values keep their raw bytes (decoded once
  as ``dict[str, Raw]``, so a doubled key is sent as the gateway read it), with two changes.
  ``store`` is false: the gateway keeps the conversation (``fastgw.inbound.responses``), the
  upstream never has to. A continuation loses ``previous_response_id`` (the upstream does not
  know the gateway's ids) and its ``input`` becomes the stored conversation followed by the
  client's own input items, written as the client wrote them.
- Stored items sent back (``continuation``) carry no ``id``: an upstream that stored nothing
  knows none of them (OpenAI answers "Item with id ... not found" otherwise). Reasoning items
  go back only with an upstream's ``encrypted_content`` (then whole, id included, as OpenAI
  asks for stateless reasoning); a summary alone, or the Anthropic thinking fastgw carries
  under ``THINKING_PREFIX``, means nothing to an OpenAI upstream and is left out.
- Usage (``usage_of``): ``input_tokens`` (cached ones in
  ``input_tokens_details.cached_tokens``) and ``output_tokens`` (reasoning included, as
  OpenAI counts them) as the gateway's ``Usage``, bounded as every upstream count is
  (``TokenCount``); unreadable usage is ``None``, never an exception.
- ``read_answer`` accepts a whole answer only when it is a response object with an id;
  ``storable_id`` bounds the ids the gateway keeps a response under (they become a URL path
  segment of ``GET /v1/responses/{id}``).
"""

from __future__ import annotations

import re

import msgspec

from ..openai.usage import PromptTokensDetails, TokenCount, Usage
from .request import THINKING_PREFIX, Item

_encode = msgspec.json.Encoder().encode
_raw_object = msgspec.json.Decoder(dict[str, msgspec.Raw])
_raw_list = msgspec.json.Decoder(list[msgspec.Raw])
_FALSE = msgspec.Raw(b"false")
_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


def upstream_body(body: bytes, history: list[Item]) -> bytes:
    """The body a native upstream is sent for the client's ``body`` (read by
    ``request.read_request`` already), continuing ``history`` (the stored conversation;
    empty without ``previous_response_id``). Its ``model`` is the client's: the provider
    renames it per deployment."""
    fields = _raw_object.decode(body)
    fields["store"] = _FALSE
    fields.pop("previous_response_id", None)
    if history:
        items = [msgspec.Raw(_encode(item)) for item in continuation(history)]
        own = fields.get("input")
        if own is not None:
            value = bytes(own).lstrip()
            if value[:1] == b"[":
                items += _raw_list.decode(value)
            elif value[:1] == b'"':
                user = b'{"type":"message","role":"user","content":' + value + b"}"
                items.append(msgspec.Raw(user))
        fields["input"] = msgspec.Raw(_encode(items))
    return _encode(fields)


def continuation(history: list[Item]) -> list[Item]:
    """Stored items as an upstream that stores nothing takes them back (see the rules)."""
    out = []
    for item in history:
        if item.type == "reasoning":
            secret = item.encrypted_content
            if secret and not secret.startswith(THINKING_PREFIX):
                out.append(item)
        elif item.id is not None:
            out.append(msgspec.structs.replace(item, id=None))
        else:
            out.append(item)
    return out


class _InputDetails(msgspec.Struct):
    cached_tokens: TokenCount = 0


class _NativeUsage(msgspec.Struct):
    input_tokens: TokenCount = 0
    output_tokens: TokenCount = 0
    input_tokens_details: _InputDetails | None = None


class _UsageCarrier(msgspec.Struct):
    usage: _NativeUsage | None = None


class _Answer(msgspec.Struct):
    id: str
    object: str = "response"
    status: str | None = None


_usage = msgspec.json.Decoder(_UsageCarrier).decode
_answer = msgspec.json.Decoder(_Answer).decode


def usage_of(response: bytes) -> Usage | None:
    """The usage of a response object (a whole answer, or a stream's final ``response``) as
    the gateway's; None when it has none or it cannot be read."""
    try:
        native = _usage(response).usage
    except (msgspec.DecodeError, RecursionError):
        return None
    if native is None:
        return None
    details = native.input_tokens_details
    cached = None if details is None else PromptTokensDetails(details.cached_tokens)
    total = native.input_tokens + native.output_tokens
    return Usage(native.input_tokens, native.output_tokens, total, cached)


def read_answer(body: bytes) -> tuple[str, str | None]:
    """The id and status of a response object (a whole answer, or a stream's final one);
    raises ``msgspec.DecodeError`` (or ``RecursionError``) when it is not one."""
    answer = _answer(body)
    if answer.object != "response":
        raise msgspec.DecodeError("not a response object")
    return answer.id, answer.status


def storable_id(id: str | None) -> bool:
    """Whether the gateway keeps a response under ``id`` (an upstream's): letters, digits and
    ``_.:-``, at most 128 characters."""
    return id is not None and _ID.fullmatch(id) is not None


__all__ = [
    "continuation",
    "read_answer",
    "storable_id",
    "upstream_body",
    "usage_of",
]
