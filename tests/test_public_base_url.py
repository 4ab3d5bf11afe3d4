"""The public base URL follows the address served on: the JWT audience and the override-reason system."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from cds_service import cli
from cds_service.api.app import create_app
from cds_service.config import Settings, get_settings
from cds_service.hooks.services import ORDER_SELECT_ID
from tests.conftest import AS_OF, load_request
from tests.support.tokens import bearer, client_token, write_registry

ISSUER = "https://ehr.example.org"


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("127.0.0.1", 9000, "http://127.0.0.1:9000"),
        ("localhost", 8123, "http://localhost:8123"),
        ("0.0.0.0", 9000, "http://127.0.0.1:9000"),  # noqa: S104
        ("::1", 9000, "http://[::1]:9000"),
    ],
)
def test_unset_public_base_url_is_derived_from_host_and_port(host: str, port: int, expected: str) -> None:
    assert Settings(environment="development", host=host, port=port).public_base_url == expected


def test_an_explicit_public_base_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_PUBLIC_BASE_URL", "https://cds.hospital.example")
    assert Settings(environment="development", port=9000).public_base_url == "https://cds.hospital.example"


def test_production_still_requires_an_https_public_base_url() -> None:
    with pytest.raises(ValidationError, match="https://"):
        Settings(environment="production", auth_disabled=False, client_registry_path="config/clients.example.yaml")


def test_serve_port_becomes_the_public_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    started: dict[str, Any] = {}
    monkeypatch.delenv("CDS_PUBLIC_BASE_URL", raising=False)
    monkeypatch.setenv("CDS_HOST", "127.0.0.1")  # recorded, so what `serve` writes is undone after the test
    monkeypatch.setenv("CDS_PORT", "8000")
    monkeypatch.setenv("CDS_ENVIRONMENT", "development")
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: started.update(kwargs))
    get_settings.cache_clear()
    try:
        assert cli.main(["serve", "--port", "9000"]) == 0
        assert get_settings().public_base_url == "http://127.0.0.1:9000"  # what the app factory will read
    finally:
        get_settings.cache_clear()
    assert started["port"] == 9000
    assert started["host"] == "127.0.0.1"
    assert os.environ["CDS_PORT"] == "8000"  # put back: an in-process call leaves the environment as it was


def test_serve_host_and_port_both_follow_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    started: dict[str, Any] = {}
    monkeypatch.delenv("CDS_PUBLIC_BASE_URL", raising=False)
    monkeypatch.setenv("CDS_HOST", "127.0.0.1")
    monkeypatch.setenv("CDS_PORT", "8000")
    monkeypatch.setenv("CDS_ENVIRONMENT", "development")
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: started.update(kwargs))
    get_settings.cache_clear()
    try:
        assert cli.main(["serve", "--host", "localhost", "--port", "9001"]) == 0
        assert get_settings().public_base_url == "http://localhost:9001"
    finally:
        get_settings.cache_clear()
    assert (started["host"], started["port"]) == ("localhost", 9001)


@pytest.fixture
def client_on_port_9000(tmp_path: Path) -> TestClient:
    settings = Settings(
        environment="development",
        port=9000,
        database_url=f"sqlite:///{tmp_path / 'f.sqlite3'}",
        log_level="WARNING",
        auth_disabled=False,
        client_registry_path=str(write_registry(tmp_path, iss=ISSUER)),
    )
    return TestClient(create_app(settings, clock=lambda: AS_OF))


def test_a_token_for_the_served_port_is_accepted_and_cards_name_that_server(client_on_port_9000: TestClient) -> None:
    url = f"http://127.0.0.1:9000/cds-services/{ORDER_SELECT_ID}"
    with client_on_port_9000 as client:
        response = client.post(
            f"/cds-services/{ORDER_SELECT_ID}",
            json=load_request("04-"),
            headers=bearer(client_token(url, iss=ISSUER)),
        )
    assert response.status_code == 200, response.text
    systems = {r["system"] for card in response.json()["cards"] for r in card.get("overrideReasons", [])}
    assert systems == {
        "http://127.0.0.1:9000/CodeSystem/override-reason",  # the service's own reasons, on the served server
        "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes",  # the CDS Hooks 3.0 ballot categories
    }


def test_wrong_audience_logs_expected_and_received_never_the_token(
    client_on_port_9000: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    value = client_token("http://127.0.0.1:8000/cds-services", iss=ISSUER)
    logging.getLogger("cds_service").propagate = True
    try:
        with client_on_port_9000 as client, caplog.at_level(logging.WARNING, logger="cds_service.security"):
            response = client.get("/cds-services", headers={"Authorization": f"Bearer {value}"})
    finally:
        logging.getLogger("cds_service").propagate = False
    assert response.status_code == 401
    record = next(r for r in caplog.records if r.getMessage() == "client authentication failed")
    reason = record.__dict__["reason"]
    assert "expected aud 'http://127.0.0.1:9000/cds-services'" in reason
    assert "received 'http://127.0.0.1:8000/cds-services'" in reason
    everything = " ".join(str(r.__dict__) for r in caplog.records)
    assert value not in everything
    assert value.split(".")[2] not in everything
