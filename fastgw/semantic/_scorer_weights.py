"""The verifier's scorer, written by benchmarks/semcache_train.py --write: do not edit.

Logistic regression over ``FEATURES``, fitted on the Quora development pairs that reach
it; ``CUT`` serves at most 0.9% of dev's non-duplicates. score = x @ WEIGHTS + BIAS.
"""

FEATURES = (
    "cosine",
    "fast_cosine",
    "align_min",
    "align_min2",
    "align_p10",
    "align_recall",
    "align_precision",
    "align_f",
    "align_low",
)
WEIGHTS = (
    32.206628,
    -6.055769,
    1.396991,
    0.721751,
    -1.466671,
    -4.101149,
    -2.242005,
    -6.038106,
    -4.219653,
)
BIAS = -11.836419
CUT = 1.94829
