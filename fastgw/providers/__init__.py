"""Providers: where a deployment's requests go.

``build_provider`` turns a provider's config into a ``Provider`` (``base``: ``send``,
``first_event``, ``classify``, ``cooldown``, ``upstream_headers``, ``stream_events``); its
responses have ``status``, ``headers``, ``header(name)``, ``next_chunk()``, ``read()``,
``pump(sink)`` and ``close()`` whether they come over the network (``openai``) or from the
embedded ``mock``. A provider for another upstream protocol (``anthropic``, ``gemini``,
``bedrock``, ``cohere``) is a ``translated.TranslatingProvider`` in the module of that name,
beside its protocol package in ``fastgw.protocols``; ``build_provider`` imports it only when
the config names it.
"""

from __future__ import annotations

import asyncio
import importlib

from ..config import MockProvider as MockConfig
from ..config import OpenAIProvider as OpenAIConfig
from ..config import ProviderConfig
from .base import Call, Provider, Response, answers_natively
from .mock import MockProvider
from .openai import OpenAIProvider


def build_provider(name: str, config: ProviderConfig, loop: asyncio.AbstractEventLoop) -> Provider:
    if isinstance(config, MockConfig):
        return MockProvider(name, config)
    if isinstance(config, OpenAIConfig):
        return OpenAIProvider(name, config, loop)
    kind = type(config).__struct_config__.tag  # "anthropic", "gemini", "bedrock", "cohere"
    module = importlib.import_module(f".{kind}", __name__)
    provider: Provider = module.PROVIDER(name, config, loop)
    return provider


__all__ = ["Call", "Provider", "Response", "answers_natively", "build_provider"]
