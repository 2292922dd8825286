"""The semantic tier's process: ``python -m fastgw.semantic.child FD LOADER``, started by a
worker (``fastgw.semantic.remote``) with one end of a socket pair as ``FD``.

Rules this module keeps:
- It loads the models with ``LOADER`` (``module:function``, returning (embedder, matcher)),
  says ``Ready`` with the partition identity (or ``Failed``), then answers jobs until the
  worker closes the socket or sends ``CloseJob``: whatever waits is read in one go and done
  in order, consecutive lookups together (``fastgw.semantic.tier``), and the answers go back
  in one ``Results`` frame per turn.
- A lookup's fast embedding is kept (``RECENT`` of them, oldest out) under its id, so the
  store that follows a miss does not embed the text again.
- One failed job never stops it: a lookup that failed is a miss. A frame that is not ours
  stops it (the worker starts another).
- SIGINT and SIGTERM are ignored: a Ctrl-C reaches the worker's whole process group, and a
  service manager may signal every process of the service, but the worker closes this
  process itself (collecting its entries for the disk copy first). Its life is its socket's:
  when the worker is gone, the socket reads empty and it exits; and on Linux the kernel
  kills it when the worker dies (``PR_SET_PDEATHSIG``), even while it loads its models.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import logging
import os
import select
import signal
import socket
import sys
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from .frames import (
    AddJob,
    Closed,
    CloseJob,
    Entries,
    Failed,
    Found,
    FrameError,
    LookupJob,
    PurgeJob,
    Reader,
    Ready,
    Results,
    add_job,
    frame,
)
from .tier import Lookup, Made, Observed, Settled, Tier, one_thread

log = logging.getLogger("fastgw")

#: Fast embeddings of recent lookups kept for their stores.
RECENT = 4096
#: Expired entries removed per idle second.
EXPIRE_BATCH = 256
#: Entries per ``Entries`` frame at close.
ENTRIES_PER_FRAME = 512
_READ = 1 << 20
_PR_SET_PDEATHSIG = 1


class Child:
    """The job loop of one tier (see the module docstring)."""

    def __init__(self, sock: socket.socket, tier: Tier) -> None:
        self.sock = sock
        self.tier = tier
        self.recent: OrderedDict[int, Any] = OrderedDict()
        self.dropped = 0
        self._sent_entries = -1

    def run(self) -> None:
        reader = Reader(to_tier=True)
        while True:
            ready, _, _ = select.select([self.sock], [], [], 1.0)
            if not ready:
                self.tier.expire(EXPIRE_BATCH)
                self._send_results([], [])
                continue
            data = self.sock.recv(_READ)
            if not data:
                return  # the worker is gone
            if not self.turn(reader.feed(data)):
                return

    def turn(self, messages: list[Any]) -> bool:
        """Do ``messages``; False after a ``CloseJob``. Between two purges (or a close) the
        stores go first, in one batch, then the lookups together: a lookup may find an
        entry stored after it was sent (never one purged after it)."""
        settled: Settled = []
        observed: Observed = []
        lookups: list[Lookup] = []
        adds: list[tuple[Made, int, Any]] = []
        for message in messages:
            if isinstance(message, LookupJob):
                lookups.append(
                    Lookup(
                        message.id,
                        message.partition,
                        message.text,
                        message.model,
                        message.threshold,
                        message.max_age,
                    )
                )
            elif isinstance(message, AddJob):
                vector = None if message.adopt else self.recent.pop(message.lookup, None)
                adds.append((message.made(), message.max_entries, vector))
            else:
                self._segment(adds, lookups, settled, observed)
                adds, lookups = [], []
                if isinstance(message, PurgeJob):
                    self._guarded(self._purge, message)
                elif isinstance(message, CloseJob):
                    self._send_results(settled, observed)
                    self._close(message.collect)
                    return False
        self._segment(adds, lookups, settled, observed)
        self._send_results(settled, observed)
        return True

    def _segment(
        self,
        adds: list[tuple[Made, int, Any]],
        lookups: list[Lookup],
        settled: Settled,
        observed: Observed,
    ) -> None:
        self._guarded(self.tier.add_many, adds)
        self._lookups(lookups, settled, observed)

    def _lookups(self, jobs: list[Lookup], settled: Settled, observed: Observed) -> None:
        if not jobs:
            return
        try:
            self.tier.lookups(jobs, settled, observed, self._send_results)
        except Exception:
            log.exception("semantic cache lookups failed")
            done = {handle for handle, _ in settled}
            settled.extend((job.handle, None) for job in jobs if job.handle not in done)
        recent = self.recent
        for job in jobs:
            if job.vector is not None:
                recent[job.handle] = job.vector
        while len(recent) > RECENT:
            recent.popitem(last=False)

    def _purge(self, job: PurgeJob) -> None:
        removed = self.tier.purge(job.namespace, job.model)
        log.info("semantic cache purge: %d entries removed", removed)

    def _guarded(self, work: Callable[[Any], Any], job: Any) -> None:
        try:
            work(job)
        except Exception:
            log.exception("semantic cache job failed")
            self.dropped += 1

    def _send_results(self, settled: Settled, observed: Observed) -> None:
        """``settled`` and ``observed`` to the worker (then cleared); nothing when there is
        nothing new."""
        entries = len(self.tier)
        if not settled and not observed and entries == self._sent_entries:
            return
        self._sent_entries = entries
        found = [
            None if hit is None else Found(hit.body, hit.usage, hit.created_at, hit.similarity)
            for _, hit in settled
        ]
        ids = [handle for handle, _ in settled]
        self.sock.sendall(frame(Results(ids, found, list(observed), entries, self.dropped)))
        settled.clear()
        observed.clear()

    def _close(self, collect: bool) -> None:
        if collect:
            live = [add_job(made, 0, -1, True) for made in self.tier.live()]
            for start in range(0, len(live), ENTRIES_PER_FRAME):
                self.sock.sendall(frame(Entries(live[start : start + ENTRIES_PER_FRAME])))
        self.sock.sendall(frame(Closed()))


def _die_with_parent() -> bool:
    """SIGKILL when the worker that started this process dies (Linux); False if it has
    died already."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    return os.getppid() != 1


def _loader(spec: str) -> Callable[[], tuple[Any, Any]]:
    module, _, name = spec.partition(":")
    loader: Callable[[], tuple[Any, Any]] = getattr(importlib.import_module(module), name)
    return loader


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if not _die_with_parent():
        return 1
    handler = logging.StreamHandler()  # stderr, the worker's
    handler.setFormatter(
        logging.Formatter("%(asctime)s [fastgw-semantic] %(levelname)s %(message)s")
    )
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    sock = socket.socket(fileno=int(argv[1]))
    try:
        one_thread()
        embedder, matcher = _loader(argv[2])()
        tier = Tier(embedder, matcher)
    except Exception as exc:  # noqa: BLE001 - the worker keeps the tier off
        sock.sendall(frame(Failed(f"{type(exc).__name__}: {exc}")))
        return 1
    try:
        sock.sendall(frame(Ready(tier.identity)))
        Child(sock, tier).run()
    except (OSError, FrameError) as exc:
        log.error("semantic cache process stopped: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
