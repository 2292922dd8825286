"""One call's way back from Anthropic (a ``fastgw.providers.translated.Translation``)."""

from __future__ import annotations

from .answer import translate_answer
from .stream import MessagesStream


class MessagesTranslation:
    __slots__ = ("created", "include_usage", "json_tool")

    def __init__(self, created: int, include_usage: bool, json_tool: str | None) -> None:
        self.created = created
        self.include_usage = include_usage
        self.json_tool = json_tool

    def answer(self, status: int, body: bytes) -> tuple[int, bytes]:
        return translate_answer(status, body, self.created, self.json_tool)

    def stream(self) -> MessagesStream:
        return MessagesStream(self.created, self.include_usage, self.json_tool)


__all__ = ["MessagesTranslation"]
