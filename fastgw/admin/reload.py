"""``POST /admin/reload``: validate the config file and, if it is valid, reload every worker.

An invalid file is refused with 400 in OpenAI's error shape (``invalid_config``), its errors
in the message, and the running config keeps serving. A valid one answers 200
``{"status": "reloading"}``: the server's parent process validates it again and tells every
worker, each of which swaps its pipelines (``fastgw.reload``); requests in flight finish on
the config they started with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequest
from ..exchange import Exchange
from .respond import send

if TYPE_CHECKING:
    from .context import AdminContext


async def reload(state: AdminContext, scope: Any, proto: Any, ex: Exchange) -> None:
    errors = state.reload()
    if errors is not None:
        raise InvalidRequest(
            f"The config file was not reloaded; the running config keeps serving. {errors}",
            code="invalid_config",
        )
    send(proto, ex, 200, {"status": "reloading"})
