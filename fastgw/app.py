"""The RSGI application: per-worker state, routing, and the error edge.

Granian calls ``__rsgi_init__(loop)`` in each worker before serving (the state is built there:
key ring, model table, providers with their connection pools, metrics, access log),
``__rsgi__(scope, proto)`` per request, and ``__rsgi_del__(loop)`` once every connection has
finished (``fastgw.drain`` bounds that by the drain timeout); there pools are closed and the
access log flushed.

Every ``GatewayError`` becomes its OpenAI error body here; anything else is logged and
answered with a 500, the only ``except Exception`` in fastgw.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from typing import Any

from granian._granian import RSGIProtocolClosed  # granian.rsgi.ProtocolClosed

from . import _core, admin
from .accesslog import AccessLine, AccessLog
from .bodies import BodyDeadlines
from .cache.exact import ResponseCache
from .config import Config, ModelConfig, load_config
from .disconnect import Disconnects
from .drain import SHUTTING_DOWN, Drain
from .errors import GatewayError, MethodNotAllowed, NotFound, ServiceUnavailable
from .exchange import MAX_LOGGED_CHARS, Exchange, loggable
from .keys import KeyRing
from .limits import build_limiter
from .metrics import CONTENT_TYPE, Metrics
from .metrics.worker import start_worker_metrics
from .pricing import PriceTable
from .providers import Provider, build_provider
from .proxy import proxy
from .records.db import initialise
from .records.keystore import KeyStore
from .records.refresh import KeyRefresher
from .records.usage import UsageLog
from .redact import build_redactor
from .routing import Router
from .routing import admin as routing_admin
from .routing import health as routing_health
from .wire import ChatRequest, CompletionRequest, EmbeddingRequest, ModelCard, ModelList, encode

log = logging.getLogger("fastgw")

Handler = Callable[["WorkerState", Any, Any, Exchange], Awaitable[None]]
_JSON = ("content-type", "application/json")


class WorkerState:
    """Everything one worker builds once and uses for every request."""

    def __init__(self, config: Config, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.loop = loop
        self.keys = KeyRing(config.keys, config.teams)
        # keys and teams of the admin API, and the usage log (fastgw.records)
        storage, usage = config.storage.sqlite_path, config.usage
        initialise(storage)
        self.store = KeyStore(storage)
        self.refresher = KeyRefresher(self.store, self.keys, loop)
        self.usage = (
            UsageLog(storage, loop, usage.flush_interval_s, usage.batch_max)
            if usage.enabled
            else None
        )
        self.admin_digest = admin.admin_digest(config)
        self.models: dict[str, ModelConfig] = {m.name: m for m in config.models}
        self.providers: dict[str, Provider] = {
            name: build_provider(name, cfg, loop) for name, cfg in config.providers.items()
        }
        self.metrics = Metrics()
        self.router = Router(config, self.providers, metrics=self.metrics)
        self.groups = self.router.groups
        self.health_checks = routing_health.start(self.router, config, loop)
        self.prices = PriceTable(config.prices)
        self.limiter = build_limiter(config, self.prices, self.metrics)  # None: no limits
        caching = any(m.cache is not None and m.cache.enabled for m in config.models)
        self.cache = ResponseCache(config.cache) if caching else None
        self.access = AccessLog(loop) if config.server.access_log else None
        self.drain = Drain(loop, config.server.drain_timeout_s, config.server.drain_grace_s)
        self.bodies = BodyDeadlines(loop, config.server.body_timeout_s)
        self.disconnects = Disconnects(loop)
        self.created = int(time.time())
        self.redactor = build_redactor(config)  # None: no secret configured, nothing scanned
        self._request_ids = _request_ids()
        start_worker_metrics(self, lambda: self)  # last: samples what is built above

    def next_request_id(self) -> str:
        return next(self._request_ids)

    def finish(self, ex: Exchange) -> None:
        if ex.pending_key is not None and self.limiter is not None:  # first: nothing skips it
            self.limiter.pending.leave(ex.pending_key)
        elapsed = time.perf_counter() - ex.start
        # only configured names become metric labels: a client cannot mint new series
        model = ex.model if ex.model in self.models else ""
        if ex.prompt_tokens is not None:
            ex.cost_usd = (
                0.0
                if ex.cache == "hit"
                else self.prices.cost(
                    ex.deployment, ex.prompt_tokens, ex.completion_tokens or 0, ex.cached_tokens
                )
            )
        if ex.ticket is not None and self.limiter is not None:
            self.limiter.settle(ex.ticket, ex)
        self.metrics.observe_request(ex, model, elapsed)
        if self.usage is not None:
            self.usage.record(ex, elapsed)
        if self.access is not None:
            ttft = ex.ttft
            self.access.write(
                AccessLine(  # positional (the field order of AccessLine): cheaper per request
                    time.time(),
                    ex.request_id,
                    ex.method,
                    ex.path,
                    ex.status,
                    int(elapsed * 1e6 + 0.5) / 1000,  # to the µs: round(x, 3) costs ~3x
                    ex.key_id,
                    ex.model,
                    ex.deployment,
                    ex.provider,
                    ex.stream,
                    None if ttft is None else int(ttft * 1e6 + 0.5) / 1000,
                    ex.prompt_tokens,
                    ex.completion_tokens,
                    ex.cache,
                    ex.error,
                    ex.team_id,
                    ex.cost_usd,
                    ex.attempts,
                )
            )

    @property
    def ready(self) -> bool:
        return not self.drain.draining

    async def close(self) -> None:
        self.drain.draining = True
        self.bodies.close()
        for task in self.health_checks:
            task.cancel()
        for provider in self.providers.values():
            await provider.close()
        if self.usage is not None:
            await self.usage.close()
        self.refresher.close()
        self.store.close()
        if self.limiter is not None:
            await self.limiter.close()
        if self.access is not None:
            self.access.flush()
        self.metrics.close()


#: The longest ``x-request-id`` a client may choose; a longer one (or one with a byte outside
#: visible ASCII) is replaced by the gateway's own id. It is echoed, logged, stored in the
#: usage table and forwarded upstream, so it is bounded like any other client string.
MAX_REQUEST_ID_CHARS = 128


def client_request_id(value: str | None) -> str | None:
    """The client's ``x-request-id`` if it is 1 to ``MAX_REQUEST_ID_CHARS`` visible ASCII
    characters (``!`` to ``~``), else None. Runs on every request that sends one: C string
    methods only (~0.2 µs), no regex."""
    if (
        value
        and len(value) <= MAX_REQUEST_ID_CHARS
        and value.isascii()
        and value.isprintable()
        and " " not in value
    ):
        return value
    return None


def _request_ids() -> Iterator[str]:
    prefix = os.urandom(6).hex()
    counter = 0
    while True:
        counter += 1
        yield f"req_{prefix}{counter:010x}"


# -- handlers -----------------------------------------------------------------------------------


def _visible_models(state: WorkerState, scope: Any, ex: Exchange) -> list[str]:
    headers = scope.headers
    key = state.keys.authenticate(headers.get("authorization"), headers.get("api-key"))
    ex.key_id = key.id
    return [name for name in state.models if key.allows(name)]


async def _models(state: WorkerState, scope: Any, proto: Any, ex: Exchange) -> None:
    cards = [ModelCard(n, state.created, "fastgw") for n in _visible_models(state, scope, ex)]
    _respond(proto, ex, 200, encode(ModelList(cards)))


async def _model(state: WorkerState, scope: Any, proto: Any, ex: Exchange) -> None:
    name = scope.path.split("/models/", 1)[1]
    ex.model = loggable(name)
    if name not in _visible_models(state, scope, ex):
        raise NotFound(
            f"The model '{name}' does not exist or you do not have access to it.",
            code="model_not_found",
            param="model",
        )
    _respond(proto, ex, 200, encode(ModelCard(name, state.created, "fastgw")))


async def _health(state: WorkerState, scope: Any, proto: Any, ex: Exchange) -> None:
    _respond(proto, ex, 200, b'{"status":"ok"}')


async def _ready(state: WorkerState, scope: Any, proto: Any, ex: Exchange) -> None:
    if state.ready:
        _respond(proto, ex, 200, b'{"status":"ready"}')
    else:
        _respond(proto, ex, 503, b'{"status":"draining"}')


async def _metrics(state: WorkerState, scope: Any, proto: Any, ex: Exchange) -> None:
    ex.status, ex.responded = 200, True
    headers = [("content-type", CONTENT_TYPE), ("x-request-id", ex.request_id)]
    proto.response_bytes(200, headers, await state.metrics.scrape())  # every worker's sum


def _respond(proto: Any, ex: Exchange, status: int, body: bytes) -> None:
    ex.status, ex.responded = status, True
    proto.response_bytes(status, [_JSON, ("x-request-id", ex.request_id)], body)


ROUTES: dict[str, tuple[str, Handler]] = {}
for _prefix in ("/v1", ""):
    # partials, not wrapper coroutines: one coroutine less per proxied request
    ROUTES[f"{_prefix}/chat/completions"] = (
        "POST",
        partial(proxy, endpoint="/chat/completions", cls=ChatRequest),
    )
    ROUTES[f"{_prefix}/completions"] = (
        "POST",
        partial(proxy, endpoint="/completions", cls=CompletionRequest),
    )
    ROUTES[f"{_prefix}/embeddings"] = (
        "POST",
        partial(proxy, endpoint="/embeddings", cls=EmbeddingRequest),
    )
    ROUTES[f"{_prefix}/models"] = ("GET", _models)
ROUTES["/health"] = ("GET", _health)
ROUTES["/ready"] = ("GET", _ready)
ROUTES["/metrics"] = ("GET", _metrics)
ROUTES["/admin/deployments"] = ("GET", routing_admin.deployments_handler)


ANY_METHOD = "*"  # the handler checks the method itself (the admin API)


def _route(path: str) -> tuple[str, Handler] | None:
    route = ROUTES.get(path)
    if route is None and (path.startswith("/v1/models/") or path.startswith("/models/")):
        return ("GET", _model)
    if route is None and path.startswith("/admin/"):
        return (ANY_METHOD, admin.handle)
    return route


# -- the RSGI application ---------------------------------------------------------------------


class Gateway:
    """The RSGI application. ``Gateway(config)`` for tests and embedding;
    ``create_app()`` for ``fastgw serve`` (reads the path the CLI put in the environment).
    ``own_process``: the app is its worker process's only tenant, so it chains the drain in
    front of the server's SIGTERM/SIGINT handlers and tunes the process's garbage collector
    (``tune_gc``): right for a worker of ``fastgw serve``, wrong for an app driven in-process
    by tests."""

    def __init__(self, config: Config, *, own_process: bool = False) -> None:
        self.config = config
        self.own_process = own_process
        self.state: WorkerState | None = None

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        logging.basicConfig(level=self.config.server.log_level.upper(), format="%(message)s")
        self.state = WorkerState(self.config, loop)
        if self.own_process:
            self.state.drain.install()
            tune_gc()
        log.info("fastgw worker %d ready (core: %s)", os.getpid(), _core.IMPLEMENTATION)

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.state is not None:
            loop.run_until_complete(self.state.close())

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        state = self.state
        assert state is not None, "__rsgi_init__ was not called"
        request_id = client_request_id(scope.headers.get("x-request-id"))
        if request_id is None:
            request_id = state.next_request_id()
        task = asyncio.current_task(state.loop)  # with the loop: no getpid() on 3.11
        assert task is not None
        path, method = scope.path, scope.method  # bounded for the log: no key needed to send
        if len(path) > MAX_LOGGED_CHARS or len(method) > MAX_LOGGED_CHARS:
            path, method = loggable(path), loggable(method)
        ex = Exchange(request_id, method, path, task)
        in_flight = state.drain.in_flight
        in_flight[task] = ex
        try:
            route = _route(scope.path)
            if route is None:
                raise NotFound(f"Invalid URL ({scope.method} {scope.path})", code=None)
            method, handler = route
            if scope.method != method and method != ANY_METHOD:
                raise MethodNotAllowed(
                    f"Method {scope.method} is not allowed for {scope.path}; use {method}.",
                    headers=[("allow", method)],
                )
            await handler(state, scope, proto, ex)
        except GatewayError as exc:
            if _large_body(scope.headers):  # maybe left unread: the server will close
                exc.headers = [*exc.headers, ("connection", "close")]
            _error(proto, ex, exc)
        except (asyncio.CancelledError, RSGIProtocolClosed):
            if ex.error == SHUTTING_DOWN:  # cut at the drain timeout
                _error(
                    proto,
                    ex,
                    ServiceUnavailable(
                        "The gateway is shutting down; retry the request.", code=SHUTTING_DOWN
                    ),
                )
            else:
                # the client went away: its disconnect watcher cancelled us, or a send found
                # the connection already closed (whichever Granian noticed first)
                ex.status, ex.error = 499, "client_disconnected"
        except Exception:
            log.exception("unhandled error in request %s", request_id)
            _error(proto, ex, GatewayError("The gateway failed to answer this request."))
        finally:
            del in_flight[task]
            state.finish(ex)


#: Granian drains a request body the app left unread up to about 64 KiB and past that closes
#: the connection after the answer without saying so, so a keep-alive client sends its next
#: request into a closing connection. An error answer to a request whose body may be that
#: large says ``connection: close`` (whether or not the handler had read it: errors only).
LARGE_BODY_BYTES = 32 * 1024


def _large_body(headers: Any) -> bool:
    declared = headers.get("content-length")
    if declared is None:
        return headers.get("transfer-encoding") is not None
    return not declared.isdigit() or int(declared) > LARGE_BODY_BYTES


def _error(proto: Any, ex: Exchange, exc: GatewayError) -> None:
    ex.error = exc.code or exc.type
    if ex.responded:
        return
    ex.status, ex.responded = exc.status, True
    headers = [_JSON, ("x-request-id", ex.request_id), *exc.headers]
    if ex.ticket is not None:  # admitted, then failed: still say where the limits stand
        headers.extend(ex.ticket.headers)
    proto.response_bytes(exc.status, headers, exc.body())


def create_app() -> Gateway:
    """Granian factory target: the config path comes from ``fastgw serve``."""
    from .config import config_path_from_env

    return Gateway(load_config(config_path_from_env()), own_process=True)


#: Allocations of tracked objects between two young-generation collections (CPython: 700).
GC_YOUNG_THRESHOLD = 10_000


def tune_gc() -> None:
    """Collect less often, and never walk what the worker built at start.

    Under load every in-flight request holds dozens of container objects (its exchange, the
    decoded request, header lists, the limiter's ticket). With CPython's default threshold
    a young collection runs every 700 allocations, walks them all and promotes the survivors,
    which older collections then walk again; measured with wrk c32 on one worker (interleaved
    rounds, benchmarks A/B): +2-3 % throughput with keys and metrics, +3-5 % with limits and
    the usage log (whose per-request objects it spares more). Raising the threshold past
    ~7,000 changed nothing further. ``gc.freeze`` moves everything alive now (modules, config,
    the worker's state) to the permanent generation, so no collection walks it again; cycles
    made later are still collected."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)
