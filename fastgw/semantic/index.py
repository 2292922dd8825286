"""The semantic tier's entries: one FAISS index per partition, a bound on the whole.

Owned by one thread (``fastgw.semantic.service``): nothing here locks. Rules it keeps:
- A partition (``fastgw.semantic.partition``) has its own index, so a search never sees
  another tenant's, model's, parameter set's or conversation's entries: crossing one would
  take an xxh3-128 collision.
- An index holds the fast embedding of each entry's text (L2-normalised, inner product =
  cosine). A small partition is a flat index (exact search; ``IndexFlatIP`` at a few
  thousand vectors searches in well under a millisecond); one that grows past
  ``HNSW_FROM`` entries is rebuilt as HNSW over 8-bit scalar-quantised vectors
  (``IndexHNSWSQ``, the quantiser trained on the partition's vectors at each rebuild), whose
  search stays ~0.05 ms at 25,000 entries where a flat one takes ~1 ms (measured here, one
  OpenMP thread); an add costs ~0.08 ms. The quantised graph only finds the neighbours: the
  score of each one found is its exact cosine, from the entry's own float vector, so the
  candidates' floor and the matcher see the same numbers as with exact search.
- Entries are bounded per public model (its ``max_entries``, least recently used first
  out) and expire (``expires_at``); an expired entry is never returned. FAISS removes
  vectors poorly, so a removed entry leaves a tombstone in its index; an index with more
  tombstones than live entries is rebuilt from its live ones (a cost paid once per that
  many removals).
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import faiss
import numpy as np

#: Entries past which a partition's flat index is rebuilt as HNSW.
HNSW_FROM = 4_096
#: Measured at 30,000 entries of the fast model's vectors, one thread: M 32 / efConstruction
#: 64 / efSearch 64 costs 0.32 ms an add and 0.30 ms a search; 16 / 32 / 32 costs 0.15 and
#: 0.12 ms and still finds every neighbour at cosine >= 0.80 (the candidates' floor). Over
#: 8-bit vectors (same M / ef) 0.08 and 0.05 ms, finding the same neighbours: on the dev
#: Quora pairs (12,129 first questions indexed, the second ones asked) 4,858 of the 5,663
#: pairs at cosine >= 0.80 against 4,863 over float vectors
#: (benchmarks/results/2026-12-04-semantic-bench.md). Then 16 / 16 / 24, once the tier ran in
#: a process of its own and these calls were a third of its CPU (``benchmarks/
#: semcache_hnsw.py``, 50,000 of the bench's prompts): 65 / 49 µs an add / a search against
#: 91 / 55, finding 2,058 of the 2,390 Quora pairs at cosine >= 0.9 among 3 against 2,070.
HNSW_NEIGHBOURS = 16
HNSW_EF_CONSTRUCTION = 16
HNSW_EF_SEARCH = 24


class Entry:
    """One cached answer and what the tier needs to find it again."""

    __slots__ = (
        "body",
        "created_at",
        "expires_at",
        "full",
        "id",
        "model",
        "namespace",
        "partition",
        "position",
        "text",
        "usage",
        "vector",
    )

    def __init__(
        self,
        partition: bytes,
        text: str,
        body: bytes,
        usage: Any,
        created_at: float,
        expires_at: float,
        namespace: str,
        model: str,
        vector: np.ndarray,
    ) -> None:
        self.id = -1  # set by SemanticIndex.add
        self.position = -1  # in its partition's index, set by _Partition.add
        self.partition = partition
        self.text = text
        self.body = body
        self.usage = usage
        self.created_at = created_at
        self.expires_at = expires_at
        self.namespace = namespace
        self.model = model
        self.vector = vector  # the fast embedding, as indexed
        self.full: np.ndarray | None = None  # the verifying embedding, once computed


class _Partition:
    """The index of one partition and the entry at each of its positions (None: removed)."""

    __slots__ = ("dim", "index", "live", "slots")

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.index: Any = faiss.IndexFlatIP(dim)
        self.slots: list[Entry | None] = []
        self.live = 0

    def add(self, entries: list[Entry]) -> None:
        """Index ``entries`` in one FAISS call (a batch costs ~15 % less a vector)."""
        self.index.add(np.stack([e.vector.reshape(-1) for e in entries]))
        slots = self.slots
        for entry in entries:
            entry.position = len(slots)
            slots.append(entry)
        self.live += len(entries)
        if self.live >= HNSW_FROM and isinstance(self.index, faiss.IndexFlatIP):
            self.rebuild(hnsw=True)

    def remove(self, entry: Entry) -> None:
        position = entry.position
        if 0 <= position < len(self.slots) and self.slots[position] is entry:
            self.slots[position] = None
            self.live -= 1
        if len(self.slots) > 64 and self.live * 2 < len(self.slots):
            self.rebuild(hnsw=not isinstance(self.index, faiss.IndexFlatIP))

    def rebuild(self, hnsw: bool) -> None:
        alive: list[Entry | None] = [e for e in self.slots if e is not None]
        index: Any
        vectors = np.stack([e.vector for e in alive if e is not None]) if alive else None
        if hnsw and len(alive) >= HNSW_FROM // 2:
            sq8: Any = faiss.ScalarQuantizer.QT_8bit  # an enum int (faiss's stub says otherwise)
            index = faiss.IndexHNSWSQ(self.dim, sq8, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            index.hnsw.efSearch = HNSW_EF_SEARCH
            index.train(vectors)  # each dimension's range, from the vectors it will hold
        else:
            index = faiss.IndexFlatIP(self.dim)
        if vectors is not None:
            index.add(vectors)
        for position, entry in enumerate(alive):
            if entry is not None:
                entry.position = position
        self.index, self.slots, self.live = index, alive, len(alive)

    def search(self, vectors: np.ndarray, k: int) -> list[list[tuple[float, Entry]]]:
        """The ``k`` nearest live entries of each row of ``vectors``, best first (one FAISS
        call for them all)."""
        n = len(self.slots)
        if n == 0:
            return [[] for _ in range(len(vectors))]
        want = min(n, k + (n - self.live))  # room for tombstones among the nearest
        want = min(want, k * 4)
        _, positions = self.index.search(vectors, want)
        slots = self.slots
        rows: list[list[tuple[float, Entry]]] = []
        for vector, row in zip(vectors, positions.tolist(), strict=True):
            found: list[tuple[float, Entry]] = []
            for position in row:
                if position < 0:
                    continue
                entry = slots[position]
                if entry is not None:
                    found.append((float(np.dot(vector, entry.vector)), entry))  # exact
                    if len(found) == k:
                        break
            found.sort(key=_score, reverse=True)
            rows.append(found)
        return rows


def _score(item: tuple[float, Entry]) -> float:
    return item[0]


class SemanticIndex:
    """Every entry of the tier in this process (see the module docstring)."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        #: per public model, its entries, least recently used first
        self.models: dict[str, OrderedDict[int, Entry]] = {}
        self.partitions: dict[bytes, _Partition] = {}
        self._ids = itertools.count()
        self.count = 0  # entries in all models: an int, read by other threads (the metrics)

    def __len__(self) -> int:
        return self.count

    def add(self, entry: Entry, max_entries: int) -> None:
        """Index ``entry``; its model keeps at most ``max_entries`` (least recently used out)."""
        self.add_many([(entry, max_entries)])

    def add_many(self, batch: list[tuple[Entry, int]]) -> None:
        """Index each entry (with its model's bound), one FAISS call per partition."""
        by_partition: dict[bytes, list[Entry]] = {}
        for entry, _ in batch:
            entry.id = next(self._ids)
            by_partition.setdefault(entry.partition, []).append(entry)
        for key, entries in by_partition.items():
            partition = self.partitions.get(key)
            if partition is None:
                partition = self.partitions[key] = _Partition(self.dim)
            partition.add(entries)
        for entry, max_entries in batch:
            entries_of = self.models.get(entry.model)
            if entries_of is None:
                entries_of = self.models[entry.model] = OrderedDict()
            entries_of[entry.id] = entry
            self.count += 1
            while len(entries_of) > max_entries:
                _, oldest = entries_of.popitem(last=False)
                self.count -= 1
                self._unindex(oldest)

    def search(
        self, partition: bytes, vector: np.ndarray, k: int, min_score: float, now: float
    ) -> list[tuple[float, Entry]]:
        """The live entries of ``partition`` nearest ``vector`` scoring at least
        ``min_score``, best first; an expired one found is removed."""
        return self.search_many(partition, vector.reshape(1, -1), k, min_score, now)[0]

    def search_many(
        self, partition: bytes, vectors: np.ndarray, k: int, min_score: float, now: float
    ) -> list[list[tuple[float, Entry]]]:
        """``search`` for each row of ``vectors`` (one FAISS call for them all)."""
        index = self.partitions.get(partition)
        if index is None:
            return [[] for _ in range(len(vectors))]
        rows: list[list[tuple[float, Entry]]] = []
        for row in index.search(vectors, k):
            found: list[tuple[float, Entry]] = []
            for score, entry in row:
                if entry.expires_at <= now:
                    self.remove(entry)
                elif score >= min_score:
                    found.append((score, entry))
            rows.append(found)
        return rows

    def touch(self, entry: Entry) -> None:
        """``entry`` answered a request: last out under the bound."""
        entries = self.models.get(entry.model)
        if entries is not None and entry.id in entries:
            entries.move_to_end(entry.id)

    def remove(self, entry: Entry) -> None:
        entries = self.models.get(entry.model)
        if entries is not None and entries.pop(entry.id, None) is not None:
            self.count -= 1
            self._unindex(entry)

    def purge(self, namespace: str | None, model: str | None) -> int:
        """Remove the entries of ``namespace`` and/or ``model`` (None: any); their count."""
        doomed = [
            e
            for name, entries in self.models.items()
            if model is None or name == model
            for e in entries.values()
            if namespace is None or e.namespace == namespace
        ]
        for entry in doomed:
            self.remove(entry)
        return len(doomed)

    def expire(self, now: float, budget: int) -> int:
        """Remove up to ``budget`` expired entries; their count."""
        expired = (e for es in self.models.values() for e in es.values() if e.expires_at <= now)
        doomed = list(itertools.islice(expired, budget))
        for entry in doomed:
            self.remove(entry)
        return len(doomed)

    def live(self, now: float) -> Iterator[Entry]:
        """The unexpired entries, least recently used first per model (to save or share)."""
        return (e for es in self.models.values() for e in es.values() if e.expires_at > now)

    def _unindex(self, entry: Entry) -> None:
        partition = self.partitions.get(entry.partition)
        if partition is None:
            return
        partition.remove(entry)
        if partition.live == 0:
            del self.partitions[entry.partition]
