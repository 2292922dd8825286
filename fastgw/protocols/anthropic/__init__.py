"""Anthropic's Messages API, translated from and to OpenAI's chat completions (sans-IO):
``request`` (OpenAI chat -> Messages body), ``answer`` (a whole answer back), ``stream``
(a stream back, chunk by chunk), ``errors`` (Anthropic's errors as OpenAI's kinds) and
``translation`` (the per-call object the provider hands the frame).

The other direction, for clients of fastgw's own ``/v1/messages`` (``fastgw.inbound``), is in
the ``front_*`` modules: ``front_request`` (a Messages body as an OpenAI chat body),
``front_answer`` (an OpenAI answer or error as Anthropic's), ``front_stream`` (an OpenAI
stream as Anthropic's events) and ``front_passthrough`` (the body as written, model renamed,
for an Anthropic upstream)."""

from __future__ import annotations

from .answer import translate_answer
from .errors import read_error
from .request import JSON_TOOL, THINKING_BUDGETS, Request, messages_request
from .stream import MessagesStream
from .translation import MessagesTranslation

__all__ = [
    "JSON_TOOL",
    "THINKING_BUDGETS",
    "MessagesStream",
    "MessagesTranslation",
    "Request",
    "messages_request",
    "read_error",
    "translate_answer",
]
