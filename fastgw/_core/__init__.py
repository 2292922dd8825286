"""Selector for the compiled core.

Every module here exists twice: ``<name>.py`` (pure Python) and ``<name>_c`` (the same source
compiled by Cython). The compiled one is used unless ``FASTGW_NO_EXTENSIONS`` is set to a
non-empty value other than ``0`` or the build is missing. The choice is made once, at import;
``IMPLEMENTATION`` says which one is active and the server logs it at start.
"""

from __future__ import annotations

import os

_no_ext = os.environ.get("FASTGW_NO_EXTENSIONS", "") not in ("", "0")

try:  # all compiled or none: IMPLEMENTATION describes the whole core
    if _no_ext:
        raise ImportError("FASTGW_NO_EXTENSIONS is set")
    from .admission_c import (
        Gate,
        Spend,
        Ticket,
        chat_allowance,
        estimate_messages,
        format_reset,
        settle_ticket,
    )
    from .buckets_c import ParallelCounter, TokenBucketTable
    from .exact_cache_c import ExactCache
    from .http1_c import Connection, UpstreamResponse
    from .jsonshape_c import check_shape
    from .needles_c import contains_any
    from .sse_c import SSEFramer, is_json, text_length

    IMPLEMENTATION = "cython"
except ImportError:  # asked for, or the build is missing (the startup log says which)
    from .admission import (
        Gate,
        Spend,
        Ticket,
        chat_allowance,
        estimate_messages,
        format_reset,
        settle_ticket,
    )
    from .buckets import ParallelCounter, TokenBucketTable
    from .exact_cache import ExactCache
    from .http1 import Connection, UpstreamResponse
    from .jsonshape import check_shape
    from .needles import contains_any
    from .sse import SSEFramer, is_json, text_length  # type: ignore[assignment]

    IMPLEMENTATION = "python" if _no_ext else "python (compiled build missing)"

__all__ = [
    "IMPLEMENTATION",
    "Connection",
    "ExactCache",
    "Gate",
    "ParallelCounter",
    "SSEFramer",
    "Spend",
    "Ticket",
    "TokenBucketTable",
    "UpstreamResponse",
    "chat_allowance",
    "check_shape",
    "contains_any",
    "estimate_messages",
    "format_reset",
    "is_json",
    "settle_ticket",
    "text_length",
]
