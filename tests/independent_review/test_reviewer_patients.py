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
    "r01-atezo-bev-cycle7-sign": "unsafe: cycle 7 of the current first line warned 'already received', replacements",
    "r02-cabo-renewal-select": "unsafe: a renewal of current cabozantinib warned 'already received (line 2)'",
    "r03-on-first-line-patient-view": "unsafe: a patient on first line shown second-line options as if it had ended",
    "r06-camrelizumab-rivoceranib-rego": "unsafe: camrelizumab + rivoceranib ignored, 'no prior systemic therapy'",
    "r07-study-drug-text-view": "safe but not as §6.5 asks: no card names the 'study drug' line",
    "r08-tislelizumab-cabo-sign": "unsafe: prior tislelizumab ignored; 'no prior systemic therapy', one-click",
    "r09-sora-hfsr-text-rego": "unsafe: 'Grade 3 hand-foot skin reaction' read as no reason; regorafenib preferred",
    "r10-lenva-intolerance-rego-sign": "unsafe: regorafenib after lenvatinib intolerance signed with no caveat",
    "r12-sora-unclear-reason-rego-sign": "unsafe: an unclear stop reason not quoted nor taken as possible intolerance",
    "r13-atezo-then-bev-late-cabo": "unsafe: bevacizumab added 6 weeks after atezolizumab counted as a second line",
    "r14-atezo-then-bev-late-view": "unsafe: bevacizumab added late counted as a second line (patient-view)",
    "r15-nivo-alone-order-select": "safe, not as §6.5 asks: nivolumab picked first warns, not naming the combination",
    "r18-cometriq-140-select": "unsafe: Cometriq 140 mg capsules get no product warning",
    "r19-cometriq-code-only-sign": "unsafe: Cometriq by RxNorm 1363273 gets no card at order-sign",
    "r20-rego-dose-change-current": "unsafe: a dose change of current regorafenib warned 'already received', one-click",
    "r21-olt-text-tacrolimus-pembro": "unsafe: 'S/p OLT 2019 ... on tacrolimus' in text missed; no transplant caution",
    "r22-no-rejection-transplanted-liver": "unsafe: negation of 'rejection' swallowed the transplant; no card",
    "r23-tx-evaluation-not-candidate": "unsafe: a transplant evaluation raised a false critical transplant card",
    "r24-pembro-ir-colitis-nivo-ipi": "unsafe: 'Grade 3 immune-mediated colitis' stop reason missed; no card",
    "r25-gpa-m3131-pembro": "unsafe: granulomatosis with polyangiitis (M31.31) raised no autoimmune caution",
    "r26-family-history-ra-nivo-ipi": "unsafe: a family history of rheumatoid arthritis raised an autoimmune caution",
    "r28-hbv-no-antiviral-nivo-ipi": "unsafe: hepatitis B with no antiviral on record: no note",
    "r31-albumin-26-no-unit": "unsafe: albumin 26 without a unit used as if normal",
    "r32-c220-probable-lung-mets-ramu": "unsafe: coded confirmed C22.0 discarded for its text; no AFP warning",
    "r36-pregnant-patient-view": "unsafe: pregnancy not said to be outside the trials; regimens preferred",
    "r37-age-15-cabo": "unsafe: age 15 not said to be outside the trials; regimens preferred",
    "r38-fibrolamellar-view": "unsafe: fibrolamellar carcinoma not said to be outside the trials",
    "r39-a6-ascites-he-uncoded": "safe but not as revised §6.2 asks: minimum A6 still warns",
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
