"""Where a worker's samples go, from py-spy's raw (collapsed-stack) output.

Each line of ``py-spy record --format raw`` is ``frame;frame;...;leaf count``. The leaf frame
says what the thread was doing at that sample; the summary groups leaves into a few kinds
(waiting in the event loop, Granian's runtime threads handing work over, socket I/O, fastgw's
Python code, fastgw's compiled core, the rest) and lists the heaviest fastgw frames with their
inclusive share, so a table can say how much of a worker's time the gateway's own code is.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

# (kind, leaf frames that start with one of these, or contain this path)
KINDS: tuple[tuple[str, tuple[str, ...], str | None], ...] = (
    ("event loop waiting (epoll_pwait)", ("epoll_pwait",), None),
    ("Granian runtime threads: futex wait/wake", ("syscall ",), None),
    ("Granian runtime threads: sched_yield spin", ("sched_yield",), None),
    ("socket write/read", ("write ", "read ", "writev "), None),
    ("fastgw compiled core", (), "fastgw/_core/"),
    ("fastgw Python", (), "fastgw/"),
)


def _kind(leaf: str) -> str:
    for name, prefixes, path in KINDS:
        if (prefixes and leaf.startswith(prefixes)) or (path and path in leaf):
            return name
    return "other"


_OUTER = ("serve (", "main (", "_serve (", "<module> (")


def _function(frame: str) -> str:
    """``name (path:line)`` without the line: one entry per function."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})"


def summarise(path: Path, top: int = 8) -> dict[str, object]:
    """Shares (percent of samples) by kind, and the ``top`` fastgw frames by inclusive share."""
    kinds: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        leaf = frames[-1]
        kinds[_kind(leaf)] += n
        named = {_function(f) for f in frames if "fastgw/" in f and not f.startswith(_OUTER)}
        for function in named:
            inclusive[function] += n
    if not total:
        return {"samples": 0}
    names = [name for name, _, _ in KINDS] + ["other"]
    share = {name: round(kinds[name] / total * 100, 1) for name in names}
    frames = {f: round(n / total * 100, 1) for f, n in inclusive.most_common(top)}
    return {"samples": total, "kinds_pct": share, "fastgw_frames_inclusive_pct": frames}
