"""Limits shared through Redis by every worker and instance that points at one server.

Rules this module keeps:
- One round trip per admission: ``EVALSHA`` of ``scripts.ADMIT`` (``NOSCRIPT`` → load, once),
  on the worker's one pipelined connection (``resp.RespClient``).
- Settlements never wait on the response path: they are queued and sent by one background
  task, each batch (those queued by the time it runs, up to ``_SETTLE_BATCH``) summed into one
  ``EVALSHA scripts.SETTLE`` (``layout.settle_calls``): a script call costs Redis about 30 µs
  whatever it does, so one per request would be most of its work. A batch that fails stays
  queued and is sent when Redis is back; ``close`` (worker shutdown) flushes the queue.
- One settlement never drops the others: a counter Redis refuses costs only its own update
  (SETTLE writes with ``pcall``; the failures are logged), and a batch the script refuses
  whole (it then wrote nothing) is sent again one settlement at a time, so only a settlement
  that fails alone is dropped (logged), and every other one frees its parallel slots.
- When Redis cannot be reached (connection refused or reset, timeout): the state is marked
  down (log warning once per outage, ``fastgw_state_backend_up 0``), and a background task
  pings it with backoff until it answers. Meanwhile ``fail_open`` admits under this process's
  own limits (``LocalLimiter``; counted in ``fastgw_state_fallback_total``) and
  ``fail_closed`` answers 503 ``state_unavailable``.
- The URL may hold a password: only ``redacted_url`` of it is ever logged.
- ``hiredis`` is imported only with this backend; config validation checks it is installed.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any

from ..config import StateConfig, redacted_url
from ..errors import StateUnavailable
from ..metrics import Metrics
from . import scripts
from .layout import admit_call, decide, rejected_scope, settle_calls
from .local import LocalLimiter
from .periods import Periods
from .reserve import Scope, has_budget
from .resp import ReplyError, RespClient
from .ticket import Ticket

log = logging.getLogger("fastgw")

_DOWN = (OSError, asyncio.TimeoutError)  # refused, reset, lost, timed out
_BACKOFF_FIRST_S = 0.05
_BACKOFF_MAX_S = 1.0
_SETTLE_BATCH = 256


def _noscript(exc: BaseException) -> bool:
    return isinstance(exc, ReplyError) and str(exc).startswith("NOSCRIPT")


class RedisLimiter:
    backend = "redis"

    def __init__(
        self,
        state: StateConfig,
        url: str,
        local: LocalLimiter,
        periods: Periods,
        metrics: Metrics,
    ) -> None:
        self.prefix = state.prefix
        self.fail_open = state.on_redis_down == "fail_open"
        self.local = local
        self.periods = periods
        self.metrics = metrics
        self.url = url
        self.timeout = state.timeout_s
        self.where = redacted_url(url)
        self.client: RespClient | None = None
        self._lock = asyncio.Lock()
        self._admit_sha = ""
        self._settle_sha = ""
        self.up = True
        metrics.state_up.values[()] = 1
        self._pending: collections.deque[tuple[Ticket, int, float]] = collections.deque()
        self._flusher: asyncio.Task[None] | None = None
        self._reconnect: asyncio.Task[None] | None = None
        self._closing = False

    # -- admission ------------------------------------------------------------------------

    async def admit(self, scopes: list[Scope], tokens: int, estimate: float) -> Ticket:
        if not self.up:
            return self._without_redis(scopes, tokens, estimate)
        budgets = has_budget(scopes)
        now = time.time()
        call = admit_call(
            self.prefix, scopes, tokens, estimate, self.periods.current(now) if budgets else None
        )
        try:
            answer = await self._eval(True, call.keys, call.args)
        except _DOWN as exc:
            self._went_down(exc)
            return self._without_redis(scopes, tokens, estimate)
        outcome = decide(call, answer, self.periods.zone, now)
        if isinstance(outcome, Ticket):
            return outcome
        self.metrics.refused(*rejected_scope(call, answer))
        raise outcome

    def _without_redis(self, scopes: list[Scope], tokens: int, estimate: float) -> Ticket:
        if not self.fail_open:
            self.metrics.refused("state", "unavailable")
            raise StateUnavailable(
                "The gateway cannot reach its shared limit state; retry the request shortly.",
                headers=[("retry-after", "1")],
            )
        self.metrics.fallbacks.inc(())
        return self.local.admit_now(scopes, tokens, estimate)

    async def _connection(self) -> RespClient:
        client = self.client
        if client is not None and not client.closed:
            return client
        async with self._lock:
            client = self.client
            if client is None or client.closed:
                client = self.client = await RespClient.connect(self.url, self.timeout)
                await self._load_scripts(client)
            return client

    async def _load_scripts(self, client: RespClient) -> None:
        admit, settle = client.send(
            [("SCRIPT", "LOAD", scripts.ADMIT), ("SCRIPT", "LOAD", scripts.SETTLE)]
        )
        self._admit_sha = (await admit).decode()
        self._settle_sha = (await settle).decode()

    async def _eval(self, admit: bool, keys: list[str], args: list[Any]) -> Any:
        client = await self._connection()
        sha = self._admit_sha if admit else self._settle_sha
        try:
            return await client.call("EVALSHA", sha, len(keys), *keys, *args)
        except ReplyError as exc:
            if not _noscript(exc):  # a script error is a bug: let it surface
                raise
        await self._load_scripts(client)  # Redis restarted or SCRIPT FLUSH
        sha = self._admit_sha if admit else self._settle_sha
        return await client.call("EVALSHA", sha, len(keys), *keys, *args)

    # -- settlement ---------------------------------------------------------------------------

    def settle(self, ticket: Ticket, tokens: int, cost: float) -> None:
        if ticket.backend == "local":
            self.local.settle_now(ticket, tokens, cost)
            return
        if ticket.settled:
            return
        ticket.settled = True
        self._pending.append((ticket, tokens, cost))
        if self.up and self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        """Send queued settlements in pipelines until the queue is empty or Redis is down."""
        pending = self._pending
        try:
            while pending and self.up:
                batch = [pending.popleft() for _ in range(min(len(pending), _SETTLE_BATCH))]
                left = await self._deliver(batch)
                pending.extendleft(reversed(left))  # kept, in order, for when it is back
        finally:
            self._flusher = None

    async def _deliver(self, batch: list[tuple[Ticket, int, float]]) -> list[Any]:
        """Send ``batch``; what is left of it (to queue again) if Redis went down. A batch the
        script refuses (it wrote nothing) is delivered again one settlement at a time; of one
        refused alone only the parallel slots are left (logged)."""
        try:
            await self._send(batch)
        except _DOWN as exc:
            self._went_down(exc)
            return batch
        except ReplyError as exc:
            if len(batch) > 1:
                log.warning("redis refused %d settlements (%s): each sent alone", len(batch), exc)
                for i, one in enumerate(batch):
                    if await self._deliver([one]):
                        return batch[i:]
                return []
            ticket = batch[0][0]
            log.error("redis refused a settlement (%s): only its parallel slots are freed", exc)
            if ticket.buckets or ticket.budgets:  # its slots at least: nothing else to refuse
                bare = Ticket("redis", 0, 0.0, [], ticket.parallel, [], [])
                return await self._deliver([(bare, 0, 0.0)])
        return []

    async def _send(self, batch: list[tuple[Ticket, int, float]]) -> None:
        """One ``SETTLE`` call for every settlement in ``batch``; sent again once the scripts
        are loaded if Redis answers NOSCRIPT. Counters Redis refused are logged (the others
        were written)."""
        keys, args = settle_calls(batch)
        answer = await self._eval(False, keys, args)
        if isinstance(answer, list) and answer and int(answer[0]) > 0:
            first = answer[1].decode(errors="replace") if len(answer) > 1 else ""
            log.warning(
                "redis refused %d counter updates of %d settlements (%s); the rest were applied",
                int(answer[0]),
                len(batch),
                first,
            )

    # -- outage and recovery ----------------------------------------------------------------

    def _went_down(self, exc: BaseException) -> None:
        if not self.up:
            return
        self.up = False
        self.metrics.state_up.values[()] = 0
        policy = "per-instance local limits" if self.fail_open else "503 state_unavailable"
        log.warning(
            "redis at %s unreachable (%s): serving with %s until it is back",
            self.where,
            type(exc).__name__,
            policy,
        )
        if self._reconnect is None and not self._closing:
            self._reconnect = asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        delay = _BACKOFF_FIRST_S
        try:
            while not self._closing:
                await asyncio.sleep(delay)  # backoff between probes of a server that is down
                try:
                    await self._connection()
                except _DOWN:
                    delay = min(delay * 2, _BACKOFF_MAX_S)
                    continue
                self.up = True
                self.metrics.state_up.values[()] = 1
                log.warning("redis at %s is back: limits are shared again", self.where)
                if self._pending and self._flusher is None:
                    self._flusher = asyncio.get_running_loop().create_task(self._flush())
                return
        finally:
            self._reconnect = None

    async def close(self) -> None:
        """Flush every queued settlement (if Redis answers), then close the connections."""
        self._closing = True
        if self._reconnect is not None:
            self._reconnect.cancel()
        if self._flusher is not None:
            await self._flusher
        pending = self._pending
        while pending:  # one last try even if it was down: it may be back
            batch = [pending.popleft() for _ in range(min(len(pending), _SETTLE_BATCH))]
            left = await self._deliver(batch)
            if left:
                pending.extendleft(reversed(left))
                break
        if pending:
            log.warning(
                "redis at %s unreachable at shutdown: %d settlements not recorded",
                self.where,
                len(pending),
            )
        if self.client is not None:
            self.client.close()
