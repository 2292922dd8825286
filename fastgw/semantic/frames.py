"""What the worker and the tier's process (``fastgw.semantic.remote``,
``fastgw.semantic.child``) say to each other over their socket.

Rules this module keeps:
- A frame is a 4-byte big-endian length and one MessagePack message (msgspec, tagged array
  structs: no field names on the wire). A length over ``MAX_FRAME`` is a broken peer: the
  reader stops (``FrameError``), never allocates it.
- Messages carry only what the other side needs: a lookup its partition, text and
  threshold; a hit its answer, usage and similarity; an entry never its vectors.
"""

from __future__ import annotations

import struct

import msgspec

from ..wire import Usage
from .tier import Made

#: The largest frame either side reads: a stored answer and its text, with room to spare.
MAX_FRAME = 64 << 20
_LENGTH = struct.Struct(">I")


class FrameError(Exception):
    """The peer sent a frame that cannot be one of ours."""


class Tagged(msgspec.Struct, array_like=True, tag=True, tag_field="t"):
    pass


# -- worker to tier ------------------------------------------------------------------------


class LookupJob(Tagged, tag=1):
    id: int
    partition: bytes
    text: str
    model: str
    threshold: float
    max_age: float | None


class AddJob(Tagged, tag=2):
    """A new answer to index (``lookup``: the id of its lookup, whose fast embedding the tier
    kept; -1 for none), or one from elsewhere (``adopt``)."""

    partition: bytes
    text: str
    body: bytes
    usage: Usage | None
    created_at: float
    expires_at: float
    namespace: str
    model: str
    max_entries: int
    lookup: int
    adopt: bool

    def made(self) -> Made:
        return Made(
            self.partition,
            self.text,
            self.body,
            self.usage,
            self.created_at,
            self.expires_at,
            self.namespace,
            self.model,
        )


def add_job(made: Made, max_entries: int, lookup: int, adopt: bool) -> AddJob:
    return AddJob(*made, max_entries, lookup, adopt)


class PurgeJob(Tagged, tag=3):
    namespace: str | None
    model: str | None


class CloseJob(Tagged, tag=4):
    """Stop after the jobs before it; with ``collect``, send the live entries first."""

    collect: bool


# -- tier to worker ------------------------------------------------------------------------


class Ready(Tagged, tag=10):
    identity: str


class Failed(Tagged, tag=11):
    reason: str


class Found(msgspec.Struct, array_like=True):
    body: bytes
    usage: Usage | None
    created_at: float
    similarity: float


class Results(Tagged, tag=12):
    """Lookups answered (a hit or None each), the verifier's decisions, and the tier's
    entry and dropped counts."""

    ids: list[int]
    found: list[Found | None]
    observed: list[tuple[str, str, float]]
    entries: int
    dropped: int


class Entries(Tagged, tag=13):
    """Live entries, at close: each an ``AddJob`` whose ``lookup`` is -1."""

    entries: list[AddJob]


class Closed(Tagged, tag=14):
    pass


ToTier = LookupJob | AddJob | PurgeJob | CloseJob
ToWorker = Ready | Failed | Results | Entries | Closed

_encoder = msgspec.msgpack.Encoder()
_to_tier = msgspec.msgpack.Decoder(ToTier)
_to_worker = msgspec.msgpack.Decoder(ToWorker)


def frame(message: msgspec.Struct) -> bytes:
    payload = _encoder.encode(message)
    return _LENGTH.pack(len(payload)) + payload


class Reader:
    """Splits the bytes received into messages (``feed``), keeping a partial frame."""

    __slots__ = ("_buffer", "_decode")

    def __init__(self, to_tier: bool) -> None:
        self._buffer = bytearray()
        self._decode = _to_tier.decode if to_tier else _to_worker.decode

    def feed(self, data: bytes) -> list[msgspec.Struct]:
        buffer = self._buffer
        buffer += data
        messages: list[msgspec.Struct] = []
        start, end = 0, len(buffer)
        view = memoryview(buffer)
        try:
            while end - start >= 4:
                (size,) = _LENGTH.unpack_from(buffer, start)
                if size > MAX_FRAME:
                    raise FrameError(f"a frame of {size} bytes")
                if end - start - 4 < size:
                    break
                try:
                    messages.append(self._decode(view[start + 4 : start + 4 + size]))
                except msgspec.DecodeError as exc:
                    raise FrameError(str(exc)) from None
                start += 4 + size
        finally:
            view.release()
        if start:
            del buffer[:start]
        return messages
