"""The semantic tier in a process of its own (``fastgw.semantic.child``), driven from the
worker's event loop: the default driver (``[cache] semantic_process``).

Why a process: FAISS holds the interpreter lock while it searches and adds
(``benchmarks/semcache_cpu.py --gil``), so in a thread of the worker the tier and the event
loop take turns on one core. In a process of its own the tier has the other core, and the
loop only encodes a job and decodes an answer (``fastgw.semantic.frames``).

It keeps the contract of ``fastgw.semantic.service`` (the thread driver) for the request
path, and these rules of its own:
- The socket is non-blocking and read and written from the loop (``add_reader`` /
  ``add_writer``); jobs of one turn of the loop go out in one ``send``. A lookup waits for
  at most ``service.LOOKUP_TIMEOUT_S``; at most ``queue_size`` lookups wait at once, and at most
  ``MAX_UNSENT`` bytes wait to be sent: past either, lookups are skipped (``queue_full``)
  and stores dropped (counted). A lookup whose client left is forgotten at once.
- Entries from elsewhere wait in a bounded deque (``INCOMING_MAX``) and go out a batch at a
  time when nothing else waits to be sent.
- A store is shared (``on_store``) when it is sent: the tier indexes it in order.
- If the process dies or sends a frame that is not ours, its lookups are misses, the tier
  is skipped (``loading``) and a new process is started after ``RESTART_S`` (doubling up to
  a minute); its entries are gone (the new one adopts what arrives from elsewhere).
- ``close`` sends what waits, then ``CloseJob``; with ``collect`` the process sends its
  live entries first (the disk copy of a graceful restart). It blocks for at most
  ``timeout_s``: it runs once, at shutdown.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import service
from .frames import (
    Closed,
    CloseJob,
    Entries,
    Failed,
    FrameError,
    LookupJob,
    PurgeJob,
    Reader,
    Ready,
    Results,
    add_job,
    frame,
)
from .partition import Eligible
from .service import (
    INCOMING_BATCH,
    INCOMING_MAX,
    LOADING,
    QUEUE_FULL,
    QUEUE_SIZE,
    TIMEOUT,
    Observer,
    Skipped,
)
from .tier import Hit, Made

log = logging.getLogger("fastgw")

#: Bytes waiting to be sent to the process, at most (stores and lookups past it: dropped).
MAX_UNSENT = 8 << 20
#: The first wait before a process that died is replaced, and the longest.
RESTART_S = 1.0
RESTART_MAX_S = 60.0
#: The loader the process calls unless told otherwise.
DEFAULT_LOADER = "fastgw.semantic.engine:load_engine"
_READ = 1 << 20
_ROOT = str(Path(__file__).resolve().parents[2])  # the directory that holds ``fastgw``


class SemanticProcess:
    """See the module docstring."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        observe: Observer | None = None,
        queue_size: int = QUEUE_SIZE,
        loader: str = DEFAULT_LOADER,
    ) -> None:
        self.loop = loop
        self.observe = observe
        self.queue_size = queue_size
        self.loader = loader
        self.ready = threading.Event()
        self.failed: str | None = None
        self.identity = ""
        self.on_store: Callable[[Any], None] | None = None  # shares a new entry
        self._dropped = 0  # here; the process counts its own
        self._child_dropped = 0
        self._entries = 0
        self._pending: dict[int, asyncio.Future[Hit | None]] = {}
        self._ids = itertools.count()
        self._out: list[bytes] = []
        self._unsent = 0
        self._flush_at_turn = False
        self._writing = False
        self._incoming: collections.deque[tuple[Made, int]] = collections.deque()
        self._collected: list[Made] = []
        self._closing = False
        self._restart_s = RESTART_S
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader = Reader(to_tier=False)
        self._spawn()

    @property
    def dropped_stores(self) -> int:
        return self._dropped + self._child_dropped

    def entries(self) -> int:
        return self._entries

    def waiting(self) -> int:
        """Lookups sent and not yet answered (one whose client left is forgotten at once)."""
        return len(self._pending)

    # -- the request path ----------------------------------------------------------------------

    async def lookup(
        self, eligible: Eligible, model: str, threshold: float, max_age: float | None
    ) -> Hit | Skipped | None:
        """The verified entry answering ``eligible``, None on a miss, or why it was skipped."""
        if not self.ready.is_set():
            return LOADING
        pending = self._pending
        if len(pending) >= self.queue_size or self._unsent >= MAX_UNSENT:
            return QUEUE_FULL
        job = next(self._ids)
        future: asyncio.Future[Hit | None] = self.loop.create_future()
        pending[job] = future
        eligible.vector = job  # the process keeps the fast embedding for the store
        self._send(
            frame(LookupJob(job, eligible.partition, eligible.text, model, threshold, max_age))
        )
        timer = self.loop.call_later(service.LOOKUP_TIMEOUT_S, _give_up, future)
        try:
            return await future
        except TimeoutError:
            return TIMEOUT
        finally:
            timer.cancel()
            pending.pop(job, None)

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
        """Send a new entry, and share it (``on_store``); False if dropped."""
        if not self.ready.is_set() or self._unsent >= MAX_UNSENT:
            self._dropped += 1
            return False
        now = time.time()
        made = Made(
            eligible.partition, eligible.text, body, usage, now, now + ttl_s, namespace, model
        )
        lookup = eligible.vector if isinstance(eligible.vector, int) else -1
        self._send(frame(add_job(made, max_entries, lookup, adopt=False)))
        if self.on_store is not None:
            self.on_store(made)
        return True

    def adopt(self, made: Made, max_entries: int) -> bool:
        """Take an entry made elsewhere: sent in batches, never shared again. False when
        ``INCOMING_MAX`` already wait (dropped)."""
        if len(self._incoming) >= INCOMING_MAX:
            self._dropped += 1
            return False
        self._incoming.append((made, max_entries))
        self._flush_soon()
        return True

    def purge(self, namespace: str | None, model: str | None) -> None:
        """Remove the entries of ``namespace`` and/or ``model`` (None: any), in order with
        the jobs before it; the deque's entries from elsewhere too."""
        self._incoming = collections.deque(
            (made, bound)
            for made, bound in self._incoming
            if not (namespace in (None, made.namespace) and model in (None, made.model))
        )
        self._send(frame(PurgeJob(namespace, model)))

    # -- the socket ----------------------------------------------------------------------------

    def _spawn(self) -> None:
        if self._closing or self.loop.is_closed():
            return
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_ROOT, env.get("PYTHONPATH")]))
        # one thread for the tokenizers: their pool cost the tier's turns more than it saved
        # (benchmarks/semcache_cpu.py: 1,260-1,470 req/s in process with it, 2,200-2,500
        # without)
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "fastgw.semantic.child", str(theirs.fileno()), self.loader],
                pass_fds=(theirs.fileno(),),
                env=env,
                stdin=subprocess.DEVNULL,
            )
        except OSError as exc:
            ours.close()
            self._lost(f"cannot start: {exc}")
            return
        finally:
            theirs.close()
        ours.setblocking(False)
        self._sock, self._reader = ours, Reader(to_tier=False)
        self.loop.add_reader(ours.fileno(), self._readable)

    def _send(self, data: bytes) -> None:
        self._out.append(data)
        self._unsent += len(data)
        self._flush_soon()

    def _flush_soon(self) -> None:
        if not self._flush_at_turn and not self._writing:
            self._flush_at_turn = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Send what waits (then entries from elsewhere); the rest when the socket drains."""
        self._flush_at_turn = False
        sock = self._sock
        if sock is None:
            return
        while True:
            if not self._out and self._incoming and self.ready.is_set():
                incoming = self._incoming
                for _ in range(min(len(incoming), INCOMING_BATCH)):
                    made, bound = incoming.popleft()
                    self._out.append(frame(add_job(made, bound, -1, adopt=True)))
            if not self._out:
                break
            data = self._out[0] if len(self._out) == 1 else b"".join(self._out)
            try:
                sent = sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                self._lost(f"send: {exc}")
                return
            if sent < len(data):
                self._out, self._unsent = [data[sent:]], len(data) - sent
                if not self._writing:
                    self._writing = True
                    self.loop.add_writer(sock.fileno(), self._writable)
                return
            self._out, self._unsent = [], 0
        if self._writing:
            self._writing = False
            self.loop.remove_writer(sock.fileno())

    def _writable(self) -> None:
        self._writing = False
        if self._sock is not None:
            self.loop.remove_writer(self._sock.fileno())
        self._flush()

    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            data = sock.recv(_READ)
        except BlockingIOError:
            return
        except OSError as exc:
            self._lost(f"recv: {exc}")
            return
        if not data:
            self._lost("it exited" if self.failed is None else self.failed)
            return
        try:
            messages = self._reader.feed(data)
        except FrameError as exc:
            self._lost(f"a broken frame: {exc}")
            return
        for message in messages:
            if isinstance(message, Results):
                self._results(message)
            elif isinstance(message, Ready):
                self.identity = message.identity
                self.failed = None
                self._restart_s = RESTART_S
                self.ready.set()
                self._flush_soon()  # entries from elsewhere may wait
            elif isinstance(message, Failed):
                self.failed = message.reason
                log.error("the semantic cache could not load its models: %s", message.reason)

    def _results(self, message: Results) -> None:
        pending = self._pending
        for job, found in zip(message.ids, message.found, strict=False):
            future = pending.pop(job, None)
            if future is not None and not future.done():
                hit = (
                    None
                    if found is None
                    else Hit(found.body, found.usage, found.created_at, found.similarity)
                )
                future.set_result(hit)
        observe = self.observe
        if observe is not None:
            for model, decision, similarity in message.observed:
                observe(model, decision, similarity)
        self._entries = message.entries
        self._child_dropped = message.dropped

    def _lost(self, reason: str) -> None:
        """The process is gone or broken: its lookups are misses, and another one starts
        (unless closing, or it could not load its models)."""
        self.ready.clear()
        self._drop_socket()
        for future in self._pending.values():
            if not future.done():
                future.set_result(None)
        self._pending.clear()
        self._out, self._unsent, self._entries = [], 0, 0
        if self._closing or self.loop.is_closed():
            return
        if self.failed is not None and self.identity == "":
            return  # the models never loaded: another try would fail the same way
        log.error(
            "the semantic cache process stopped (%s); another starts in %.0f s",
            reason,
            self._restart_s,
        )
        self.loop.call_later(self._restart_s, self._spawn)
        self._restart_s = min(self._restart_s * 2, RESTART_MAX_S)

    def _drop_socket(self) -> None:
        sock, proc = self._sock, self._proc
        self._sock = self._proc = None
        if sock is not None:
            if not self.loop.is_closed():
                self.loop.remove_reader(sock.fileno())
                if self._writing:
                    self.loop.remove_writer(sock.fileno())
            self._writing = False
            sock.close()
        if proc is not None:
            if proc.poll() is None:  # it closed its socket, or broke the protocol
                proc.kill()
            _reap(proc, 1.0)

    # -- shutdown ------------------------------------------------------------------------------

    def close(self, timeout_s: float = 5.0, collect: bool = False) -> bool:
        """Stop the process after the jobs sent; with ``collect`` its live entries (and
        those from elsewhere not sent yet) are kept for ``live``. True once it stopped."""
        self._closing = True
        self.ready.clear()
        sock = self._sock
        if sock is None:
            return True
        if collect:
            self._collected.extend(made for made, _ in self._incoming)
        self._incoming.clear()
        if not self.loop.is_closed():
            self.loop.remove_reader(sock.fileno())
            if self._writing:
                self.loop.remove_writer(sock.fileno())
        self._writing = False
        deadline = time.monotonic() + timeout_s
        try:
            sock.setblocking(True)
            sock.settimeout(timeout_s)
            sock.sendall(b"".join(self._out) + frame(CloseJob(collect)))
            self._out, self._unsent = [], 0
            self._read_until_closed(sock, deadline)
        except (OSError, FrameError) as exc:
            log.warning("the semantic cache process did not close cleanly: %s", exc)
        proc = self._proc
        self._sock = self._proc = None
        sock.close()
        return proc is None or _reap(proc, max(0.1, deadline - time.monotonic()))

    def _read_until_closed(self, sock: socket.socket, deadline: float) -> None:
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = sock.recv(_READ)
            if not data:
                return
            for message in self._reader.feed(data):
                if isinstance(message, Entries):
                    self._collected.extend(job.made() for job in message.entries)
                elif isinstance(message, Results):
                    self._results(message)
                elif isinstance(message, Closed):
                    return

    def live(self) -> list[Made]:
        """The entries collected by ``close(collect=True)`` (to save)."""
        now = time.time()
        return [made for made in self._collected if made.expires_at > now]


def _reap(proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    """Wait for ``proc`` (killed if it outstays ``timeout_s``); True if it stopped by itself."""
    try:
        proc.wait(timeout_s)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False


def _give_up(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())
