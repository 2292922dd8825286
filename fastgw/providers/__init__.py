"""Providers: where a deployment's requests go.

``build_provider`` turns a provider's config into a ``Provider`` (``base``: ``send``,
``first_event``, ``classify``, ``cooldown``, ``upstream_headers``, ``stream_events``); its
responses have ``status``, ``headers``, ``header(name)``, ``next_chunk()``, ``read()``,
``pump(sink)`` and ``close()`` whether they come over the network (``openai``) or from the
embedded ``mock``. A provider for another upstream protocol is one module here beside its
protocol package in ``fastgw.protocols``, and one line in ``build_provider``.
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
