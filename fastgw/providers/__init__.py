"""Providers: where a deployment's requests go.

``build_provider`` turns a provider's config into an object with one coroutine,
``send(call) -> response``; the response has ``status``, ``header(name)``, ``next_chunk()``,
``read()`` and ``close()`` whether it comes over the network (``openai``) or from the
embedded ``mock``.
"""

from __future__ import annotations

import asyncio

from ..config import MockProvider as MockConfig
from ..config import ProviderConfig
from .base import Call, Provider, Response
from .mock import MockProvider
from .openai import OpenAIProvider


def build_provider(name: str, config: ProviderConfig, loop: asyncio.AbstractEventLoop) -> Provider:
    if isinstance(config, MockConfig):
        return MockProvider(name, config)
    return OpenAIProvider(name, config, loop)


__all__ = ["Call", "Provider", "Response", "build_provider"]
