"""Replay protection that survives a restart (issue 25, findings 7 and 8): a used token stays refused after
Redis restarts, with persistence (the append-only file compose configures: every jti is still there) and
without it (Redis's epoch is gone, so tokens issued before the restart are refused); the in-memory cache
expires entries by time, a few per call, with no sweep that stalls the event loop."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from cds_service.security.replay import MemoryReplayCache
from tests.loopback import free_port
from tests.security.test_client_authentication import (
    DISCOVERY,
    EC_JWKS,
    EHR,
    assert_refused,
    auth,
    make_client,
    token,
)


class RedisServer:
    """A redis-server of our own on a loopback port, restartable on the same port and data folder."""

    def __init__(self, folder: Path, *, persistent: bool) -> None:
        self.port = free_port()
        self.folder = folder
        self.persistent = persistent
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.folder)]
        self.process = subprocess.Popen(  # noqa: S603 (a fixed local binary)
            [*command, "--save", "", *persistence],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis.from_url(self.url, socket_timeout=0.5).ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: a clean shutdown, as a restart would do
            self.process.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps({"clients": [{"iss": EHR, "jwks": EC_JWKS}]}))
    return path


def _redis_server(tmp_path: Path, persistent: bool) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed (needed to restart a Redis of the test's own)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (required under CI=true)")
        pytest.skip(message)
    server = RedisServer(tmp_path, persistent=persistent)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def volatile_redis(tmp_path: Path) -> Iterator[RedisServer]:
    yield from _redis_server(tmp_path, persistent=False)


@pytest.fixture
def persistent_redis(tmp_path: Path) -> Iterator[RedisServer]:
    yield from _redis_server(tmp_path, persistent=True)


def test_a_used_token_stays_refused_after_a_restart_of_a_redis_without_persistence(
    registry: Path, tmp_path: Path, volatile_redis: RedisServer
) -> None:
    with make_client(registry, tmp_path, replay_cache="redis", redis_url=volatile_redis.url) as client:
        used, unused = token(DISCOVERY), token(DISCOVERY)
        assert client.get(DISCOVERY, headers=auth(used)).status_code == 200
        assert_refused(client.get(DISCOVERY, headers=auth(used)))
        time.sleep(1.1)  # the restart happens in a later second than the tokens were issued
        volatile_redis.restart()  # every jti forgotten
        assert_refused(client.get(DISCOVERY, headers=auth(used)))
        assert_refused(client.get(DISCOVERY, headers=auth(unused)))  # issued before: replay cannot be ruled out
        assert client.get(DISCOVERY, headers=auth(token(DISCOVERY))).status_code == 200  # new tokens work


def test_with_the_append_only_file_redis_remembers_every_jti_across_a_restart(
    registry: Path, tmp_path: Path, persistent_redis: RedisServer
) -> None:
    with make_client(registry, tmp_path, replay_cache="redis", redis_url=persistent_redis.url) as client:
        used, unused = token(DISCOVERY), token(DISCOVERY)
        assert client.get(DISCOVERY, headers=auth(used)).status_code == 200
        time.sleep(1.1)
        persistent_redis.restart()
        assert_refused(client.get(DISCOVERY, headers=auth(used)))
        assert client.get(DISCOVERY, headers=auth(unused)).status_code == 200  # nothing was forgotten


def test_the_in_memory_cache_expires_by_time_without_a_sweep() -> None:
    """Counted, not timed: each call forgets at most a few expired entries (no call pays for a sweep of
    all of them, the 0.3-0.4 s stalls of the old cache at 1 M entries), and they all go as calls come."""
    now = [0.0]
    cache = MemoryReplayCache(expire_per_call=64, clock=lambda: now[0])

    async def scenario() -> tuple[int, int]:
        for number in range(200_000):
            await cache.first_use(f"early-{number}", 60)
        now[0] = 120.0  # every entry has expired
        await cache.first_use("late-0", 60)
        after_one_call = len(cache)
        for number in range(1, 5_000):
            await cache.first_use(f"late-{number}", 60)
        return after_one_call, len(cache)

    after_one_call, after_many_calls = asyncio.run(scenario())
    assert after_one_call == 200_000 - 64 + 1  # 64 expired entries forgotten, the new one kept: no sweep
    assert after_many_calls == 5_000  # every expired entry gone by time, long before any size limit


def test_the_in_memory_cache_still_refuses_a_replay_until_the_token_expires() -> None:
    now = [0.0]
    cache = MemoryReplayCache(clock=lambda: now[0])

    async def scenario() -> list[bool]:
        answers = [await cache.first_use("jti", 60), await cache.first_use("jti", 60)]
        now[0] = 59.0
        answers.append(await cache.first_use("jti", 60))
        now[0] = 61.0
        answers.append(await cache.first_use("jti", 60))
        return answers

    assert asyncio.run(scenario()) == [True, False, False, True]
