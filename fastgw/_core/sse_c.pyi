class SSEFramer:
    payloads: list[bytes] | None
    def __init__(self, collect: bool = False) -> None: ...
    events: int
    done: bool
    finish_reason: str | None
    usage_payload: bytes | None
    error_payload: bytes | None
    @property
    def pending(self) -> bool: ...
    def feed(self, chunk: bytes) -> int: ...
