"""Graceful shutdown of one worker: a readiness grace, then a bounded drain.

SIGTERM is how orchestrators stop a server (Kubernetes and Docker send it to the main
process, which Granian forwards to each worker; systemd sends it to every process). A load
balancer needs time to notice: Kubernetes removes the pod from its endpoints while the
SIGTERM is already on its way, and a health-checking balancer only stops sending after a few
failed ``/ready`` probes. So on SIGTERM a worker does not stop at once (Granian's own
handling): for ``server.drain_grace_s`` it answers ``/ready`` with 503 and keeps serving new
requests as well as those in flight (Envoy's drain and the usual Kubernetes ``preStop`` sleep
do the same). Then it stops accepting connections and drains its in-flight requests and
streams for up to ``server.drain_timeout_s``.

SIGINT (Ctrl-C, which reaches every process of the group) skips the grace: the worker stops
accepting at once and drains as above.

How it is wired into Granian's worker: Granian registers one loop handler for SIGTERM and
SIGINT that stops the worker's server. ``install`` replaces the SIGTERM one with ``terminate``
(the grace) and chains ``begin`` in front of the SIGINT one; when the grace ends the worker
sends itself SIGINT, so Granian stops accepting through its own code path. ``begin`` starts
the drain timer: when it fires, every request still in flight is cancelled with the
``shutting_down`` mark (a plain request is answered 503, a stream ends with an SSE error
event, each is accounted and logged). Granian's kill timeout stays as a backstop a few
seconds later (``fastgw.server``). Nothing here runs per request.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from types import FrameType
from typing import Any

from .exchange import Exchange

SHUTTING_DOWN = "shutting_down"
log = logging.getLogger("fastgw")


class Drain:
    """The shutdown state of one worker. ``draining``: ``/ready`` answers 503 (from SIGTERM
    on); ``stopping``: accepting has stopped and the drain timer runs."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, timeout_s: float, grace_s: float = 0.0
    ) -> None:
        self.loop = loop
        self.timeout_s = timeout_s
        self.grace_s = grace_s
        self.in_flight: dict[asyncio.Task[Any], Exchange] = {}
        self.draining = False
        self.stopping = False
        self._grace: asyncio.TimerHandle | None = None

    def install(self) -> None:
        """Take over SIGTERM (the grace) and chain the drain in front of Granian's SIGINT
        handler. Call once the server's handlers are installed (``__rsgi_init__``)."""
        self.loop.add_signal_handler(signal.SIGTERM, self.terminate)
        previous = signal.getsignal(signal.SIGINT)

        def on_interrupt(num: int, frame: FrameType | None) -> None:
            self.loop.call_soon_threadsafe(self.begin)
            if callable(previous):
                previous(num, frame)

        signal.signal(signal.SIGINT, on_interrupt)

    def terminate(self) -> None:
        """SIGTERM: answer ``/ready`` 503 now, keep serving for the grace, then stop."""
        if self.draining:  # a repeated SIGTERM (the main process forwards its own)
            return
        self.draining = True
        log.info(
            "SIGTERM: /ready answers 503; still serving for %.3gs before the drain "
            "(%d requests in flight)",
            self.grace_s,
            len(self.in_flight),
        )
        self._grace = self.loop.call_later(self.grace_s, self.stop_accepting)

    def stop_accepting(self) -> None:
        """End of the grace: Granian's own SIGINT handler stops accepting connections, and
        ours (``install``) begins the drain."""
        self._grace = None
        os.kill(os.getpid(), signal.SIGINT)

    def begin(self) -> None:
        """Accepting has stopped: start the drain timer (once)."""
        self.draining = True
        if self.stopping:
            return
        self.stopping = True
        if self._grace is not None:  # SIGINT during the grace: no need to wait for it
            self._grace.cancel()
            self._grace = None
        log.info("draining %d requests (at most %.3gs)", len(self.in_flight), self.timeout_s)
        self.loop.call_later(self.timeout_s, self.cut)

    def cut(self) -> None:
        """Cancel whatever is still in flight: the drain timeout has passed."""
        if self.in_flight:
            log.warning("drain timeout: cutting %d requests still in flight", len(self.in_flight))
        for task, ex in list(self.in_flight.items()):
            ex.error = SHUTTING_DOWN
            task.cancel()
