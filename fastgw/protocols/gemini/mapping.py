"""What a Gemini answer and a Gemini stream share on the way to OpenAI's shape: finish
reasons, usage, tool call ids, the blocked-prompt message.

Rules this module keeps:
- Finish: STOP is ``stop`` (``tool_calls`` when a function call was returned), MAX_TOKENS
  ``length``, the safety family (SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII,
  IMAGE_SAFETY) ``content_filter``, anything else ``stop``.
- Usage: prompt = promptTokenCount + toolUsePromptTokenCount, cached =
  cachedContentTokenCount, completion = candidatesTokenCount + thoughtsTokenCount,
  reasoning = thoughtsTokenCount (Gemini bills thoughts as output).
- Tool call ids are ``call_<seed>_<index>``: Gemini gives none, and a seed made from the
  request id keeps them unique across the turns of a conversation and the same for one
  request.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..openai.translate import usage
from .wire import UsageMetadata

_FILTERED = frozenset(
    ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY")
)


def finish_reason(reason: str | None, tool_calls: bool) -> str:
    """OpenAI's finish_reason of a Gemini finishReason."""
    if reason == "MAX_TOKENS":
        return "length"
    if reason in _FILTERED:
        return "content_filter"
    return "tool_calls" if tool_calls else "stop"


def usage_of(meta: UsageMetadata | None) -> dict[str, Any]:
    """OpenAI's usage object of Gemini's usageMetadata."""
    if meta is None:
        return usage(0, 0)
    return usage(
        meta.prompt_token_count + meta.tool_use_prompt_token_count,
        meta.candidates_token_count + meta.thoughts_token_count,
        cached=meta.cached_content_token_count,
        reasoning=meta.thoughts_token_count,
    )


def call_seed(request_id: str) -> str:
    """The part of a tool call's id that is this request's (ids: ``call_<seed>_<index>``)."""
    return hashlib.blake2s(request_id.encode(), digest_size=6).hexdigest()


def blocked_message(reason: str, detail: str | None) -> str:
    return f"Gemini blocked the prompt ({reason})" + (f": {detail}" if detail else ".")
