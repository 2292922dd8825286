"""Local token estimates, used before an upstream reports real usage.

An estimate, not a tokenizer: about four characters a token for English text, plus the
per-message overhead of the chat format. It is used for the mock provider's ``usage`` and for
reserving tokens against a limit before the upstream answers (the chat loop lives in
``fastgw._core``, where the limiter's compiled gate runs it).
"""

from __future__ import annotations

from typing import Any

from . import _core
from .wire import Message


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
