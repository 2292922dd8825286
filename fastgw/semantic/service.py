"""The semantic tier's worker thread: embedding, search and verification off the event loop.

One ``SemanticService`` per worker process (``fastgw.runtime``). The request path only puts
a job on a bounded queue and awaits a future; one thread takes jobs in order, owns the
index (``fastgw.semantic.index``) and the models, and hands results back to the loop with
``call_soon_threadsafe``. Rules this module keeps:
- The loop never waits for a model without need: a lookup whose job does not fit in the
  queue is skipped (``queue_full``), one not answered within ``LOOKUP_TIMEOUT_S`` is
  skipped (``timeout``), and until the models are loaded every lookup is skipped
  (``loading``); a skipped request goes upstream. Stores that do not fit are dropped and
  counted the same way: nothing on the request path blocks.
- A lookup embeds the last user message with the fast model, searches its partition for
  candidates at ``Matcher.candidate_floor`` and over, drops those the guards veto (text
  only), then verifies the rest with the matcher (MiniLM's pooled vector and content tokens
  of the query and each candidate, computed once per entry and kept): the first verified
  candidate answers. A store reuses its lookup's fast embedding (MiniLM's waits until the
  entry is a candidate). Lookups waiting together are done together: one fast-model call,
  one MiniLM call, one hand-back to the loop.
- torch runs on one thread and FAISS on one OpenMP thread: the worker's other core serves
  requests (measured: two OpenMP threads were slower than one on this 2-core machine).
- Jobs go to the thread through a deque (appends and pops are atomic), and the loop wakes
  the thread only when it sleeps: no lock is shared on the request path. A ``queue.Queue``
  (a mutex and a condition per put) cost the event loop 7.5 % of its samples under load, its
  mutex handed to and fro with the interpreter lock (py-spy, in process).
- Entries from elsewhere (another worker or instance through the shared cache feed, or the
  file a graceful restart left) go through ``adopt``: the same add job, never re-shared.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from .partition import Eligible

if TYPE_CHECKING:  # the optional extra: imported by the thread, not with this module
    import numpy as np

    from .index import Entry, SemanticIndex

log = logging.getLogger("fastgw")

#: Jobs waiting for the thread, lookups and stores together.
QUEUE_SIZE = 256
#: The longest a request waits for its lookup before it goes upstream without it.
LOOKUP_TIMEOUT_S = 0.25
#: Candidates verified per lookup, best first.
CANDIDATES = 3
#: Entries from elsewhere waiting to be indexed, at most; and indexed per turn of the thread.
INCOMING_MAX = 200_000
INCOMING_BATCH = 256
#: Jobs the thread takes per turn (their results go back to the loop in one call).
JOB_BATCH = 64
#: Queries verified per MiniLM call; each call's answers go back before the next starts.
#: One: batches measured slower per text (8 questions of the paraphrase set: 88 ms a call,
#: against 6.8 ms for one; padding to the longest and the token copies).
MINILM_BATCH = 1
#: Expired entries removed per idle moment of the thread.
EXPIRE_BATCH = 256


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

    def __init__(self, entry: Entry, similarity: float) -> None:
        self.body, self.usage, self.created_at = entry.body, entry.usage, entry.created_at
        self.similarity = similarity


#: What ``lookup`` returns when the tier was skipped (the reason is counted).
class Skipped:
    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


QUEUE_FULL, TIMEOUT, LOADING = Skipped("queue_full"), Skipped("timeout"), Skipped("loading")

Observer = Callable[[str, str, float], None]  # (model, decision, similarity)


class SemanticService:
    """See the module docstring. ``load`` builds (embedder, matcher) in the thread."""

    def __init__(
        self,
        load: Callable[[], tuple[Embedder, Matcher]],
        loop: asyncio.AbstractEventLoop,
        observe: Observer | None = None,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self.loop = loop
        self.observe = observe
        self.jobs: collections.deque[tuple[Any, ...] | None] = collections.deque()
        self.queue_size = queue_size
        self._sleeping = False  # the thread waits for ``_wakeup`` (set by whoever adds a job)
        self._wakeup = threading.Event()
        self.embedder: Embedder | None = None
        self.matcher: Matcher | None = None
        self.index: SemanticIndex | None = None
        self.identity = ""
        self.ready = threading.Event()
        self.failed: str | None = None
        self.dropped_stores = 0
        self.on_store: Callable[[Entry], None] | None = None  # shares a new entry
        self._load = load
        self._incoming: collections.deque[tuple[Made, int]] = collections.deque()
        self._purges: collections.deque[tuple[str | None, str | None]] = collections.deque()
        self._thread = threading.Thread(target=self._run, name="fastgw-semantic", daemon=True)
        self._thread.start()

    # -- the request path (the event loop) ---------------------------------------------------

    async def lookup(
        self, eligible: Eligible, model: str, threshold: float, max_age: float | None
    ) -> Hit | Skipped | None:
        """The verified entry answering ``eligible``, None on a miss, or why it was skipped."""
        if not self.ready.is_set():
            return LOADING
        if len(self.jobs) >= self.queue_size:
            return QUEUE_FULL
        future: asyncio.Future[Hit | None] = self.loop.create_future()
        self._push(("lookup", future, eligible, model, threshold, max_age))
        timer = self.loop.call_later(LOOKUP_TIMEOUT_S, _give_up, future)
        try:
            return await future
        except TimeoutError:
            return TIMEOUT
        finally:
            timer.cancel()

    def store(
        self,
        eligible: Eligible,
        body: bytes,
        usage: Any,
        ttl_s: float,
        namespace: str,
        model: str,
        max_entries: int,
    ) -> bool:
        """Queue a new entry (shared through ``on_store`` once indexed); False if dropped."""
        now = time.time()
        made = Made(
            eligible.partition, eligible.text, body, usage, now, now + ttl_s, namespace, model
        )
        return self._put(("add", made, max_entries, True, eligible.vector))

    def adopt(self, made: Made, max_entries: int) -> bool:
        """Take an entry made elsewhere (another worker or instance, the disk copy): indexed
        by the thread in batches, never shared again. False when ``INCOMING_MAX`` entries
        already wait (dropped)."""
        if len(self._incoming) >= INCOMING_MAX:
            self.dropped_stores += 1
            return False
        self._incoming.append((made, max_entries))
        self._wake()
        return True

    def purge(self, namespace: str | None, model: str | None) -> None:
        """Remove the entries of ``namespace`` and/or ``model`` (None: any): done by the
        thread before its next job, never waiting and never dropped."""
        self._purges.append((namespace, model))
        self._wake()

    def _wake(self) -> None:
        self._wakeup.set()

    def _push(self, job: tuple[Any, ...] | None) -> None:
        self.jobs.append(job)
        if self._sleeping:  # read after the append: see ``_next_batch``
            self._wakeup.set()

    def entries(self) -> int:
        index = self.index
        return 0 if index is None else len(index)

    def _put(self, job: tuple[Any, ...]) -> bool:
        if len(self.jobs) >= self.queue_size:
            self.dropped_stores += 1
            return False
        self._push(job)
        return True

    def close(self, timeout_s: float = 5.0) -> bool:
        """Stop the thread (after the job under way); True once it has stopped, so that
        ``live`` may read the index."""
        self._push(None)
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def live(self) -> list[Entry]:
        """The unexpired entries (after ``close``: the thread owns the index until then)."""
        index = self.index
        return [] if index is None or self._thread.is_alive() else list(index.live(time.time()))

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            _one_thread()
            embedder, matcher = self._load()
        except Exception as exc:  # noqa: BLE001 - the tier stays off; requests go upstream
            self.failed = f"{type(exc).__name__}: {exc}"
            log.error("the semantic cache could not load its models: %s", self.failed)
            return
        from .index import SemanticIndex

        self.embedder, self.matcher = embedder, matcher
        self.identity = embedder.identity
        self.index = SemanticIndex(embedder.fast_dim)
        self.ready.set()
        while True:
            self._take_purges_and_incoming()
            batch = self._next_batch()
            if batch is None:
                self.index.expire(time.time(), EXPIRE_BATCH)
                continue
            self._take_purges_and_incoming()
            settled: list[tuple[asyncio.Future[Any], Any]] = []
            observed: list[tuple[str, str, float]] = []
            stop = False
            lookups: list[tuple[Any, ...]] = []  # consecutive lookups, done together
            for job in batch:
                if job is not None and job[0] == "lookup":
                    if not job[1].done():  # else the client left, or it timed out
                        lookups.append(job)
                    continue
                self._guarded(self._lookups, lookups, settled, observed)
                lookups = []
                if job is None:
                    stop = True
                    break
                if job[0] == "add":
                    self._guarded(self._add, *job[1:])
            self._guarded(self._lookups, lookups, settled, observed)
            if not self._hand_back(settled, observed) or stop:
                return

    def _next_batch(self) -> list[tuple[Any, ...] | None] | None:
        """Up to ``JOB_BATCH`` waiting jobs (one turn, one hand-back). With nothing to do
        (no job, no entry from elsewhere, no purge) it sleeps until woken, or for a second:
        then ``None`` (time to expire entries). ``_sleeping`` is set before the deque is
        looked at again, and the loop reads it after its append: a job added meanwhile is
        either seen here or wakes the wait."""
        jobs = self.jobs
        if not jobs and not self._incoming and not self._purges:
            self._wakeup.clear()
            self._sleeping = True
            woken = True
            if not jobs and not self._incoming and not self._purges:
                woken = self._wakeup.wait(1.0)
            self._sleeping = False
            if not woken:
                return None
        batch: list[tuple[Any, ...] | None] = []
        while jobs and len(batch) < JOB_BATCH:
            batch.append(jobs.popleft())
        return batch

    def _guarded(self, work: Callable[..., Any], *args: Any) -> None:
        """One failed piece of work never stops the thread (a lookup that failed is a miss:
        ``_lookups`` settles what it finished, the hand-back the rest)."""
        try:
            work(*args)
        except Exception:
            log.exception("semantic cache job failed")
            if work == self._lookups:
                done = {id(future) for future, _ in args[1]}
                args[1].extend((job[1], None) for job in args[0] if id(job[1]) not in done)

    def _hand_back(
        self,
        settled: list[tuple[asyncio.Future[Any], Any]],
        observed: list[tuple[str, str, float]],
    ) -> bool:
        """Results to the loop in one call (one wake-up of the loop per turn); False once
        the loop is closed (the worker is gone)."""
        if not settled and not observed:
            return True
        try:
            self.loop.call_soon_threadsafe(_settle_all, settled, observed, self.observe)
        except RuntimeError:  # the loop closed under us
            return not self.loop.is_closed()
        return True

    def _take_purges_and_incoming(self) -> None:
        index, purges = self.index, self._purges
        assert index is not None
        while purges:
            namespace, model = purges.popleft()
            removed = index.purge(namespace, model)
            log.info("semantic cache purge: %d entries removed", removed)
        incoming = self._incoming
        if not incoming:
            return
        batch = [incoming.popleft() for _ in range(min(len(incoming), INCOMING_BATCH))]
        embedder = self.embedder
        assert embedder is not None
        vectors = embedder.fast([made.text for made, _ in batch])
        for (made, max_entries), vector in zip(batch, vectors, strict=True):
            self._add(made, max_entries, False, vector)
        # the rest after the jobs waiting now (``_next_batch`` does not sleep while some
        # are left): lookups are not held up

    def _lookups(
        self,
        jobs: list[tuple[Any, ...]],
        settled: list[tuple[asyncio.Future[Any], Any]],
        observed: list[tuple[str, str, float]],
    ) -> None:
        """Lookups taken together: one fast-model call for all their texts, then a search
        each, the guards, and one MiniLM call for every query (and new candidate) left."""
        if not jobs:
            return
        embedder, matcher, index = self.embedder, self.matcher, self.index
        assert embedder is not None and matcher is not None and index is not None
        now = time.time()
        vectors = embedder.fast([job[2].text for job in jobs])
        pending: list[tuple[tuple[Any, ...], list[tuple[float, Entry]]]] = []
        for job, vector in zip(jobs, vectors, strict=True):
            _, future, eligible, _, _, max_age = job
            eligible.vector = vector
            found = index.search(
                eligible.partition, vector, CANDIDATES, matcher.candidate_floor, now
            )
            text = eligible.text
            candidates = [  # best first; the guards need no MiniLM
                (score, e)
                for score, e in found
                if (max_age is None or now - e.created_at <= max_age)
                and not matcher.vetoed(text, e.text)
            ]
            if candidates:
                pending.append((job, candidates))
            else:
                settled.append((future, None))
        for start in range(0, len(pending), MINILM_BATCH):
            if start:  # what is verified goes back now: the rest need not hold it up
                self._hand_back(settled[:], observed[:])  # copies: the loop reads them later
                settled.clear()
                observed.clear()
            chunk = pending[start : start + MINILM_BATCH]
            fresh = list({id(e): e for _, cs in chunk for _, e in cs if e.full is None}.values())
            texts = [job[2].text for job, _ in chunk] + [e.text for e in fresh]
            full = embedder.full(texts)
            for entry, vector in zip(fresh, full[len(chunk) :], strict=True):
                entry.full = vector
            for (job, candidates), query in zip(chunk, full, strict=False):
                _, future, eligible, model, threshold, _ = job
                hit = self._verified(eligible, query, candidates, model, threshold, observed)
                settled.append((future, hit))

    def _verified(
        self,
        eligible: Eligible,
        query: Any,
        candidates: list[tuple[float, Entry]],
        model: str,
        threshold: float,
        observed: list[tuple[str, str, float]],
    ) -> Hit | None:
        matcher, index = self.matcher, self.index
        assert matcher is not None and index is not None
        for fast_similarity, entry in candidates:
            assert entry.full is not None
            same, similarity = matcher.decide(
                eligible.text, query, entry.text, entry.full, threshold, fast_similarity
            )
            observed.append((model, "hit" if same else "miss", similarity))
            if same:
                index.touch(entry)
                return Hit(entry, similarity)
        return None

    def _add(self, made: Made, max_entries: int, share: bool, vector: Any) -> None:
        embedder, index = self.embedder, self.index
        assert embedder is not None and index is not None
        if made.expires_at <= time.time():
            return
        from .index import Entry

        if vector is None:  # its lookup was skipped, or it came from elsewhere
            vector = embedder.fast([made.text])[0]
        entry = Entry(*made, vector)
        index.add(entry, max_entries)
        if share and self.on_store is not None:
            self.on_store(entry)


def _settle_all(
    settled: list[tuple[asyncio.Future[Any], Any]],
    observed: list[tuple[str, str, float]],
    observe: Observer | None,
) -> None:
    for future, result in settled:
        if not future.done():
            future.set_result(result)
    if observe is not None:
        for model, decision, similarity in observed:
            observe(model, decision, similarity)


def _give_up(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


def _one_thread() -> None:
    """torch and FAISS on one thread each (see the module docstring)."""
    import faiss

    faiss.omp_set_num_threads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # a fast model without torch
        pass
