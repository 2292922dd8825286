"""Server-Sent Events framing for relayed LLM streams.

Rules this module keeps:
- ``feed`` only watches: it never changes or re-encodes the bytes it is given. The relay
  calls ``relay`` (below), which hands a chunk of whole, valid events back as the same bytes
  object, so the common case still goes out as received.
- Events are split on blank lines across arbitrary chunk boundaries; CRLF and CR line endings
  are folded to LF first (only when a CR is present, so the common case copies nothing). A
  chunk that ends in CR has ended a line; an LF opening the next chunk completes that CRLF and
  is dropped, so a CRLF split across chunks is one line ending, not two.
- Chunks are not decoded into Python objects. A payload is scanned for ``"finish_reason"`` and
  ``"usage"`` with byte searches; only the payload that carries a usage object is kept, raw,
  for the caller to decode once at the end of the stream.
- The text the answer carries is measured as it goes by (``text_bytes``, ``text_events``):
  the string values of ``content``, ``text``, ``arguments`` and ``refusal`` keys (also
  ``reasoning_content``), found in one walk from string to string (no decoding), so a stream
  whose upstream reports no usage can still be charged what it produced.
- Every event that carries data is validated before it counts: its ``data`` must be
  ``[DONE]`` or one JSON text (``msgspec``'s parser with values skipped: syntax, escapes,
  surrogate pairs, no NaN or trailing bytes, nesting under msgspec's limit) in UTF-8 (checked
  only when a byte is not ASCII). The first event that is not stops the framer:
  ``invalid_payload`` holds its data, neither it nor anything after it is inspected or
  relayed, and ``feed``/``relay`` take no more. Events without data (comments, keep-alives,
  lone ``event:`` or ``id:`` fields) carry nothing to validate and pass.
- ``relay(chunk)`` returns the bytes that may go to the client now: the complete, valid
  events only (an incomplete one is held until it completes: half an event can be neither
  validated nor dropped), without the usage-only events (``"choices": []`` and a usage
  object) when the framer was built with ``strip_usage``, with line endings folded to LF.
  When nothing is dropped and nothing held it returns the chunk itself: no copy. What is
  still held when the stream ends never reaches the client (``held`` says what it was).
- No I/O, no asyncio: bytes in, state out.

Compiled by Cython as ``fastgw._core.sse_c`` with ``sse.pxd`` beside it.
"""

try:
    import cython
except ImportError:  # Cython builds the core; the pure twin runs without it (see the shim)
    from . import _cython_shim as cython

import msgspec

_DONE = b"[DONE]"
# validates a JSON text without building its values (a full decode costs ~3x as much; the
# measurement is in benchmarks/micro/bench_stream_validate.py)
_skip_json = msgspec.json.Decoder(msgspec.Raw).decode
_DecodeError = msgspec.DecodeError
_FINISH = b'"finish_reason"'
_USAGE = b'"usage"'
_ERROR = b'"error"'
_CHOICES = b'"choices"'
_WS = b" \t\r\n"
# the longest incomplete event held (``fastgw.protocols.sse.MAX_EVENT_BYTES``): an upstream
# cannot make the relay buffer without end; past it the event counts as invalid
_MAX_HELD = cython.declare(cython.Py_ssize_t, 8 * 1024 * 1024)
#: ``invalid_payload`` of an event that grew past ``_MAX_HELD`` without completing
TOO_LARGE = b"<an event larger than 8 MiB>"
# the keys whose string values are the answer's text, matched on their tail: ``content``
# also finds ``reasoning_content``
_CONTENT = b'content"'
_TEXT = b'text"'
_ARGUMENTS = b'arguments"'
_REFUSAL = b'refusal"'
_NAMES = (_CONTENT, _TEXT, _ARGUMENTS, _REFUSAL)
# what _inspect says of an event
_KEEP = cython.declare(cython.int, 0)
_USAGE_ONLY = cython.declare(cython.int, 1)
_INVALID = cython.declare(cython.int, 2)


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
    - ``invalid_payload``: the ``data`` of the first event that is neither ``[DONE]`` nor
      JSON; once set the framer has stopped (see the module rules), else ``None``;
    - ``pending``: bytes of an incomplete event are buffered;
    - ``text_bytes``: bytes of answer text seen (JSON-escaped, as sent), ``text_events``:
      events that carried some;
    - ``stripped``: usage-only events ``relay`` left out (with ``strip_usage``).
    """

    def __init__(self, collect: bool = False, strip_usage: bool = False) -> None:
        self.payloads: list[bytes] | None = [] if collect else None
        self._buf = b""
        self._cr = False
        self.events = 0
        self.done = False
        self.finish_reason: str | None = None
        self.usage_payload: bytes | None = None
        self.error_payload: bytes | None = None
        self.strip_usage = strip_usage
        self.stripped = 0
        self.text_bytes = 0
        self.text_events = 0
        self._cuts: list[int] | None = None  # [start, end) pairs of relay's data to leave out
        self.invalid_payload: bytes | None = None
        self._stop = -1  # where in the data _split was given the invalid event starts

    @property
    def pending(self) -> bool:
        return len(self._buf.strip(_WS)) > 0

    def feed(self, chunk: bytes) -> int:
        if self.invalid_payload is not None:
            return 0
        count: cython.int = self._split(self._join(chunk))
        self._cuts = None  # only relay leaves events out
        return count

    def relay(self, chunk: bytes) -> bytes:
        """Feed ``chunk``; return what may go to the client now: the valid events it
        completed (with what was held before) up to the first invalid one, less the
        usage-only ones under ``strip_usage``. After an invalid event: ``b""``."""
        if self.invalid_payload is not None:
            return b""
        data: bytes = self._join(chunk)
        self._split(data)
        end: cython.Py_ssize_t = len(data) - len(self._buf)
        if self.invalid_payload is not None:
            end = self._stop
        cuts = self._cuts
        if cuts is None:
            return data if end == len(data) else data[:end]
        self._cuts = None
        parts: list[bytes] = []
        at: cython.Py_ssize_t = 0
        i: cython.Py_ssize_t
        for i in range(0, len(cuts), 2):
            if cuts[i] > at:
                parts.append(data[at : cuts[i]])
            at = cuts[i + 1]
        if end > at:
            parts.append(data[at:end])
        return b"".join(parts)

    def held(self) -> bytes:
        """What ``relay`` holds back: the bytes of an incomplete event."""
        return self._buf

    def _join(self, chunk: bytes) -> bytes:
        """``chunk`` with its line endings folded to LF, after what is buffered."""
        if chunk:
            if self._cr and chunk[0] == 10:  # "\n" completing a CRLF split across chunks
                chunk = chunk[1:]
            self._cr = False
            if b"\r" in chunk:
                self._cr = chunk.endswith(b"\r")
                chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        return self._buf + chunk if self._buf else chunk

    def _split(self, data: bytes) -> int:
        """Inspect every complete event of ``data``, buffer the rest; the events seen."""
        start: cython.Py_ssize_t = 0
        count: cython.int = 0
        end: cython.Py_ssize_t = data.find(b"\n\n", start)
        kind: cython.int
        while end >= 0:
            if end > start:
                kind = self._inspect(data[start:end])
                if kind == _INVALID:
                    self._stop = start
                    self._buf = b""  # nothing after the invalid event is an event to read
                    self.events += count
                    return count
                if kind == _USAGE_ONLY and self.strip_usage:
                    self.stripped += 1
                    if self._cuts is None:
                        self._cuts = []
                    self._cuts.append(start)
                    self._cuts.append(end + 2)
                count += 1
            start = end + 2
            end = data.find(b"\n\n", start)
        self._buf = data[start:] if start < len(data) else b""
        self.events += count
        if len(self._buf) > _MAX_HELD:
            self.invalid_payload = TOO_LARGE
            self._stop = start
            self._buf = b""
        return count

    def _inspect(self, event: bytes) -> cython.int:
        """Record what ``event`` says; ``_INVALID`` if its data is not JSON (nothing else is
        recorded then but ``invalid_payload``), ``_USAGE_ONLY`` for a usage-only event,
        else ``_KEEP``."""
        name: bytes = b""
        payload: bytes = b""
        lines: cython.int = 0
        for line in event.split(b"\n"):
            if line.startswith(b"data:"):
                value = line[6:] if line[5:6] == b" " else line[5:]
                payload = value if not lines else payload + b"\n" + value
                lines += 1
            elif line.startswith(b"event:"):
                name = line[6:].strip()
        if not payload:  # no data line, or one empty one: a client dispatches nothing
            return _KEEP
        if payload == _DONE:
            self.done = True
            return _KEEP
        if not _is_json(payload):
            self.invalid_payload = payload
            return _INVALID
        if name == b"error" or _is_error_payload(payload):
            self.error_payload = payload
            return _KEEP
        if self.payloads is not None:
            self.payloads.append(payload)
        if _FINISH in payload:
            reason = _string_after_key(payload, _FINISH)
            if reason is not None and reason != "null":  # every chunk before the last has null
                self.finish_reason = reason
        text: cython.Py_ssize_t = _text_length(payload)
        if text:
            self.text_bytes += text
            self.text_events += 1
        if _USAGE in payload and _string_after_key(payload, _USAGE) != "null":
            self.usage_payload = payload
            return _USAGE_ONLY if _no_choices(payload) else _KEEP
        return _KEEP


def is_json(payload: bytes) -> bool:
    """True when ``payload`` is one JSON text in UTF-8: what the framer asks of every event's
    data but ``[DONE]``. For stream filters and tests."""
    return _is_json(payload)


def _is_json(payload: bytes) -> cython.bint:
    """``is_json``: msgspec's parser skipping the values checks the syntax; it lets bytes
    that are not UTF-8 through inside strings, so those are checked apart, only when there
    are bytes past ASCII (``isascii`` is a word-at-a-time scan, a decode allocates)."""
    try:
        _skip_json(payload)
    except (_DecodeError, RecursionError):  # RecursionError: nested past msgspec's limit
        return False
    if payload.isascii():
        return True
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def text_length(payload: bytes) -> int:
    """The bytes (escapes as sent) of the string values of the text keys in ``payload``: each
    ``content"``, ``text"``, ``arguments"`` or ``refusal"`` followed by a ``:`` and a string
    (``reasoning_content`` too: names are matched on their tail). For tests."""
    return _text_length(payload)


def _text_length(payload: bytes) -> cython.Py_ssize_t:
    """``text_length``: a search per name in pure Python; compiled, one C walk over the
    quotes (four calls to ``bytes.find`` cost more than the scan). The same answer on any
    bytes; a test holds the twins equal."""
    if not cython.compiled:
        return (
            _name_text(payload, _CONTENT)
            + _name_text(payload, _TEXT)
            + _name_text(payload, _ARGUMENTS)
            + _name_text(payload, _REFUSAL)
        )
    data: cython.p_char = payload
    n: cython.Py_ssize_t = len(payload)
    total: cython.Py_ssize_t = 0
    # per name, where its next occurrence may start (as the pure search resumes)
    r_content: cython.Py_ssize_t = 0
    r_text: cython.Py_ssize_t = 0
    r_arguments: cython.Py_ssize_t = 0
    r_refusal: cython.Py_ssize_t = 0
    q: cython.Py_ssize_t
    i: cython.Py_ssize_t
    j: cython.Py_ssize_t
    which: cython.int
    size: cython.Py_ssize_t
    resume: cython.Py_ssize_t
    for q in range(1, n):
        if data[q] != 34:
            continue
        which = _name_before(data, q)
        if which < 0:
            continue
        size = len(_NAMES[which])
        if which == 0:
            resume = r_content
        elif which == 1:
            resume = r_text
        elif which == 2:
            resume = r_arguments
        else:
            resume = r_refusal
        if q + 1 - size < resume:
            continue
        i = _value_at(payload, q + 1)
        if i >= 0 and data[i] == 34:
            j = _string_end(payload, i)
            if j < 0:
                resume = n + 1  # an unterminated string: nothing after it counts
            else:
                total += j - i - 1
                resume = j + 1
        else:
            resume = -i - 1 if i < 0 else i
        if which == 0:
            r_content = resume
        elif which == 1:
            r_text = resume
        elif which == 2:
            r_arguments = resume
        else:
            r_refusal = resume
    return total


def _name_text(payload: bytes, name: bytes) -> cython.Py_ssize_t:
    """The pure search: the bytes of the string values after each ``name``."""
    if name not in payload:  # the usual answer for all names but one: cheaper than find
        return 0
    total: cython.Py_ssize_t = 0
    i: cython.Py_ssize_t
    j: cython.Py_ssize_t
    pos: cython.Py_ssize_t = payload.find(name)
    while pos >= 0:
        i = _value_at(payload, pos + len(name))
        if i >= 0 and payload[i] == 34:
            j = _string_end(payload, i)
            if j < 0:
                break
            total += j - i - 1
            i = j + 1
        elif i < 0:
            i = -i - 1
        pos = payload.find(name, i)
    return total


def _value_at(payload: bytes, i: cython.Py_ssize_t) -> cython.Py_ssize_t:
    """After a name ending at ``i``: the index of the value if whitespace and colons with at
    least one colon come first (a key), else ``-1 - index`` of where they stopped."""
    n: cython.Py_ssize_t = len(payload)
    c: cython.int
    colon: cython.bint = False
    while i < n:
        c = payload[i]
        if c == 58:  # ":"
            colon = True
        elif c != 32 and c != 9 and c != 10 and c != 13:
            break
        i += 1
    return i if colon and i < n else -1 - i


def _string_end(payload: bytes, i: cython.Py_ssize_t) -> cython.Py_ssize_t:
    """The index of the quote closing the JSON string that opens at ``i``, or -1."""
    j: cython.Py_ssize_t = payload.find(b'"', i + 1)
    k: cython.Py_ssize_t
    while j > 0:
        k = j - 1
        while payload[k] == 92:  # count the backslashes before the quote
            k -= 1
        if (j - 1 - k) % 2 == 0:
            return j
        j = payload.find(b'"', j + 1)
    return -1


def _name_before(data: cython.p_char, q: cython.Py_ssize_t) -> cython.int:
    """Which of ``_NAMES`` ends just before (and with) the quote at ``q``, or -1."""
    w: cython.int
    k: cython.Py_ssize_t
    size: cython.Py_ssize_t
    last: cython.char = data[q - 1]
    if last != 116 and last != 115 and last != 108:  # "t", "s", "l": no name ends otherwise
        return -1
    for w in range(4):
        name: bytes = _NAMES[w]
        size = len(name)
        if q + 1 < size or name[size - 2] != last:
            continue
        for k in range(size - 1):
            if data[q + 1 - size + k] != name[k]:
                break
        else:
            return w
    return -1


def _no_choices(payload: bytes) -> bool:
    """True when the payload has a ``"choices"`` key whose value is an empty list."""
    pos: cython.Py_ssize_t = payload.find(_CHOICES)
    if pos < 0:
        return False
    i: cython.Py_ssize_t = pos + len(_CHOICES)
    n: cython.Py_ssize_t = len(payload)
    while i < n and (payload[i] in _WS or payload[i] == 58):  # ":"
        i += 1
    if i >= n or payload[i] != 91:  # "["
        return False
    i += 1
    while i < n and payload[i] in _WS:
        i += 1
    return i < n and payload[i] == 93  # "]"


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
