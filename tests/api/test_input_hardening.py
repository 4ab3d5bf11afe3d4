"""Bad input is a clear 4xx, never a 500 (issue 13, items 2 and 5): Content-Type, field lengths and NUL
bytes (also on a real PostgreSQL), a Medication with a non-string coding.system, /metrics and the docs
protected, and the OpenAPI document declaring the bodies."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from fastapi.testclient import TestClient

from cds_service.api.app import create_app
from cds_service.config import Settings
from cds_service.hooks.services import ORDER_SELECT_ID, ORDER_SIGN_ID, PATIENT_VIEW_ID
from cds_service.store.migrate import upgrade
from tests.conftest import AS_OF, load_request
from tests.loopback import postgres_schema

SERVICE = f"/cds-services/{ORDER_SELECT_ID}"
FEEDBACK = f"{SERVICE}/feedback"
OPERATOR_TOKEN = "operator-token-of-at-least-32-characters"


def feedback_item(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "card": "0f3c8a52-1111-4a7e-9a55-6f0d8c2e7b01",
        "outcome": "overridden",
        "outcomeTimestamp": "2026-11-25T10:00:00Z",
        "overrideReason": {"reason": {"system": "urn:x", "code": "other"}, "userComment": "ok"},
    }
    item.update(overrides)
    return {k: v for k, v in item.items() if v is not None}


def assert_400(response: Any) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/fhir+json", "json"]
)
@pytest.mark.parametrize("path", [SERVICE, FEEDBACK])
def test_post_without_json_content_type_is_415(client: TestClient, path: str, content_type: str | None) -> None:
    body = b'{"feedback": []}' if path == FEEDBACK else b"{}"
    headers = {"content-type": content_type} if content_type else {}
    response = client.post(path, content=body, headers=headers)
    assert response.status_code == 415
    assert response.json()["issue"][0]["code"] == "not-supported"


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"])
def test_json_content_type_with_or_without_charset_is_accepted(client: TestClient, content_type: str) -> None:
    import json

    response = client.post(SERVICE, content=json.dumps(load_request("01-")), headers={"content-type": content_type})
    assert response.status_code == 200
    assert response.json()["cards"]


BAD_FEEDBACK = {
    "card-65-chars": feedback_item(card="c" * 65),
    "card-nul": feedback_item(card="card\x00uuid"),
    "timestamp-41-chars": feedback_item(outcomeTimestamp="2" * 41),
    "code-129-chars": feedback_item(overrideReason={"reason": {"code": "x" * 129}}),
    "system-513-chars": feedback_item(overrideReason={"reason": {"system": "s" * 513, "code": "other"}}),
    "comment-nul": feedback_item(overrideReason={"userComment": "bad\x00comment"}),
    "comment-too-long": feedback_item(overrideReason={"userComment": "x" * 4001}),
    "suggestion-id-too-long": feedback_item(outcome="accepted", acceptedSuggestions=[{"id": "s" * 129}]),
    "card-number": feedback_item(card=12345),
    "card-object": feedback_item(card={"id": "x"}),
    "too-many-suggestions": feedback_item(outcome="accepted", acceptedSuggestions=[{"id": f"s{i}"} for i in range(21)]),
}


def _bad_feedback_is_400_and_nothing_stored(client: TestClient, case: str) -> None:
    good = feedback_item(card="good-card")
    assert_400(client.post(FEEDBACK, json={"feedback": [good, BAD_FEEDBACK[case]]}))
    assert client.app.state.cds.store.count() == 0  # type: ignore[attr-defined]
    assert client.post(FEEDBACK, json={"feedback": [good]}).status_code == 200
    assert client.app.state.cds.store.count() == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", sorted(BAD_FEEDBACK))
def test_bad_feedback_field_is_400_on_sqlite(client: TestClient, case: str) -> None:
    _bad_feedback_is_400_and_nothing_stored(client, case)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


@pytest.fixture
def postgres_client(postgres_schema_url: str) -> Iterator[TestClient]:
    from sqlalchemy import create_engine

    engine = create_engine(postgres_schema_url)  # a schema of its own: engineers and CI runs share the database
    upgrade(engine)
    engine.dispose()
    settings = Settings(environment="development", database_url=postgres_schema_url, log_level="WARNING")
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as test_client:
        yield test_client


@pytest.mark.parametrize("case", sorted(BAD_FEEDBACK))
def test_bad_feedback_field_is_400_on_postgresql(postgres_client: TestClient, case: str) -> None:
    _bad_feedback_is_400_and_nothing_stored(postgres_client, case)


def test_too_many_feedback_items_are_400(client: TestClient) -> None:
    items = [feedback_item(card=f"card-{i}") for i in range(101)]
    assert_400(client.post(FEEDBACK, json={"feedback": items}))
    assert client.post(FEEDBACK, json={"feedback": items[:100]}).status_code == 200


@pytest.mark.parametrize("hook_instance", ["h" * 129, "nul\x00byte", ""])
def test_bad_hook_instance_is_400(client: TestClient, hook_instance: str) -> None:
    request = load_request("01-")
    request["hookInstance"] = hook_instance
    response = client.post(SERVICE, json=request)
    assert_400(response)
    assert "hookInstance" in response.json()["issue"][0]["diagnostics"]


def _with_referenced_medication(request: dict[str, Any], system: Any) -> dict[str, Any]:
    request = copy.deepcopy(request)
    medication = {
        "resourceType": "Medication",
        "id": "odd-med",
        "code": {"coding": [{"system": system, "code": "597747", "display": "sorafenib"}], "text": "sorafenib"},
    }
    statement = {
        "resourceType": "MedicationStatement",
        "id": "odd-statement",
        "status": "completed",
        "subject": {"reference": f"Patient/{request['context']['patientId']}"},
        "medicationReference": {"reference": "Medication/odd-med"},
        "effectivePeriod": {"start": "2025-01-01", "end": "2025-06-01"},
    }
    bundle = request["prefetch"]["medicationStatements"]
    bundle.setdefault("entry", []).extend([{"resource": statement}, {"resource": medication}])
    contained = {**medication, "id": "odd-contained"}
    for entry in request["context"].get("draftOrders", {}).get("entry", []):
        entry["resource"]["contained"] = [contained]
    return request


@pytest.mark.parametrize("system", [["http://www.nlm.nih.gov/research/umls/rxnorm"], {"a": 1}, 42, True])
@pytest.mark.parametrize(
    ("service", "fixture"),
    [(ORDER_SELECT_ID, "01-"), (ORDER_SIGN_ID, "10-"), (PATIENT_VIEW_ID, "02-")],
)
def test_medication_with_a_non_string_coding_system_is_not_a_500(
    client: TestClient, service: str, fixture: str, system: Any
) -> None:
    response = client.post(f"/cds-services/{service}", json=_with_referenced_medication(load_request(fixture), system))
    assert response.status_code == 200, response.text
    assert "cards" in response.json()


def _app(tmp_path: Path, **overrides: Any) -> TestClient:
    settings = Settings(
        environment="development", database_url=f"sqlite:///{tmp_path / 'f.sqlite3'}", log_level="WARNING", **overrides
    )
    return TestClient(create_app(settings, clock=lambda: AS_OF))


@pytest.mark.parametrize("path", ["/metrics", "/docs", "/openapi.json"])
def test_metrics_and_docs_can_be_off_token_or_open(tmp_path: Path, path: str) -> None:
    with _app(tmp_path, metrics_access="off", docs_access="off") as off:
        assert off.get(path).status_code == 404
    token = {"metrics_access": "token", "docs_access": "token", "operator_token": OPERATOR_TOKEN}
    with _app(tmp_path, **token) as guarded:
        assert guarded.get(path).status_code == 401
        assert guarded.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert guarded.get(path, headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}).status_code == 200
        assert guarded.get("/healthz").status_code == 200
    with _app(tmp_path, metrics_access="open", docs_access="open") as open_:
        assert open_.get(path).status_code == 200


def test_metrics_and_docs_are_off_by_default_in_production(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'f.sqlite3'}"
    engine = sqlalchemy.create_engine(database_url)
    upgrade(engine)
    engine.dispose()
    registry = tmp_path / "clients.json"  # production refuses the example's development-only sandbox entry
    registry.write_text('{"clients": [{"iss": "https://ehr.example.org", "jwks": {"keys": []}}]}')
    settings = Settings(
        environment="production",
        database_url=database_url,
        public_base_url="https://cds.hospital.example",
        auth_disabled=False,
        client_registry_path=str(registry),
    )
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as client:
        for path in ("/metrics", "/docs", "/openapi.json"):
            assert client.get(path).status_code == 404
        assert client.get("/healthz").status_code == 200


def test_openapi_declares_the_hook_request_and_feedback_bodies(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    for service, hook, context in [
        (ORDER_SELECT_ID, "order-select", "OrderSelectContext"),
        (ORDER_SIGN_ID, "order-sign", "OrderSignContext"),
        (PATIENT_VIEW_ID, "patient-view", "PatientViewContext"),
    ]:
        operation = document["paths"][f"/cds-services/{service}"]["post"]
        reference = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        body = schemas[reference.rsplit("/", 1)[1]]
        assert body["properties"]["hook"]["const"] == hook
        assert body["properties"]["context"]["$ref"].endswith(f"/{context}")
        assert body["properties"]["hookInstance"]["maxLength"] == 128
        assert "422" not in operation["responses"]
        assert {"400", "415", "503"} <= set(operation["responses"])
    feedback = document["paths"]["/cds-services/{service_id}/feedback"]["post"]
    assert feedback["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/FeedbackRequest")
    assert schemas["FeedbackItem"]["properties"]["card"]["maxLength"] == 64
    assert set(feedback["parameters"][0]["schema"]["enum"]) == {ORDER_SELECT_ID, ORDER_SIGN_ID, PATIENT_VIEW_ID}
