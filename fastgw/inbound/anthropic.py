"""Anthropic's Messages API inbound (``/v1/messages``, ``/v1/messages/count_tokens``): not
served yet."""

from __future__ import annotations

from typing import Any


def routes(pipes: Any) -> list[tuple[str, str, Any]]:
    return []
