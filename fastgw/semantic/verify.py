"""The semantic cache's verifier: is a stored question the same question as the new one?

The cache finds candidates with the fast static model (``FAST_THRESHOLD`` on its cosine, a
loose net); each candidate is then re-checked here, and only a verified one is served:

1. the lexical guards (``fastgw.semantic.guards``) compare the two texts word by word and veto
   a different number, a flipped negation, an opposite, another entity or a swapped order.
   They need no vectors, so a gateway runs ``Verifier.vetoed`` first and embeds the query with
   MiniLM only if some candidate survives;
2. the MiniLM cosine of the query's vector and the candidate's stored vector must reach the
   threshold (``DEFAULT_THRESHOLD`` unless the config sets another, never below ``FLOOR``).

Thresholds, measured on the Quora development pairs (benchmarks/semcache_quality.py,
benchmarks/results/2026-12-04-semcache-quality.md):

- ``DEFAULT_THRESHOLD`` 0.96: the lowest MiniLM cosine at which, with every guard on, at most
  1% of the non-duplicate pairs are served (0.93%; precision 0.90 on dev's 37% duplicates,
  0.94 at the held-out split's 50%; recall 0.15).
- ``FLOOR`` 0.90: a config may lower the threshold this far and no further; there one hit in
  six is already a different question (precision 0.82 on dev, 4.6% of non-duplicates served).
- ``FAST_THRESHOLD`` 0.80: stage 1's net on the fast model's cosine; it keeps 99.3% of the
  duplicate pairs MiniLM scores >= 0.96 (95% of those >= ``FLOOR``). 0.85 keeps 97.9% and
  sends half as many misses on to MiniLM.

A learned scorer (``_scorer_weights``, fitted by benchmarks/semcache_train.py) replaces the
cosine rule when the gateway passes richer inputs: both sides as ``Tokens``
(``Embedder.full_tokens``) and the fast model's cosine of the pair. It is a logistic
regression over the MiniLM cosine, the fast cosine and the token alignment of
``fastgw.semantic._align`` (the worst-matched content word, BERTScore figures); it serves a
pair when no guard vetoes, cosine >= ``SCORER_GATE`` and its score >= its cut. Under 5-fold
cross-validation on dev it serves the same share of non-duplicates as the cosine rule at 0.96
with recall 0.17 instead of 0.15; the token alignment alone adds about 0.01 of that. It is
used only at the default threshold: a config that sets another threshold chose a cosine and
gets the cosine rule.

A config threshold is a MiniLM cosine: ``decide`` serves a candidate when no guard vetoes and
cosine >= threshold (or, with ``Tokens`` at the default threshold, the scorer says yes). The
similarity it returns is that cosine (0 when vetoed).

Pure Python and numpy: no I/O, no torch. Work per call is bounded by ``guards.MAX_TOKENS``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from fastgw.semantic import _scorer_weights, guards
from fastgw.semantic._align import Tokens, alignment

DEFAULT_THRESHOLD = 0.96
FLOOR = 0.90
FAST_THRESHOLD = 0.80
SCORER_GATE = FLOOR  # the learned scorer never serves a MiniLM cosine below the floor
ALL_GUARDS = frozenset(guards.GUARDS)
_WEIGHTS = np.array(_scorer_weights.WEIGHTS, dtype=np.float64)

Vector = npt.NDArray[np.float32]


def score(query: Tokens, candidate: Tokens, fast_similarity: float) -> float:
    """The learned scorer's log-odds that ``candidate`` asks what ``query`` asks."""
    cosine = float(np.dot(query.vector, candidate.vector))
    x = np.array([cosine, fast_similarity, *alignment(query, candidate)], dtype=np.float64)
    return float(x @ _WEIGHTS) + _scorer_weights.BIAS


class Verifier:
    """Decides hit or miss for one (query, candidate) pair.

    ``threshold``: the MiniLM cosine a hit needs, ``FLOOR`` <= threshold <= 1 (ValueError
    otherwise). ``enabled``: the guards to apply (all by default; the benchmark's ablation
    turns them off one at a time).
    """

    __slots__ = ("enabled", "threshold")

    def __init__(
        self,
        threshold: float = DEFAULT_THRESHOLD,
        *,
        enabled: Iterable[str] = ALL_GUARDS,
        floor: float = FLOOR,
    ) -> None:
        if not floor <= threshold <= 1.0:
            raise ValueError(f"semantic threshold {threshold} is outside [{floor}, 1.0]")
        self.threshold = float(threshold)
        chosen = frozenset(enabled)
        unknown = chosen - ALL_GUARDS
        if unknown:
            raise ValueError(f"unknown guards: {', '.join(sorted(unknown))}")
        self.enabled = chosen

    def vetoed(self, query: str, candidate: str) -> tuple[str, ...]:
        """The enabled guards that veto ``candidate`` for ``query`` (empty: none; no vectors)."""
        found = guards.vetoes(guards.analyse(query), guards.analyse(candidate))
        return tuple(g for g in found if g in self.enabled)

    def decide(
        self,
        query: str,
        query_vec: Vector | Tokens,
        candidate: str,
        candidate_vec: Vector | Tokens,
        *,
        fast_similarity: float | None = None,
    ) -> tuple[bool, float]:
        """(hit?, MiniLM cosine) for serving ``candidate``'s answer to ``query``.

        The vectors are the texts' L2-normalised MiniLM vectors (``Embedder.full``), 1-D or one
        row, or their ``Tokens`` (``Embedder.full_tokens``). With ``Tokens`` on both sides,
        ``fast_similarity`` (the fast model's cosine of the pair, as stage 1 found it) and the
        default threshold, the learned scorer decides; otherwise the cosine rule. A vetoed
        pair is a miss with similarity 0.0.
        """
        if self.vetoed(query, candidate):
            return False, 0.0
        q = query_vec.vector if isinstance(query_vec, Tokens) else query_vec.reshape(-1)
        c = candidate_vec.vector if isinstance(candidate_vec, Tokens) else candidate_vec.reshape(-1)
        similarity = float(np.dot(q, c))
        if (
            isinstance(query_vec, Tokens)
            and isinstance(candidate_vec, Tokens)
            and fast_similarity is not None
            and self.threshold == DEFAULT_THRESHOLD
        ):
            if similarity < SCORER_GATE:
                return False, similarity
            learned = score(query_vec, candidate_vec, fast_similarity)
            return learned >= _scorer_weights.CUT, similarity
        return similarity >= self.threshold, similarity
