"""Coalescing: identical requests in flight at the same time share one upstream call.

Rules this module keeps:
- Identical means the same request key (``fastgw.cache.keys``: canonical form, public model,
  namespace) and the same framing (plain, stream, stream with its usage event): every client
  of a flight receives the bytes the leader's client receives. The exact cache's key is
  reused when the model has the cache (its stage ran first: a hit never gets here).
- Only requests the exact cache would accept: ``temperature == 0`` or a ``seed`` (every
  request with the model cache's ``when = "always"``), embeddings; ``Cache-Control:
  no-cache`` bypasses. A model with ``coalesce = false`` has no stage.
- The first request of a key is the leader and runs the route itself, inline, exactly as
  without coalescing, through a ``LeaderProto`` that records what the route sends: a whole
  answer (status, headers, body), or a stream's head and each chunk (the same bytes
  objects: the relay stays zero-copy). A request of that key arriving meanwhile is a
  follower: it waits, then gets the whole answer; a stream's follower gets its head and the
  chunks so far at once, then every chunk as the leader's relay sends it (pushed from the
  leader's relay, synchronously, like the leader's own).
- Nobody's leaving cancels the others. A follower that leaves (its disconnect watch, a send
  that fails) is dropped from its flight. The first follower to join detaches the leader's
  disconnect watch, and while followers remain a send to the leader's gone client is
  ignored: the upstream call goes on for them. With no follower left, the leader's request
  behaves as it does without coalescing.
- A failure reaches every client as its own: a refusal or upstream error answered whole is
  sent to each with its status and body; a ``GatewayError`` the route raised is raised again
  (a copy) in each follower, so each gets the OpenAI error body; a stream that failed after
  its head carries the same error event to each. A leader that ended with no answer at all
  (cancelled) leaves its followers to route on their own.
- Accounting: the leader's request is the upstream call (limits settle on its usage, its
  spend counts). A follower carries the leader's usage in its answer and its row, its
  outcome is ``coalesced`` (``x-fastgw-cache``, the access line, the usage row, the cache
  metric) and, like a cache hit, it was admitted as a request and costs no tokens.
- A request of an inbound API that one of the model's deployments (or its fallbacks') speaks
  natively is never coalesced: that answer is in the client's own protocol, with the
  upstream's response id, which each client's edge would otherwise translate or store as its
  own.
- Bounded: ``MAX_FLIGHTS`` flights per config and worker, ``MAX_FOLLOWERS`` per flight, a
  stream's recorded chunks up to ``MAX_REPLAY_BYTES`` (past that nobody more joins it); past
  a bound a request goes its own way. A follower waits at most the route's own bound (the
  retry budget plus the longest total timeout of the model's and its fallbacks'
  deployments), then answers 504. Every object of a flight is dropped when its last request
  ends.
- Cost with no follower: the key (the cache's, or an xxh3 and an alias get), a dict get, a
  ``Flight`` and a ``LeaderProto``, a dict insert and delete; per stream chunk one method
  call and a list append.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from granian._granian import RSGIProtocolClosed

from ..cache.keys import RequestKeys, directives, repeatable
from ..errors import GatewayError, UpstreamTimeout, sse_error_event
from ..exchange import Exchange
from ..proxy import Route
from ..relay import send_now
from ..respond import JSON, open_stream, send_bytes
from ..routing.plan import Group
from .stages import CACHE_HEADER

COALESCED = "coalesced"
#: Flights (distinct keys in flight) per config and worker; past that a request is alone.
MAX_FLIGHTS = 1024
#: Followers of one flight; past that a request is alone.
MAX_FOLLOWERS = 512
#: Bytes of a stream kept for late joiners; past that the flight takes no new follower.
MAX_REPLAY_BYTES = 4 * 1024 * 1024
#: Request keys whose raw-body alias is kept for the models without the exact cache.
ALIAS_ENTRIES = 4096
ALIAS_TTL_S = 3600.0

#: Response headers that belong to one request, not to the shared answer.
_OWN = frozenset({"x-request-id", CACHE_HEADER, "content-type", "cache-control"})

GroupKey = tuple[bytes, int]
#: What a follower takes from its leader: tokens, deployment, provider, served model, error.
Usage = tuple[int | None, int | None, int, str | None, str | None, str | None, str | None]


class _Sent:
    """An awaitable already done: what a send to a gone leader returns while followers
    remain (``send_now`` reads it as sent)."""

    __slots__ = ()

    def __await__(self) -> Any:
        return iter(())


class _Closed:
    """An awaitable that fails as Granian's does once the client is gone."""

    __slots__ = ()

    def __await__(self) -> Any:
        raise RSGIProtocolClosed("the client went away")
        yield  # pragma: no cover - makes this a generator


_SENT, _CLOSED = _Sent(), _Closed()


class Follower:
    """One request waiting on a flight: its exchange, protocol and, once its stream
    opened, its transport; ``waiter`` is resolved when the flight ends (True) or its client
    is gone (False)."""

    __slots__ = ("ex", "proto", "transport", "waiter")

    def __init__(self, ex: Exchange, proto: Any, waiter: asyncio.Future[bool]) -> None:
        self.ex = ex
        self.proto = proto
        self.transport: Any = None
        self.waiter = waiter

    def wake(self, ended: bool) -> None:
        if not self.waiter.done():
            self.waiter.set_result(ended)


class Flight:
    """One upstream call and the requests sharing it. As the leader's stream transport it
    is the tee: ``send_bytes`` records a chunk and sends it to every client."""

    __slots__ = (
        "chunks",
        "done",
        "error",
        "followers",
        "head",
        "leader_gone",
        "recorded",
        "result",
        "transport",
        "usage",
        "watch",
    )

    def __init__(self) -> None:
        self.followers: list[Follower] = []
        self.watch: Any = None  # the leader's disconnect watch (``LeaderWatches``)
        self.transport: Any = None  # the leader's stream transport
        self.head: list[tuple[str, str]] | None = None  # a stream's headers, once opened
        self.chunks: list[bytes] | None = []  # a stream so far (None: too long to replay)
        self.recorded = 0
        self.result: tuple[int, list[tuple[str, str]], bytes] | None = None  # a whole answer
        self.error: GatewayError | None = None
        self.usage: Usage | None = None  # the leader's, when the flight ended
        self.leader_gone = False
        self.done = False

    # -- the leader's side -------------------------------------------------------------------

    def opened(self, headers: list[tuple[str, str]], transport: Any) -> None:
        self.head, self.transport = _shared(headers), transport
        for follower in list(self.followers):
            self._open(follower)

    def send_bytes(self, chunk: bytes) -> Any:
        chunks = self.chunks
        if chunks is not None:
            chunks.append(chunk)
            self.recorded += len(chunk)
            if self.recorded > MAX_REPLAY_BYTES:
                self.chunks = None
        followers = self.followers
        if not followers:
            if self.leader_gone:
                return _CLOSED
            return self.transport.send_bytes(chunk)  # as without coalescing
        for follower in list(followers):
            if follower.ex.ttft is None:
                follower.ex.ttft = time.perf_counter() - follower.ex.start
            if not send_now(follower.transport, chunk):
                self.leave(follower)
                follower.wake(False)
        if not self.leader_gone and not send_now(self.transport, chunk):
            self.leader_gone = True
        return _SENT if self.followers or not self.leader_gone else _CLOSED

    def end(self, leader: Exchange) -> None:
        """The leader's request is over: wake every follower."""
        self.done, self.usage = True, _usage(leader)
        self.transport = self.watch = self.chunks = None
        followers, self.followers = self.followers, []
        for follower in followers:
            follower.wake(True)

    # -- the followers' side -----------------------------------------------------------------

    def join(self, follower: Follower) -> None:
        self.followers.append(follower)
        if len(self.followers) == 1 and self.watch is not None:
            self.watch.cancel()  # the leader's client leaving must not cancel the call
            self.watch = None
        if self.head is not None:
            self._open(follower)

    def joinable(self) -> bool:
        if self.done or self.result is not None or len(self.followers) >= MAX_FOLLOWERS:
            return False
        return self.head is None or self.chunks is not None

    def leave(self, follower: Follower) -> None:
        if follower in self.followers:
            self.followers.remove(follower)

    def _open(self, follower: Follower) -> None:
        ex = follower.ex
        assert self.head is not None
        try:
            transport = open_stream(follower.proto, ex, 200, [*self.head, _OUTCOME])
            if self.chunks:
                ex.ttft = time.perf_counter() - ex.start
                if not send_now(transport, b"".join(self.chunks)):
                    raise RSGIProtocolClosed("the client went away")
        except RuntimeError:  # RSGIProtocolClosed: gone before its stream opened
            self.leave(follower)
            follower.wake(False)
            return
        follower.transport = transport


_OUTCOME = (CACHE_HEADER, COALESCED)


def _shared(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The leader's response headers that every client of the flight gets (its request id,
    cache outcome and the gateway's rate-limit headers are its own)."""
    return [(n, v) for n, v in headers if n not in _OWN and not n.startswith("x-ratelimit-")]


class LeaderProto:
    """The leader's RSGI protocol as its route sees it: what is sent is also recorded for
    the followers (see the module docstring)."""

    __slots__ = ("flight", "proto")

    def __init__(self, flight: Flight, proto: Any) -> None:
        self.flight = flight
        self.proto = proto

    def client_disconnect(self) -> Any:
        return self.proto.client_disconnect()

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.flight.result = (status, headers, body)  # first: a gone leader still answers them
        self.proto.response_bytes(status, headers, body)

    def response_stream(self, status: int, headers: list[tuple[str, str]]) -> Flight:
        flight = self.flight
        flight.opened(headers, self.proto.response_stream(status, headers))
        return flight


class LeaderWatches:
    """The disconnect watches of a coalescing model's route: the leader's is kept on its
    flight, so that its first follower can detach it."""

    __slots__ = ("inner",)

    def __init__(self, disconnects: Any) -> None:
        self.inner = disconnects.watch

    def watch(self, client: str, proto: Any, task: asyncio.Task[Any]) -> Any:
        watch = self.inner(client, proto, task)
        if type(proto) is LeaderProto:
            proto.flight.watch = watch
        return watch


class Coalescing:
    """The flights of one config in this worker, and the keys of the models that have no
    exact cache."""

    def __init__(self) -> None:
        self.flights: dict[GroupKey, Flight] = {}
        self.keys = RequestKeys(ALIAS_ENTRIES)


def _reachable(group: Group) -> list[Group]:
    """``group`` and every group its fallbacks lead to."""
    groups, seen = [group], {}
    while groups:
        g = groups.pop()
        if g.name not in seen:
            seen[g.name] = g
            groups.extend((*g.fallbacks, *g.context_fallbacks, *g.content_policy_fallbacks))
    return list(seen.values())


def wait_bound(group: Group) -> float:
    """How long a follower waits at most: the route's own bound (no attempt starts past the
    retry budget, and none lasts past its deployment's total timeout)."""
    longest = 0.0
    for g in _reachable(group):
        longest = max([longest, *(d.timeouts.total_s for d in g.deployments)])
    return group.retry.budget_s + longest


def native_inbound(group: Group) -> frozenset[str]:
    """The inbound APIs some deployment ``group`` may route to speaks natively."""
    return frozenset(
        name
        for g in _reachable(group)
        for d in g.deployments
        for name in getattr(d.provider, "native", ())
    )


class Coalesce:
    """The coalescing stage of one (endpoint, model): see the module docstring. It answers
    every request it keys (the leader runs the route inside it)."""

    name = "coalesce"
    is_async = True

    def __init__(
        self, coalescing: Coalescing, route: Route, watch: Any, cached: bool, wait_s: float
    ) -> None:
        self.flights = coalescing.flights
        self.keys = coalescing.keys
        self.route = route
        self.watch = watch
        self.wait_s = wait_s
        self.native = native_inbound(route.group)
        self.key_of: Callable[[Exchange, Any], GroupKey | None] = (
            _cached_key if cached else self._own_key
        )

    def _own_key(self, ex: Exchange, scope: Any) -> GroupKey | None:
        request = ex.request
        if not repeatable(request, "deterministic"):
            return None
        cache_control = scope.headers.get("cache-control")
        if cache_control and directives(cache_control)[0]:
            return None
        model = ex.model_config.name
        key = self.keys.key(model, ex.key.namespace, request, ex.body, ALIAS_TTL_S)
        return None if key is None else (key, _framing(ex))

    def run(self, ex: Exchange, scope: Any, proto: Any) -> Any:
        """False at once for a request that is not coalesced (no coroutine made: most
        requests, the sampled ones); otherwise the coroutine that leads or follows."""
        inbound = ex.inbound
        if inbound is not None and inbound[0] in self.native:
            return False
        key = self.key_of(ex, scope)
        if key is None:
            return False
        return self._coalesce(key, ex, scope, proto)

    async def _coalesce(self, key: Any, ex: Exchange, scope: Any, proto: Any) -> bool:
        flights = self.flights
        flight = flights.get(key)
        if flight is not None:
            if not flight.joinable():
                return False
            return await self._follow(flight, ex, scope, proto)
        if len(flights) >= MAX_FLIGHTS:
            return False
        flight = flights[key] = Flight()
        try:
            await self.route.run(ex, scope, LeaderProto(flight, proto))
        except GatewayError as exc:
            flight.error = _again(exc)
            raise
        finally:
            if flights.get(key) is flight:
                del flights[key]
            flight.end(ex)
        return True

    async def _follow(self, flight: Flight, ex: Exchange, scope: Any, proto: Any) -> bool:
        ex.cache = COALESCED
        follower = Follower(ex, proto, asyncio.get_running_loop().create_future())
        flight.join(follower)
        watch = self.watch(scope.client, proto, ex.task)
        try:
            async with asyncio.timeout(self.wait_s):
                ended = await follower.waiter
        except TimeoutError:
            timeout = UpstreamTimeout("The coalesced upstream call did not finish in time.")
            if follower.transport is not None:
                send_now(follower.transport, sse_error_event(timeout))
                ex.error = timeout.code
                return True
            raise timeout from None
        finally:
            watch.cancel()
            flight.leave(follower)
            follower.transport = None
        if not ended:
            raise RSGIProtocolClosed("the client went away")
        if not ex.responded:
            result = flight.result
            if result is None:
                if flight.error is not None:
                    raise _again(flight.error)
                # the leader ended with no answer (cancelled): route on its own
                ex.cache = None if ex.lookup is None else ex.lookup.outcome
                await self.route.run(ex, scope, proto)
                return True
            status, headers, body = result
            ex.ttft = time.perf_counter() - ex.start
            send_bytes(proto, ex, status, [*_shared(headers), *_content(headers), _OUTCOME], body)
        if flight.usage is not None:
            _share_usage(flight.usage, ex)
        return True


def _cached_key(ex: Exchange, scope: Any) -> GroupKey | None:
    lookup = ex.lookup
    if lookup is None or not lookup.read:  # a sampled request, no-cache, or no key
        return None
    return lookup.key, _framing(ex)


def _framing(ex: Exchange) -> int:
    """0 plain, 1 stream, 2 stream with its usage event (the bytes each client gets)."""
    if not ex.stream:
        return 0
    options = getattr(ex.request, "stream_options", None)
    return 2 if options is not None and options.include_usage else 1


def _content(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    for name, value in headers:
        if name == "content-type":
            return [(name, value)]
    return [JSON]


def _usage(leader: Exchange) -> Usage:
    return (
        leader.prompt_tokens,
        leader.completion_tokens,
        leader.cached_tokens,
        leader.deployment,
        leader.provider,
        leader.served_model,
        leader.error,
    )


def _share_usage(usage: Usage, ex: Exchange) -> None:
    error = ex.error
    (
        ex.prompt_tokens,
        ex.completion_tokens,
        ex.cached_tokens,
        ex.deployment,
        ex.provider,
        ex.served_model,
        ex.error,
    ) = usage
    if error is not None:
        ex.error = error


def _again(exc: GatewayError) -> GatewayError:
    """A copy of ``exc`` without its traceback, to raise in another request."""
    clone = exc.__class__.__new__(exc.__class__)
    clone.args = exc.args
    clone.__dict__.update(exc.__dict__)
    clone.headers = list(exc.headers)
    return clone
