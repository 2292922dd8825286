"""The exchange: the per-request record. What the gateway learns about one request while
answering it (the access-log line's fields, the timings for metrics, whether the response has
started), and what the pipeline's stages hand each other (the key, the decoded request, the
model, the cache lookup). One object per request, created by the application and read last
by the account stage; "exchange" means this record and nothing else in fastgw."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .wire import Usage

if TYPE_CHECKING:
    from .cache.exact import CacheLookup
    from .config import ModelConfig
    from .keys import KeyRecord, TeamRecord
    from .wire import ChatRequest, CompletionRequest, EmbeddingRequest

#: The longest client text (a path, a model name) kept for the access log and the usage
#: table; longer text is cut there with "..." (the client's request is not changed).
MAX_LOGGED_CHARS = 256


def loggable(text: str) -> str:
    """``text`` as logged and stored: at most ``MAX_LOGGED_CHARS`` characters and "..."."""
    return text if len(text) <= MAX_LOGGED_CHARS else text[:MAX_LOGGED_CHARS] + "..."


#: Cache outcomes of an answer that used no upstream tokens: free, counted as a request.
FREE_OUTCOMES = frozenset({"hit", "semantic-hit", "coalesced"})


class Exchange:
    # set by the stage that learns each (never read before): see ``__init__``'s last lines
    key: KeyRecord
    team: TeamRecord | None
    body: bytes
    request: ChatRequest | CompletionRequest | EmbeddingRequest
    model_config: ModelConfig
    lookup: CacheLookup | None
    semantic: Any  # fastgw.semantic.partition.Eligible: what the semantic store files it under
    extra_headers: list[tuple[str, str]]

    __slots__ = (
        "attempts",
        "body",
        "cache",
        "cached_tokens",
        "completion_tokens",
        "cost_usd",
        "deployment",
        "error",
        "extra_headers",
        "inbound",
        "key",
        "key_id",
        "lookup",
        "method",
        "model",
        "model_config",
        "native",
        "path",
        "pending_key",
        "pipes",
        "prompt_tokens",
        "provider",
        "request",
        "request_id",
        "responded",
        "semantic",
        "served_model",
        "start",
        "status",
        "stream",
        "task",
        "team",
        "team_id",
        "ticket",
        "ttft",
        "upstream_s",
    )

    def __init__(self, request_id: str, method: str, path: str, task: Any) -> None:
        self.task = task  # the asyncio task answering the request (cancelled on disconnect)
        self.request_id = request_id
        self.method = method
        self.path = path
        self.start = time.perf_counter()
        self.status = 0
        self.responded = False
        self.key_id: str | None = None
        self.team_id: str | None = None
        self.model: str | None = None
        self.deployment: str | None = None
        self.provider: str | None = None
        self.stream = False
        self.ttft: float | None = None
        self.upstream_s: float | None = None
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.error: str | None = None
        self.cache: str | None = None
        self.cost_usd: float | None = None  # what the answer cost, from its usage and price
        # routing: each upstream attempt as "model/deployment:outcome", comma-separated
        self.attempts: str | None = None
        self.served_model: str | None = None  # the fallback model that answered, if any
        self.cached_tokens = 0  # prompt tokens the upstream served from its prompt cache
        self.ticket: Any = None  # the limiter's admission, settled when the request finishes
        self.pending_key: str | None = None  # counted in the limiter's PendingKeys till account
        # set by the stages that learn them (fastgw.pipeline), read only after: ``key``,
        # ``team``, ``body``, ``request``, ``model_config``, ``lookup`` (the cache's),
        # ``semantic`` (the semantic tier's partition and text, when it may store the answer),
        # ``extra_headers`` (headers the answer will carry, e.g. the cache outcome)
        self.pipes: Any = None  # the pipelines (config generation) this request runs on
        # an inbound API's (protocol, original body) when it is not chat completions: an
        # upstream speaking that protocol may be sent the body as the client wrote it
        self.inbound: tuple[str, bytes] | None = None
        # the answer being relayed is in that inbound API's own protocol, from an upstream
        # that speaks it (set by the route): the edge relays it as is, without translation
        self.native = False

    def set_usage(self, usage: Usage | None) -> None:
        if usage is not None:
            self.prompt_tokens = usage.prompt_tokens
            self.completion_tokens = usage.completion_tokens
            details = usage.prompt_tokens_details
            if details is not None:
                self.cached_tokens = details.cached_tokens
