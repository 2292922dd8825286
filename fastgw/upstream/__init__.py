"""Upstream transport: keep-alive HTTP/1.1 connection pools, one per upstream origin.

The interface the rest of fastgw uses is small: ``Pool.request(...)`` returns an
``UpstreamResponse`` whose body is read whole (``read``) or chunk by chunk as received
(``next_chunk``), and which is ``close``d when done (returned to the pool if the exchange
completed, aborted otherwise, which is how a client disconnect cancels the upstream request).
"""

from .._core import UpstreamResponse
from .client import Pool

__all__ = ["Pool", "UpstreamResponse"]
