"""``GET /admin/live``: what this worker holds for requests right now.

It proves, on a running worker and without a debugger, that a client who leaves takes its
request's memory with it: once every request has ended, each per-request class counts 0.

Rules this module keeps:
- Nothing is counted on the request path. One call walks the objects the garbage collector
  tracks (``gc.get_objects``: everything made since start, the worker's frozen start-up state
  excepted) and counts the instances of the classes in ``PER_REQUEST`` by exact type: a few
  milliseconds per call on an idle worker, more with many requests in flight; admin only.
- What the asking request holds itself (its exchange, task, RSGI protocol and scope) is left
  out, and so is the request from ``in_flight``: an idle worker answers zeros.
- ``?collect=1`` runs a full collection first, so what is counted is alive, not garbage
  waiting for the collector; ``uncollectable`` is the length of ``gc.garbage``.
- The answer is this worker's (``pid``); with several workers each one answers for itself.
"""

from __future__ import annotations

import asyncio
import gc
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import msgspec
from granian._granian import RSGIHTTPProtocol, RSGIHTTPStreamTransport

from .. import _core
from ..cache.exact import CacheLookup
from ..disconnect import Watch
from ..disconnect import _Connection as WatchedConnection
from ..errors import InvalidRequest
from ..exchange import Exchange
from ..inbound.edge import Edge, EdgeTransport
from ..pipeline.coalesce import Flight, Follower, LeaderProto
from ..providers.base import Call
from ..providers.mock import MockResponse
from ..providers.translated import TranslatedResponse
from ..routing.attempt import Answer
from ..routing.plan import GroupPlan
from ..wire import ChatRequest, CompletionRequest, EmbeddingRequest
from .respond import send

if TYPE_CHECKING:
    from .context import AdminContext

#: The classes of which each request makes instances that must die with it, by the name the
#: answer gives them. Upstream connections are per pool, not per request: an idle pooled one
#: is alive by design (``upstream`` says how many each pool keeps).
PER_REQUEST: dict[type, str] = {
    Exchange: "Exchange",
    asyncio.Task: "Task",
    ChatRequest: "ChatRequest",
    CompletionRequest: "CompletionRequest",
    EmbeddingRequest: "EmbeddingRequest",
    Call: "Call",
    Answer: "Answer",
    GroupPlan: "GroupPlan",
    CacheLookup: "CacheLookup",
    Flight: "Flight",
    Follower: "Follower",
    LeaderProto: "LeaderProto",
    _core.Ticket: "Ticket",
    Watch: "Watch",
    WatchedConnection: "WatchedConnection",
    MockResponse: "MockResponse",
    TranslatedResponse: "TranslatedResponse",
    Edge: "Edge",  # an inbound API's stand-in for Granian's protocol and transport
    EdgeTransport: "EdgeTransport",
    _core.UpstreamResponse: "UpstreamResponse",
    _core.Connection: "UpstreamConnection",
    _core.SSEFramer: "SSEFramer",
    RSGIHTTPProtocol: "RSGIHTTPProtocol",
    RSGIHTTPStreamTransport: "RSGIHTTPStreamTransport",
}


class LiveObjects(msgspec.Struct):
    pid: int
    rss_bytes: int | None  # resident memory of this worker (None where /proc is missing)
    in_flight: int  # requests being answered, this one excepted
    watched_connections: int  # client connections with a disconnect watch
    upstream: dict[str, dict[str, int]]  # provider -> {"open", "idle"} pooled connections
    semantic_waiting: int  # lookups the semantic tier has not answered yet (its driver's)
    objects: dict[str, int]  # PER_REQUEST name -> live instances, this request's excepted
    uncollectable: int  # len(gc.garbage)


async def live(state: AdminContext, scope: Any, proto: Any, ex: Exchange) -> None:
    params = dict(parse_qsl(scope.query_string or "", keep_blank_values=True))
    collect = params.pop("collect", "0")
    if collect not in ("0", "1") or params:
        raise InvalidRequest(
            "GET /admin/live takes one optional parameter: collect=0 or collect=1.",
            param="collect" if not params else next(iter(params)),
        )
    if collect == "1":
        gc.collect()
    pools = {}
    for name, provider in state.providers.items():
        pool = getattr(provider, "pool", None)  # providers with an HTTP connection pool
        if pool is not None:
            pools[name] = pool.stats()
    own = (ex, ex.task, proto, scope)
    answer = LiveObjects(
        pid=os.getpid(),
        rss_bytes=rss_bytes(),
        in_flight=sum(1 for task in state.drain.in_flight if task is not ex.task),
        watched_connections=len(state.disconnects.connections),
        upstream=pools,
        semantic_waiting=0 if state.semantic is None else state.semantic.waiting(),
        objects=count_live(PER_REQUEST, own),
        uncollectable=len(gc.garbage),
    )
    send(proto, ex, 200, answer)


def count_live(classes: dict[type, str], skip: tuple[object, ...] = ()) -> dict[str, int]:
    """Live instances of each of ``classes`` (exact type) among the collector's objects,
    leaving out the objects in ``skip``."""
    counts = dict.fromkeys(classes.values(), 0)
    skipped = {id(obj) for obj in skip}
    for obj in gc.get_objects():
        name = classes.get(type(obj))
        if name is not None and id(obj) not in skipped:
            counts[name] += 1
    return counts


def rss_bytes() -> int | None:
    """This process's resident set size, from ``/proc/self/statm`` (Linux)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")
