"""Limits shared through Redis by every worker and instance that points at one server.

Rules this module keeps:
- One round trip per admission: ``EVALSHA`` of ``scripts.ADMIT`` (``NOSCRIPT`` → load, once).
- Settlements never wait on the response path: they are queued and sent by one background
  task in pipelines of ``EVALSHA scripts.SETTLE``; a batch that fails stays queued and is sent
  when Redis is back; ``close`` (worker shutdown) flushes the queue.
- When Redis cannot be reached (connection refused or reset, timeout): the state is marked
  down (log warning once per outage, ``fastgw_state_backend_up 0``), and a background task
  pings it with backoff until it answers. Meanwhile ``fail_open`` admits under this process's
  own limits (``LocalLimiter``; counted in ``fastgw_state_fallback_total``) and
  ``fail_closed`` answers 503 ``state_unavailable``.
- The URL may hold a password: only ``redacted_url`` of it is ever logged.
- The ``redis`` package is imported here only; config validation checks it is installed.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..config import StateConfig, redacted_url
from ..errors import StateUnavailable
from ..metrics import Metrics
from . import scripts
from .layout import admit_call, decide, rejected_scope, settle_call
from .local import LocalLimiter
from .periods import Periods
from .plan import Scope
from .ticket import Ticket

log = logging.getLogger("fastgw")

_DOWN = (RedisConnectionError, RedisTimeoutError, OSError, asyncio.TimeoutError)
_BACKOFF_FIRST_S = 0.05
_BACKOFF_MAX_S = 1.0
_POOL_WAIT_S = 5.0  # waiting for a free pooled connection is load, not an outage
_SETTLE_BATCH = 256


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
        self.where = redacted_url(url)
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=state.pool_size,
            timeout=_POOL_WAIT_S,
            socket_timeout=state.timeout_s,
            socket_connect_timeout=state.timeout_s,
        )
        self.client = aioredis.Redis(connection_pool=pool)
        self._admit_sha = ""
        self._settle_sha = ""
        self.up = True
        metrics.state_up.values[()] = 1
        self._pending: collections.deque[tuple[list[str], list[Any]]] = collections.deque()
        self._flusher: asyncio.Task[None] | None = None
        self._reconnect: asyncio.Task[None] | None = None
        self._closing = False

    # -- admission ------------------------------------------------------------------------

    async def admit(self, scopes: list[Scope], tokens: int, estimate: float) -> Ticket:
        if not self.up:
            return self._without_redis(scopes, tokens, estimate)
        budgets = any(
            lim.budget_day_usd is not None or lim.budget_month_usd is not None
            for _k, _i, lim in scopes
        )
        now = time.time()
        call = admit_call(
            self.prefix, scopes, tokens, estimate, self.periods.current(now) if budgets else None
        )
        try:
            answer = await self._eval("admit", call.keys, call.args)
        except _DOWN as exc:
            self._went_down(exc)
            return self._without_redis(scopes, tokens, estimate)
        outcome = decide(call, answer, self.periods.zone, now)
        if isinstance(outcome, Ticket):
            return outcome
        self.metrics.rejections.inc(rejected_scope(call, answer))
        raise outcome

    def _without_redis(self, scopes: list[Scope], tokens: int, estimate: float) -> Ticket:
        if not self.fail_open:
            self.metrics.rejections.inc(("state", "unavailable"))
            raise StateUnavailable(
                "The gateway cannot reach its shared limit state; retry the request shortly.",
                headers=[("retry-after", "1")],
            )
        self.metrics.fallbacks.inc(())
        return self.local.admit_now(scopes, tokens, estimate)

    async def _eval(self, which: str, keys: list[str], args: list[Any]) -> Any:
        sha = self._admit_sha if which == "admit" else self._settle_sha
        if sha:
            try:
                return await self.client.evalsha(sha, len(keys), *keys, *args)
            except NoScriptError:  # Redis restarted or SCRIPT FLUSH: load it again
                pass
        await self._load_scripts()
        sha = self._admit_sha if which == "admit" else self._settle_sha
        return await self.client.evalsha(sha, len(keys), *keys, *args)

    async def _load_scripts(self) -> None:
        self._admit_sha = await self.client.script_load(scripts.ADMIT)
        self._settle_sha = await self.client.script_load(scripts.SETTLE)

    # -- settlement ---------------------------------------------------------------------------

    def settle(self, ticket: Ticket, tokens: int, cost: float) -> None:
        if ticket.backend == "local":
            self.local.settle_now(ticket, tokens, cost)
            return
        if ticket.settled:
            return
        ticket.settled = True
        self._pending.append(settle_call(ticket, tokens, cost))
        if self.up and self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        """Send queued settlements in pipelines until the queue is empty or Redis is down."""
        pending = self._pending
        try:
            while pending and self.up:
                batch = [pending.popleft() for _ in range(min(len(pending), _SETTLE_BATCH))]
                try:
                    await self._send(batch)
                except _DOWN as exc:
                    pending.extendleft(reversed(batch))  # kept, in order, for when it is back
                    self._went_down(exc)
        finally:
            self._flusher = None

    async def _send(self, batch: list[tuple[list[str], list[Any]]]) -> None:
        if not self._settle_sha:
            await self._load_scripts()
        for attempt in range(2):
            pipe = self.client.pipeline(transaction=False)
            for keys, args in batch:
                pipe.evalsha(self._settle_sha, len(keys), *keys, *args)
            try:
                await pipe.execute()
                return
            except NoScriptError:
                if attempt:
                    raise
                await self._load_scripts()

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
                    await self.client.ping()
                    await self._load_scripts()
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
            try:
                await self._send(batch)
            except _DOWN:
                pending.extendleft(reversed(batch))
                break
        if pending:
            log.warning(
                "redis at %s unreachable at shutdown: %d settlements not recorded",
                self.where,
                len(pending),
            )
        await self.client.aclose()
