"""The semantic tier's work, with no thread or process of its own: embedding, search and
verification over one index. Its drivers call it from the one place that owns it: the
worker's thread (``fastgw.semantic.service``) or a process of its own
(``fastgw.semantic.remote``, ``fastgw.semantic.child``).

Rules this module keeps:
- A lookup embeds the last user message with the fast model, searches its partition for
  candidates at ``Matcher.candidate_floor`` and over, drops those the guards veto (text
  only), then verifies the rest with the matcher (MiniLM's pooled vector and content tokens
  of the query and each candidate, computed once per entry and kept): the first verified
  candidate answers. Lookups waiting together are done together: one fast-model call, then
  MiniLM ``MINILM_BATCH`` queries at a time, each call's answers handed back before the next.
- A store reuses its lookup's fast embedding (``vector``); MiniLM's waits until the entry
  is a candidate.
- A lookup is named by its driver's ``handle`` (a future, a job id): this module never
  looks inside one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:  # the optional extra: imported by the driver's thread or process
    import numpy as np

    from .index import Entry, SemanticIndex

#: Candidates verified per lookup, best first.
CANDIDATES = 3
#: Queries verified per MiniLM call; each call's answers go back before the next starts.
#: One: batches measured slower per text (8 questions of the paraphrase set: 88 ms a call,
#: against 6.8 ms for one; padding to the longest and the token copies).
MINILM_BATCH = 1


class Embedder(Protocol):
    identity: str
    fast_dim: int

    def fast(self, texts: list[str]) -> np.ndarray: ...
    def full(self, texts: list[str]) -> np.ndarray: ...


class Matcher(Protocol):
    candidate_floor: float

    def vetoed(self, query: str, candidate: str) -> bool: ...

    def decide(
        self,
        query: str,
        query_vec: Any,
        candidate: str,
        candidate_vec: Any,
        threshold: float,
        fast_similarity: float,
    ) -> tuple[bool, float]: ...


class Made(NamedTuple):
    """An entry as it is stored or shared: what ``Entry`` holds but its vectors."""

    partition: bytes
    text: str
    body: bytes
    usage: Any
    created_at: float
    expires_at: float
    namespace: str
    model: str


class Hit:
    """A verified entry: its answer, usage and the similarity reported to the client."""

    __slots__ = ("body", "created_at", "similarity", "usage")

    def __init__(self, body: bytes, usage: Any, created_at: float, similarity: float) -> None:
        self.body, self.usage, self.created_at = body, usage, created_at
        self.similarity = similarity


class Lookup:
    """One lookup as the tier sees it; ``vector`` is its fast embedding once made."""

    __slots__ = ("handle", "max_age", "model", "partition", "text", "threshold", "vector")

    def __init__(
        self,
        handle: Any,
        partition: bytes,
        text: str,
        model: str,
        threshold: float,
        max_age: float | None,
    ) -> None:
        self.handle = handle
        self.partition = partition
        self.text = text
        self.model = model
        self.threshold = threshold
        self.max_age = max_age
        self.vector: Any = None


Settled = list[tuple[Any, "Hit | None"]]  # (handle, answer)
Observed = list[tuple[str, str, float]]  # (model, decision, similarity)
#: Hands what is settled so far back to the driver's caller (the lists are then cleared).
Flush = Callable[[Settled, Observed], None]


class Tier:
    """The models and the index of one tier (see the module docstring). Not thread-safe:
    one owner calls it."""

    def __init__(self, embedder: Embedder, matcher: Matcher) -> None:
        from .index import SemanticIndex

        self.embedder = embedder
        self.matcher = matcher
        self.identity = embedder.identity
        self.index: SemanticIndex = SemanticIndex(embedder.fast_dim)

    def __len__(self) -> int:
        return len(self.index)

    def lookups(
        self, jobs: list[Lookup], settled: Settled, observed: Observed, flush: Flush
    ) -> None:
        """Answer ``jobs`` into ``settled`` (a Hit or None each) and the verifier's
        decisions into ``observed``; ``flush`` hands back what is settled between MiniLM
        calls."""
        if not jobs:
            return
        embedder, matcher, index = self.embedder, self.matcher, self.index
        now = time.time()
        vectors = embedder.fast([job.text for job in jobs])
        rows: dict[bytes, list[int]] = {}  # one search call per partition
        for i, job in enumerate(jobs):
            job.vector = vectors[i]
            rows.setdefault(job.partition, []).append(i)
        founds: list[list[tuple[float, Entry]]] = [[] for _ in jobs]
        floor = matcher.candidate_floor
        for partition, numbers in rows.items():
            searched = index.search_many(partition, vectors[numbers], CANDIDATES, floor, now)
            for i, found in zip(numbers, searched, strict=True):
                founds[i] = found
        pending: list[tuple[Lookup, list[tuple[float, Entry]]]] = []
        for job, found in zip(jobs, founds, strict=True):
            text, max_age = job.text, job.max_age
            candidates = [  # best first; the guards need no MiniLM
                (score, e)
                for score, e in found
                if (max_age is None or now - e.created_at <= max_age)
                and not matcher.vetoed(text, e.text)
            ]
            if candidates:
                pending.append((job, candidates))
            else:
                settled.append((job.handle, None))
        for start in range(0, len(pending), MINILM_BATCH):
            if start:  # what is verified goes back now: the rest need not hold it up
                flush(settled, observed)
            chunk = pending[start : start + MINILM_BATCH]
            fresh = list({id(e): e for _, cs in chunk for _, e in cs if e.full is None}.values())
            texts = [job.text for job, _ in chunk] + [e.text for e in fresh]
            full = embedder.full(texts)
            for entry, vector in zip(fresh, full[len(chunk) :], strict=True):
                entry.full = vector
            for (job, candidates), query in zip(chunk, full, strict=False):
                settled.append((job.handle, self._verified(job, query, candidates, observed)))

    def _verified(
        self,
        job: Lookup,
        query: Any,
        candidates: list[tuple[float, Entry]],
        observed: Observed,
    ) -> Hit | None:
        matcher = self.matcher
        for fast_similarity, entry in candidates:
            assert entry.full is not None
            same, similarity = matcher.decide(
                job.text, query, entry.text, entry.full, job.threshold, fast_similarity
            )
            observed.append((job.model, "hit" if same else "miss", similarity))
            if same:
                self.index.touch(entry)
                return Hit(entry.body, entry.usage, entry.created_at, similarity)
        return None

    def add(self, made: Made, max_entries: int, vector: Any) -> Entry | None:
        """Index ``made`` (``vector``: its fast embedding, None to make it); the entry, or
        None when it has expired already."""
        if made.expires_at <= time.time():
            return None
        from .index import Entry

        if vector is None:  # its lookup was skipped, or it came from elsewhere
            vector = self.embedder.fast([made.text])[0]
        entry = Entry(*made, vector)
        self.index.add(entry, max_entries)
        return entry

    def add_many(self, batch: list[tuple[Made, int, Any]]) -> None:
        """``add`` for each (made, bound, fast vector or None): the missing vectors made in
        one call, the entries indexed one FAISS call per partition."""
        now = time.time()
        batch = [item for item in batch if item[0].expires_at > now]
        if not batch:
            return
        from .index import Entry

        missing = [made.text for made, _, vector in batch if vector is None]
        made_now = iter(self.embedder.fast(missing) if missing else ())
        self.index.add_many(
            [
                (Entry(*made, next(made_now) if vector is None else vector), max_entries)
                for made, max_entries, vector in batch
            ]
        )

    def adopt(self, batch: list[tuple[Made, int]]) -> None:
        """Entries from elsewhere (each with its model's bound), embedded in one call."""
        self.add_many([(made, max_entries, None) for made, max_entries in batch])

    def purge(self, namespace: str | None, model: str | None) -> int:
        return self.index.purge(namespace, model)

    def expire(self, budget: int) -> int:
        return self.index.expire(time.time(), budget)

    def live(self) -> list[Made]:
        """The unexpired entries, without their vectors (to save or share)."""
        return [
            Made(
                e.partition,
                e.text,
                e.body,
                e.usage,
                e.created_at,
                e.expires_at,
                e.namespace,
                e.model,
            )
            for e in self.index.live(time.time())
        ]


def one_thread() -> None:
    """torch and FAISS on one thread each: the other core serves requests (measured: two
    OpenMP threads were slower than one on this 2-core machine)."""
    import faiss

    faiss.omp_set_num_threads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # a fast model without torch
        pass
