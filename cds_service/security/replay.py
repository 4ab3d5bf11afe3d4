"""Replay protection: a JWT's ``jti`` is accepted once, and remembered until the token expires.

In memory for one process, in Redis for several replicas (``CDS_REPLAY_CACHE``). The in-memory cache
forgets everything on a restart, so it says since when it remembers (``remembers_since``) and the
verifier refuses tokens issued before that; Redis keeps each entry until the token's ``exp`` (plus
leeway). Redis being down is ``ReplayCacheUnavailable`` (the request is a 503), never an accepted token.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError


class ReplayCacheUnavailable(Exception):
    """The replay cache cannot be reached; no token can be accepted until it is back."""


class ReplayCache(Protocol):
    @property
    def remembers_since(self) -> float | None:
        """Wall-clock time since which every ``jti`` seen is remembered; None when it survives restarts."""
        ...

    async def first_use(self, key: str, ttl_seconds: int) -> bool:
        """Record ``key`` for ``ttl_seconds``; True if it was not seen before."""
        ...

    async def ping(self) -> bool:
        """True when the cache can be used."""
        ...

    async def close(self) -> None: ...


class MemoryReplayCache:
    """Per-process cache; expired entries are swept as new ones arrive."""

    def __init__(self, max_entries: int = 1_000_000) -> None:
        self._seen: dict[str, float] = {}
        self._lock = asyncio.Lock()
        self._max_entries = max_entries
        self._started = time.time()

    @property
    def remembers_since(self) -> float | None:
        return self._started

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

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._seen.clear()


class RedisReplayCache:
    """Shared by every replica: ``SET key 1 NX EX ttl`` is atomic. Reconnects by itself when Redis returns."""

    def __init__(self, url: str, prefix: str = "cds-service:jti:") -> None:
        self._redis: Redis = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._prefix = prefix

    @property
    def remembers_since(self) -> float | None:
        return None

    async def first_use(self, key: str, ttl_seconds: int) -> bool:
        try:
            stored = await self._redis.set(self._prefix + key, b"1", nx=True, ex=max(ttl_seconds, 1))
        except (RedisError, OSError) as exc:
            raise ReplayCacheUnavailable(f"Redis replay cache unavailable ({type(exc).__name__})") from exc
        return bool(stored)

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._redis.aclose()
