"""What a request cost: the price table and the arithmetic.

Rules this module keeps:
- Prices are USD per million tokens, keyed by the *upstream* model name (a deployment's
  ``model``): the shipped table ``fastgw/data/prices.toml``, overridden entry by entry by the
  TOML's ``[prices."name"]``.
- A name not in the table is tried without a provider prefix (``openai/gpt-4o``) and without
  a date or ``-latest`` suffix (``gpt-4o-2024-08-06``, ``claude-3-5-sonnet-20241022``); the
  answer is memoised per name, so the hot path is one dict look-up.
- A Bedrock model id (``us.anthropic.claude-3-5-sonnet-20241022-v2:0``, an inference profile
  ARN) is tried without its geo prefix (``us.``, ``eu.``, ``apac.``, ``global.``...), then
  also without its vendor prefix (``anthropic.``) and version suffix (``-v2:0``), then
  undated: Bedrock's Claude costs what Anthropic's entry says.
- An unknown model costs 0 and is warned about once per name (never per request).
- Cached prompt tokens (``prompt_tokens_details.cached_tokens``) are billed at
  ``cached_input`` when the model has one, else as input.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Mapping
from importlib import resources

import msgspec

from .config import Price

log = logging.getLogger("fastgw")

_SUFFIX_RE = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|-latest)$")
_BEDROCK_GEO_RE = re.compile(r"^(us|us-gov|eu|apac|global|jp|au|ca)\.")
_BEDROCK_VENDOR_RE = re.compile(r"^[a-z][a-z0-9]*\.")  # anthropic., amazon., meta., ai21.
_BEDROCK_VERSION_RE = re.compile(r"-v\d+(:\d+)?$")
_PER_TOKEN = 1e-6


def shipped_prices() -> dict[str, Price]:
    """The table shipped as package data."""
    text = resources.files("fastgw").joinpath("data/prices.toml").read_text(encoding="utf-8")
    return msgspec.convert(tomllib.loads(text), dict[str, Price])


class PriceTable:
    """Cost of a request from its usage and the upstream model that answered it."""

    def __init__(self, overrides: Mapping[str, Price] | None = None) -> None:
        self._prices = shipped_prices()
        self._prices.update(overrides or {})
        self._resolved: dict[str, Price | None] = {}

    def price(self, model: str) -> Price | None:
        """The price of ``model`` (after the fallbacks above), or None if unknown."""
        try:
            return self._resolved[model]
        except KeyError:
            pass
        found = self._lookup(model)
        if found is None:
            log.warning("no price for upstream model %r: its requests cost 0", model)
        self._resolved[model] = found
        return found

    def _lookup(self, model: str) -> Price | None:
        prices = self._prices
        name = model
        for candidate in _candidates(name):
            if candidate in prices:
                return prices[candidate]
            undated = _SUFFIX_RE.sub("", candidate)
            if undated in prices:
                return prices[undated]
        return None

    def cost(
        self, model: str | None, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0
    ) -> float:
        """USD for one request; 0 for an unknown model or none at all."""
        if model is None:
            return 0.0
        price = self.price(model)
        if price is None:
            return 0.0
        cached = min(max(cached_tokens, 0), prompt_tokens)
        cached_rate = price.input if price.cached_input is None else price.cached_input
        return (
            (prompt_tokens - cached) * price.input
            + cached * cached_rate
            + completion_tokens * price.output
        ) * _PER_TOKEN


def _candidates(model: str) -> list[str]:
    """The names ``model`` is looked up under, in order (see the module rules)."""
    last = model.rsplit("/", 1)[-1]
    names = [model, last]
    regional = _BEDROCK_GEO_RE.sub("", last)
    bare = _BEDROCK_VERSION_RE.sub("", _BEDROCK_VENDOR_RE.sub("", regional))
    if "." in last:  # a Bedrock id: vendor.model[-vN:M]
        names += [regional, bare]
    return names
