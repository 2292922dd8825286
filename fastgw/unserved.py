"""The answer for a request the gateway does not serve: an unknown path (404) or a served path
asked with the wrong method (405), in OpenAI's error shape, naming what it does serve.

A new user who calls ``client.images.generate(...)`` or ``client.files.list()`` through fastgw
learns from the message that the gateway does not serve that endpoint and which ones it does,
so the SDK's ``NotFoundError`` says what to change.

Rules this module keeps:
- No I/O: strings and the route table in, a ``GatewayError`` out (``fastgw.app`` raises it).
- A client string echoed in a message is cut to its bound *before* anything else looks at it
  (a path may be megabytes long), and every character that is not printable (controls, format
  characters such as bidi overrides, lone surrogates from undecodable bytes, separators other
  than the space) becomes ``?``: a terminal or log viewer showing the message cannot be
  driven by it, and the JSON encoder never sees a surrogate.
- The list of served endpoints is read from the route table the request was matched against
  (its ``/v1/`` entries: the client API, not ``/health``, ``/metrics`` or ``/admin/``), so it
  names exactly what a reload made servable, passthrough paths included.
- Runs only after the route table missed (or the method did not match): a served request
  never reaches this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import MethodNotAllowed, NotFound

#: The longest part of a client's path echoed in an error message; longer ones end in "...".
MAX_ECHO_CHARS = 200
#: The longest method echoed (HTTP's are at most 7 characters; a server may accept others).
MAX_METHOD_CHARS = 16
#: The ``code`` of the 404 for a path the gateway does not serve.
UNKNOWN_URL = "unknown_url"
#: The route table's prefix of the client API.
API_PREFIX = "/v1/"
#: How a prefix route (a path ending in ``/``, such as ``/v1/models/``) is listed.
ID_PLACEHOLDER = "{id}"
#: The method of a route whose handler checks the method itself (``fastgw.app.ANY_METHOD``).
ANY_METHOD = "*"


def printable(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """``text`` as it may be echoed: at most ``limit`` characters (then "..."), every
    non-printable character replaced by ``?``."""
    cut = text[:limit]
    if not cut.isprintable():
        cut = "".join(c if c.isprintable() else "?" for c in cut)
    return cut if len(text) <= limit else cut + "..."


def served_endpoints(table: Mapping[str, tuple[str, Any]]) -> list[str]:
    """``"METHOD /v1/path"`` for each client API route of ``table``, in table order; a prefix
    route is listed with ``{id}`` after its slash, a route whose handler checks the method
    itself (method ``*``) as its path alone."""
    served = []
    for path, (method, _) in table.items():
        if path.startswith(API_PREFIX):
            shown = path + ID_PLACEHOLDER if path.endswith("/") else path
            served.append(shown if method == ANY_METHOD else f"{method} {shown}")
    return served


def not_served(method: str, path: str, table: Mapping[str, tuple[str, Any]]) -> NotFound:
    """The 404 for ``method path``, which matched no route of ``table``. The message keeps
    OpenAI's own start ("Invalid URL (METHOD path)") and adds what the gateway serves."""
    served = ", ".join(served_endpoints(table))
    return NotFound(
        f"Invalid URL ({printable(method, MAX_METHOD_CHARS)} {printable(path)}): "
        f"this gateway does not serve that endpoint. It serves: {served}.",
        code=UNKNOWN_URL,
    )


def wrong_method(method: str, path: str, allowed: str) -> MethodNotAllowed:
    """The 405 for ``method`` on a served ``path`` whose route takes ``allowed`` only."""
    return MethodNotAllowed(
        f"Method {printable(method, MAX_METHOD_CHARS)} is not allowed for {printable(path)}; "
        f"use {allowed}.",
        headers=[("allow", allowed)],
    )
