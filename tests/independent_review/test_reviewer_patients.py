"""Forty patients written by an independent reviewer (an oncology pharmacist who had not seen the code) from
docs/clinical-sequencing.md §6.2 and §6.5 alone, each with the reviewer's checks of a safe answer.

They run through the HTTP API with "today" pinned to the date they were written for. A patient the service
still answers unsafely is listed in ``STILL_UNSAFE`` with the reason; the test then expects its checks to
fail (strict), so a fix shows up as a test to update, never silently.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from cds_service.api.app import create_app
from cds_service.config import Settings
from tests.independent_review.checks import check_failures

PATIENTS = Path(__file__).resolve().parent / "patients"
WRITTEN_FOR = dt.date(2026, 12, 5)
SERVICE_BY_HOOK = {
    "order-select": "hcc-second-line-order-select",
    "order-sign": "hcc-second-line-order-sign",
    "patient-view": "hcc-second-line-patient-view",
}

# Patient id -> why the answer is still not the safe one (the reviewer's verdict, kept current).
STILL_UNSAFE: dict[str, str] = {
    # §6.5 reads an unclear reason as unknown for the regorafenib gate: an info statement, which order-sign does
    # not show (only misfits); order-select quotes it and asks why (s65-sorafenib-unclear-text-regorafenib-select).
    "r12-sora-unclear-reason-rego-sign": "policy question: order-sign silent on an unclear sorafenib stop reason",
    "r28-hbv-no-antiviral-nivo-ipi": "unsafe: a fitting order-sign gets no card, so the hepatitis B note is unseen",
}

IDS = sorted(path.stem for path in PATIENTS.glob("r*.yaml"))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    database = tmp_path_factory.mktemp("review") / "store.sqlite3"
    settings = Settings(
        environment="development", database_url=f"sqlite:///{database}", log_level="ERROR", auth_disabled=True
    )
    with TestClient(create_app(settings, clock=lambda: WRITTEN_FOR)) as started:
        yield started


def test_the_reviewer_wrote_forty_patients_over_every_hook() -> None:
    specs = [yaml.safe_load((PATIENTS / f"{pid}.yaml").read_text(encoding="utf-8")) for pid in IDS]
    assert len(specs) == 40
    assert {spec["hook"] for spec in specs} == set(SERVICE_BY_HOOK)


@pytest.mark.parametrize("patient_id", IDS)
def test_reviewer_patient_gets_a_safe_answer(client: TestClient, patient_id: str) -> None:
    spec: dict[str, Any] = yaml.safe_load((PATIENTS / f"{patient_id}.yaml").read_text(encoding="utf-8"))
    request = json.loads((PATIENTS / f"{patient_id}.json").read_text(encoding="utf-8"))
    response = client.post(f"/cds-services/{SERVICE_BY_HOOK[spec['hook']]}", json=request)
    assert response.status_code == 200, response.text
    failures = check_failures(spec["checks"], response.json())
    if patient_id in STILL_UNSAFE:
        assert failures, f"{patient_id} is now answered safely: remove it from STILL_UNSAFE"
        pytest.xfail(STILL_UNSAFE[patient_id])
    assert not failures, f"{patient_id} ({spec['bullet']}): {spec['safe_answer']}\n  - " + "\n  - ".join(failures)
