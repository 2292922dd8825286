"""OpenAI's ``usage`` object: its Struct and reading it from an answer or a stream event.

Rules this module keeps:
- Token counts an upstream reports are bounded: a negative count would refund a budget, and
  one past any real answer would overflow the settlement; either makes the usage unreadable
  (``None``), so a stream is then charged the tokens counted from what was relayed.
- ``decode_usage`` decodes only the ``usage`` field; anything unreadable is ``None``, never
  an exception.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

MAX_USAGE_TOKENS = 1 << 40
TokenCount = Annotated[int, msgspec.Meta(ge=0, le=MAX_USAGE_TOKENS)]


class PromptTokensDetails(msgspec.Struct):
    cached_tokens: TokenCount = 0


class Usage(msgspec.Struct, omit_defaults=True):
    prompt_tokens: TokenCount = 0
    completion_tokens: TokenCount = 0
    total_tokens: TokenCount = 0
    prompt_tokens_details: PromptTokensDetails | None = None


class _UsageCarrier(msgspec.Struct):
    usage: Usage | None = None


_usage_decoder = msgspec.json.Decoder(_UsageCarrier)


def decode_usage(payload: bytes | None) -> Usage | None:
    """The ``usage`` object of a response body or stream event, if it has one."""
    if not payload:
        return None
    try:
        return _usage_decoder.decode(payload).usage
    except msgspec.DecodeError:
        return None
