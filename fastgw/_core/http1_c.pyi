from .http1 import (
    HIGH_WATER as HIGH_WATER,
)
from .http1 import (
    LOW_WATER as LOW_WATER,
)
from .http1 import (
    Connection as Connection,
)
from .http1 import (
    Expired as Expired,
)
from .http1 import (
    UpstreamResponse as UpstreamResponse,
)
from .http1 import (
    expire as expire,
)
from .http1 import (
    request_head as request_head,
)
