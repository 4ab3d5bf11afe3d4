"""Performance benchmark: the service side by side with a bare FastAPI echo app, on this machine.

    python -m benchmarks.run [--duration 10] [--connections 16] [--workers 1]

Starts both apps with the same uvicorn worker settings, drives them with wrk (Debian package ``wrk``)
with the same payloads and concurrency, and prints throughput, p50/p99 latency and the ratio
service/echo; then the per-request cost and peak memory by prefetch size (in-process), and the
fallback-fetch overhead against a FHIR server with set delays. Numbers, not assertions: compare them with
the targets printed beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import orjson

from benchmarks.payloads import count_resources, irrelevant, realistic, relevant, synthea_chart

ROOT = Path(__file__).resolve().parent.parent
SERVICE_PATH = "/cds-services/hcc-second-line-order-select"
LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("{payload}", "rb")
wrk.body = f:read("*all")
f:close()
"""


LUA_CYCLE = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end
local bodies = {{}}
local n = 0
function init(args)
  for i = 1, {count} do
    local f = io.open(string.format("{folder}/body-%d.json", i), "rb")
    bodies[i] = f:read("*all")
    f:close()
  end
  n = math.floor(id * #bodies / {threads})
end
request = function()
  n = n % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[n])
end
"""
SERVER_PIDS: dict[str, int] = {}


@dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(app: str, port: int, workers: int, env: dict[str, str], *, factory: bool = False) -> Iterator[str]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    if factory:
        command.append("--factory")
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env})  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    SERVER_PIDS[base] = process.pid
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.2)
        time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(url: str, payload: Path, duration: int, connections: int, threads: int) -> WrkResult:
    script = payload.with_suffix(".lua")
    script.write_text(LUA.format(payload=payload))
    return _wrk_script(url, script, duration, connections, threads)


def _wrk_script(
    url: str, script: Path, duration: int, connections: int, threads: int, *, on_start: Callable[[], None] | None = None
) -> WrkResult:
    """Two seconds of warm-up, then the measured run (``on_start`` is called between the two)."""
    base = ["wrk", f"-t{threads}", f"-c{connections}", "--latency", "-s", str(script)]
    subprocess.run([*base, "-d2s", url], check=True, capture_output=True)  # noqa: S603 - warm-up
    if on_start is not None:
        on_start()
    out = subprocess.run([*base, f"-d{duration}s", url], check=True, capture_output=True, text=True).stdout  # noqa: S603
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors_match = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return WrkResult(rps, p50, p99, int(errors_match.group(1)) if errors_match else 0, total)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (uvicorn workers), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def wrk_bodies(
    url: str,
    bodies: list[bytes],
    folder: Path,
    args: argparse.Namespace,
    *,
    duration: int | None = None,
    connections: int | None = None,
) -> tuple[WrkResult, float]:
    """Drive ``url`` cycling through ``bodies``, each wrk thread from its own offset; server CPU ms per request
    over the measured run (not the warm-up)."""
    folder.mkdir(exist_ok=True)
    for number, body in enumerate(bodies, start=1):
        (folder / f"body-{number}.json").write_bytes(body)
    script = folder / "cycle.lua"
    script.write_text(LUA_CYCLE.format(count=len(bodies), folder=folder, threads=args.threads))
    pid = SERVER_PIDS[url.split("/cds-services")[0]]
    before = [0.0]

    def start() -> None:
        before[0] = cpu_seconds(pid)

    result = _wrk_script(
        url, script, duration or args.duration, connections or args.connections, args.threads, on_start=start
    )
    used = cpu_seconds(pid) - before[0]
    return result, used * 1000 / max(result.requests, 1)


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn workers), from /proc."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if status.parent.name == str(pid) or fields.get("PPid", "").strip() == str(pid):
            total += int(fields.get("VmRSS", "0 kB").split()[0])
    return total / 1024


@dataclass
class Soak:
    result: WrkResult
    rss: list[tuple[float, float]]  # (seconds since the start, MiB)

    def at(self, second: float) -> float:
        return min(self.rss, key=lambda sample: abs(sample[0] - second))[1]

    @property
    def growth_last_half(self) -> float:
        """MiB gained over the last half of the run (its highest sample against the middle one)."""
        end = self.rss[-1][0]
        middle = self.at(end / 2)
        return max(mib for second, mib in self.rss if second >= end / 2) - middle


def soak(url: str, bodies: list[bytes], folder: Path, args: argparse.Namespace) -> Soak:
    """``args.soak_seconds`` at ``args.soak_connections`` cycling through ``bodies``; RSS sampled every second."""
    pid = SERVER_PIDS[url.split("/cds-services")[0]]
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    started = [0.0]

    def sample() -> None:
        while not stop.wait(1.0):
            samples.append((time.monotonic() - started[0], rss_mib(pid)))

    sampler = threading.Thread(target=sample, daemon=True)

    def start() -> None:
        started[0] = time.monotonic()
        samples.append((0.0, rss_mib(pid)))
        sampler.start()

    folder.mkdir(exist_ok=True)
    for number, body in enumerate(bodies, start=1):
        (folder / f"body-{number}.json").write_bytes(body)
    script = folder / "cycle.lua"
    script.write_text(LUA_CYCLE.format(count=len(bodies), folder=folder, threads=args.threads))
    try:
        result = _wrk_script(url, script, args.soak_seconds, args.soak_connections, args.threads, on_start=start)
    finally:
        stop.set()
        sampler.join(timeout=5)
    samples.append((time.monotonic() - started[0], rss_mib(pid)))
    return Soak(result, samples)


# Issue 29's targets, measured in one run (one uvicorn worker, wrk -t1 -c16, 10 s each, realistic chart of
# about 100 resources): name, what is compared, the bound.
TARGET_COLD_RATIO, TARGET_COLD_P99_MS, TARGET_WARM_RATIO, TARGET_IRRELEVANT_RATIO = 0.50, 40.0, 0.70, 1.00
RSS_FLAT_MIB = 2.0  # "flat": less than this gained over the last 30 s of the soak (allocator noise)


def issue_targets(args: argparse.Namespace, tmp: Path) -> list[str]:
    """Cold / warm / irrelevant side by side with the echo, CPU per cold call, RSS through a soak at c64."""
    cold_bodies = [orjson.dumps(realistic(100, p, varied=True)) for p in range(COLD_PATIENTS[100])]
    cases = [
        ("cold: a different patient every call", cold_bodies),
        ("warm: the same chart again (facts cache hit)", [cold_bodies[0]]),
        ("irrelevant order (metoprolol)", [orjson.dumps(_irrelevant_order(realistic(100, 0)))]),
    ]
    app = "cds_service.api.app:create_app"
    cold_env = service_env(tmp, CDS_FACTS_CACHE_SIZE=str(COLD_CACHE_SIZE))
    measured: list[tuple[str, WrkResult, float, WrkResult, float]] = []
    with (
        server(app, free_port(), args.workers, service_env(tmp), factory=True) as warm,
        server(app, free_port(), args.workers, cold_env, factory=True) as cold,
        server("benchmarks.echo_app:app", free_port(), args.workers, {}) as echo,
    ):
        for index, (name, bodies) in enumerate(cases):
            svc = cold if name.startswith("cold") else warm
            response = httpx.post(
                svc + SERVICE_PATH, content=bodies[0], headers={"Content-Type": "application/json"}, timeout=30
            )
            response.raise_for_status()
            if not name.startswith("irrelevant") and not response.json()["cards"]:
                raise RuntimeError(f"{name}: the service answered no card")
            folder = tmp / f"targets-{index}"
            result, cpu = wrk_bodies(svc + SERVICE_PATH, bodies, folder, args)
            reference, echo_cpu = wrk_bodies(echo + SERVICE_PATH, bodies, folder, args)
            measured.append((name, result, cpu, reference, echo_cpu))
        soaked = soak(cold + SERVICE_PATH, cold_bodies, tmp / "soak", args) if args.soak_seconds else None
    rows = [
        "| Request (realistic chart, 100 resources) | service req/s | echo req/s | service/echo "
        "| service p50 / p99 ms | echo p99 ms | CPU ms/request (service / echo) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result, cpu, reference, echo_cpu in measured:
        errors = f" ({result.errors} non-2xx)" if result.errors else ""
        rows.append(
            f"| {name}{errors} | {result.requests_per_second:,.0f} | {reference.requests_per_second:,.0f} | "
            f"{result.requests_per_second / reference.requests_per_second:.0%} | "
            f"{result.p50_ms:.1f} / {result.p99_ms:.1f} | {reference.p99_ms:.1f} | {cpu:.2f} / {echo_cpu:.2f} |"
        )
    ratio = {
        name.split(":")[0].split(" ")[0]: r.requests_per_second / e.requests_per_second for name, r, _, e, _ in measured
    }
    cold_result, cold_cpu, cold_echo_cpu = measured[0][1], measured[0][2], measured[0][4]

    def verdict(met: bool) -> str:
        return "met" if met else "**not met**"

    rows += [
        "",
        "| Target (issue 29) | Measured | |",
        "|---|---|---|",
        f"| cold ≥ {TARGET_COLD_RATIO:.0%} of the echo | {ratio['cold']:.0%} | "
        f"{verdict(ratio['cold'] >= TARGET_COLD_RATIO)} |",
        f"| cold p99 ≤ {TARGET_COLD_P99_MS:.0f} ms | {cold_result.p99_ms:.1f} ms | "
        f"{verdict(cold_result.p99_ms <= TARGET_COLD_P99_MS)} |",
        f"| warm ≥ {TARGET_WARM_RATIO:.0%} of the echo | {ratio['warm']:.0%} | "
        f"{verdict(ratio['warm'] >= TARGET_WARM_RATIO)} |",
        f"| irrelevant ≥ {TARGET_IRRELEVANT_RATIO:.0%} of the echo | {ratio['irrelevant']:.0%} | "
        f"{verdict(ratio['irrelevant'] >= TARGET_IRRELEVANT_RATIO)} |",
        f"| CPU per cold request (reported) | {cold_cpu:.2f} ms (echo {cold_echo_cpu:.2f} ms) | |",
    ]
    if soaked is not None:
        end = soaked.rss[-1][0]
        rows.append(
            f"| RSS after {args.soak_seconds} s at c{args.soak_connections}, flat over the last half "
            f"(gain < {RSS_FLAT_MIB:.0f} MiB) | {soaked.at(end):.1f} MiB "
            f"(at {end / 2:.0f} s: {soaked.at(end / 2):.1f}; "
            f"gain {soaked.growth_last_half:+.1f}; {soaked.result.requests_per_second:,.0f} req/s, "
            f"{soaked.result.errors} non-2xx) | {verdict(soaked.growth_last_half < RSS_FLAT_MIB)} |"
        )
    return rows


# Cold runs: a different patient on every request. The cold server keeps its facts cache on (the key is
# computed on every request, as in production) but smaller than the distance between two requests for
# the same patient (bodies / threads), so no request is answered from it.
COLD_CACHE_SIZE = 8
COLD_PATIENTS = {100: 200, 1000: 64, 5000: 24}


def realistic_cases(sizes: list[int]) -> list[tuple[str, bool, list[bytes]]]:
    """(name, cold, bodies): realistic charts by size, cold (100: in ``issue_targets``); Synthea-filled."""
    cases: list[tuple[str, bool, list[bytes]]] = []
    for size in sizes:
        patients = COLD_PATIENTS.get(size, 24)
        if size != 100:  # 100: the targets section (issue_targets)
            bodies = [orjson.dumps(realistic(size, p)) for p in range(patients)]
            cases.append((f"relevant, {size:,} resources, cold", True, bodies))
        if size in (100, 1000):
            synthea = [orjson.dumps(synthea_chart(size, p)) for p in range(patients)]
            cases.append((f"relevant, {size:,} resources from Synthea, cold", True, synthea))
    return cases


def realistic_comparison(args: argparse.Namespace, tmp: Path) -> list[str]:
    """Realistic charts (long medication list, 40 AFPs, liver labs); cold = a different patient every request."""
    cases = realistic_cases([int(s) for s in args.realistic_sizes.split(",") if s])
    rows = [
        "| Payload | service req/s | echo req/s | service/echo | service p50 / p99 ms "
        "| CPU ms/request (service / echo) |",
        "|---|---|---|---|---|---|",
    ]
    app = "cds_service.api.app:create_app"
    cold_env = service_env(tmp, CDS_FACTS_CACHE_SIZE=str(COLD_CACHE_SIZE))
    with (
        server(app, free_port(), args.workers, service_env(tmp), factory=True) as warm,
        server(app, free_port(), args.workers, cold_env, factory=True) as cold,
        server("benchmarks.echo_app:app", free_port(), args.workers, {}) as echo,
    ):
        for index, (name, is_cold, bodies) in enumerate(cases):
            svc = cold if is_cold else warm
            for body in bodies[:2]:
                response = httpx.post(
                    svc + SERVICE_PATH, content=body, headers={"Content-Type": "application/json"}, timeout=30
                )
                response.raise_for_status()
                if "irrelevant" not in name and not response.json()["cards"]:
                    raise RuntimeError(f"{name}: the service answered no card")
            folder = tmp / f"realistic-{index}"
            result, cpu = wrk_bodies(svc + SERVICE_PATH, bodies, folder, args)
            reference, echo_cpu = wrk_bodies(echo + SERVICE_PATH, bodies, folder, args)
            errors = f" ({result.errors} non-2xx)" if result.errors else ""
            rows.append(
                f"| {name}{errors} | {result.requests_per_second:,.0f} | {reference.requests_per_second:,.0f} | "
                f"{result.requests_per_second / reference.requests_per_second:.0%} | "
                f"{result.p50_ms:.1f} / {result.p99_ms:.1f} | {cpu:.2f} / {echo_cpu:.2f} |"
            )
    return rows


def _irrelevant_order(request: dict[str, Any]) -> dict[str, Any]:
    order = request["context"]["draftOrders"]["entry"][0]["resource"]
    order["medicationCodeableConcept"] = {"text": "metoprolol succinate 25 MG Extended Release Oral Tablet"}
    return request


def service_env(tmp: Path, **extra: str) -> dict[str, str]:
    return {
        "CDS_ENVIRONMENT": "development",
        "CDS_AUTH_DISABLED": "true",
        "CDS_LOG_LEVEL": "WARNING",
        "CDS_DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
        **extra,
    }


def load_comparison(args: argparse.Namespace, tmp: Path) -> list[str]:
    cases = [
        ("relevant (100 resources)", relevant(100), "service"),
        ("relevant, facts cache off", relevant(100), "service-cold"),
        ("irrelevant (100 resources)", irrelevant(100), "service"),
    ]
    rows = ["| Payload | App | req/s | p50 ms | p99 ms | service/echo |", "|---|---|---|---|---|---|"]
    ports = {"service": free_port(), "service-cold": free_port(), "echo": free_port()}
    app = "cds_service.api.app:create_app"
    cold_env = service_env(tmp, CDS_FACTS_CACHE_SIZE="0")
    with (
        server(app, ports["service"], args.workers, service_env(tmp), factory=True) as svc,
        server(app, ports["service-cold"], args.workers, cold_env, factory=True) as cold,
        server("benchmarks.echo_app:app", ports["echo"], args.workers, {}) as echo,
    ):
        bases = {"service": svc, "service-cold": cold}
        echo_results: dict[str, WrkResult] = {}
        for index, (name, request, target) in enumerate(cases):
            path = tmp / f"payload-{index}.json"
            path.write_text(json.dumps(request))
            base = bases[target]
            httpx.post(
                base + SERVICE_PATH, content=path.read_bytes(), headers={"Content-Type": "application/json"}, timeout=10
            ).raise_for_status()
            result = wrk(base + SERVICE_PATH, path, args.duration, args.connections, args.threads)
            key = "irrelevant" if "irrelevant" in name else "relevant"
            if key not in echo_results:
                echo_results[key] = wrk(echo + SERVICE_PATH, path, args.duration, args.connections, args.threads)
            reference = echo_results[key]
            ratio = result.requests_per_second / reference.requests_per_second
            errors = f" ({result.errors} non-2xx)" if result.errors else ""
            rows.append(
                f"| {name} | service{errors} | {result.requests_per_second:,.0f} | {result.p50_ms:.2f} | "
                f"{result.p99_ms:.2f} | {ratio:.0%} |"
            )
            rows.append(
                f"| {name} | echo | {reference.requests_per_second:,.0f} | {reference.p50_ms:.2f} | "
                f"{reference.p99_ms:.2f} | |"
            )
    return rows


def _with_extra_medications(request: dict[str, Any], count: int) -> dict[str, Any]:
    """``request`` with ``count`` more non-oncology MedicationStatements (the resources a rule skips)."""
    padded = realistic(100 + count, 0)
    padded["prefetch"] = {**request["prefetch"], "medicationStatements": padded["prefetch"]["medicationStatements"]}
    return padded


async def _per_request(sizes: list[int]) -> list[str]:
    """CPU per request in-process (no HTTP), facts cache off: every request maps its chart."""
    import gc

    from cds_service.cards.models import CdsResponse
    from cds_service.config import Settings
    from cds_service.hooks.models import HookRequest
    from cds_service.hooks.pipeline import HookPipeline
    from cds_service.hooks.services import ORDER_SELECT_ID, service_definitions
    from cds_service.knowledge import load_knowledge

    knowledge = load_knowledge()
    settings = Settings(environment="development", auth_disabled=True, facts_cache_size=0)
    pipeline = HookPipeline(knowledge, settings, clock=lambda: date(2026, 11, 25))
    service = service_definitions(knowledge)[ORDER_SELECT_ID]
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)  # as the app's lifespan does

    async def handle(body: bytes) -> bytes:
        request = HookRequest.model_validate(orjson.loads(body))
        result = await pipeline.run(service, request)
        response: CdsResponse = result.response
        return orjson.dumps(response.to_json())

    async def cpu_ms(request: dict[str, Any]) -> float:
        body = orjson.dumps(request)
        runs = max(7, min(300, 30000 // count_resources(request)))
        samples = []
        for _ in range(runs + 2):
            started = time.process_time()
            await handle(body)
            samples.append(time.process_time() - started)
        return statistics.median(samples[2:]) * 1000

    async def peak_mib(request: dict[str, Any]) -> float:
        tracemalloc.start()
        await handle(orjson.dumps(request))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak / 2**20

    rows = [
        "| Chart | Resources | Body KiB | CPU ms per request (median) | peak MiB (one request) |",
        "|---|---|---|---|---|",
    ]
    charts = [("realistic", size, realistic(size, 1)) for size in sizes]
    charts += [("Synthea-filled", size, synthea_chart(size, 1)) for size in sizes if size <= 1000]
    timings: dict[tuple[str, int], float] = {}
    for name, size, request in charts:
        timings[name, size] = await cpu_ms(request)
        rows.append(
            f"| {name} | {count_resources(request):,} | {len(orjson.dumps(request)) / 1024:,.0f} | "
            f"{timings[name, size]:.2f} | {await peak_mib(request):.1f} |"
        )
    rows.append("")
    base = realistic(100, 1)
    extra = 2000
    skipped_us = (await cpu_ms(_with_extra_medications(base, extra)) - await cpu_ms(base)) * 1000 / extra
    rows.append(f"- Marginal CPU of a skipped medication (realistic 100 + {extra:,}): {skipped_us:.1f} µs (target: 5)")
    if ("realistic", 100) in timings and ("realistic", 1000) in timings:
        ratio = timings["realistic", 1000] / timings["realistic", 100]
        slope = (timings["realistic", 1000] - timings["realistic", 100]) * 1000 / 900
        rows.append(f"- 1,000 / 100 resources: {ratio:.1f} times (target: 3); {slope:.1f} µs per resource added")

    return rows


def fallback(args: argparse.Namespace, tmp: Path) -> list[str]:
    delays = {
        "conditions": 0.15,
        "medicationStatements": 0.1,
        "medicationRequests": 0.08,
        "afp": 0.05,
        "liverLabs": 0.05,
        "medicationAdministrations": 0.05,
        "patient": 0.02,
    }
    fhir_port, service_port = free_port(), free_port()
    with server("benchmarks.fake_fhir:app", fhir_port, 1, {"FAKE_FHIR_DELAYS": json.dumps(delays)}) as fhir:
        env = service_env(tmp, CDS_FHIR_ALLOWED_SERVERS=json.dumps([f"{fhir}/fhir"]), CDS_FHIR_ALLOW_HTTP="true")
        with server("cds_service.api.app:create_app", service_port, 1, env, factory=True) as svc:
            request = relevant(100)
            del request["prefetch"]
            request["fhirServer"] = f"{fhir}/fhir"
            with httpx.Client(timeout=10) as client:
                slowest, hooks = [], []
                for _ in range(15):
                    started = time.perf_counter()
                    client.get(f"{fhir}/fhir/Condition?patient=hcc-sorafenib").raise_for_status()
                    slowest.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    response = client.post(svc + SERVICE_PATH, json=request)
                    hooks.append(time.perf_counter() - started)
                    response.raise_for_status()
                    assert response.json()["cards"], "fallback produced no cards"
    single, hook = statistics.median(slowest) * 1000, statistics.median(hooks) * 1000
    return [
        "| Slowest single FHIR query | Hook call fetching all 7 keys | ratio (target ≤ 1.2) |",
        "|---|---|---|",
        f"| {single:.0f} ms | {hook:.0f} ms | {hook / single:.2f} |",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (issue 29 measures with -t1)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers for both apps")
    parser.add_argument("--sizes", default="100,1000,5000", help="realistic chart sizes, in-process")
    parser.add_argument("--skip-load", action="store_true", help="only the in-process and fallback parts")
    parser.add_argument("--realistic-sizes", default="100,1000,5000", help="realistic chart sizes ('' to skip)")
    parser.add_argument("--only-realistic", action="store_true", help="only the realistic-chart load runs")
    parser.add_argument("--only-targets", action="store_true", help="only issue 29's targets (with the soak)")
    parser.add_argument("--soak-seconds", type=int, default=60, help="RSS soak length (0: no soak)")
    parser.add_argument("--soak-connections", type=int, default=64)
    args = parser.parse_args()
    if not args.skip_load and shutil.which("wrk") is None:
        sys.stderr.write("wrk is not installed (Debian: apt-get install wrk)\n")
        return 2
    print(
        f"# Benchmark, {time.strftime('%Y-%m-%d')}: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; wrk -c{args.connections} "
        f"-t{args.threads} -d{args.duration}s, uvicorn workers={args.workers}\n"
    )
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        if not args.skip_load:
            load = os.getloadavg()
            print(f"## Issue 29's targets (load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})\n")
            print("\n".join(issue_targets(args, tmp)), "\n")
        if args.only_targets:
            return 0
        if not args.skip_load and args.realistic_sizes:
            print("## Realistic charts, larger (cold: a different patient every request)\n")
            print("\n".join(realistic_comparison(args, tmp)), "\n")
        if args.only_realistic:
            return 0
        if not args.skip_load:
            print("## Throughput and latency (targets: relevant ≥ 40% of echo and p99 ≤ 50 ms; irrelevant ≥ 80%)\n")
            print("\n".join(load_comparison(args, tmp)), "\n")
        print("## CPU per request by chart size (in-process, facts cache off: parse, map, sequence, cards, JSON)\n")
        print("\n".join(asyncio.run(_per_request([int(s) for s in args.sizes.split(",")]))), "\n")
        print("## Fallback fetch (no prefetch; FHIR server with set delays, slowest 150 ms)\n")
        print("\n".join(fallback(args, tmp)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
