"""The RSGI application: the route table, the gateway's own endpoints, reload, and the error
edge.

Granian calls ``__rsgi_init__(loop)`` in each worker before serving (there the process's
``Runtime`` and the config's ``Pipelines`` are built), ``__rsgi__(scope, proto)`` per request,
and ``__rsgi_del__(loop)`` once every connection has finished (``fastgw.drain`` bounds that by
the drain timeout); there pools are closed and the access log flushed. A request runs on the
pipelines current when it started and is accounted by them (``Pipelines.account``); a reload
swaps the reference (``Gateway.swap``). Every response starts at ``fastgw.respond``.

Every ``GatewayError`` becomes its OpenAI error body here; anything else is logged and
answered with a 500, the only ``except Exception`` in fastgw.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from granian._granian import RSGIProtocolClosed  # granian.rsgi.ProtocolClosed

from . import _core, admin, inbound, reload, unserved
from .admin.context import AdminContext
from .config import Config, ConfigError, PassthroughConfig, load_config, upstream_path
from .drain import SHUTTING_DOWN
from .errors import GatewayError, NotFound, ServiceUnavailable
from .exchange import MAX_LOGGED_CHARS, Exchange, loggable
from .metrics import CONTENT_TYPE
from .metrics.worker import start_worker_metrics
from .passthrough import Passthrough
from .pipeline import Pipelines
from .providers.openai import OpenAIProvider
from .respond import client_gone, send_bytes, send_error, send_json
from .runtime import Runtime
from .unserved import not_served, printable, wrong_method
from .wire import ModelCard, ModelList, encode

log = logging.getLogger("fastgw")

Handler = Callable[[Any, Any, Exchange], Awaitable[None]]


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


# -- handlers of the gateway's own endpoints ----------------------------------------------------


def _visible_models(pipes: Pipelines, scope: Any, ex: Exchange) -> list[str]:
    headers = scope.headers
    key = pipes.keys.authenticate(headers.get("authorization"), headers.get("api-key"))
    ex.key_id = key.id
    return [name for name in pipes.models if key.allows(name)]


async def _models(pipes: Pipelines, scope: Any, proto: Any, ex: Exchange) -> None:
    created = pipes.runtime.created
    cards = [ModelCard(n, created, "fastgw") for n in _visible_models(pipes, scope, ex)]
    send_json(proto, ex, 200, encode(ModelList(cards)))


async def _model(pipes: Pipelines, scope: Any, proto: Any, ex: Exchange) -> None:
    name = scope.path.split("/models/", 1)[1]
    ex.model = loggable(name)
    if name not in _visible_models(pipes, scope, ex):
        raise NotFound(
            f"The model '{printable(name)}' does not exist or you do not have access to it.",
            code="model_not_found",
            param="model",
        )
    send_json(proto, ex, 200, encode(ModelCard(name, pipes.runtime.created, "fastgw")))


async def _health(pipes: Pipelines, scope: Any, proto: Any, ex: Exchange) -> None:
    send_json(proto, ex, 200, b'{"status":"ok"}')


async def _ready(pipes: Pipelines, scope: Any, proto: Any, ex: Exchange) -> None:
    if not pipes.runtime.drain.draining:
        send_json(proto, ex, 200, b'{"status":"ready"}')
    else:
        send_json(proto, ex, 503, b'{"status":"draining"}')


async def _metrics(pipes: Pipelines, scope: Any, proto: Any, ex: Exchange) -> None:
    body = await pipes.runtime.metrics.scrape()  # every worker's sum
    send_bytes(proto, ex, 200, [("content-type", CONTENT_TYPE)], body)


ANY_METHOD = unserved.ANY_METHOD  # the handler checks the method itself (the admin API)


def routes(pipes: Pipelines, admin_context: AdminContext) -> dict[str, tuple[str, Handler]]:
    """Path -> (method, handler) for one config: handlers bound to its pipelines (partials,
    not wrapper coroutines: one coroutine less per request)."""
    table: dict[str, tuple[str, Handler]] = {}
    for prefix in ("/v1", ""):
        for endpoint, pipeline in pipes.endpoints.items():
            table[prefix + endpoint] = ("POST", pipeline)
        table[f"{prefix}/models"] = ("GET", partial(_models, pipes))
    table["/health"] = ("GET", partial(_health, pipes))
    table["/ready"] = ("GET", partial(_ready, pipes))
    table["/metrics"] = ("GET", partial(_metrics, pipes))
    model = ("GET", partial(_model, pipes))
    table["/v1/models/"] = model  # a prefix: ``_handler_for`` (listed in 404s as /v1/models/{id})
    table["/models/"] = model
    table["/admin/"] = (ANY_METHOD, partial(admin.handle, admin_context))
    prefixes: list[tuple[str, tuple[str, Handler]]] = []
    for module in inbound.MODULES:  # the Anthropic Messages and Responses APIs
        for path, method, handler in module.routes(pipes):
            for prefix in ("/v1", ""):
                table[prefix + path] = (method, handler)
                if path.endswith("/"):
                    prefixes.append((prefix + path, (method, handler)))
    pipes.prefix_routes = tuple(prefixes)
    for entry in pipes.config.passthrough:  # none unless configured; never over a served path
        table.setdefault(entry.path, (entry.method, _passthrough(pipes, entry)))
    return table


def _passthrough(pipes: Pipelines, entry: PassthroughConfig) -> Passthrough:
    provider = pipes.providers[entry.provider]
    assert isinstance(provider, OpenAIProvider)  # the config's check
    runtime, limiter = pipes.runtime, pipes.limiter
    return Passthrough(
        entry.path,
        upstream_path(entry),
        provider,
        pipes.keys,
        None if entry.keys is None else frozenset(entry.keys),
        None if limiter is None else limiter.pending,
        runtime.bodies,
        pipes.config.server.max_body_bytes,
        pipes.redactor,
        runtime.disconnects,
    )


def _handler_for(pipes: Pipelines, path: str) -> tuple[str, Handler] | None:
    """The (method, handler) of a path that is not in the table as it is: a prefix
    (``/admin/``, a model's card, an inbound API's ``/responses/{id}``), else None."""
    table = pipes.routes
    if path.startswith("/v1/models/") or path.startswith("/models/"):
        return table["/models/"]
    if path.startswith("/admin/"):
        return table["/admin/"]
    for prefix, route in pipes.prefix_routes:
        if path.startswith(prefix):
            return route
    return None


# -- the RSGI application ---------------------------------------------------------------------


class Gateway:
    """The RSGI application. ``Gateway(config)`` for tests and embedding;
    ``create_app()`` for ``fastgw serve`` (reads the path the CLI put in the environment).
    ``own_process``: the app is its worker process's only tenant, so it chains the drain in
    front of the server's SIGTERM/SIGINT handlers, reloads on the server's signal
    (``fastgw.reload``) and tunes the process's garbage collector (``tune_gc``): right for a
    worker of ``fastgw serve``, wrong for an app driven in-process by tests. ``config_path``:
    the file a reload reads (None: ``reload_file`` is refused; tests call ``swap``).

    ``runtime`` lives as long as the worker; ``pipelines`` is the newest config's, swapped by
    a reload (one reference); each request keeps the pipelines it started on."""

    def __init__(
        self, config: Config, *, own_process: bool = False, config_path: str | None = None
    ) -> None:
        self.config = config
        self.own_process = own_process
        self.config_path = config_path
        self.runtime: Runtime | None = None
        self.pipelines: Pipelines | None = None
        self.admin_digest = admin.admin_digest(config)

    def _build(self, config: Config) -> Pipelines:
        runtime = self.runtime
        assert runtime is not None
        pipes = Pipelines(config, runtime)
        context = AdminContext(
            admin_digest=self.admin_digest,
            config=config,
            disconnects=runtime.disconnects,
            drain=runtime.drain,
            keys=pipes.keys,
            loop=runtime.loop,
            models=pipes.models,
            providers=pipes.providers,
            purge_cache=runtime.purge_cache,
            refresher=pipes.refresher,
            reload=self.request_reload,
            router=pipes.router,
            semantic=pipes.semantic,
            store=runtime.store,
            usage=runtime.usage,
        )
        pipes.routes = routes(pipes, context)
        return pipes

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        logging.basicConfig(level=self.config.server.log_level.upper(), format="%(message)s")
        self.runtime = Runtime(self.config, loop)
        self.pipelines = self._build(self.config)
        # the metrics sample the runtime and, at each sample, the newest pipelines
        start_worker_metrics(self.runtime, lambda: self._current())
        if self.own_process:
            self.runtime.drain.install()
            reload.install(loop, self.reload_file)
            tune_gc()
        log.info("fastgw worker %d ready (core: %s)", os.getpid(), _core.IMPLEMENTATION)

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.pipelines is not None:
            loop.run_until_complete(self.pipelines.close())
        if self.runtime is not None:
            loop.run_until_complete(self.runtime.close())

    def _current(self) -> Pipelines:
        pipes = self.pipelines
        assert pipes is not None
        return pipes

    # -- reload ----------------------------------------------------------------------------

    def swap(self, config: Config) -> Pipelines:
        """Build ``config``'s pipelines and make them the ones new requests use; the old ones
        serve their requests in flight to the end, then let go of what only they used."""
        runtime, old = self.runtime, self.pipelines
        assert runtime is not None and old is not None
        for section in runtime.changed_for_restart(config):
            log.warning("reload: [%s] changed; it takes effect at the next restart", section)
        new = self._build(config)
        self.pipelines = new
        in_flight = runtime.drain.in_flight
        old.retire(lambda: any(ex.pipes is old for ex in in_flight.values()))
        log.info("fastgw worker %d reloaded its config (%d models)", os.getpid(), len(new.models))
        return new

    def reload_file(self) -> bool:
        """Read the config file again and swap it in if it is valid (the server's reload
        signal); an invalid one is logged and refused, the running config keeps serving."""
        if self.config_path is None:
            log.error("reload refused: this gateway was not started from a config file")
            return False
        try:
            config = load_config(self.config_path)
        except ConfigError as exc:
            log.error("reload refused, the running config keeps serving: %s", exc)
            return False
        self.swap(config)
        return True

    def request_reload(self) -> str | None:
        """``POST /admin/reload``: validate the file, then reload every worker (through the
        server's parent process when this is a worker of ``fastgw serve``). Returns the
        errors of an invalid file (nothing is reloaded), else None."""
        if self.config_path is None:
            return "This gateway was not started from a config file."
        try:
            load_config(self.config_path)
        except ConfigError as exc:
            log.error("reload refused, the running config keeps serving: %s", exc)
            return str(exc)
        if self.own_process:
            reload.signal_server()
        else:
            self.reload_file()
        return None

    # -- requests --------------------------------------------------------------------------

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        pipes = self.pipelines
        assert pipes is not None, "__rsgi_init__ was not called"
        runtime = pipes.runtime
        request_id = scope.headers.get("x-request-id")  # the client's, if it is usable
        if request_id is None or client_request_id(request_id) is None:
            request_id = runtime.next_request_id()
        task = asyncio.current_task(runtime.loop)  # with the loop: no getpid() on 3.11
        assert task is not None
        path, method = scope.path, scope.method  # bounded for the log: no key needed to send
        if len(path) > MAX_LOGGED_CHARS or len(method) > MAX_LOGGED_CHARS:
            path, method = loggable(path), loggable(method)
        ex = Exchange(request_id, method, path, task)
        ex.pipes = pipes
        in_flight = runtime.drain.in_flight
        in_flight[task] = ex
        try:
            route = pipes.routes.get(scope.path) or _handler_for(pipes, scope.path)
            if route is None:  # before any key: the list it names is the public API
                raise not_served(scope.method, scope.path, pipes.routes)
            method, handler = route
            if scope.method != method and method != ANY_METHOD:
                raise wrong_method(scope.method, scope.path, method)
            await handler(scope, proto, ex)
        except GatewayError as exc:
            if _large_body(scope.headers):  # maybe left unread: the server will close
                exc.headers = [*exc.headers, ("connection", "close")]
            send_error(proto, ex, exc)
        except (asyncio.CancelledError, RSGIProtocolClosed):
            if ex.error == SHUTTING_DOWN:  # cut at the drain timeout
                send_error(
                    proto,
                    ex,
                    ServiceUnavailable(
                        "The gateway is shutting down; retry the request.", code=SHUTTING_DOWN
                    ),
                )
            else:
                # the client went away: its disconnect watcher cancelled us, or a send found
                # the connection already closed (whichever Granian noticed first)
                client_gone(ex)
        except Exception:
            log.exception("unhandled error in request %s", request_id)
            send_error(proto, ex, GatewayError("The gateway failed to answer this request."))
        finally:
            del in_flight[task]
            pipes.account(ex)


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


def create_app() -> Gateway:
    """Granian factory target: the config path comes from ``fastgw serve``."""
    from .config import config_path_from_env

    path = config_path_from_env()
    return Gateway(load_config(path), own_process=True, config_path=path)


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
