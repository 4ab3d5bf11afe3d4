"""CPU per hook call through the whole ASGI app, in-process (no sockets, no wrk): steady on a busy machine.

    python -m benchmarks.profile_cold [--requests 400] [--profile cold|warm|irrelevant] [--top 30]

Builds the app as uvicorn would (``create_app`` + its lifespan), then calls it directly with the
benchmark's bodies: **cold** cycles through 200 different patients (seven clinical profiles,
``payloads.COLD_PROFILES``, each patient with its own ids and values) with a facts cache smaller than the
cycle (as ``benchmarks.run`` does), **warm** repeats one body, **irrelevant** selects metoprolol. Prints the
mean CPU per call of each and, with ``--profile``, the cProfile top entries of that case (own time and
cumulative). The echo app is measured the same way, as the anchor.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import orjson

from benchmarks.payloads import realistic

SERVICE_PATH = "/cds-services/hcc-second-line-order-select"
COLD_PATIENTS = 200
COLD_CACHE_SIZE = 8
BLOCK = 100

Asgi = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[dict[str, Any]]], Callable[[dict[str, Any]], Awaitable[None]]],
    Awaitable[None],
]


def irrelevant_body() -> bytes:
    request = realistic(100, 0)
    order = request["context"]["draftOrders"]["entry"][0]["resource"]
    order["medicationCodeableConcept"] = {"text": "metoprolol succinate 25 MG Extended Release Oral Tablet"}
    return orjson.dumps(request)


def cases() -> dict[str, list[bytes]]:
    """The bodies of each case: cold (a different patient each call), warm (one body), irrelevant."""
    cold = [orjson.dumps(realistic(100, patient, varied=True)) for patient in range(COLD_PATIENTS)]
    return {"cold": cold, "warm": [cold[0]], "irrelevant": [irrelevant_body()]}


async def call(app: Asgi, body: bytes) -> tuple[int, bytes]:
    """One POST through the ASGI app, as uvicorn hands it over."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": SERVICE_PATH,
        "raw_path": SERVICE_PATH.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def measure(app: Asgi, bodies: list[bytes], requests: int, profiler: cProfile.Profile | None) -> float:
    """CPU ms per call: the lowest mean over blocks of 100 calls cycling through ``bodies``.

    The mean within a block, not a median: garbage collections land on a few calls and are part of the
    cost, and so is recording the issued cards (off the request path, in the same process); the lowest
    block, because other processes on a shared machine only ever add to it.
    """
    for body in bodies[: min(len(bodies), 20)]:
        status, answer = await call(app, body)
        if status != 200:
            raise RuntimeError(f"status {status}: {answer[:300]!r}")
    blocks = []
    for block in range(max(requests // BLOCK, 1)):
        if profiler:
            profiler.enable()
        started = time.process_time()
        for index in range(block * BLOCK, (block + 1) * BLOCK):
            await call(app, bodies[index % len(bodies)])
        await asyncio.sleep(0.3)  # the issued-card writer records the block's cards (its CPU counts too)
        blocks.append((time.process_time() - started) / BLOCK)
        if profiler:
            profiler.disable()
    return min(blocks) * 1000


async def run(args: argparse.Namespace) -> None:
    from contextlib import AsyncExitStack

    from benchmarks.echo_app import app as echo_app
    from cds_service.api.app import create_app
    from cds_service.config import Settings

    with tempfile.TemporaryDirectory() as folder:
        os.environ.setdefault("CDS_LOG_LEVEL", "WARNING")
        settings = Settings(
            environment="development",
            auth_disabled=True,
            log_level=os.environ.get("CDS_LOG_LEVEL", "WARNING"),
            database_url=f"sqlite:///{Path(folder) / 'profile.sqlite3'}",
            facts_cache_size=COLD_CACHE_SIZE,
        )
        app = create_app(settings)
        bodies = cases()
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(app.router.lifespan_context(app))
            service: Asgi = app  # type: ignore[assignment]
            echo: Asgi = echo_app  # type: ignore[assignment]
            echo_ms = await measure(echo, bodies["cold"], args.requests, None) if not args.only else 1.0
            print(f"echo (standard json, constant card): {echo_ms:.3f} ms CPU per call")
            for name, case in bodies.items():
                if args.only and name != args.only:
                    continue
                profiler = cProfile.Profile() if args.profile == name else None
                cpu = await measure(service, case, args.requests, profiler)
                print(f"{name:>10}: {cpu:.3f} ms CPU per call ({cpu / echo_ms:.2f}x the echo)")
                if profiler is not None:
                    out = io.StringIO()
                    stats = pstats.Stats(profiler, stream=out)
                    stats.sort_stats(args.sort).print_stats(args.top)
                    print(out.getvalue())
                    if args.dump:
                        stats.dump_stats(args.dump)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--profile", choices=["cold", "warm", "irrelevant"], default=None)
    parser.add_argument("--only", choices=["cold", "warm", "irrelevant"], default=None, help="measure one case")
    parser.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumulative)")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--dump", default=None, help="write the profile's pstats to this file")
    args = parser.parse_args()
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
