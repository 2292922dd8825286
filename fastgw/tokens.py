"""Local token estimates, used before an upstream reports real usage.

An estimate, not a tokenizer: about four characters a token for English text, plus the
per-message overhead of the chat format. It is used for the mock provider's ``usage`` and for
reserving tokens against a limit before the upstream answers (the chat loop lives in
``fastgw._core``, where the limiter's compiled gate runs it), and for charging a stream whose
upstream reported no usage (``estimate_request``, ``estimate_streamed``, ``counted_usage``).
"""

from __future__ import annotations

from typing import Any

from . import _core
from .protocols.openai.requests import ChatRequest, CompletionRequest, EmbeddingRequest, Message
from .protocols.openai.usage import Usage


def estimate_text(text: str) -> int:
    return max(1, (len(text) + 3) // 4) if text else 0


def message_text(message: Message) -> str:
    content = message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return " ".join(_part_text(p) for p in content)


def _part_text(part: Any) -> str:
    if isinstance(part, dict):
        text = part.get("text")
        return text if isinstance(text, str) else ""
    return part if isinstance(part, str) else ""


def estimate_messages(messages: list[Message]) -> int:
    """~4 characters a token plus the chat format's overhead per message and per reply (the
    loop is ``fastgw._core.estimate_messages``: the limiter runs it on every chat request)."""
    return _core.estimate_messages(messages, estimate_other)


def estimate_other(message: Message) -> int:
    """The estimate of a message whose content is not a plain string (parts, or none)."""
    return estimate_text(message_text(message))


def estimate_prompt(prompt: str | list[Any]) -> int:
    if isinstance(prompt, str):
        return estimate_text(prompt)
    total = 0
    for item in prompt:
        if isinstance(item, str):
            total += estimate_text(item)
        elif isinstance(item, int):
            total += 1
        else:
            total += len(item)
    return total


def estimate_request(request: ChatRequest | CompletionRequest) -> int:
    """The prompt tokens of a chat or completion request, estimated."""
    if isinstance(request, ChatRequest):
        return estimate_messages(request.messages)
    return estimate_prompt(request.prompt)


def estimate_streamed(text_bytes: int, text_events: int) -> int:
    """The completion tokens of a stream that carried ``text_bytes`` bytes of answer text in
    ``text_events`` events (``SSEFramer``): about four bytes a token, and at least one token
    an event (streams send a token or more per event; this keeps short-token scripts, whose
    characters take several bytes, from being under-counted)."""
    return max((text_bytes + 3) // 4, text_events)


def counted_usage(
    request: ChatRequest | CompletionRequest | EmbeddingRequest, body: bytes
) -> Usage:
    """The usage of a whole answer whose upstream reported none: the prompt estimated, the
    completion counted from the answer text in ``body`` (as for a stream: four bytes a
    token), so an upstream that omits usage does not make its answers free."""
    if isinstance(request, EmbeddingRequest):
        prompt = estimate_prompt(request.input)
        return Usage(prompt, 0, prompt)
    prompt = estimate_request(request)
    completion = estimate_streamed(_core.text_length(body), 0)
    return Usage(prompt, completion, prompt + completion)
