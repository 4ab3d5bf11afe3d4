from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.api.app import create_app
from cds_service.config import Settings
from cds_service.sequencing.knowledge import Knowledge, load_knowledge

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = ROOT / "fixtures" / "fhir" / "requests"
PATIENTS = ROOT / "fixtures" / "fhir" / "patients"
THIRD_PARTY = ROOT / "tests" / "third_party"
AS_OF = date(2026, 11, 25)


def load_request(name: str) -> dict[str, Any]:
    path = REQUESTS / name if name.endswith(".json") else next(REQUESTS.glob(f"{name}*.json"))
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.fixture(autouse=True)
def _authentication_off_unless_a_test_turns_it_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Most tests are about clinical behaviour; tests/security turns authentication on explicitly.

    Tests run as development (the settings default is production, which refuses these shortcuts);
    tests of the production default unset ``CDS_ENVIRONMENT`` themselves.
    """
    monkeypatch.setenv("CDS_ENVIRONMENT", "development")
    monkeypatch.setenv("CDS_AUTH_DISABLED", "true")


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    return load_knowledge()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        environment="development", database_url=f"sqlite:///{tmp_path / 'feedback.sqlite3'}", log_level="WARNING"
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as test_client:
        yield test_client
