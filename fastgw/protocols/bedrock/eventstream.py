"""AWS event stream framing (``application/vnd.amazon.eventstream``), read incrementally.

A frame is: a 12-byte prelude (total length, headers length, both big-endian uint32, and the
CRC32 of those 8 bytes), the headers, the payload, and the CRC32 of everything before it.
A header is a 1-byte name length, the name, a 1-byte value type and the value (booleans carry
no bytes, integers 1/2/4/8 bytes, byte arrays and strings a 2-byte length, timestamps 8
bytes, UUIDs 16).

Rules this module keeps:
- Sans-IO: ``FrameReader.feed`` takes bytes cut anywhere and returns the frames they
  complete; an incomplete frame is held until the next ``feed``.
- Both CRCs are checked (``zlib.crc32``); a bad checksum, a length that cannot be a frame, a
  header that runs past its block or an unknown header type raises
  ``UpstreamProtocolError``.
- The held bytes are bounded: a frame claiming more than ``MAX_EVENT_BYTES`` is refused as
  soon as its prelude arrives, before it is buffered.
- A stream repeats a few header blocks byte for byte (one per event type): each reader keeps
  the blocks it parsed (at most ``HEADER_CACHE_ENTRIES``) and reuses their headers, which
  halves the cost of a frame. Callers must not change the returned ``headers``.
- Written here rather than taken from botocore (``botocore.eventstream``) so the stream can be
  read without botocore (a Bedrock API key needs no signer) and because it is cheaper per
  frame (measured in ``benchmarks/micro/bench_translate_bedrock.py``).
"""

from __future__ import annotations

import struct
import zlib
from typing import NamedTuple

from ...errors import UpstreamProtocolError
from ..sse import MAX_EVENT_BYTES

PRELUDE_BYTES = 12
MIN_FRAME_BYTES = 16  # a prelude and the message CRC: no headers, no payload
HEADER_CACHE_ENTRIES = 32
_PRELUDE = struct.Struct(">III")
_U32 = struct.Struct(">I")
# value type -> fixed size in bytes (None: a 2-byte length follows)
_FIXED = {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}


class Frame(NamedTuple):
    """One frame: its string-valued headers (others are skipped) and its payload."""

    headers: dict[str, str]
    payload: bytes


class FrameReader:
    """Frames out of an event stream's bytes, fed in chunks cut anywhere."""

    __slots__ = ("_buffer", "_seen")

    def __init__(self) -> None:
        self._buffer = b""
        self._seen: dict[bytes, dict[str, str]] = {}  # header block -> its headers

    @property
    def pending(self) -> int:
        """Bytes held of a frame not yet complete."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        buffer = self._buffer + data if self._buffer else data
        frames: list[Frame] = []
        offset, size = 0, len(buffer)
        while size - offset >= PRELUDE_BYTES:
            total, headers_len, prelude_crc = _PRELUDE.unpack_from(buffer, offset)
            if zlib.crc32(buffer[offset : offset + 8]) != prelude_crc:
                raise UpstreamProtocolError("The upstream sent an event frame with a bad CRC.")
            if total < MIN_FRAME_BYTES or headers_len > total - MIN_FRAME_BYTES:
                raise UpstreamProtocolError("The upstream sent an event frame of bad length.")
            if total > MAX_EVENT_BYTES:
                raise UpstreamProtocolError(
                    f"The upstream sent an event frame of {total} bytes, "
                    f"above the limit of {MAX_EVENT_BYTES}."
                )
            end = offset + total
            if end > size:
                break
            (message_crc,) = _U32.unpack_from(buffer, end - 4)
            if zlib.crc32(buffer[offset : end - 4]) != message_crc:
                raise UpstreamProtocolError("The upstream sent an event frame with a bad CRC.")
            start = offset + PRELUDE_BYTES
            block = buffer[start : start + headers_len]
            headers = self._seen.get(block)
            if headers is None:
                headers = _headers(block, 0, headers_len)
                if len(self._seen) < HEADER_CACHE_ENTRIES:
                    self._seen[block] = headers
            frames.append(Frame(headers, buffer[start + headers_len : end - 4]))
            offset = end
        self._buffer = buffer[offset:] if offset else buffer
        return frames


def _headers(data: bytes, pos: int, end: int) -> dict[str, str]:
    headers: dict[str, str] = {}
    try:
        while pos < end:
            name_len = data[pos]
            name = data[pos + 1 : pos + 1 + name_len].decode()
            pos += 1 + name_len
            kind = data[pos]
            pos += 1
            if kind in (6, 7):
                (length,) = struct.unpack_from(">H", data, pos)
                if kind == 7:
                    headers[name] = data[pos + 2 : pos + 2 + length].decode()
                pos += 2 + length
            else:
                pos += _FIXED[kind]
    except (IndexError, KeyError, UnicodeDecodeError, struct.error):
        raise UpstreamProtocolError("The upstream sent an event frame with bad headers.") from None
    if pos != end:
        raise UpstreamProtocolError("The upstream sent an event frame with bad headers.")
    return headers


__all__ = ["MIN_FRAME_BYTES", "PRELUDE_BYTES", "Frame", "FrameReader"]
