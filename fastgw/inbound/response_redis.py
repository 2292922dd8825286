"""The Responses API's store in Redis (``[state] backend = "redis"``): stored responses shared
by every worker and instance on the same server.

The same contract as ``fastgw.inbound.response_store`` (SQLite, one host): ``put``, ``get``,
``delete``, ``close``. Rules this module keeps:
- A response is one hash, ``<prefix>resp:<owner>:<id>`` with fields ``response`` and
  ``items``, expiring with the response (``EXPIRE``); ``<owner>`` is the key id in hex, so
  one key's names can never be another's and a key reads only its own (another key's id is
  not found).
- A key's responses are bounded by a sorted set, ``<prefix>resp-index:<owner>`` (id by the
  time stored): past ``max_per_key`` the oldest are deleted; ids older than the TTL are
  dropped from it at each write, and the set itself expires with the key's newest response.
- One connection per worker (``fastgw.limits.resp``), opened at first use and again after a
  failure; a command's reply is bounded by ``[state] timeout_s``. A failure raises
  ``ConnectionError`` or ``TimeoutError`` to the caller (an error reply, such as Redis out
  of memory, is a ``ConnectionError`` too): the front answers 503 when it needed to read,
  and logs when it could not store.
"""

from __future__ import annotations

import asyncio
import math
import time

from ..limits.resp import ReplyError, RespClient
from .response_store import Stored


class RedisResponseStore:
    def __init__(self, url: str, prefix: str, timeout: float) -> None:
        self.url = url  # may hold a password: never logged
        self.prefix = prefix
        self.timeout = timeout
        self._client: RespClient | None = None
        self._lock = asyncio.Lock()

    async def _conn(self) -> RespClient:
        client = self._client
        if client is not None and not client.closed:
            return client
        async with self._lock:
            client = self._client
            if client is None or client.closed:
                client = self._client = await RespClient.connect(self.url, self.timeout)
        return client

    def _names(self, id: str, key_id: str) -> tuple[str, str]:
        owner = key_id.encode().hex()
        return f"{self.prefix}resp:{owner}:{id}", f"{self.prefix}resp-index:{owner}"

    async def put(
        self, id: str, key_id: str, stored: Stored, ttl_s: float, max_per_key: int
    ) -> None:
        try:
            await self._put(id, key_id, stored, ttl_s, max_per_key)
        except ReplyError as exc:
            raise ConnectionError(f"redis refused the write: {exc}") from None

    async def _put(
        self, id: str, key_id: str, stored: Stored, ttl_s: float, max_per_key: int
    ) -> None:
        client = await self._conn()
        name, index = self._names(id, key_id)
        now = time.time()
        ttl = max(1, math.ceil(ttl_s))
        replies = await asyncio.gather(
            *client.send(
                [
                    ("HSET", name, "response", stored.response, "items", stored.items),
                    ("EXPIRE", name, ttl),
                    ("ZADD", index, repr(now), id),
                    ("ZREMRANGEBYSCORE", index, "-inf", repr(now - ttl)),
                    ("EXPIRE", index, ttl),
                    ("ZCARD", index),
                ]
            )
        )
        excess = int(replies[-1]) - max_per_key
        if excess > 0:
            oldest = await client.call("ZRANGE", index, 0, excess - 1)
            if oldest:
                ids = [i.decode() if isinstance(i, bytes) else str(i) for i in oldest]
                names = [self._names(i, key_id)[0] for i in ids]
                await asyncio.gather(*client.send([("DEL", *names), ("ZREM", index, *ids)]))

    async def get(self, id: str, key_id: str) -> Stored | None:
        client = await self._conn()
        name, _ = self._names(id, key_id)
        try:
            response, items = await client.call("HMGET", name, "response", "items")
        except ReplyError as exc:
            raise ConnectionError(f"redis refused the read: {exc}") from None
        if response is None or items is None:
            return None
        return Stored(bytes(response), bytes(items))

    async def delete(self, id: str, key_id: str) -> bool:
        client = await self._conn()
        name, index = self._names(id, key_id)
        try:
            deleted, _ = await asyncio.gather(*client.send([("DEL", name), ("ZREM", index, id)]))
        except ReplyError as exc:
            raise ConnectionError(f"redis refused the delete: {exc}") from None
        return int(deleted) > 0

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


__all__ = ["RedisResponseStore"]
