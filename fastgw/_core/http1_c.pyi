from .http1 import (
    HIGH_WATER as HIGH_WATER,
    LOW_WATER as LOW_WATER,
    Connection as Connection,
    Expired as Expired,
    UpstreamResponse as UpstreamResponse,
    expire as expire,
    request_head as request_head,
)
