"""Server-Sent Events framing for relayed LLM streams.

Rules this module keeps:
- It never changes or re-encodes the bytes it watches: the relay forwards upstream chunks as
  received and feeds the same chunks here.
- Events are split on blank lines across arbitrary chunk boundaries; CRLF and CR line endings
  are folded to LF first (only when a CR is present, so the common case copies nothing). A
  chunk that ends in CR has ended a line; an LF opening the next chunk completes that CRLF and
  is dropped, so a CRLF split across chunks is one line ending, not two.
- Chunks are not decoded into Python objects. A payload is scanned for ``"finish_reason"`` and
  ``"usage"`` with byte searches; only the payload that carries a usage object is kept, raw,
  for the caller to decode once at the end of the stream.
- No I/O, no asyncio: bytes in, state out.

Compiled by Cython as ``fastgw._core.sse_c`` with ``sse.pxd`` beside it.
"""

import cython

_DONE = b"[DONE]"
_FINISH = b'"finish_reason"'
_USAGE = b'"usage"'
_ERROR = b'"error"'
_WS = b" \t\r\n"


class SSEFramer:
    """Watches one SSE stream.

    ``feed(chunk)`` takes the next upstream bytes and returns how many events completed in it.
    After each call the attributes describe what has been seen so far:

    - ``events``: complete events seen;
    - ``done``: a ``data: [DONE]`` event was seen;
    - ``finish_reason``: the last non-null ``finish_reason`` (``str``) or ``None``;
    - ``usage_payload``: the raw ``data`` of the last event with a non-null ``usage`` object;
    - ``error_payload``: the raw ``data`` of an error event (``event: error``, or a payload
      whose top-level object is ``{"error": ...}``), or ``None``;
    - ``payloads``: with ``collect=True``, the ``data`` of every event but ``[DONE]`` and
      errors, in order (for storing a finished stream in the cache); otherwise ``None``;
    - ``pending``: bytes of an incomplete event are buffered.
    """

    def __init__(self, collect: bool = False) -> None:
        self.payloads: list[bytes] | None = [] if collect else None
        self._buf = b""
        self._cr = False
        self.events = 0
        self.done = False
        self.finish_reason: str | None = None
        self.usage_payload: bytes | None = None
        self.error_payload: bytes | None = None

    @property
    def pending(self) -> bool:
        return len(self._buf.strip(_WS)) > 0

    def feed(self, chunk: bytes) -> int:
        data: bytes
        if chunk:
            if self._cr and chunk[0] == 10:  # "\n" completing a CRLF split across chunks
                chunk = chunk[1:]
            self._cr = False
            if b"\r" in chunk:
                self._cr = chunk.endswith(b"\r")
                chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        data = self._buf + chunk if self._buf else chunk
        start: cython.Py_ssize_t = 0
        count: cython.int = 0
        end: cython.Py_ssize_t = data.find(b"\n\n", start)
        while end >= 0:
            if end > start:
                self._inspect(data[start:end])
                count += 1
            start = end + 2
            end = data.find(b"\n\n", start)
        self._buf = data[start:] if start < len(data) else b""
        self.events += count
        return count

    def _inspect(self, event: bytes) -> None:
        name: bytes = b""
        payload: bytes = b""
        for line in event.split(b"\n"):
            if line.startswith(b"data:"):
                value = line[6:] if line[5:6] == b" " else line[5:]
                payload = value if not payload else payload + b"\n" + value
            elif line.startswith(b"event:"):
                name = line[6:].strip()
        if not payload:
            return
        if payload == _DONE:
            self.done = True
            return
        if name == b"error" or _is_error_payload(payload):
            self.error_payload = payload
            return
        if self.payloads is not None:
            self.payloads.append(payload)
        if _FINISH in payload:
            reason = _string_after_key(payload, _FINISH)
            if reason is not None and reason != "null":  # every chunk before the last has null
                self.finish_reason = reason
        if _USAGE in payload and _string_after_key(payload, _USAGE) != "null":
            self.usage_payload = payload


def _is_error_payload(payload: bytes) -> bool:
    """True when the payload's top-level object opens with an ``"error"`` key."""
    i: cython.Py_ssize_t = 0
    n: cython.Py_ssize_t = len(payload)
    while i < n and payload[i] in _WS:
        i += 1
    if i >= n or payload[i] != 123:  # "{"
        return False
    i += 1
    while i < n and payload[i] in _WS:
        i += 1
    return payload.startswith(_ERROR, i)


def _string_after_key(payload: bytes, key: bytes) -> str | None:
    """The value after the last ``key`` in ``payload``: the string if it is a JSON string
    (bytes that are not UTF-8 replaced by U+FFFD, never an error), ``"null"`` for null,
    ``None`` for anything else (an object, a number, or not found)."""
    pos: cython.Py_ssize_t = payload.rfind(key)
    if pos < 0:
        return None
    i: cython.Py_ssize_t = pos + len(key)
    n: cython.Py_ssize_t = len(payload)
    while i < n and (payload[i] in _WS or payload[i] == 58):  # ":"
        i += 1
    if i >= n:
        return None
    if payload[i] == 34:  # '"'
        j: cython.Py_ssize_t = payload.find(b'"', i + 1)
        # upstream bytes: a value that is not UTF-8 must not stop the relay mid-stream
        return payload[i + 1 : j].decode("utf-8", "replace") if j > 0 else None
    if payload.startswith(b"null", i):
        return "null"
    return None
