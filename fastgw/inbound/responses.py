"""OpenAI's Responses API inbound (``/v1/responses``): not served yet."""

from __future__ import annotations

from typing import Any


def routes(pipes: Any) -> list[tuple[str, str, Any]]:
    return []
