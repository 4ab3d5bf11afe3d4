"""One JSON log format, an access line per request with its request id, the caller's trace context passed on,
refusals logged with their reason; never a token or a patient name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient

from cds_service.api.access_log import valid_traceparent
from cds_service.api.app import create_app
from cds_service.config import Settings
from cds_service.hooks.services import ORDER_SELECT_ID
from tests.conftest import AS_OF, load_request

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def json_lines(err: str) -> list[dict[str, Any]]:
    """Every line the service wrote: each must be a JSON object."""
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def access_lines(err: str) -> list[dict[str, Any]]:
    return [line for line in json_lines(err) if line["logger"] == "cds_service.access"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        environment="development",
        database_url=f"sqlite:///{tmp_path / 'feedback.sqlite3'}",
        log_level="INFO",
        fhir_allowed_servers=["https://ehr.example.org/fhir"],
    )


def test_a_given_request_id_is_returned_and_on_the_access_line(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as client:
        capfd.readouterr()
        answered = client.post(
            f"/cds-services/{ORDER_SELECT_ID}", json=load_request("01-"), headers={"X-Request-ID": "ehr-42.a:b"}
        )
        made = client.get("/healthz", headers={"X-Request-ID": "not a valid id; " + "x" * 200})
    assert answered.status_code == 200
    assert answered.headers["x-request-id"] == "ehr-42.a:b"
    assert len(made.headers["x-request-id"]) == 32  # a new id where the given one is not a plain token
    lines = json_lines(capfd.readouterr().err)
    hook = next(line for line in lines if line["message"] == "hook answered")
    assert hook["request_id"] == "ehr-42.a:b"  # every line of the request, not only the access line
    first, second = access_lines("\n".join(json.dumps(line) for line in lines))
    assert first["path"] == f"/cds-services/{ORDER_SELECT_ID}"
    assert (first["method"], first["status"], first["request_id"]) == ("POST", 200, "ehr-42.a:b")
    assert first["duration_ms"] > 0
    assert (second["status"], second["request_id"]) == (200, made.headers["x-request-id"])


@pytest.mark.parametrize(
    ("call", "status", "reason"),
    [
        (lambda c: c.get("/nothing-here"), 404, "Not Found"),
        (
            lambda c: c.post(f"/cds-services/{ORDER_SELECT_ID}", content=b"{}", headers={"content-type": "text/plain"}),
            415,
            "Content-Type must be application/json",
        ),
        (
            lambda c: c.post(
                f"/cds-services/{ORDER_SELECT_ID}", content=b"{nope", headers={"content-type": "application/json"}
            ),
            400,
            "Request body is not valid JSON",
        ),
        (
            lambda c: c.post("/cds-services/no-such-service", json=load_request("01-")),
            404,
            "No CDS service with id 'no-such-service'",
        ),
    ],
    ids=["404 path", "415", "400", "404 service"],
)
def test_refusals_are_logged_with_their_reason(
    settings: Settings, capfd: pytest.CaptureFixture[str], call: Any, status: int, reason: str
) -> None:
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as client:
        capfd.readouterr()
        assert call(client).status_code == status
    [line] = access_lines(capfd.readouterr().err)
    assert (line["status"], line["reason"], line["level"]) == (status, reason, "WARNING")


def test_the_callers_trace_context_reaches_the_fhir_server_and_the_logs(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    request = load_request("01-")
    del request["prefetch"]["afp"]  # fetched from the EHR's FHIR server
    with respx.mock(assert_all_called=True) as fhir:
        route = fhir.get(url__startswith="https://ehr.example.org/fhir/Observation").mock(
            return_value=httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "entry": []})
        )
        with TestClient(create_app(settings, clock=lambda: AS_OF)) as client:
            capfd.readouterr()
            response = client.post(
                f"/cds-services/{ORDER_SELECT_ID}", json=request, headers={"traceparent": TRACEPARENT}
            )
    assert response.status_code == 200
    assert route.calls.last.request.headers["traceparent"] == TRACEPARENT
    [line] = access_lines(capfd.readouterr().err)
    assert line["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    "value",
    [
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff is invalid
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  # version 00 has exactly four fields
        "00-4bf92f3577b34da6-00f067aa0ba902b7-01",
        "",
    ],
)
def test_an_invalid_traceparent_is_not_passed_on(value: str) -> None:
    assert valid_traceparent(value) is None
    assert valid_traceparent(TRACEPARENT) == TRACEPARENT


def test_no_token_and_no_patient_name_in_any_log_line(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    settings = Settings(
        environment="development",
        database_url=f"sqlite:///{tmp_path / 'feedback.sqlite3'}",
        log_level="DEBUG",
        auth_disabled=False,
        client_registry_path="config/clients.example.yaml",
        public_base_url="http://testserver",
    )
    request = load_request("01-")
    request["fhirAuthorization"] = {"access_token": "fhir-secret-token", "token_type": "Bearer", "subject": "cds"}
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as client:
        refused = client.post(
            f"/cds-services/{ORDER_SELECT_ID}", json=request, headers={"Authorization": "Bearer jwt-secret-value"}
        )
    assert refused.status_code == 401
    err = capfd.readouterr().err
    assert access_lines(err)[-1]["reason"] == "Unauthorized"
    for secret in ("jwt-secret-value", "fhir-secret-token", "Testpatient", "Sora"):
        assert secret not in err


def test_uvicorn_logs_in_the_same_json_format() -> None:
    import logging.config

    from cds_service.api.logs import JsonFormatter, uvicorn_log_config

    logging.config.dictConfig(uvicorn_log_config("INFO"))
    try:
        [handler] = logging.getLogger("uvicorn").handlers
        assert isinstance(handler.formatter, JsonFormatter)
        assert logging.getLogger("uvicorn.error").propagate  # to "uvicorn": the same handler
        assert not logging.getLogger("uvicorn.access").handlers  # the service writes its own access line
    finally:
        logging.getLogger("uvicorn").handlers.clear()


def test_the_issued_card_writer_does_not_carry_the_first_requests_id(
    settings: Settings, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging

    app = create_app(settings, clock=lambda: AS_OF)
    with TestClient(app) as client:
        store = app.state.cds.store
        record_issued = store.record_issued

        def record_and_log(records: Any) -> int:
            logging.getLogger("cds_service.store").warning("writing issued cards")
            return int(record_issued(records))

        monkeypatch.setattr(store, "record_issued", record_and_log)
        for request_id in ("first-call", "second-call"):
            response = client.post(
                f"/cds-services/{ORDER_SELECT_ID}", json=load_request("01-"), headers={"X-Request-ID": request_id}
            )
            assert response.status_code == 200
    writes = [line for line in json_lines(capfd.readouterr().err) if line["message"] == "writing issued cards"]
    assert writes
    assert all("request_id" not in line for line in writes)
