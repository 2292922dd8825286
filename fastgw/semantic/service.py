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
  candidates at ``Matcher.candidate_floor`` and over, then verifies the best few with the
  matcher (the full model's embeddings of the query and each candidate, computed once per
  entry and kept): the first verified candidate answers. A store embeds with the fast model
  only (the full embedding waits until the entry is a candidate).
- torch runs on one thread and FAISS on one OpenMP thread: the worker's other core serves
  requests (measured: two OpenMP threads were slower than one on this 2-core machine).
- Entries from elsewhere (another worker or instance through the shared cache feed, or the
  file a graceful restart left) go through ``adopt``: the same add job, never re-shared.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import queue
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
        query_vec: np.ndarray,
        candidate: str,
        candidate_vec: np.ndarray,
        threshold: float,
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
        self.jobs: queue.Queue[tuple[Any, ...] | None] = queue.Queue(queue_size)
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
        future: asyncio.Future[Hit | None] = self.loop.create_future()
        try:
            self.jobs.put_nowait(("lookup", future, eligible, model, threshold, max_age))
        except queue.Full:
            return QUEUE_FULL
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
        with contextlib.suppress(queue.Full):
            self.jobs.put_nowait(("wake",))

    def entries(self) -> int:
        index = self.index
        return 0 if index is None else len(index)

    def _put(self, job: tuple[Any, ...]) -> bool:
        try:
            self.jobs.put_nowait(job)
        except queue.Full:
            self.dropped_stores += 1
            return False
        return True

    def close(self, timeout_s: float = 5.0) -> bool:
        """Stop the thread (after the job under way); True once it has stopped, so that
        ``live`` may read the index."""
        with contextlib.suppress(queue.Full):
            self.jobs.put(None, timeout=timeout_s)
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
        jobs = self.jobs
        while True:
            self._take_purges_and_incoming()
            try:
                job = jobs.get(timeout=1.0)
            except queue.Empty:
                self.index.expire(time.time(), EXPIRE_BATCH)
                continue
            if job is None:
                return
            self._take_purges_and_incoming()
            try:
                self._do(job)
            except RuntimeError:  # the loop closed under us: the worker is gone
                if self.loop.is_closed():
                    return
                log.exception("semantic cache job failed")
            except Exception:
                log.exception("semantic cache job failed")
                if job[0] == "lookup" and not self.loop.is_closed():
                    self.loop.call_soon_threadsafe(_settle, job[1], None)

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
        if incoming:
            self._wake()  # the rest after the next job: lookups are not held up

    def _do(self, job: tuple[Any, ...]) -> None:
        kind = job[0]
        if kind == "lookup":
            _, future, eligible, model, threshold, max_age = job
            if future.done():  # the client left, or it timed out: nobody waits
                return
            found = self._lookup(eligible, model, threshold, max_age)
            self.loop.call_soon_threadsafe(_settle, future, found)
        elif kind == "add":
            self._add(*job[1:])

    def _lookup(
        self, eligible: Eligible, model: str, threshold: float, max_age: float | None
    ) -> Hit | None:
        embedder, matcher, index = self.embedder, self.matcher, self.index
        assert embedder is not None and matcher is not None and index is not None
        now = time.time()
        vector = eligible.vector = embedder.fast([eligible.text])[0]
        found = index.search(eligible.partition, vector, CANDIDATES, matcher.candidate_floor, now)
        if max_age is not None:
            found = [(s, e) for s, e in found if now - e.created_at <= max_age]
        text = eligible.text
        found = [(s, e) for s, e in found if not matcher.vetoed(text, e.text)]  # no MiniLM yet
        if not found:
            return None
        fresh = [e for _, e in found if e.full is None]
        vectors = embedder.full([eligible.text, *(e.text for e in fresh)])
        for entry, full in zip(fresh, vectors[1:], strict=True):
            entry.full = full
        query = vectors[0]
        for _, entry in found:
            assert entry.full is not None
            same, similarity = matcher.decide(
                eligible.text, query, entry.text, entry.full, threshold
            )
            if self.observe is not None:
                self.loop.call_soon_threadsafe(
                    self.observe, model, "hit" if same else "miss", similarity
                )
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


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


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
