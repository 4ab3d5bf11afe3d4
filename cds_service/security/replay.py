"""Replay protection: a JWT's ``jti`` is accepted once, and remembered until the token expires.

In memory for one process, in Redis for several replicas (``CDS_REPLAY_CACHE``). The in-memory cache
forgets everything on a restart, so it says since when it remembers (``remembers_since``) and the
verifier refuses tokens issued before that; its entries expire by time, a few at each call (a heap by
expiry), so it never stops to sweep. Redis keeps each entry until the token's ``exp`` (plus leeway), and an
epoch key says since when it remembers: a Redis that restarted without persistence (or lost its data)
has no epoch, so one is set and tokens issued before it are refused, as after a restart of the in-memory
cache. With persistence (compose: append-only file) the epoch survives and nothing is refused. Redis
being down is ``ReplayCacheUnavailable`` (the request is a 503), never an accepted token.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

Clock = Callable[[], float]


class ReplayCacheUnavailable(Exception):
    """The replay cache cannot be reached; no token can be accepted until it is back."""


class ReplayCache(Protocol):
    @property
    def remembers_since(self) -> float | None:
        """Wall-clock time since which every ``jti`` seen is remembered; None when it survives restarts."""
        ...

    async def first_use(self, key: str, ttl_seconds: int, issued_at: float = 0.0) -> bool:
        """Record ``key`` for ``ttl_seconds``; True if it was not seen before and, for a cache that can lose
        its memory (Redis without persistence), the token was issued (``issued_at``) after it last did."""
        ...

    async def ping(self) -> bool:
        """True when the cache can be used."""
        ...

    async def close(self) -> None: ...


class MemoryReplayCache:
    """Per-process cache. Entries expire by time: each call forgets up to ``expire_per_call`` expired
    entries (oldest expiry first), so memory follows the tokens alive and no call pays for a full sweep.
    Beyond ``max_entries`` live entries the one closest to expiry is forgotten."""

    def __init__(self, max_entries: int = 1_000_000, expire_per_call: int = 64, clock: Clock = time.monotonic) -> None:
        self._seen: dict[str, float] = {}
        self._expiries: list[tuple[float, str]] = []  # heap of (expiry, key)
        self._max_entries = max_entries
        self._expire_per_call = expire_per_call
        self._clock = clock
        self._started = time.time()

    @property
    def remembers_since(self) -> float | None:
        return self._started

    def __len__(self) -> int:
        return len(self._seen)

    async def first_use(self, key: str, ttl_seconds: int, issued_at: float = 0.0) -> bool:
        now = self._clock()
        self._expire(now, self._expire_per_call)
        expiry = self._seen.get(key)
        if expiry is not None and expiry > now:
            return False
        while len(self._seen) >= self._max_entries:
            self._expire(float("inf"), 1)
        expiry = now + max(ttl_seconds, 1)
        self._seen[key] = expiry
        heapq.heappush(self._expiries, (expiry, key))
        return True

    def _expire(self, now: float, at_most: int) -> None:
        heap, seen = self._expiries, self._seen
        while heap and at_most > 0 and heap[0][0] <= now:
            expiry, key = heapq.heappop(heap)
            if seen.get(key) == expiry:  # else the key was recorded again later; a newer heap entry holds it
                del seen[key]
            at_most -= 1

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._seen.clear()
        self._expiries.clear()


_FIRST_USE = """
local epoch = redis.call('GET', KEYS[1])
if not epoch then
    return -2
end
if tonumber(ARGV[1]) < math.floor(tonumber(epoch)) then
    return -1
end
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then
    return 1
end
return 0
"""


class RedisReplayCache:
    """Shared by every replica: ``SET key 1 NX EX ttl`` is atomic. Reconnects by itself when Redis returns."""

    def __init__(self, url: str, prefix: str = "cds-service:jti:") -> None:
        self._redis: Redis = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._prefix = prefix
        self._epoch_key = prefix.rstrip(":") + "-epoch"
        self._first_use = self._redis.register_script(_FIRST_USE)

    @property
    def remembers_since(self) -> float | None:
        return None  # kept in Redis (the epoch key), checked atomically with each jti

    async def first_use(self, key: str, ttl_seconds: int, issued_at: float = 0.0) -> bool:
        """One round trip (a script): the epoch check, then ``SET key NX EX ttl``."""
        try:
            for _ in range(2):
                answer = int(
                    await self._first_use(
                        keys=[self._epoch_key, self._prefix + key], args=[repr(issued_at), max(ttl_seconds, 1)]
                    )
                )
                if answer != -2:
                    return answer == 1
                await self._set_epoch()
        except (RedisError, OSError) as exc:
            raise ReplayCacheUnavailable(f"Redis replay cache unavailable ({type(exc).__name__})") from exc
        raise ReplayCacheUnavailable("Redis replay cache keeps no epoch (is it read-only or evicting keys?)")

    async def _set_epoch(self) -> None:
        """No epoch: Redis started empty (first use, or a restart without persistence). Its start time is
        the epoch: every jti seen before it may be forgotten."""
        info = await self._redis.info("server")
        started = time.time() - float(info.get("uptime_in_seconds", 0))
        await self._redis.set(self._epoch_key, repr(started), nx=True)

    async def ping(self) -> bool:
        """Redis answers (and keeps an epoch, set here after a restart before the next token needs it)."""
        try:
            if not await self._redis.exists(self._epoch_key):
                await self._set_epoch()
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._redis.aclose()
