"""Inbound APIs other than OpenAI's chat completions, served by its pipeline through a
translating edge (``edge``, ``endpoint``): Anthropic's Messages API (``anthropic``) and
OpenAI's Responses API (``responses``).

Each API module has ``routes(pipes) -> list[(path, method, handler)]``: paths after ``/v1``
(``/v1`` and the bare path are both served, as for the proxied endpoints); a path ending in
``/`` is a prefix (``/responses/`` serves ``/responses/{id}``); method ``*`` means the handler
checks the method itself.
"""

from __future__ import annotations

from . import anthropic, responses

MODULES = (anthropic, responses)

__all__ = ["MODULES"]
