"""Discovery, status codes with OperationOutcome bodies, CORS preflight, health."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from cds_service.api.app import create_app
from cds_service.config import Settings
from cds_service.hooks.services import ORDER_SELECT_ID, ORDER_SIGN_ID, PATIENT_VIEW_ID
from tests.conftest import AS_OF, load_request

SANDBOX = "https://sandbox.cds-hooks.org"


def assert_outcome(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == code
    assert body["issue"][0]["severity"] == "error"
    return body


def test_discovery_lists_three_services_with_prefetch(client: TestClient) -> None:
    response = client.get("/cds-services")
    assert response.status_code == 200
    services = {s["id"]: s for s in response.json()["services"]}
    assert set(services) == {ORDER_SELECT_ID, ORDER_SIGN_ID, PATIENT_VIEW_ID}
    order_select = services[ORDER_SELECT_ID]
    assert order_select["hook"] == "order-select"
    assert order_select["title"]
    assert order_select["description"]
    prefetch = order_select["prefetch"]
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    assert prefetch["conditions"].startswith("Condition?patient={{context.patientId}}")
    assert prefetch["medicationStatements"].startswith("MedicationStatement?patient={{context.patientId}}")
    assert prefetch["medicationRequests"].startswith("MedicationRequest?patient={{context.patientId}}")
    assert "http://loinc.org|1834-1" in prefetch["afp"]
    for entry in services.values():
        assert all(v not in (None, "", [], {}) for v in entry.values())


def test_happy_path_names_cabozantinib_and_regorafenib_with_trial_links(client: TestClient) -> None:
    response = client.post(f"/cds-services/{ORDER_SELECT_ID}", json=load_request("01-"))
    assert response.status_code == 200
    cards = response.json()["cards"]
    summary = cards[0]["summary"]
    assert "cabozantinib" in summary
    assert "regorafenib" in summary
    assert "preferred" in summary
    urls = {link["url"] for link in cards[0]["links"]}
    assert "https://clinicaltrials.gov/study/NCT01908426" in urls  # CELESTIAL registry
    assert "https://clinicaltrials.gov/study/NCT01774344" in urls  # RESORCE registry
    assert "http://127.0.0.1:8000/knowledge/settings/after_sorafenib" in urls  # publications and the rest there


def test_patient_without_hcc_gets_empty_cards(client: TestClient) -> None:
    response = client.post(f"/cds-services/{ORDER_SELECT_ID}", json=load_request("03-"))
    assert response.status_code == 200
    assert response.json() == {"cards": []}


def test_third_party_crd_request_is_answered_without_cards(client: TestClient) -> None:
    response = client.post(f"/cds-services/{ORDER_SELECT_ID}", json=load_request("90-crd-test-kit-order-select"))
    assert response.status_code == 200
    assert response.json() == {"cards": []}


def test_body_that_is_not_json_is_400(client: TestClient) -> None:
    response = client.post(
        f"/cds-services/{ORDER_SELECT_ID}", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_outcome(response, 400, "invalid")


@pytest.mark.parametrize("field", ["hook", "hookInstance", "context"])
def test_missing_required_field_is_400_naming_it(client: TestClient, field: str) -> None:
    request = load_request("01-")
    del request[field]
    body = assert_outcome(client.post(f"/cds-services/{ORDER_SELECT_ID}", json=request), 400, "invalid")
    assert field in body["issue"][0]["diagnostics"]


@pytest.mark.parametrize("field", ["selections", "draftOrders", "patientId"])
def test_missing_required_context_field_is_400(client: TestClient, field: str) -> None:
    request = load_request("01-")
    del request["context"][field]
    body = assert_outcome(client.post(f"/cds-services/{ORDER_SELECT_ID}", json=request), 400, "invalid")
    assert f"context.{field}" in body["issue"][0]["expression"]


def test_hook_that_does_not_match_the_service_is_400(client: TestClient) -> None:
    request = load_request("01-")
    request["hook"] = "patient-view"
    body = assert_outcome(client.post(f"/cds-services/{ORDER_SELECT_ID}", json=request), 400, "invalid")
    assert "order-select" in body["issue"][0]["diagnostics"]


def test_token_without_fhir_server_is_400(client: TestClient) -> None:
    request = load_request("01-")
    del request["fhirServer"]
    request["fhirAuthorization"] = {
        "access_token": "secret-token-value",
        "token_type": "Bearer",
        "expires_in": 30,
        "scope": "user/*.read",
        "subject": "cds",
    }
    response = client.post(f"/cds-services/{ORDER_SELECT_ID}", json=request)
    assert_outcome(response, 400, "invalid")
    assert "secret-token-value" not in response.text


@pytest.mark.parametrize("body", [[], "a string", 42, None])
def test_body_that_is_not_an_object_is_400(client: TestClient, body: object) -> None:
    response = client.post(
        f"/cds-services/{ORDER_SELECT_ID}",
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    assert_outcome(response, 400, "invalid")


def test_unknown_service_is_404(client: TestClient) -> None:
    assert_outcome(client.post("/cds-services/no-such-service", json=load_request("01-")), 404, "not-found")
    assert_outcome(client.post("/cds-services/no-such-service/feedback", json={"feedback": []}), 404, "not-found")


def test_unknown_path_is_404_operation_outcome(client: TestClient) -> None:
    assert_outcome(client.get("/nothing-here"), 404, "not-found")


def test_body_over_the_limit_is_413(tmp_path: Any) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'f.sqlite3'}", max_body_bytes=2048, log_level="WARNING")
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as small:
        response = small.post(f"/cds-services/{ORDER_SELECT_ID}", json=load_request("01-"))
        assert_outcome(response, 413, "too-long")

        def chunks() -> Any:
            for _ in range(10):
                yield b" " * 1024

        streamed = small.post(
            f"/cds-services/{ORDER_SELECT_ID}", content=chunks(), headers={"content-type": "application/json"}
        )
        assert_outcome(streamed, 413, "too-long")


def test_required_prefetch_missing_without_fhir_access_is_412(client: TestClient) -> None:
    request = load_request("01-")
    del request["prefetch"]["conditions"]
    body = assert_outcome(client.post(f"/cds-services/{ORDER_SELECT_ID}", json=request), 412, "processing")
    assert "conditions" in body["issue"][0]["diagnostics"]
    assert body["issue"][0]["expression"] == ["prefetch.conditions"]


def test_required_prefetch_answered_with_operation_outcome_is_412(client: TestClient) -> None:
    request = load_request("01-")
    request["prefetch"]["medicationStatements"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }
    body = assert_outcome(client.post(f"/cds-services/{ORDER_SELECT_ID}", json=request), 412, "processing")
    assert "medicationStatements" in body["issue"][0]["diagnostics"]


def test_irrelevant_order_needs_no_prefetch(client: TestClient) -> None:
    request = load_request("03-")
    del request["prefetch"]
    request["context"]["draftOrders"]["entry"][0]["resource"]["medicationCodeableConcept"] = {"text": "amoxicillin"}
    response = client.post(f"/cds-services/{ORDER_SELECT_ID}", json=request)
    assert response.status_code == 200
    assert response.json() == {"cards": []}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/cds-services"),
        ("POST", f"/cds-services/{ORDER_SELECT_ID}"),
        ("POST", f"/cds-services/{ORDER_SELECT_ID}/feedback"),
    ],
)
def test_cors_preflight_allows_the_sandbox(client: TestClient, method: str, path: str) -> None:
    response = client.options(
        path,
        headers={
            "Origin": SANDBOX,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SANDBOX
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed
    assert "content-type" in allowed
    assert method in response.headers["access-control-allow-methods"]


def test_cors_refuses_an_origin_not_configured(client: TestClient) -> None:
    response = client.options(
        "/cds-services", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in response.headers


def test_cors_origins_are_configurable(tmp_path: Any) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'f.sqlite3'}",
        log_level="WARNING",
        cors_allowed_origins=["https://ehr.example.org"],
    )
    with TestClient(create_app(settings)) as custom:
        allowed = custom.options(
            "/cds-services", headers={"Origin": "https://ehr.example.org", "Access-Control-Request-Method": "GET"}
        )
        refused = custom.options("/cds-services", headers={"Origin": SANDBOX, "Access-Control-Request-Method": "GET"})
    assert allowed.headers["access-control-allow-origin"] == "https://ehr.example.org"
    assert "access-control-allow-origin" not in refused.headers


def test_health_and_readiness(client: TestClient) -> None:
    from cds_service import __version__
    from cds_service.knowledge import load_knowledge

    expected = {"status": "ok", "version": __version__, "knowledge": load_knowledge().info.version}
    assert client.get("/healthz").json() == expected
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["store"] == "ok"
    assert ready.json()["knowledge"]


def test_readiness_fails_when_the_store_is_unreachable(client: TestClient) -> None:
    store = client.app.state.cds.store  # type: ignore[attr-defined]
    store.engine = create_engine("sqlite:////nonexistent-folder/feedback.sqlite3")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["store"] == "unreachable"


def test_override_reason_code_system_is_served(client: TestClient) -> None:
    body = client.get("/CodeSystem/override-reason").json()
    assert body["resourceType"] == "CodeSystem"
    assert {c["code"] for c in body["concept"]} >= {"patient-preference", "clinical-trial", "other"}
