# Types of the compiled twin of fastgw._core.jsonshape (the same API).
from .jsonshape import (
    DUPLICATE_KEY as DUPLICATE_KEY,
)
from .jsonshape import (
    ESCAPED_KEY as ESCAPED_KEY,
)
from .jsonshape import (
    MAX_TOP_LEVEL_KEYS as MAX_TOP_LEVEL_KEYS,
)
from .jsonshape import (
    OK as OK,
)
from .jsonshape import (
    TOO_DEEP as TOO_DEEP,
)
from .jsonshape import (
    TOO_MANY_KEYS as TOO_MANY_KEYS,
)
from .jsonshape import (
    top_level_keys as top_level_keys,
)

def check_shape(body: bytes, max_depth: int) -> int: ...
