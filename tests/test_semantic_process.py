"""The semantic tier in a process of its own (``fastgw.semantic.remote``, ``.child``,
``.frames``): its frames, and how the worker's side behaves when the process is slow, dies,
cannot load its models or is closed. The real models load in the process (about 2 s); the
gateway-level behaviour is ``test_semantic_cache.py``'s, which runs with both drivers.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("faiss")

from fastgw.semantic import remote
from fastgw.semantic import service as semantic_service
from fastgw.semantic.frames import (
    MAX_FRAME,
    AddJob,
    FrameError,
    LookupJob,
    Reader,
    Results,
    frame,
)
from fastgw.semantic.partition import Eligible
from fastgw.semantic.remote import SemanticProcess
from fastgw.semantic.service import QUEUE_FULL, Skipped
from fastgw.wire import Usage

PARTITION = b"p" * 16

# -- frames ------------------------------------------------------------------------------------


def test_frames_are_read_whole_however_the_bytes_arrive() -> None:
    messages = [
        LookupJob(7, PARTITION, "How do I boil an egg?", "m", 0.96, None),
        AddJob(PARTITION, "text", b'{"id":1}', Usage(1, 2, 3), 1.0, 2.0, "ns", "m", 10, 7, False),
    ]
    data = b"".join(frame(m) for m in messages)
    reader = Reader(to_tier=True)
    got: list[Any] = []
    for i in range(len(data)):  # one byte at a time: a frame is never read in part
        got += reader.feed(data[i : i + 1])
    assert got == messages
    assert Reader(to_tier=True).feed(data) == messages


def test_a_frame_that_is_not_ours_stops_the_reader() -> None:
    with pytest.raises(FrameError):
        Reader(to_tier=False).feed((MAX_FRAME + 1).to_bytes(4, "big"))  # never allocated
    with pytest.raises(FrameError):
        Reader(to_tier=False).feed(b"\x00\x00\x00\x03abc")
    # a message meant for the other side is not one of this side's
    with pytest.raises(FrameError):
        Reader(to_tier=False).feed(frame(LookupJob(1, PARTITION, "q", "m", 0.9, None)))
    assert Reader(to_tier=False).feed(frame(Results([], [], [], 0, 0))) == [
        Results([], [], [], 0, 0)
    ]


# -- the process, driven from a loop ---------------------------------------------------------


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def until(loop: asyncio.AbstractEventLoop, condition: Any, timeout_s: float = 120) -> bool:
    """Run ``loop`` until ``condition()`` holds (polled), at most ``timeout_s``."""

    async def poll() -> bool:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    return loop.run_until_complete(poll())


def ask(loop: asyncio.AbstractEventLoop, tier: SemanticProcess, text: str) -> Any:
    return loop.run_until_complete(tier.lookup(Eligible(PARTITION, text), "m", 0.9, None))


def store(tier: SemanticProcess, text: str, body: bytes) -> Eligible:
    eligible = Eligible(PARTITION, text)
    assert tier.store(eligible, body, Usage(5, 7, 12), 3600, "ns", "m", 100)
    return eligible


def test_a_stored_answer_is_found_by_a_reworded_question_and_collected_at_close(
    loop: asyncio.AbstractEventLoop,
) -> None:
    tier = SemanticProcess(loop)
    try:
        first = ask(loop, tier, "How do I install numpy on Windows?")
        assert isinstance(first, Skipped) and first.reason == "loading"
        assert until(loop, tier.ready.is_set), tier.failed
        assert ask(loop, tier, "How do I install numpy on Windows?") is None
        store(tier, "How do I install numpy on Windows?", b'{"answer":"pip"}')
        assert until(loop, lambda: tier.entries() == 1)
        hit = ask(loop, tier, "How can I install numpy on Windows?")
        assert hit is not None and not isinstance(hit, Skipped)
        assert hit.body == b'{"answer":"pip"}' and hit.usage == Usage(5, 7, 12)
        assert 0.9 <= hit.similarity <= 1.0
        assert ask(loop, tier, "How do I uninstall numpy on Windows?") is None
    finally:
        assert tier.close(collect=True)
    [kept] = tier.live()
    assert (kept.text, kept.body, kept.namespace, kept.model) == (
        "How do I install numpy on Windows?",
        b'{"answer":"pip"}',
        "ns",
        "m",
    )


def test_lookups_past_the_bound_are_skipped_never_queued(
    loop: asyncio.AbstractEventLoop,
) -> None:
    tier = SemanticProcess(loop, queue_size=2)
    try:
        assert until(loop, tier.ready.is_set), tier.failed

        async def burst() -> list[Any]:
            questions = [Eligible(PARTITION, f"Question number {i} about boats") for i in range(50)]
            return await asyncio.gather(*(tier.lookup(q, "m", 0.9, None) for q in questions))

        results = loop.run_until_complete(burst())
        assert results.count(QUEUE_FULL) >= 48 - 2
        assert all(r is None or r is QUEUE_FULL for r in results)
        assert tier._pending == {}  # nothing left behind by the answered or the skipped
    finally:
        tier.close()


def test_a_stalled_process_costs_a_lookup_its_timeout_and_a_dead_one_is_replaced(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(semantic_service, "LOOKUP_TIMEOUT_S", 0.1)
    monkeypatch.setattr(remote, "RESTART_S", 0.05)
    tier = SemanticProcess(loop)
    try:
        assert until(loop, tier.ready.is_set), tier.failed
        store(tier, "What is the capital of France?", b"{}")
        assert until(loop, lambda: tier.entries() == 1)
        proc = tier._proc
        assert proc is not None
        os.kill(proc.pid, signal.SIGSTOP)  # stuck: the request goes on without it
        try:
            asking = loop.create_task(
                tier.lookup(Eligible(PARTITION, "What's the capital of France?"), "m", 0.9, None)
            )
            loop.run_until_complete(asyncio.sleep(0))
            assert tier.waiting() == 1  # what /admin/live reports
            found = loop.run_until_complete(asking)
            assert isinstance(found, Skipped) and found.reason == "timeout"
            assert tier._pending == {} and tier.waiting() == 0
            leaving = loop.create_task(tier.lookup(Eligible(PARTITION, "Paris?"), "m", 0.9, None))
            loop.run_until_complete(asyncio.sleep(0))
            leaving.cancel()  # its client left: forgotten at once, not at the timeout
            loop.run_until_complete(asyncio.gather(leaving, return_exceptions=True))
            assert tier.waiting() == 0
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        waiting = loop.create_task(tier.lookup(Eligible(PARTITION, "Anything?"), "m", 0.9, None))
        loop.run_until_complete(asyncio.sleep(0))  # the lookup is sent
        proc.kill()  # dies with a lookup in flight: a miss, not an error
        assert loop.run_until_complete(waiting) in (None, semantic_service.TIMEOUT)
        assert until(loop, lambda: not tier.ready.is_set() or tier._proc is not proc)
        assert ask(loop, tier, "What is the capital of France?") in (
            semantic_service.LOADING,
            None,
        )
        assert until(loop, lambda: tier.ready.is_set() and tier._proc is not proc)
        assert proc.poll() is not None  # reaped
        assert tier.entries() == 0  # a new process starts empty
    finally:
        tier.close()


def test_a_process_that_cannot_load_its_models_leaves_the_tier_off(
    loop: asyncio.AbstractEventLoop,
) -> None:
    tier = SemanticProcess(loop, loader="tests.test_semantic_process:broken_loader")
    try:
        assert until(loop, lambda: tier.failed is not None)
        assert "no models here" in (tier.failed or "")
        assert until(loop, lambda: tier._proc is None)  # gone, and not started again
        assert not tier.ready.is_set()
        assert ask(loop, tier, "How do I?") is semantic_service.LOADING
    finally:
        assert tier.close()


def broken_loader() -> tuple[Any, Any]:
    raise RuntimeError("no models here")


WORKER = """
import asyncio, sys
from fastgw.semantic.remote import SemanticProcess

loop = asyncio.new_event_loop()
tier = SemanticProcess(loop)

async def ready():
    while tier._proc is None or not tier.ready.is_set():
        await asyncio.sleep(0.02)

loop.run_until_complete(asyncio.wait_for(ready(), 120))
print(tier._proc.pid, flush=True)
sys.stdin.read()  # until killed
"""


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return any(line.split()[1] in ("Z", "X") for line in f if line.startswith("State:"))
    except FileNotFoundError:
        return True


def test_the_process_dies_with_a_worker_that_was_killed() -> None:
    """A worker killed outright (SIGKILL: no close) leaves no tier process behind, even one
    that ignores SIGTERM and SIGINT."""
    import subprocess
    import sys

    with subprocess.Popen(
        [sys.executable, "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as worker:
        try:
            assert worker.stdout is not None
            child = int(worker.stdout.readline())
            assert not gone(child)
        finally:
            worker.kill()
            worker.wait(10)
    deadline = time.monotonic() + 10
    while not gone(child) and time.monotonic() < deadline:
        time.sleep(0.02)  # polled: the kernel's SIGKILL lands at once
    assert gone(child)
