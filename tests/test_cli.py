"""The command line a new user runs first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cds_service.cli import main
from tests.conftest import REQUESTS


def test_demo_prints_the_sorafenib_patient_card_with_both_trials(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--fixtures", str(REQUESTS), "--as-of", "2026-11-25"]) == 0
    out = capsys.readouterr().out
    section = out.split("=== 01-hcc-after-sorafenib-cabozantinib.json")[1].split("===")[0]
    assert "[INFO] HCC after sorafenib: cabozantinib or regorafenib preferred" in section
    assert "https://clinicaltrials.gov/study/NCT01908426" in section
    assert "https://clinicaltrials.gov/study/NCT01774344" in section
    assert "http://127.0.0.1:8000/knowledge/settings/after_sorafenib" in section
    assert out.count("=== ") == len(list(REQUESTS.glob("*.json")))
    assert "HTTP 500" not in out


def test_knowledge_table_markdown_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["knowledge", "table"]) == 0
    markdown = capsys.readouterr().out
    assert "## After sorafenib (`after_sorafenib`)" in markdown
    assert "| Ramucirumab | option | phase3 | REACH-2, REACH |" in markdown
    assert main(["knowledge", "table", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    after_atezo = next(s for s in data["settings"] if s["setting"] == "after_atezolizumab_bevacizumab")
    ramucirumab = next(o for o in after_atezo["options"] if o["regimen"] == "ramucirumab")
    assert ramucirumab["place"] == "not_supported"
    other_io = next(s for s in data["settings"] if s["setting"] == "after_other_immunotherapy")
    assert all(o["place"] != "preferred" for o in other_io["options"])


def test_committed_decision_table_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    assert main(["knowledge", "table"]) == 0
    committed = (Path(__file__).resolve().parent.parent / "docs" / "decision-table.md").read_text(encoding="utf-8")
    assert capsys.readouterr().out == committed, "run: cds-service knowledge table > docs/decision-table.md"


def test_serve_refuses_every_insecure_setting_by_default_one_line_each(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cds_service.config import get_settings

    get_settings.cache_clear()
    monkeypatch.delenv("CDS_ENVIRONMENT")  # the default: production
    monkeypatch.setenv("CDS_PUBLIC_BASE_URL", "https://")
    monkeypatch.setenv("CDS_CORS_ALLOWED_ORIGINS", '["http://ehr.example.org", "*"]')
    monkeypatch.setenv("CDS_FHIR_ALLOWED_SERVERS", '["http://ehr.example.org/fhir"]')
    try:
        assert main(["serve"]) == 2
    finally:
        get_settings.cache_clear()
    lines = capsys.readouterr().err.splitlines()
    assert all(line.startswith("cds-service: invalid setting: ") for line in lines), lines
    expected = [
        "CDS_PUBLIC_BASE_URL must be an https:// URL with a host",
        "'http://ehr.example.org' is not an https:// origin",
        "may not contain a wildcard",
        "'http://ehr.example.org/fhir' is not an https:// URL",
        "CDS_AUTH_DISABLED=true is refused in production",
    ]
    for text in expected:
        assert sum(text in line for line in lines) == 1, (text, lines)
    assert len(lines) == len(expected)


def test_serve_reports_a_bad_client_registry_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from cds_service.config import get_settings

    (tmp_path / "clients.yaml").write_text("clients:\n  - iss: https://ehr.example.org\n")  # no keys
    get_settings.cache_clear()
    monkeypatch.setenv("CDS_AUTH_DISABLED", "false")
    monkeypatch.setenv("CDS_CLIENT_REGISTRY_PATH", str(tmp_path / "clients.yaml"))
    try:
        assert main(["serve"]) == 2
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("cds-service: client registry ")
    assert "give jku, jwks or jwks_path" in err
    assert len(err.splitlines()) == 1
