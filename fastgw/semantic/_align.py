"""Token alignment: which content word of one question has no counterpart in the other.

A mean-pooled sentence vector averages one changed word away ("visit Jaipur" / "visit
Bhopal" score 0.9+). Here each content token of one text is matched to its most similar
content token of the other, on MiniLM's contextual token vectors (the ``last_hidden_state``
of the forward pass that also gives the sentence vector, so no extra model call), BERTScore
fashion; a word with no good match anywhere on the other side shows as a low minimum.

Rules this module keeps:

- ``Tokens`` carries a text's L2-normalised sentence vector and the L2-normalised vectors of
  its content tokens (no [CLS]/[SEP], punctuation or stop words; word pieces follow the word
  they belong to). A text of stop words only keeps all its word tokens.
- ``alignment`` is pure numpy over two ``Tokens``: work is one (k_a, k_b) matrix product,
  with k at most ``MAX_CONTENT`` tokens a side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fastgw.semantic._words import STOP_WORDS

MAX_CONTENT = 64
ALIGNMENT_NAMES = (
    "align_min",  # the worst-matched content token, either side
    "align_min2",  # the second worst
    "align_p10",  # 10th percentile over both sides
    "align_recall",  # mean best match of the query's tokens
    "align_precision",  # mean best match of the candidate's tokens
    "align_f",
    "align_low",  # share of tokens whose best match is below 0.6
)
_LOW = 0.6
_SPECIAL = frozenset({"[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"})


@dataclass(frozen=True, slots=True)
class Tokens:
    """One text as MiniLM saw it: ``vector`` (384,) and ``tokens`` (k, 384), unit rows."""

    vector: npt.NDArray[np.float32]
    tokens: npt.NDArray[np.float32]


def content_rows(pieces: Sequence[str]) -> list[int]:
    """Indices of the content tokens among a WordPiece token list (see the module rules).

    A word is its first piece plus the "##" pieces after it; it is content when it has a
    letter or digit and is not a stop word.
    """
    words: list[tuple[str, list[int]]] = []
    for i, piece in enumerate(pieces):
        if piece in _SPECIAL:
            continue
        if piece.startswith("##") and words:
            text, rows = words[-1]
            words[-1] = (text + piece[2:], [*rows, i])
        else:
            words.append((piece, [i]))
    wordish = [(w, rows) for w, rows in words if any(c.isalnum() for c in w)]
    content = [i for w, rows in wordish if w not in STOP_WORDS for i in rows]
    chosen = content or [i for _, rows in wordish for i in rows]
    return chosen[:MAX_CONTENT]


def make_tokens(
    pooled: npt.NDArray[np.float32], hidden: npt.NDArray[np.float32], pieces: Sequence[str]
) -> Tokens:
    """``Tokens`` from one text's pooled vector, its (n, 384) hidden states and its pieces."""
    rows = content_rows(pieces)
    picked = np.ascontiguousarray(hidden[rows], dtype=np.float32)
    norms = np.linalg.norm(picked, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    vector = np.ascontiguousarray(pooled, dtype=np.float32).reshape(-1)
    length = float(np.linalg.norm(vector)) or 1.0
    return Tokens(vector / length, picked / norms)


def alignment(a: Tokens, b: Tokens) -> tuple[float, ...]:
    """The figures named in ``ALIGNMENT_NAMES``, in that order (1.0s if a side is empty)."""
    if not len(a.tokens) or not len(b.tokens):
        return (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0)
    sim = a.tokens @ b.tokens.T
    best_a = sim.max(axis=1)
    best_b = sim.max(axis=0)
    both = np.sort(np.concatenate([best_a, best_b]))
    recall = float(best_a.mean())
    precision = float(best_b.mean())
    f = 2 * recall * precision / (recall + precision) if recall + precision > 0 else 0.0
    return (
        float(both[0]),
        float(both[1]) if len(both) > 1 else float(both[0]),
        float(np.percentile(both, 10)),
        recall,
        precision,
        f,
        float((both < _LOW).mean()),
    )
