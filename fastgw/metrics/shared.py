"""The totals of every worker of one server: each worker's values in files, summed on scrape.

``fastgw serve`` makes one fresh directory per server before its workers start
(``new_directory``, in ``/dev/shm`` where it exists: shared memory, never written back to a
disk) and hands its path to the workers in ``FASTGW_METRICS_DIR`` (as it hands over the config
path; not a setting). Each worker then:

- counts in its own memory (``fastgw.metrics.series``: a dict add per update), and
  publishes its values into its own files here (``WorkerFiles``) every
  ``fastgw.metrics.gateway.PUBLISH_INTERVAL_S`` and before it answers a scrape;
- answers ``/metrics`` with the sum of every worker's files (``SharedCollector``).

The files are prometheus_client's multiprocess files (``MmapedDict``: an mmap of
key -> double), one per kind of series (``counter``, ``histogram``, ``gauge_<mode>``) and
worker, and the sum is prometheus_client's ``MultiProcessCollector.merge``. Only the writes
differ from prometheus_client's multiprocess mode, which writes the mmap on every update
(~0.9-1.9 µs each, ~10 per request; measured in ``benchmarks/micro/bench_metrics.py``).

Rules this module keeps:
- Counters and histograms never decrease across scrapes, whichever worker answers: a worker
  publishes before it answers, so the next scrape (on any worker) sees at least what this one
  showed; a worker that exits or dies leaves its files, and the sum keeps its last published
  values (what it counted after its last publish, at most one interval, is lost if it died).
- A file's name carries its worker's pid, the process's start time and a random token
  (``counter_<pid>-<start>-<token>.db``), so a replacement worker that gets a dead one's pid
  writes new files and cannot lower the old ones.
- Live gauges (in-flight requests, deployment state...) count only live workers: the files of
  a worker whose process is gone (no such pid, a zombie, or a pid now held by a process that
  started at another time) are deleted on the next scrape (prometheus_client's
  ``mark_process_dead`` does the same for gunicorn's workers).
- Counter and histogram files of dead workers stay until the server stops: one set per
  worker that ever ran, each as large as that worker's series (a few hundred bytes a series).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

#: The per-server directory, from ``fastgw serve`` to its workers (never set by a user).
METRICS_DIR_ENV = "FASTGW_METRICS_DIR"
_SHM = "/dev/shm"


def base_directory() -> str:
    """Where servers make their directories: ``/dev/shm`` if writable, else the temp dir."""
    return _SHM if os.path.isdir(_SHM) and os.access(_SHM, os.W_OK) else tempfile.gettempdir()


def new_directory() -> str:
    """Make a fresh, empty directory for one server's workers, removed when the calling
    process exits (not when a worker forked from it does)."""
    path = tempfile.mkdtemp(prefix="fastgw-metrics-", dir=base_directory())
    atexit.register(_remove, path, os.getpid())
    return path


def _remove(path: str, owner: int) -> None:
    if os.getpid() == owner:
        shutil.rmtree(path, ignore_errors=True)


def directory_from_env() -> str | None:
    """The per-server directory ``fastgw serve`` made, or None (an app run in-process)."""
    path = os.environ.get(METRICS_DIR_ENV)
    return path if path and os.path.isdir(path) else None


class WorkerFiles:
    """This worker's published values: one mmap file per kind of series."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        me = worker_id(os.getpid()) or f"{os.getpid()}-0"  # /proc/self always reads
        self.suffix = f"{me}-{os.urandom(4).hex()}.db"
        self.files: dict[str, MmapedDict] = {}
        self.written: dict[str, float] = {}  # mmap key -> value last written
        self.gauge_keys: dict[str, set[str]] = {}  # per gauge file: the keys it holds

    def write(self, prefix: str, entries: Iterable[tuple[str, float]]) -> None:
        """Write the entries that changed since the last write (counters, histograms:
        their keys only accumulate)."""
        file = self.files.get(prefix)
        if file is None:
            file = self.files[prefix] = MmapedDict(self._path(prefix))
        written = self.written
        for key, value in entries:
            if written.get(key) != value:
                file.write_value(key, value, 0.0)
                written[key] = value

    def write_snapshot(self, prefix: str, entries: Iterable[tuple[str, float]]) -> None:
        """Write a gauge file's whole snapshot; when a key of the last one is missing (a
        deployment gone after a reload), replace the file by one with only these keys."""
        snapshot = dict(entries)
        held = self.gauge_keys.get(prefix)
        if held is not None and not held <= snapshot.keys():
            self._replace(prefix, snapshot)
        else:
            self.write(prefix, snapshot.items())
        self.gauge_keys[prefix] = set(snapshot)

    def _replace(self, prefix: str, snapshot: dict[str, float]) -> None:
        final = self._path(prefix)
        fresh = MmapedDict(final + ".new")  # not *.db: no reader opens it half written
        for key, value in snapshot.items():
            fresh.write_value(key, value, 0.0)
            self.written[key] = value
        os.replace(final + ".new", final)
        old = self.files.get(prefix)
        self.files[prefix] = fresh
        if old is not None:
            old.close()

    def close(self) -> None:
        """Close the files; delete the live gauges (this worker no longer counts in them)."""
        for prefix, file in self.files.items():
            file.close()
            if prefix.startswith("gauge_live"):
                Path(self._path(prefix)).unlink(missing_ok=True)
        self.files.clear()

    def _path(self, prefix: str) -> str:
        return os.path.join(self.directory, f"{prefix}_{self.suffix}")


class SharedCollector(Collector):
    """Every worker's published values of one directory, summed (a prometheus_client
    collector: ``generate_latest(SharedCollector(dir))``)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def collect(self) -> Iterable[Metric]:
        merged: Iterable[Metric] = MultiProcessCollector.merge(
            list(self._current_files()), accumulate=True
        )
        return merged

    def _current_files(self) -> Iterator[str]:
        """The files to sum: every counter and histogram file; live gauge files only of
        live workers (the others are deleted)."""
        for entry in os.scandir(self.directory):
            name = entry.name
            if not name.endswith(".db"):
                continue
            kind, _, worker = name.rpartition("_")
            if kind.startswith("gauge_live") and not _alive(worker[:-3]):
                _unlink(entry.path)
                continue
            yield entry.path


def worker_id(pid: int) -> str | None:
    """``<pid>-<start time>`` of a running process (its start time in clock ticks since
    boot, from ``/proc``: a pid reused by a later process has another), or None when no such
    process runs (a zombie neither). Without ``/proc`` the start time is ``0``."""
    if not _PROC:
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):  # another user's: not our worker
            return None
        return f"{pid}-0"
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = stat.rpartition(b")")[2].split()  # after the command name, which may hold spaces
    if len(fields) < 20 or fields[0] == b"Z":
        return None
    return f"{pid}-{fields[19].decode()}"  # field 22 of proc(5): starttime


_PROC = os.path.isdir("/proc/self")


def _alive(worker: str) -> bool:
    """Whether the worker that wrote a file named ``..._<pid>-<start>-<token>`` runs."""
    pid, _, rest = worker.partition("-")
    start = rest.partition("-")[0]
    return pid.isdigit() and worker_id(int(pid)) == f"{pid}-{start}"


def _unlink(path: str) -> None:
    Path(path).unlink(missing_ok=True)
