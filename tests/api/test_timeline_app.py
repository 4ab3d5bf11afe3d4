"""The timeline app's service side: one reading of the chart (the cards' own), served under a strict policy."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.config import Settings
from cds_service.hooks.services import PATIENT_VIEW_ID
from tests.conftest import REQUESTS

REVIEWER_PATIENTS = Path(__file__).resolve().parent.parent / "independent_review" / "patients"
# Every fixture request, and the independent reviewer's forty patients (real-shaped charts).
FIXTURES = sorted(REQUESTS.glob("*.json")) + sorted(REVIEWER_PATIENTS.glob("r*.json"))


def chart_resources(prefetch: dict[str, Any]) -> list[dict[str, Any]]:
    """What the app posts: every resource the chart queries returned, flattened."""
    resources: list[dict[str, Any]] = []
    for value in prefetch.values():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            resources += [entry["resource"] for entry in value.get("entry", []) if "resource" in entry]
        elif isinstance(value, dict):
            resources.append(value)
    return resources


def patient_view(request: dict[str, Any]) -> dict[str, Any]:
    """The same patient and chart as a patient-view call."""
    return {
        "hook": "patient-view",
        "hookInstance": request["hookInstance"],
        "fhirServer": request.get("fhirServer"),
        "context": {"userId": "Practitioner/onc-1", "patientId": request["context"]["patientId"]},
        "prefetch": request["prefetch"],
    }


def read(client: TestClient, request: dict[str, Any]) -> dict[str, Any]:
    body = {"patient": request["context"]["patientId"], "resources": chart_resources(request["prefetch"])}
    response = client.post("/app/reading", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def without_uuid(card: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in card.items() if key != "uuid"}


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_the_app_and_the_cards_read_the_chart_the_same_way(client: TestClient, path: Path) -> None:
    request = json.loads(path.read_text(encoding="utf-8"))
    if not request.get("prefetch"):
        pytest.skip("no prefetch: the chart comes from a FHIR server")
    cards = client.post(f"/cds-services/{PATIENT_VIEW_ID}", json=patient_view(request))
    assert cards.status_code == 200, cards.text
    answer = read(client, request)
    reading = answer["reading"]
    if cards.json()["cards"]:
        [card] = cards.json()["cards"]
        assert without_uuid(reading["advice"]["card"]) == without_uuid(card)  # same facts, rules and words
        assert reading["advice"]["summary"] == card["summary"]
        for line in reading["lines"]:  # every line drawn is a line the card lists, with its sources
            assert f"- Line {line['number']}: " in card["detail"]
            assert all(source["reference"] in card["detail"] for source in line["sources"][:4])
        if reading["afp"]["used"]:
            assert reading["afp"]["used"] in card["detail"]
            assert 'id="afp-chart"' in answer["html"]
        for caution in reading["cautions"]:  # each caution the app lists is a fact the card used, same source
            assert caution["reference"] in card["detail"]
        shown = "| Regimen | Place |" in card["detail"]  # a card may leave the table out (first line in progress)
        for option in reading["advice"]["options"] if shown else []:
            assert f"| {option['label']} | {option['place']} |" in card["detail"]
    else:  # patient-view says nothing without HCC or without a prior line; the app says why
        assert not reading["advice"]["applicable"] or not reading["lines"]


def test_the_timeline_patient_is_drawn_with_its_course(client: TestClient) -> None:
    answer = read(client, json.loads((REQUESTS / "21-hcc-timeline-patient-view.json").read_text(encoding="utf-8")))
    reading = answer["reading"]
    assert [line["label"] for line in reading["lines"]] == ["Sorafenib", "Regorafenib"]
    assert reading["lines"][0]["howEnded"] == "stopped for progression"
    assert reading["lines"][1]["end"] is None
    results = reading["afp"]["results"]
    assert len(results) == 20
    assert [r["reference"] for r in results if r["used"]] == ["Observation/hcc-timeline-afp-20"]
    assert reading["afp"]["used"] == "Observation/hcc-timeline-afp-20"
    [iu] = [r for r in results if not r["comparable"]]
    assert iu["unit"] == "IU/mL"
    assert "not comparable" in iu["note"]
    assert iu["valueNgPerMl"] is None
    assert [r["date"] for r in results] == sorted(r["date"] for r in results)
    course = reading["liver"]["results"]
    assert [c["date"] for c in course] == ["2025-04-10", "2025-10-10", "2026-04-10", "2026-11-10"]
    assert course[-1]["childPugh"]["class"] == reading["liver"]["current"]["class"]
    assert "ascites/encephalopathy not recorded" in course[0]["childPugh"]["missing"]
    html = answer["html"]
    assert 'data-cutoff="400"' in html
    assert html.count('class="afp-point') == 20
    assert html.count("<title") >= 20  # every mark has its text
    assert "<script" not in html
    assert " style=" not in html  # nothing the Content-Security-Policy would block


def test_app_pages_are_served_under_a_strict_content_security_policy(client: TestClient) -> None:
    for path in ("/app/", "/app/launch", "/app/smart.js", "/app/timeline.js", "/app/app.css", "/app/config.json"):
        response = client.get(path)
        assert response.status_code == 200, path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self';" in policy
        assert "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy
        assert response.headers["referrer-policy"] == "no-referrer"
    page = client.get("/app/").text
    assert '<script type="module" src="timeline.js">' in page
    assert "https://" not in page  # no CDN
    assert client.get("/app/other.js").status_code == 404


def test_connect_src_names_the_fhir_servers_and_nothing_else(tmp_path: Path) -> None:
    from cds_service.api.timeline_app import content_security_policy

    settings = Settings(
        environment="development",
        database_url=f"sqlite:///{tmp_path / 'f.sqlite3'}",
        fhir_allowed_servers=["https://ehr.example.org/fhir/r4"],
        smart_allowed_origins=["https://auth.example.org"],
    )
    policy = content_security_policy(settings)
    assert "connect-src 'self' https://ehr.example.org https://auth.example.org;" in policy


def test_the_app_asks_for_read_only_patient_scopes(client: TestClient) -> None:
    config = client.get("/app/config.json").json()
    v2, v1 = config["scopesV2"].split(), config["scopesV1"].split()
    assert "patient/Observation.rs" in v2
    assert "patient/MedicationStatement.rs" in v2
    assert all(scope.startswith("patient/") and scope.endswith(".rs") for scope in v2)
    assert all(scope.startswith("patient/") and scope.endswith(".read") and "*" not in scope for scope in v1)
    assert config["clientId"] == "hcc-timeline"


@pytest.mark.parametrize(
    ("body", "status", "where"),
    [
        ({"patient": "p 1", "resources": []}, 400, "patient"),
        ({"patient": "p1"}, 400, "resources"),
        ({"patient": "p1", "resources": [], "accessToken": "x"}, 400, "accessToken"),  # a token is never taken
        ({"patient": "p1", "resources": "none"}, 400, "resources"),
    ],
)
def test_bad_reading_requests_are_400s(client: TestClient, body: dict[str, Any], status: int, where: str) -> None:
    response = client.post("/app/reading", json=body)
    assert response.status_code == status
    assert response.json()["resourceType"] == "OperationOutcome"
    assert where in response.text


def test_a_reading_is_json_only_and_nothing_is_stored(client: TestClient, settings: Settings) -> None:
    assert client.post("/app/reading", content=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415
    request = json.loads((REQUESTS / "21-hcc-timeline-patient-view.json").read_text(encoding="utf-8"))
    read(client, request)
    with sqlite3.connect(settings.database_url.removeprefix("sqlite:///")) as db:
        assert db.execute("SELECT COUNT(*) FROM cds_issued_card").fetchone() == (0,)


def test_one_bad_resource_does_not_sink_the_reading(client: TestClient) -> None:
    request = json.loads((REQUESTS / "21-hcc-timeline-patient-view.json").read_text(encoding="utf-8"))
    resources = chart_resources(request["prefetch"])
    broken = dict(next(r for r in resources if r["id"] == "hcc-timeline-afp-20"), status=42)
    resources = [broken if r["id"] == "hcc-timeline-afp-20" else r for r in resources]
    response = client.post("/app/reading", json={"patient": "hcc-timeline", "resources": resources})
    assert response.status_code == 200
    reading = response.json()["reading"]
    assert len(reading["afp"]["results"]) == 19
    assert reading["afp"]["used"] == "Observation/hcc-timeline-afp-19"


def test_a_checkpoint_inhibitor_stopped_for_intolerance_is_a_caution_with_its_source(client: TestClient) -> None:
    request = json.loads(next(REQUESTS.glob("01-*.json")).read_text(encoding="utf-8"))
    resources = chart_resources(request["prefetch"])
    resources.append(
        {
            "resourceType": "MedicationStatement",
            "id": "nivolumab-stopped",
            "status": "stopped",
            "medicationCodeableConcept": {"text": "nivolumab 10 MG/ML Injectable Solution [Opdivo]"},
            "subject": {"reference": "Patient/hcc-sorafenib"},
            "effectivePeriod": {"start": "2026-10-05", "end": "2026-11-01"},
            "statusReason": [
                {
                    "coding": [{"system": "http://snomed.info/sct", "code": "407563006"}],
                    "text": "Immune-related hepatitis grade 3",
                }
            ],
        }
    )
    body = {"patient": request["context"]["patientId"], "resources": resources}
    reading = client.post("/app/reading", json=body).json()["reading"]
    [caution] = [c for c in reading["cautions"] if c["label"].startswith("Prior immune toxicity")]
    assert "stopped for intolerance" in caution["text"]
    assert caution["reference"].startswith("MedicationStatement/")
    assert "prior_immune_toxicity" in {gate["id"] for gate in reading["advice"]["gates"]}


def test_production_refuses_a_plain_http_smart_origin() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"CDS_SMART_ALLOWED_ORIGINS entry 'http://auth\.example\.org'"):
        Settings(
            environment="production",
            public_base_url="https://cds.example.org",
            client_registry_path="config/clients.example.yaml",
            smart_allowed_origins=["http://auth.example.org"],
        )


def test_recommendation_and_does_not_fit_cards_link_the_timeline_as_a_smart_app(client: TestClient) -> None:
    from cds_service.hooks.services import ORDER_SELECT_ID
    from tests.conftest import load_request

    cards = client.post(f"/cds-services/{ORDER_SELECT_ID}", json=load_request("04-")).json()["cards"]
    assert len(cards) >= 2
    for card in cards[:2]:  # the recommendation, then "does not fit"
        smart = [link for link in card["links"] if link["type"] == "smart"]
        assert smart == [{"label": "Open timeline", "url": "http://127.0.0.1:8000/app/launch", "type": "smart"}]
        assert len(card["links"]) <= 5
        assert card["links"][-1]["label"] == "All options and trials for this setting"
    assert any(card["indicator"] == "warning" for card in cards[:2])
