"""`cds-service fixtures load` and `cds-service sandbox` against a real FHIR server and a served service."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cds_service.devtools.sandbox import fhir_server, free_port
from tests.conftest import PATIENTS, ROOT
from tests.support.tokens import bearer, client_token, write_registry

ISSUER = "https://ehr.example.org"


def test_fixtures_load_puts_every_patient_on_a_real_server(tmp_path: Path) -> None:
    with fhir_server(tmp_path / "fhir", free_port()) as base:
        result = subprocess.run(  # noqa: S603 - this interpreter running this package
            [sys.executable, "-m", "cds_service", "fixtures", "load", "--fhir-server", base],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        files = sorted(PATIENTS.glob("*.json"))
        assert f"{len(files)} of {len(files)} fixture patients loaded into {base}" in result.stdout
        patient = httpx.get(f"{base}/Patient/hcc-intolerant", timeout=10)
        assert patient.status_code == 200
        statements = httpx.get(f"{base}/MedicationStatement", params={"patient": "hcc-intolerant"}, timeout=10).json()
        assert statements["entry"], "the patient's sorafenib history is on the server"


def test_sandbox_command_prints_urls_serves_with_auth_on_its_port_and_stops_on_sigterm(tmp_path: Path) -> None:
    port, fhir_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    process = subprocess.Popen(  # noqa: S603 - this interpreter running this package
        [
            sys.executable, "-m", "cds_service", "sandbox",
            "--port", str(port), "--fhir-port", str(fhir_port),
            "--data", str(tmp_path / "data"), "--registry", str(write_registry(tmp_path, iss=ISSUER)),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 120
        while not any("Ctrl-C stops everything" in line for line in lines):
            line = process.stdout.readline()
            assert line or process.poll() is None, "".join(lines)
            lines.append(line)
            assert time.monotonic() < deadline, "".join(lines)
        discovery = f"http://127.0.0.1:{port}/cds-services"
        urls = [line.split()[-1] for line in lines if line.strip().startswith(("order-select", "patient-view"))]
        patients = sorted(path.stem for path in PATIENTS.glob("*.json"))
        assert len(urls) == 2 * len(patients)
        query = parse_qs(urlsplit(next(u for u in urls if "hcc-intolerant" in u and "order-select" in u)).query)
        assert query == {
            "fhirServiceUrl": [f"http://127.0.0.1:{fhir_port}/fhir"],
            "patientId": ["hcc-intolerant"],
            "serviceDiscoveryURL": [discovery],
            "hook": ["order-select"],
            "screen": ["rx-view"],
        }
        assert httpx.get(discovery, timeout=10).status_code == 401
        accepted = httpx.get(discovery, headers=bearer(client_token(discovery, iss=ISSUER)), timeout=10)
        assert accepted.status_code == 200  # aud = the URL on the port served: nothing else was set
        assert httpx.get(f"http://127.0.0.1:{fhir_port}/fhir/Patient/hcc-sorafenib", timeout=10).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    for stopped in (port, fhir_port):
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{stopped}/", timeout=2)
