"""Token buckets and parallel-request counters: the arithmetic behind rate limits.

Rules this module keeps:
- No I/O, no asyncio, no locks. A table belongs to one worker's event loop; nothing here
  awaits, so every call is atomic with respect to that loop.
- Buckets are named by a ``str`` key once, at configuration; the hot path passes the small
  ``int`` handle that configuration returned. Handles are dense (0, 1, 2...), stable for the
  table's life, and buckets are never removed (a config reload builds a new table).
- Refill is lazy: a bucket's level is brought up to date only when it is touched, from the
  table's clock. A clock that goes backwards refills nothing and moves no timestamp.
- Tokens are doubles. One tolerance, ``1e-9 * (capacity + 1)`` tokens, absorbs float rounding
  so that e.g. 100/min admits at exactly t = 0.6 s; whatever is admitted under that tolerance
  stays in the level as debt, so the error never accumulates.
- The level never exceeds the capacity; it may go below zero (debt) only through ``settle``
  or the tolerance above, and debt blocks every acquisition until it is refilled.
- Storage is C arrays in the compiled twin (allocated in ``__cinit__``, doubled as needed,
  freed in ``__dealloc__``) and Python lists here; only ``_grow`` differs, the arithmetic is
  the same source. The default clock is ``time.monotonic`` here and ``CLOCK_MONOTONIC`` read
  directly in the compiled twin (the same clock on Linux).

Compiled by Cython as ``fastgw._core.buckets_c`` with ``buckets_c.pxd`` beside it.
"""

import time
from collections.abc import Callable

try:
    import cython
except ImportError:  # Cython builds the core; the pure twin runs without it (see the shim)
    from . import _cython_shim as cython  # type: ignore[no-redef]

if cython.compiled:
    from cython.cimports.cpython.mem import PyMem_Free, PyMem_Realloc
    from cython.cimports.posix.time import CLOCK_MONOTONIC, clock_gettime, timespec

_INF = cython.declare(cython.double, float("inf"))
_TOLERANCE = cython.declare(cython.double, 1e-9)
_FIRST_SLOTS = cython.declare(cython.Py_ssize_t, 16)


def _monotonic() -> float:
    """Seconds from the monotonic clock."""
    if cython.compiled:
        ts = cython.declare(timespec)
        clock_gettime(CLOCK_MONOTONIC, cython.address(ts))
        return ts.tv_sec + ts.tv_nsec * 1e-9
    else:
        return time.monotonic()


class TokenBucketTable:
    """Many token buckets, each with a rate (tokens per second) and a capacity (the burst).

    ``clock`` returns seconds as a float from a monotonic source; ``None`` (the default) uses
    the process monotonic clock. A new bucket starts full.

    Errors: an unknown handle raises ``IndexError``; a negative, NaN or infinite rate,
    capacity or cost, or a NaN or infinite delta, raises ``ValueError``; exceptions from
    ``clock`` propagate.
    """

    def __cinit__(self, *args: object, **kwargs: object) -> None:
        # Compiled twin only (the pure twin never calls __cinit__): the first C slots.
        self._count = 0
        self._slots = 0
        self._grow()

    def __dealloc__(self) -> None:
        PyMem_Free(self._rate)
        PyMem_Free(self._capacity)
        PyMem_Free(self._level)
        PyMem_Free(self._stamp)

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        if not cython.compiled:
            self._rate: list[float] = []
            self._capacity: list[float] = []
            self._level: list[float] = []
            self._stamp: list[float] = []
            self._count = 0
            self._slots = 0
            self._grow()
        self._handles: dict[str, int] = {}
        self._clock = clock
        self._wait = 0.0
        self._least = 0.0  # the last _tightest: remaining tokens and reset seconds
        self._reset = 0.0

    def __len__(self) -> int:
        return self._count

    def configure(self, key: str, rate: float, capacity: float) -> int:
        """Create the bucket ``key`` or change its rate and capacity; return its handle.

        A new bucket starts full. Reconfiguring first refills at the old rate up to now, then
        keeps the current level clamped to the new capacity (debt is kept; a larger capacity
        is not topped up). ``rate`` may be 0 (a fixed allowance that never refills).
        """
        if not (0.0 <= rate < _INF and 0.0 <= capacity < _INF):
            raise ValueError("rate and capacity must be finite and non-negative")
        rate = float(rate)  # the pure twin stores floats even when given ints
        capacity = float(capacity)
        existing = self._handles.get(key)
        h: cython.Py_ssize_t
        level: cython.double
        if existing is not None:
            h = existing
            level = self._refill(h)
            self._rate[h] = rate
            self._capacity[h] = capacity
            if level > capacity:
                self._level[h] = capacity
            return h
        now: cython.double = self._now()
        h = self._count
        if h == self._slots:
            self._grow()
        self._rate[h] = rate
        self._capacity[h] = capacity
        self._level[h] = capacity
        self._stamp[h] = now
        self._count = h + 1
        self._handles[key] = h
        return h

    def handle(self, key: str) -> int:
        """The handle of the bucket ``key``; ``KeyError`` if it was never configured."""
        h: cython.Py_ssize_t = self._handles[key]
        return h

    def try_acquire(self, handle: cython.Py_ssize_t, cost: float) -> float:
        """Take ``cost`` tokens if the bucket holds them.

        Returns ``0.0`` when the tokens were taken, otherwise the seconds until this same call
        would succeed if nothing else touches the bucket (nothing is taken then). Returns
        ``math.inf`` when it can never succeed under the current configuration: ``cost`` is
        above the capacity, or the rate is 0 and the level is short. A cost of 0 succeeds
        unless the bucket is in debt.
        """
        if not 0 <= handle < self._count:
            raise IndexError("unknown bucket handle")
        if not 0.0 <= cost < _INF:
            raise ValueError("cost must be finite and non-negative")
        return self._take(handle, cost, self._now())

    def acquire_all(self, requests: tuple, tokens: tuple, cost: float) -> int:
        """Admit one request under several scopes in one call: scope by scope, take one token
        from ``requests[i]`` then ``cost`` tokens from ``tokens[i]`` (one handle per scope in
        each tuple, ``-1`` where the scope has no such bucket), as ``try_acquire`` would.

        Returns ``-1`` when every bucket gave its tokens. Otherwise nothing is kept (what the
        earlier buckets gave is given back, as ``settle`` with a negative delta would) and it
        returns the position of the first bucket that could not give: ``2 * i`` for
        ``requests[i]``, ``2 * i + 1`` for ``tokens[i]``; ``last_wait()`` is then what
        ``try_acquire`` would have returned for it. Every handle is checked before anything
        is taken (``IndexError``); tuples of different lengths raise ``ValueError``.
        """
        if not 0.0 <= cost < _INF:
            raise ValueError("cost must be finite and non-negative")
        n: cython.Py_ssize_t = len(requests)
        if len(tokens) != n:
            raise ValueError("requests and tokens must have the same length")
        i: cython.Py_ssize_t
        h: cython.Py_ssize_t
        count: cython.Py_ssize_t = self._count
        for i in range(n):
            h = requests[i]
            if not -1 <= h < count:
                raise IndexError("unknown bucket handle")
            h = tokens[i]
            if not -1 <= h < count:
                raise IndexError("unknown bucket handle")
        wait: cython.double
        now: cython.double = self._now()  # one clock read for the whole admission
        for i in range(n):
            h = requests[i]
            if h >= 0:
                wait = self._take(h, 1.0, now)
                if wait != 0.0:
                    self._give_back(requests, tokens, 2 * i, cost, now)
                    self._wait = wait
                    return 2 * i
            h = tokens[i]
            if h >= 0:
                wait = self._take(h, cost, now)
                if wait != 0.0:
                    self._give_back(requests, tokens, 2 * i + 1, cost, now)
                    self._wait = wait
                    return 2 * i + 1
        return -1

    def last_wait(self) -> float:
        """The wait of the bucket that refused the last refused ``acquire_all``."""
        return self._wait

    def settle_all(self, handles: tuple, delta: float) -> None:
        """``settle(h, delta)`` for each handle of ``handles`` (all checked first)."""
        if not -_INF < delta < _INF:
            raise ValueError("delta must be finite")
        n: cython.Py_ssize_t = len(handles)
        i: cython.Py_ssize_t
        h: cython.Py_ssize_t
        for i in range(n):
            h = handles[i]
            if not 0 <= h < self._count:
                raise IndexError("unknown bucket handle")
        level: cython.double
        capacity: cython.double
        now: cython.double = self._now()
        for i in range(n):
            h = handles[i]
            level = self._refill_at(h, now) - delta
            capacity = self._capacity[h]
            self._level[h] = capacity if level > capacity else level

    def tightest(self, handles: tuple) -> tuple | None:
        """``(i, remaining, reset seconds)`` of the bucket of ``handles`` with the fewest
        tokens left (the first of equals; ``-1`` entries are skipped), as ``remaining`` and
        ``reset_after`` give them; ``None`` when there is no bucket."""
        best: cython.Py_ssize_t = self._tightest(handles)
        if best < 0:
            return None
        return (best, self._least, self._reset)

    def _tightest(self, handles: tuple) -> int:
        """``tightest`` without the tuple, for the compiled admission gate: returns ``i`` (or
        ``-1``) and leaves the remaining tokens and reset seconds in ``_least`` and
        ``_reset``."""
        n: cython.Py_ssize_t = len(handles)
        i: cython.Py_ssize_t
        h: cython.Py_ssize_t
        best: cython.Py_ssize_t = -1
        best_h: cython.Py_ssize_t = -1
        least: cython.double = _INF
        left: cython.double
        now: cython.double = self._now()
        for i in range(n):
            h = handles[i]
            if h < 0:
                continue
            if h >= self._count:
                raise IndexError("unknown bucket handle")
            left = self._refill_at(h, now)
            if best < 0 or left < least:
                best, best_h, least = i, h, left
        if best < 0:
            return -1
        capacity: cython.double = self._capacity[best_h]
        reset: cython.double = 0.0
        if least < capacity:
            rate: cython.double = self._rate[best_h]
            reset = _INF if rate <= 0.0 else (capacity - least) / rate
        self._least = least
        self._reset = reset
        return best

    def _take(self, handle: cython.Py_ssize_t, cost: float, now: float) -> float:
        """``try_acquire`` at ``now`` without the argument checks (done by the caller)."""
        capacity: cython.double = self._capacity[handle]
        if cost > capacity:
            return _INF
        level: cython.double = self._refill_at(handle, now)
        if level >= cost - _TOLERANCE * (capacity + 1.0):
            self._level[handle] = level - cost
            return 0.0
        rate: cython.double = self._rate[handle]
        if rate <= 0.0:
            return _INF
        return (cost - level) / rate

    def _give_back(
        self, requests: tuple, tokens: tuple, upto: cython.Py_ssize_t, cost: float, now: float
    ) -> None:
        """Return what ``acquire_all`` took from the buckets before position ``upto``."""
        p: cython.Py_ssize_t
        h: cython.Py_ssize_t
        level: cython.double
        capacity: cython.double
        for p in range(upto):
            h = requests[p // 2] if p % 2 == 0 else tokens[p // 2]
            if h < 0:
                continue
            level = self._refill_at(h, now) + (1.0 if p % 2 == 0 else cost)
            capacity = self._capacity[h]
            self._level[h] = capacity if level > capacity else level

    def settle(self, handle: cython.Py_ssize_t, delta: float) -> None:
        """Correct a reservation once the real cost is known.

        ``delta`` is real cost minus reserved cost: positive takes more tokens and may leave
        the bucket in debt (a negative level, which delays later acquisitions until refilled);
        negative gives tokens back, never above the capacity.
        """
        if not 0 <= handle < self._count:
            raise IndexError("unknown bucket handle")
        if not -_INF < delta < _INF:
            raise ValueError("delta must be finite")
        level: cython.double = self._refill(handle) - delta
        capacity: cython.double = self._capacity[handle]
        self._level[handle] = capacity if level > capacity else level

    def remaining(self, handle: cython.Py_ssize_t) -> float:
        """Tokens available now: at most the capacity, negative while in debt."""
        if not 0 <= handle < self._count:
            raise IndexError("unknown bucket handle")
        return self._refill(handle)

    def reset_after(self, handle: cython.Py_ssize_t) -> float:
        """Seconds until the bucket is full again: ``0.0`` if full, ``math.inf`` if it is not
        full and its rate is 0."""
        if not 0 <= handle < self._count:
            raise IndexError("unknown bucket handle")
        level: cython.double = self._refill(handle)
        capacity: cython.double = self._capacity[handle]
        if level >= capacity:
            return 0.0
        rate: cython.double = self._rate[handle]
        if rate <= 0.0:
            return _INF
        return (capacity - level) / rate

    def _refill(self, handle: cython.Py_ssize_t) -> float:
        """Bring the level of ``handle`` (already checked) up to now and return it."""
        return self._refill_at(handle, self._now())

    def _refill_at(self, handle: cython.Py_ssize_t, now: float) -> float:
        """``_refill`` with the clock already read (one read serves a whole call)."""
        elapsed: cython.double = now - self._stamp[handle]
        level: cython.double = self._level[handle]
        if elapsed > 0.0:
            level += elapsed * self._rate[handle]
            capacity: cython.double = self._capacity[handle]
            if level > capacity:
                level = capacity
            self._level[handle] = level
            self._stamp[handle] = now
        return level

    def _now(self) -> float:
        if self._clock is None:
            return _monotonic()
        return self._clock()

    def _grow(self) -> None:
        """Double the slots (at least ``_FIRST_SLOTS``)."""
        slots: cython.Py_ssize_t = max(_FIRST_SLOTS, 2 * self._slots)
        if cython.compiled:
            size: cython.size_t = slots * cython.sizeof(cython.double)
            rate = cython.cast(cython.p_double, PyMem_Realloc(self._rate, size))
            if rate == cython.NULL:
                raise MemoryError()
            self._rate = rate
            capacity = cython.cast(cython.p_double, PyMem_Realloc(self._capacity, size))
            if capacity == cython.NULL:
                raise MemoryError()
            self._capacity = capacity
            level = cython.cast(cython.p_double, PyMem_Realloc(self._level, size))
            if level == cython.NULL:
                raise MemoryError()
            self._level = level
            stamp = cython.cast(cython.p_double, PyMem_Realloc(self._stamp, size))
            if stamp == cython.NULL:
                raise MemoryError()
            self._stamp = stamp
        else:
            more = [0.0] * (slots - self._slots)
            self._rate.extend(more)
            self._capacity.extend(more)
            self._level.extend(more)
            self._stamp.extend(more)
        self._slots = slots


class ParallelCounter:
    """Counts requests in flight per key, against a limit given on each entry.

    Every successful ``try_enter`` must be paired with exactly one ``leave``. Errors: an
    unknown handle raises ``IndexError``; ``leave`` on a counter at zero raises
    ``ValueError`` (an unpaired leave would silently raise the limit).
    """

    def __cinit__(self, *args: object, **kwargs: object) -> None:
        # Compiled twin only (the pure twin never calls __cinit__): the first C slots.
        self._count = 0
        self._slots = 0
        self._grow()

    def __dealloc__(self) -> None:
        PyMem_Free(self._active)

    def __init__(self) -> None:
        if not cython.compiled:
            self._active: list[int] = []
            self._count = 0
            self._slots = 0
            self._grow()
        self._handles: dict[str, int] = {}

    def __len__(self) -> int:
        return self._count

    def register(self, key: str) -> int:
        """The handle of the counter ``key``, creating it at zero on first use."""
        existing = self._handles.get(key)
        if existing is not None:
            return existing
        h: cython.Py_ssize_t = self._count
        if h == self._slots:
            self._grow()
        self._active[h] = 0
        self._count = h + 1
        self._handles[key] = h
        return h

    def handle(self, key: str) -> int:
        """The handle of the counter ``key``; ``KeyError`` if it was never registered."""
        h: cython.Py_ssize_t = self._handles[key]
        return h

    def try_enter(self, handle: cython.Py_ssize_t, limit: cython.Py_ssize_t) -> bool:
        """Count one more request in flight if fewer than ``limit`` are; say whether it was."""
        if not 0 <= handle < self._count:
            raise IndexError("unknown counter handle")
        if self._active[handle] < limit:
            self._active[handle] += 1
            return True
        return False

    def leave(self, handle: cython.Py_ssize_t) -> None:
        """Count one request in flight fewer."""
        if not 0 <= handle < self._count:
            raise IndexError("unknown counter handle")
        if self._active[handle] <= 0:
            raise ValueError("leave without a matching try_enter")
        self._active[handle] -= 1

    def active(self, handle: cython.Py_ssize_t) -> int:
        """Requests in flight now."""
        if not 0 <= handle < self._count:
            raise IndexError("unknown counter handle")
        n: cython.Py_ssize_t = self._active[handle]
        return n

    def _grow(self) -> None:
        """Double the slots (at least ``_FIRST_SLOTS``)."""
        slots: cython.Py_ssize_t = max(_FIRST_SLOTS, 2 * self._slots)
        if cython.compiled:
            size: cython.size_t = slots * cython.sizeof(cython.Py_ssize_t)
            active = cython.cast(
                cython.pointer(cython.Py_ssize_t), PyMem_Realloc(self._active, size)
            )
            if active == cython.NULL:
                raise MemoryError()
            self._active = active
        else:
            self._active.extend([0] * (slots - self._slots))
        self._slots = slots
