"""A FHIR server that hangs cannot wedge outbound calls (issue 25, finding 1): each server has its own
pool, a bulkhead and a circuit breaker; a healthy server is reached during and after; the failing server
is reported by ``/readyz`` and ``/metrics``; cancelled fetches release their connections. Also paging:
a 404 after page 1 is a failure, a cut search makes its category incomplete (finding 10)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from cds_service.api.app import create_app
from cds_service.config import Settings
from cds_service.data.fhir_client import FetchLimits, HttpFhirFetcher, ServerPolicy
from cds_service.data.prefetch import FetchRequest, PrefetchSpec, resolve_data
from cds_service.data.server_guard import CircuitState, GuardLimits, ServerGuard, ServerRefused
from cds_service.hooks.services import ORDER_SELECT_ID
from tests.conftest import AS_OF, load_request
from tests.loopback import CountingServer, send_json

SERVICE = f"/cds-services/{ORDER_SELECT_ID}"


class HangingServer:
    """Accepts connections on 127.0.0.1, reads what comes, never answers; counts connections still open."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(512)
        self.port: int = self._listener.getsockname()[1]
        self.accepted = 0
        self.open = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    def __enter__(self) -> HangingServer:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self.open += 1
                self._sockets.append(connection)
            threading.Thread(target=self._drain, args=(connection,), daemon=True).start()

    def _drain(self, connection: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while connection.recv(65536):
                pass
        with self._lock:
            self.open -= 1

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            for connection in self._sockets:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()


def _healthy_answer(handler: Any) -> None:
    """Every search answers with the fixture patient's data for that resource type (an empty Bundle else)."""
    resource_type = handler.path.split("/fhir/", 1)[1].split("?", 1)[0].split("/", 1)[0]
    prefetch = load_request("01-")["prefetch"]
    for value in prefetch.values():
        if isinstance(value, dict) and value.get("resourceType") == resource_type:
            send_json(handler, json.dumps(value).encode())
            return
        entries = value.get("entry", []) if isinstance(value, dict) else []
        if any(e.get("resource", {}).get("resourceType") == resource_type for e in entries):
            send_json(handler, json.dumps(value).encode())
            return
    send_json(handler, b'{"resourceType": "Bundle", "type": "searchset"}')


@pytest.fixture
def hanging() -> Iterator[HangingServer]:
    with HangingServer() as server:
        yield server


@pytest.fixture
def healthy() -> Iterator[CountingServer]:
    with CountingServer(_healthy_answer) as server:
        yield server


def without_prefetch(fhir_server: str) -> dict[str, Any]:
    request = copy.deepcopy(load_request("01-"))
    request.pop("prefetch")
    request["fhirServer"] = fhir_server
    return request


def test_a_hanging_fhir_server_never_keeps_a_healthy_one_from_being_reached(
    hanging: HangingServer, healthy: CountingServer, tmp_path: Path
) -> None:
    settings = Settings(
        environment="development",
        database_url=f"sqlite:///{tmp_path / 'f.sqlite3'}",
        log_level="ERROR",
        fhir_allow_http=True,
        fhir_allowed_servers=[hanging.base, f"{healthy.base}/fhir"],
        fhir_deadline_seconds=1.0,
        fhir_read_timeout_seconds=30.0,  # only the hook's deadline cuts a hanging request
        fhir_server_max_concurrent=10,
        fhir_server_max_queued=20,
        fhir_breaker_failures=5,
        fhir_breaker_open_seconds=60.0,
    )
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as client, ThreadPoolExecutor(40) as pool:
        load = [pool.submit(client.post, SERVICE, json=without_prefetch(hanging.base)) for _ in range(30)]
        time.sleep(0.3)  # the hanging server now holds every slot its bulkhead gives it
        during = client.post(SERVICE, json=without_prefetch(f"{healthy.base}/fhir"))
        statuses = [future.result(timeout=30).status_code for future in load]
        after = client.post(SERVICE, json=without_prefetch(f"{healthy.base}/fhir"))
        ready = client.get("/readyz")
        metrics = client.get("/metrics").text

    assert set(statuses) == {412}  # required data could not be obtained from the hanging server
    for answer in (during, after):
        assert answer.status_code == 200, answer.text
        assert answer.json()["cards"], "the healthy server's data gave cards"
    assert hanging.accepted <= 10 + 5  # one bulkhead's worth, then the circuit opened (refused unsent)
    origin = f"http://127.0.0.1:{hanging.port}"
    assert ready.status_code == 200
    assert ready.json()["fhir_servers"][origin] == CircuitState.OPEN
    assert ready.json()["fhir_servers"][f"http://127.0.0.1:{healthy.port}"] == CircuitState.CLOSED
    assert f'cds_fhir_server_failing{{server="{origin}"}} 1.0' in metrics
    assert f'cds_fhir_server_refused_total{{reason="circuit-open",server="{origin}"}}' in metrics
    deadline = time.monotonic() + 5
    while hanging.open and time.monotonic() < deadline:
        time.sleep(0.1)
    assert hanging.open == 0, "cancelled fetches released their connections to the hanging server"


def test_the_breaker_opens_after_consecutive_failures_probes_once_then_closes() -> None:
    now = [0.0]

    async def scenario() -> list[str]:
        async with httpx.AsyncClient() as shared:
            guard = ServerGuard(
                "https://ehr.example:443",
                GuardLimits(max_concurrent=2, max_queued=0, breaker_failures=3, breaker_open_seconds=10),
                lambda _size: shared,
                clock=lambda: now[0],
                owns_client=False,
            )
            seen = []
            for _ in range(3):
                with contextlib.suppress(httpx.ConnectError):
                    async with guard.call():
                        raise httpx.ConnectError("refused")
            seen.append(guard.state)
            with pytest.raises(ServerRefused, match="circuit open"):
                async with guard.call():
                    pass
            now[0] = 11.0
            seen.append(guard.state)
            async with guard.call():  # the probe succeeds
                pass
            seen.append(guard.state)
            return seen

    assert asyncio.run(scenario()) == [CircuitState.OPEN, CircuitState.HALF_OPEN, CircuitState.CLOSED]


def test_a_full_bulkhead_refuses_at_once_instead_of_queueing() -> None:
    async def scenario() -> str:
        async with httpx.AsyncClient() as shared:
            guard = ServerGuard(
                "https://ehr.example:443",
                GuardLimits(max_concurrent=1, max_queued=1),
                lambda _size: shared,
                owns_client=False,
            )
            release = asyncio.Event()

            async def hold() -> None:
                async with guard.call():
                    await release.wait()

            holders = [asyncio.create_task(hold()) for _ in range(2)]  # one in flight, one queued
            await asyncio.sleep(0.01)
            try:
                async with guard.call():
                    return "called"
            except ServerRefused as refused:
                return str(refused)
            finally:
                release.set()
                await asyncio.gather(*holders)

    assert "busy" in asyncio.run(scenario())


CONDITIONS = PrefetchSpec("conditions", "Condition?patient={{context.patientId}}", "conditions", required=True)
STATEMENTS = PrefetchSpec("statements", "MedicationStatement?patient={{context.patientId}}", "medications", True)


def _page(next_url: str | None, resource_type: str = "Condition") -> bytes:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": {"resourceType": resource_type, "id": "x"}}],
    }
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return json.dumps(bundle).encode()


def test_a_404_on_a_later_page_is_a_fetch_failure_not_page_one_alone() -> None:
    def answer(handler: Any) -> None:
        if "page=2" in handler.path:
            send_json(handler, b'{"resourceType": "OperationOutcome"}', status=404)
        else:
            send_json(handler, _page(f"http://127.0.0.1:{handler.server.server_address[1]}/fhir/Condition?page=2"))

    async def fetch(base: str) -> Any:
        fetcher = HttpFhirFetcher(None, ServerPolicy((base,), allow_http=True))
        try:
            return await fetcher.fetch_missing([CONDITIONS], FetchRequest(base, None, {"patientId": "p1"}))
        finally:
            await fetcher.guards.close()

    with CountingServer(answer) as server:
        outcome = asyncio.run(fetch(f"{server.base}/fhir"))
    assert "conditions" not in outcome.values
    assert "HTTP 404" in outcome.failures["conditions"]
    assert "incomplete" in outcome.failures["conditions"]


def test_a_search_cut_at_the_page_limit_makes_the_medication_history_unknown() -> None:
    def answer(handler: Any) -> None:
        port = handler.server.server_address[1]
        resource_type = handler.path.split("/fhir/", 1)[1].split("?", 1)[0]
        send_json(handler, _page(f"http://127.0.0.1:{port}/fhir/{resource_type}?page=n", resource_type))

    async def resolve(base: str) -> Any:
        fetcher = HttpFhirFetcher(None, ServerPolicy((base,), allow_http=True), FetchLimits(max_pages=2))
        try:
            request = FetchRequest(base, None, {"patientId": "p1"})
            return await resolve_data((CONDITIONS, STATEMENTS), {"conditions": None}, request, fetcher)
        finally:
            await fetcher.guards.close()

    with CountingServer(answer) as server:
        resolved = asyncio.run(resolve(f"{server.base}/fhir"))
    assert resolved.truncated == {"statements"}
    assert resolved.available("conditions")
    assert not resolved.available("medications")


def test_a_prefetch_holding_only_its_first_page_is_incomplete_and_the_card_says_so(client: TestClient) -> None:
    request = copy.deepcopy(load_request("01-"))
    statements = request["prefetch"]["medicationStatements"]
    statements["link"] = [{"relation": "next", "url": "https://ehr.example/fhir/MedicationStatement?page=2"}]
    answer = client.post(SERVICE, json=request)
    assert answer.status_code == 200
    text = json.dumps(answer.json())
    assert "Prior systemic therapy could not be obtained" in text
    assert "only the first page" in text
