class SSEFramer:
    payloads: list[bytes] | None
    def __init__(self, collect: bool = False, strip_usage: bool = False) -> None: ...
    strip_usage: bool
    stripped: int
    text_bytes: int
    text_events: int
    events: int
    done: bool
    finish_reason: str | None
    usage_payload: bytes | None
    error_payload: bytes | None
    @property
    def pending(self) -> bool: ...
    def feed(self, chunk: bytes) -> int: ...
    def relay(self, chunk: bytes) -> bytes: ...
    def held(self) -> bytes: ...
