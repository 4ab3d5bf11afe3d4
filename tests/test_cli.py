"""The command line a new user runs first."""

from __future__ import annotations

import json

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
    assert "https://doi.org/10.1056/NEJMoa1717002" in section
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


def test_serve_refuses_invalid_settings_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cds_service.config import get_settings

    get_settings.cache_clear()
    monkeypatch.setenv("CDS_ENVIRONMENT", "production")
    monkeypatch.setenv("CDS_AUTH_DISABLED", "false")
    try:
        assert main(["serve"]) == 2
    finally:
        get_settings.cache_clear()
    assert "production requires CDS_PUBLIC_BASE_URL to be an https:// URL" in capsys.readouterr().err
