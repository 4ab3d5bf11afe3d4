"""Against a real FHIR R4 server (sekmet-fhir on localhost): no prefetch gives the same cards as full prefetch."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from cds_service.api.app import create_app
from cds_service.config import Settings
from cds_service.hooks.services import ORDER_SELECT_ID
from tests.conftest import AS_OF, PATIENTS, load_request

CASES = ["01-", "04-", "05-", "06-", "07-", "08-", "09-", "11-", "12-", "13-", "14-", "17-", "18-", "19-"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def fhir_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    executable = shutil.which("sekmet", path=str(Path(sys.executable).parent)) or shutil.which("sekmet")
    if executable is None:
        pytest.fail("sekmet-fhir is not installed: pip install -e '.[dev]'")
    folder = tmp_path_factory.mktemp("fhir-server")
    port = _free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    (folder / "settings.yaml").write_text(
        f"base_url: {base}\nhost: 127.0.0.1\nport: {port}\nsimulator: {{enabled: false}}\n"
        "validation: {inbound: warn}\nlog_inbound: false\n"
    )
    env = {**os.environ, "SEKMET_CONFIG": str(folder / "settings.yaml"), "SEKMET_DB": str(folder / "fhir.db")}
    log = (folder / "server.log").open("w")
    process = subprocess.Popen([executable, "serve"], cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/metadata", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"FHIR server did not start: {(folder / 'server.log').read_text()[-2000:]}")
            time.sleep(0.3)
        for bundle in sorted(PATIENTS.glob("*.json")):
            response = httpx.post(
                base, content=bundle.read_bytes(), headers={"Content-Type": "application/fhir+json"}, timeout=30
            )
            assert response.status_code == 200, (bundle.name, response.text[:500])
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def client(fhir_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("service")
    settings = Settings(
        environment="development",  # a plain-http FHIR server on loopback
        database_url=f"sqlite:///{folder / 'f.sqlite3'}",
        log_level="WARNING",
        fhir_allowed_servers=[fhir_server],
        fhir_allow_http=True,
        auth_disabled=True,
    )
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as test_client:
        yield test_client


@pytest.mark.parametrize("name", CASES)
def test_no_prefetch_gives_the_same_cards_as_full_prefetch(client: TestClient, fhir_server: str, name: str) -> None:
    with_prefetch = load_request(name)
    without: dict[str, Any] = json.loads(json.dumps(with_prefetch))
    del without["prefetch"]
    without["fhirServer"] = fhir_server
    expected = client.post(f"/cds-services/{ORDER_SELECT_ID}", json=with_prefetch)
    fetched = client.post(f"/cds-services/{ORDER_SELECT_ID}", json=without)
    assert expected.status_code == fetched.status_code == 200, fetched.text
    assert fetched.json()["cards"], "the fixture should produce cards"
    assert fetched.json() == expected.json()


def test_unknown_patient_on_a_real_server_has_no_hcc(client: TestClient, fhir_server: str) -> None:
    request = load_request("01-")
    del request["prefetch"]
    request["fhirServer"] = fhir_server
    request["context"]["patientId"] = "nobody-here"
    response = client.post(f"/cds-services/{ORDER_SELECT_ID}", json=request)
    assert response.status_code == 200
    assert response.json() == {"cards": []}
