"""The knowledge page of a setting: the full evidence behind a card, public, and free of patient data."""

from __future__ import annotations

from html import escape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cds_service.api.app import create_app
from cds_service.config import Settings
from cds_service.knowledge import Knowledge, Place, SettingId
from cds_service.sequencing.table import decision_table
from tests.conftest import AS_OF


def _setting(knowledge: Knowledge, setting: str) -> dict[str, object]:
    found: dict[str, object] = next(s for s in decision_table(knowledge)["settings"] if s["setting"] == setting)
    return found


def test_after_sorafenib_page_has_every_row_trial_link_and_later_note(client: TestClient, knowledge: Knowledge) -> None:
    response = client.get("/knowledge/settings/after_sorafenib")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page = response.text
    setting = _setting(knowledge, "after_sorafenib")
    assert f"<h1>{escape(str(setting['title']))}</h1>" in page
    for row in setting["options"]:  # type: ignore[attr-defined]
        assert f'<tr id="regimen-{row["regimen"]}"><td>{escape(row["label"])}</td>' in page
        assert escape(Place(row["place"]).label) in page
    assert '<a href="https://clinicaltrials.gov/study/NCT01774344" rel="noopener noreferrer">NCT01774344</a>' in page
    assert '<a href="https://doi.org/10.1056/NEJMoa1717002"' in page
    assert 'id="trial-REACH-2"' in page
    assert "Later evidence (after the 2021 review; not part of its recommendations)" in page
    assert "<strong>J Clin Oncol 2023</strong>: KEYNOTE-394 was positive for pembrolizumab after sorafenib" in page


@pytest.mark.parametrize("setting", [s.value for s in SettingId])
def test_every_setting_has_a_page_without_patient_data(client: TestClient, setting: str) -> None:
    response = client.get(f"/knowledge/settings/{setting}")
    assert response.status_code == 200
    assert "Patient/" not in response.text
    assert "Testpatient" not in response.text
    assert "<script" not in response.text
    assert "the clinician decides" in response.text


def test_index_links_every_setting(client: TestClient) -> None:
    page = client.get("/knowledge/settings").text
    for setting in SettingId:
        assert f'href="/knowledge/settings/{setting.value}"' in page


def test_unknown_setting_is_a_404_operation_outcome(client: TestClient) -> None:
    response = client.get("/knowledge/settings/after_everything")
    assert response.status_code == 404
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert "after_sorafenib" in body["issue"][0]["diagnostics"]


def test_pages_are_public_when_authentication_is_on(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'f.sqlite3'}",
        auth_disabled=False,
        client_registry_path="config/clients.example.yaml",
    )
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as client:
        assert client.get("/cds-services").status_code == 401
        assert client.get("/knowledge/settings/after_sorafenib").status_code == 200
