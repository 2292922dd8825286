"""The HNSW settings of the semantic tier's index (``fastgw.semantic.index``): what an add
and a search cost at 50,000 entries and what they find.

Run: ``.venv/bin/python benchmarks/semcache_hnsw.py`` (about 3 minutes, one OpenMP thread).

Rules this script keeps:
- Cost: the bench's prompts (12 random words from ``_semantic.WORDS``, seeded; their fast
  vectors crowd together, so the graph works hard): 48,000 indexed, then 2,000 more added
  and 2,000 searched one at a time (k = 3, as the tier asks), µs each.
- What it finds: the development Quora pairs (``../shared/data/semcache``), first questions
  indexed with 12,000 decoys (a pair's two questions joined: close to both), second ones
  asked: how many pairs whose fast cosine is at least 0.8 (the candidates' floor) and 0.9
  have their first question among the 3 found.
"""

from __future__ import annotations

import csv
import random
import sys
import time
from pathlib import Path

import faiss
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _semantic import WORDS  # noqa: E402

from fastgw.semantic.embed import Embedder  # noqa: E402

PAIRS = Path("/work/shared/data/semcache/quora_pairs_dev.csv")
SETTINGS = [(16, 32, 32), (16, 24, 24), (16, 16, 24), (16, 16, 16), (12, 20, 24)]


def main() -> None:
    faiss.omp_set_num_threads(1)
    embedder = Embedder(prepare_if_missing=False, threads=1)
    with PAIRS.open() as f:
        rows = list(csv.DictReader(f))
    first = [r["question1"] for r in rows]
    second = [r["question2"] for r in rows]
    base, asked = embedder.fast(first), embedder.fast(second)
    decoys = embedder.fast([f"{a} {b}" for a, b in zip(first[:12000], second[:12000], strict=True)])
    quora = np.vstack([base, decoys]).astype("float32")
    cosine = (base * asked).sum(1)
    rng = random.Random(3)
    prompts = [" ".join(rng.choice(WORDS) for _ in range(12)) + "?" for _ in range(52_000)]
    bench = embedder.fast(prompts).astype("float32")
    dim = quora.shape[1]

    def index(m: int, ef_construction: int, ef_search: int, train: np.ndarray) -> faiss.Index:
        sq8: int = faiss.ScalarQuantizer.QT_8bit  # type: ignore[assignment]
        made = faiss.IndexHNSWSQ(dim, sq8, m, faiss.METRIC_INNER_PRODUCT)
        made.hnsw.efConstruction = ef_construction
        made.hnsw.efSearch = ef_search
        made.train(train)
        return made

    print("| M / efConstruction / efSearch | add µs | search µs | found, cos ≥ 0.8 | ≥ 0.9 |")
    print("|---|---:|---:|---:|---:|")
    for m, efc, efs in SETTINGS:
        found = []
        searched = index(m, efc, efs, quora[:4096])
        searched.add(quora)
        for floor in (0.8, 0.9):
            wanted = np.where(cosine >= floor)[0]
            hits = sum(int(i in searched.search(asked[i : i + 1], 3)[1][0]) for i in wanted)
            found.append(f"{hits:,} / {len(wanted):,}")
        timed = index(m, efc, efs, bench[:4096])
        timed.add(bench[:48_000])
        start = time.perf_counter()
        for i in range(48_000, 50_000):
            timed.add(bench[i : i + 1])
        add = (time.perf_counter() - start) / 2000 * 1e6
        start = time.perf_counter()
        for i in range(50_000, 52_000):
            timed.search(bench[i : i + 1], 3)
        search = (time.perf_counter() - start) / 2000 * 1e6
        print(f"| {m} / {efc} / {efs} | {add:.0f} | {search:.0f} | {found[0]} | {found[1]} |")


if __name__ == "__main__":
    main()
