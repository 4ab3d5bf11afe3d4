"""Replay protection: a JWT's ``jti`` is accepted once, and remembered until the token expires.

In memory for one process, in Redis for several replicas (``CDS_REPLAY_CACHE``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from redis.asyncio import Redis


class ReplayCache(Protocol):
    async def first_use(self, key: str, ttl_seconds: int) -> bool:
        """Record ``key`` for ``ttl_seconds``; True if it was not seen before."""
        ...

    async def close(self) -> None: ...


class MemoryReplayCache:
    """Per-process cache; expired entries are swept as new ones arrive."""

    def __init__(self, max_entries: int = 1_000_000) -> None:
        self._seen: dict[str, float] = {}
        self._lock = asyncio.Lock()
        self._max_entries = max_entries

    async def first_use(self, key: str, ttl_seconds: int) -> bool:
        now = time.monotonic()
        async with self._lock:
            expiry = self._seen.get(key)
            if expiry is not None and expiry > now:
                return False
            if len(self._seen) >= self._max_entries:
                self._seen = {k: e for k, e in self._seen.items() if e > now}
            self._seen[key] = now + max(ttl_seconds, 1)
            return True

    async def close(self) -> None:
        self._seen.clear()


class RedisReplayCache:
    """Shared by every replica: ``SET key 1 NX EX ttl`` is atomic."""

    def __init__(self, url: str, prefix: str = "cds-service:jti:") -> None:
        self._redis: Redis = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._prefix = prefix

    async def first_use(self, key: str, ttl_seconds: int) -> bool:
        stored = await self._redis.set(self._prefix + key, b"1", nx=True, ex=max(ttl_seconds, 1))
        return bool(stored)

    async def close(self) -> None:
        await self._redis.aclose()
