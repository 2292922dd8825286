"""The semantic tier as two stages: a lookup after the exact cache, a store after the answer.

Rules these stages keep (the tier itself: ``fastgw.semantic``):
- Only after an exact-cache miss (the exact stage comes first and answers a repeat), and
  only for a request the tier may answer (``fastgw.semantic.partition``: an ineligible one
  is counted by its reason and goes upstream untouched).
- ``Cache-Control: no-cache`` skips the lookup (outcome ``bypass``), ``no-store`` the store,
  ``max-age=N`` accepts only entries stored in the last N seconds.
  ``x-fastgw-cache-threshold`` raises the model's threshold for one request; a lower value
  is taken as the model's own (a request can never loosen it), an invalid one is a 400.
- A hit answers like an exact hit (plain, or replayed as a stream; its usage reported, its
  tokens free) with ``x-fastgw-cache: semantic-hit`` and
  ``x-fastgw-cache-similarity``. A semantic hit is never stored again.
- Stored: whole 200 answers that finished (never an error, a cut stream or a
  content-filter stop), streams with the upstream's usage.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec

from ..cache.keys import directives
from ..cache.replay import assemble, storable
from ..config import SemanticCacheConfig
from ..errors import InvalidRequest
from ..exchange import Exchange
from ..metrics import Metrics
from ..semantic.partition import Eligible, chat_partition, completion_partition
from ..semantic.service import Driver, Hit, Skipped
from ..wire import ChatRequest, decode_usage
from .stages import CACHE_HEADER, send_cached

SEMANTIC_HIT = "semantic-hit"
SIMILARITY_HEADER = "x-fastgw-cache-similarity"
THRESHOLD_HEADER = "x-fastgw-cache-threshold"


class SemanticLookup:
    """Request stage: the semantic tier of one public model (see the module docstring)."""

    name = "semantic_cache"
    is_async = True

    def __init__(self, service: Driver, settings: SemanticCacheConfig, metrics: Metrics) -> None:
        self.service = service
        self.settings = settings
        self.skipped = metrics.semantic_skipped.values

    async def run(self, ex: Exchange, scope: Any, proto: Any) -> bool:
        service, settings, model = self.service, self.settings, ex.model_config.name
        if not service.ready.is_set():
            self.skipped[(model, "loading")] += 1
            return False
        headers = scope.headers
        control = headers.get("cache-control")
        no_cache, no_store, max_age = directives(control) if control else (False, False, None)
        requested = headers.get(THRESHOLD_HEADER)
        threshold = settings.threshold
        if requested is not None:
            threshold = max(threshold, _threshold(requested))
        partition = chat_partition if isinstance(ex.request, ChatRequest) else completion_partition
        eligible = partition(ex.body, model, ex.key.namespace, service.identity, settings)
        if isinstance(eligible, str):
            self.skipped[(model, eligible)] += 1
            return False
        if not no_store:
            ex.semantic = eligible
        if no_cache:
            _outcome(ex, "bypass")
            return False
        found = await service.lookup(eligible, model, threshold, max_age)
        if isinstance(found, Skipped):
            self.skipped[(model, found.reason)] += 1
            _outcome(ex, ex.cache or "miss")
            return False
        if found is None:
            _outcome(ex, "miss")
            return False
        return self._answer(ex, proto, found)

    def _answer(self, ex: Exchange, proto: Any, hit: Hit) -> bool:
        ex.semantic = None  # a hit is never stored again
        _outcome(ex, SEMANTIC_HIT)
        ex.extra_headers.append((SIMILARITY_HEADER, f"{hit.similarity:.4f}"))
        return send_cached(ex, proto, hit.body, hit.usage)


class SemanticStore:
    """Response stage: files a whole answer under the request's partition and text."""

    name = "semantic_store"
    collects = True

    def __init__(self, service: Driver, settings: SemanticCacheConfig) -> None:
        self.service = service
        self.settings = settings

    def wants(self, ex: Exchange) -> bool:
        return ex.semantic is not None

    def whole(self, ex: Exchange, data: bytes, usage: Any) -> bytes:
        eligible = ex.semantic
        if eligible is not None and storable(data, False) and finished(data):
            self._store(ex, eligible, data, usage)
        return data

    def stream_end(self, ex: Exchange, payloads: list[bytes]) -> None:
        eligible = ex.semantic
        if eligible is None:
            return
        completion = assemble(payloads)
        if completion is None or not finished(completion):
            return
        usage = decode_usage(completion)
        if usage is not None:
            self._store(ex, eligible, completion, usage)

    def _store(self, ex: Exchange, eligible: Eligible, data: bytes, usage: Any) -> None:
        settings = self.settings
        self.service.store(
            eligible,
            data,
            usage,
            settings.ttl_s,
            ex.key.namespace,
            ex.model_config.name,
            settings.max_entries,
        )


def _outcome(ex: Exchange, outcome: str) -> None:
    """The request's cache outcome, and its header (the exact stage's, when it ran)."""
    ex.cache = outcome
    headers = ex.extra_headers
    for i, (name, _) in enumerate(headers):
        if name == CACHE_HEADER:
            headers[i] = (CACHE_HEADER, outcome)
            return
    headers.append((CACHE_HEADER, outcome))


def _threshold(value: str) -> float:
    try:
        threshold = float(value) if len(value) <= 32 else math.nan
    except ValueError:
        threshold = math.nan
    if not 0.0 <= threshold <= 1.0:  # NaN fails too
        raise InvalidRequest(
            f"{THRESHOLD_HEADER} must be a number between 0 and 1 (a similarity); "
            "it can only raise the model's own threshold.",
            code="invalid_value",
        )
    return threshold


class _Choice(msgspec.Struct):
    finish_reason: str | None = None


class _Finished(msgspec.Struct):
    choices: list[_Choice] = []


_finished = msgspec.json.Decoder(_Finished)


def finished(body: bytes) -> bool:
    """Whether every choice of a completion stopped on its own (``stop`` or ``length``):
    not a content-filter stop, not a tool call (not eligible anyway), not cut short."""
    try:
        choices = _finished.decode(body).choices
    except msgspec.DecodeError:
        return False
    return bool(choices) and all(c.finish_reason in ("stop", "length") for c in choices)
