"""The semantic tier in a thread of the worker: the tier's work (``fastgw.semantic.tier``)
off the event loop, under the worker's interpreter lock.

``SemanticService`` is one of the tier's two drivers (``fastgw.semantic.remote`` runs the
tier in a process of its own, the default; ``[cache] semantic_process = false`` picks this
one). Both keep the same contract for the request path:
- The loop never waits for a model without need: a lookup whose job does not fit in the
  queue is skipped (``queue_full``), one not answered within ``LOOKUP_TIMEOUT_S`` is
  skipped (``timeout``), and until the models are loaded every lookup is skipped
  (``loading``); a skipped request goes upstream. Stores that do not fit are dropped and
  counted the same way: nothing on the request path blocks.
- Entries from elsewhere (another worker or instance through the shared cache feed, or the
  file a graceful restart left) go through ``adopt``: indexed, never re-shared.

Rules of this driver:
- One thread takes jobs in order, owns the tier, and hands results back to the loop with
  ``call_soon_threadsafe``, one call per turn.
- Jobs go to the thread through a deque (appends and pops are atomic), and the loop wakes
  the thread only when it sleeps: no lock is shared on the request path. A ``queue.Queue``
  (a mutex and a condition per put) cost the event loop 7.5 % of its samples under load, its
  mutex handed to and fro with the interpreter lock (py-spy, in process).
- FAISS holds the interpreter lock while it searches and adds
  (``benchmarks/semcache_cpu.py --gil``): this thread and the event loop take turns, which
  is why the process driver is the default.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from .partition import Eligible
from .tier import Embedder, Hit, Lookup, Made, Matcher, Observed, Settled, one_thread

if TYPE_CHECKING:  # the optional extra: imported by the thread, not with this module
    from .tier import Tier

log = logging.getLogger("fastgw")

#: Jobs waiting for the thread, lookups and stores together.
QUEUE_SIZE = 256
#: The longest a request waits for its lookup before it goes upstream without it.
LOOKUP_TIMEOUT_S = 0.25
#: Entries from elsewhere waiting to be indexed, at most; and indexed per turn of the thread.
INCOMING_MAX = 200_000
INCOMING_BATCH = 256
#: Jobs the thread takes per turn (their results go back to the loop in one call).
JOB_BATCH = 64
#: Expired entries removed per idle moment of the thread.
EXPIRE_BATCH = 256

__all__ = ["Driver", "Embedder", "Hit", "Made", "Matcher", "SemanticService", "Skipped"]


#: What ``lookup`` returns when the tier was skipped (the reason is counted).
class Skipped:
    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


QUEUE_FULL, TIMEOUT, LOADING = Skipped("queue_full"), Skipped("timeout"), Skipped("loading")

Observer = Callable[[str, str, float], None]  # (model, decision, similarity)


class Driver(Protocol):
    """What the request path, the runtime and the metrics use of a tier's driver: this
    module's ``SemanticService`` or ``fastgw.semantic.remote.SemanticProcess``."""

    ready: threading.Event
    identity: str
    failed: str | None
    on_store: Callable[[Any], None] | None

    @property
    def dropped_stores(self) -> int: ...

    async def lookup(
        self, eligible: Eligible, model: str, threshold: float, max_age: float | None
    ) -> Hit | Skipped | None: ...

    def store(
        self,
        eligible: Eligible,
        body: bytes,
        usage: Any,
        ttl_s: float,
        namespace: str,
        model: str,
        max_entries: int,
    ) -> bool: ...

    def adopt(self, made: Made, max_entries: int) -> bool: ...
    def purge(self, namespace: str | None, model: str | None) -> None: ...
    def entries(self) -> int: ...
    def waiting(self) -> int: ...
    def close(self, timeout_s: float = 5.0, collect: bool = False) -> bool: ...
    def live(self) -> list[Any]: ...


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
        self.tier: Tier | None = None
        self.identity = ""
        self.ready = threading.Event()
        self.failed: str | None = None
        self.dropped_stores = 0
        self.on_store: Callable[[Any], None] | None = None  # shares a new entry
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
        job = Lookup(future, eligible.partition, eligible.text, model, threshold, max_age)
        eligible.vector = job  # its fast embedding, once made, is the store's
        self._push(("lookup", job))
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
        tier = self.tier
        return 0 if tier is None else len(tier)

    def waiting(self) -> int:
        """Lookups queued and not yet answered (the thread drops those whose client left)."""
        return sum(
            1
            for job in list(self.jobs)
            if job is not None and job[0] == "lookup" and not job[1].handle.done()
        )

    def _put(self, job: tuple[Any, ...]) -> bool:
        if len(self.jobs) >= self.queue_size:
            self.dropped_stores += 1
            return False
        self._push(job)
        return True

    def close(self, timeout_s: float = 5.0, collect: bool = False) -> bool:
        """Stop the thread (after the job under way); True once it has stopped, so that
        ``live`` may read the index (``collect`` is the process driver's: the thread's
        index is read in place)."""
        self._push(None)
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def live(self) -> list[Made]:
        """The unexpired entries (after ``close``: the thread owns the index until then)."""
        tier = self.tier
        return [] if tier is None or self._thread.is_alive() else tier.live()

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            one_thread()
            embedder, matcher = self._load()
            from .tier import Tier

            tier = Tier(embedder, matcher)
        except Exception as exc:  # noqa: BLE001 - the tier stays off; requests go upstream
            self.failed = f"{type(exc).__name__}: {exc}"
            log.error("the semantic cache could not load its models: %s", self.failed)
            return
        self.tier = tier
        self.identity = tier.identity
        self.ready.set()
        while True:
            self._take_purges_and_incoming(tier)
            batch = self._next_batch()
            if batch is None:
                tier.expire(EXPIRE_BATCH)
                continue
            self._take_purges_and_incoming(tier)
            settled: Settled = []
            observed: Observed = []
            stop = False
            lookups: list[Lookup] = []  # consecutive lookups, done together
            for job in batch:
                if job is not None and job[0] == "lookup":
                    if not job[1].handle.done():  # else the client left, or it timed out
                        lookups.append(job[1])
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
                args[1].extend((job.handle, None) for job in args[0] if id(job.handle) not in done)

    def _lookups(self, jobs: list[Lookup], settled: Settled, observed: Observed) -> None:
        assert self.tier is not None
        self.tier.lookups(jobs, settled, observed, self._flush)

    def _flush(self, settled: Settled, observed: Observed) -> None:
        self._hand_back(settled[:], observed[:])  # copies: the loop reads them later
        settled.clear()
        observed.clear()

    def _hand_back(self, settled: Settled, observed: Observed) -> bool:
        """Results to the loop in one call (one wake-up of the loop per turn); False once
        the loop is closed (the worker is gone)."""
        if not settled and not observed:
            return True
        try:
            self.loop.call_soon_threadsafe(_settle_all, settled, observed, self.observe)
        except RuntimeError:  # the loop closed under us
            return not self.loop.is_closed()
        return True

    def _take_purges_and_incoming(self, tier: Tier) -> None:
        purges = self._purges
        while purges:
            namespace, model = purges.popleft()
            removed = tier.purge(namespace, model)
            log.info("semantic cache purge: %d entries removed", removed)
        incoming = self._incoming
        if incoming:  # the rest after the jobs waiting now (``_next_batch`` does not sleep
            # while some are left): lookups are not held up
            tier.adopt([incoming.popleft() for _ in range(min(len(incoming), INCOMING_BATCH))])

    def _add(self, made: Made, max_entries: int, share: bool, lookup: Lookup | None) -> None:
        assert self.tier is not None
        entry = self.tier.add(made, max_entries, None if lookup is None else lookup.vector)
        if entry is not None and share and self.on_store is not None:
            self.on_store(entry)


def _settle_all(settled: Settled, observed: Observed, observe: Observer | None) -> None:
    for future, result in settled:
        if not future.done():
            future.set_result(result)
    if observe is not None:
        for model, decision, similarity in observed:
            observe(model, decision, similarity)


def _give_up(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())
