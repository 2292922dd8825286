"""``POST /admin/cache/purge``: remove cached answers by namespace and/or model, everywhere.

Body: ``{"namespace": "team-a"}``, ``{"model": "gpt-4o"}``, both, or ``{"all": true}`` (an
empty body is refused: a purge of everything is said so). The purge is applied to this
worker's caches at once; with the shared cache (Redis) it deletes the entries from Redis and
travels on the cache feed to every worker and instance (``fastgw.cache.shared``), in order
with the stores announced before it; with the disk copy (local backend) it deletes the rows
there too. Without Redis, other workers of this server keep their own in-memory entries
until they expire (each worker's cache is its own).

Answer: ``{"purged": <entries removed from this worker>, "redis_keys": <deleted> | null,
"disk_rows": <deleted> | null}``. Redis unreachable: 503 ``state_unavailable`` (this worker
is purged; the others are not).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from ..errors import InvalidRequest, StateUnavailable
from ..exchange import Exchange
from .bodies import decode
from .respond import body, send

if TYPE_CHECKING:
    from .context import AdminContext


class PurgeRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    namespace: str | None = None
    model: str | None = None
    all: bool = False


async def purge(state: AdminContext, scope: Any, proto: Any, ex: Exchange) -> None:
    request = decode(await body(state, scope, proto) or b"{}", PurgeRequest)
    named = request.namespace is not None or request.model is not None
    if named == request.all:
        raise InvalidRequest(
            "Name what to purge: 'namespace', 'model' or both, or send {\"all\": true} to "
            "purge every cached answer.",
            param="all" if request.all else "namespace",
        )
    for param in ("namespace", "model"):
        value = getattr(request, param)
        if value is not None and not 1 <= len(value) <= 256:
            raise InvalidRequest(f"'{param}' must be 1 to 256 characters.", param=param)
    try:
        result = await state.purge_cache(request.namespace, request.model)
    except (OSError, TimeoutError) as exc:  # ConnectionError, or no answer in time; its text
        # may name the Redis URL, so only its type is said
        raise StateUnavailable(
            "This worker's cache was purged, but Redis could not be reached "
            f"({type(exc).__name__}); other workers and instances were not. Retry the purge."
        ) from None
    send(proto, ex, 200, result)
