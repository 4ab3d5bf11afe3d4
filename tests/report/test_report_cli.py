"""The two commands a committee member runs: fill a scratch store with a demo month, then report on it."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from cds_service.cli import main
from cds_service.knowledge import load_knowledge
from tests.conftest import REQUESTS
from tests.report.store_fixture import new_store


def json_report(url: str, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    assert main(["report", "concordance", "--database-url", url, "--format", "json", *extra]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def test_demo_fills_a_scratch_store_with_a_month_the_report_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    fill = ["demo", "--fixtures", str(REQUESTS), "--fill-store", url, "--month", "2026-10", "--seed", "7"]
    assert main(fill) == 0
    assert "synthetic cards" in capsys.readouterr().out

    report = json_report(url, capsys)
    assert report["months"] == ["2026-10"]
    knowledge = load_knowledge()
    assert report["knowledge_versions"] == [knowledge.info.version]
    totals = report["totals"]
    assert totals["cards"] > 500  # about 20 weekdays x 30-60 hook calls x 1-3 cards
    assert totals["warnings"] > 100
    assert 40 <= totals["warnings_acceptance_percent"] <= 90
    # Most fixture charts get a data-needed card that asks for ascites/encephalopathy to be recorded (policy 6.2,
    # revised) and offers no order, so far fewer data-needed cards can lead to one.
    assert 3 <= totals["data_needed_order_percent"] <= 80
    settings = {row["setting"] for row in report["charts"]["cards_by_setting"]}
    assert settings <= {str(s) for s in knowledge.sequencing.settings}
    hooks = {row["hook"] for row in next(t for t in report["tables"] if t["id"] == "cards_by_hook")["rows"]}
    assert hooks == {"order-select", "order-sign", "patient-view"}
    reasons = {row["reason"] for row in report["charts"]["overrides_by_reason"]}
    assert "patient-preference" in reasons
    by_gate = next(t for t in report["tables"] if t["id"] == "cards_by_gate")["rows"]
    gates = {row["gate"] for row in by_gate}
    assert {"afp_below_cutoff", "afp_unknown", "organ_transplant", "child_pugh_findings_not_recorded"} <= gates
    assert gates - {"(no gate fired)"} <= set(knowledge.gates)  # every card recorded its gates: none unknown
    assert not any("safety gates" in notice for notice in report["notices"])

    # A store that already holds data is never filled (the demo must not pollute a real store).
    assert main(fill) == 2
    assert "empty scratch store" in capsys.readouterr().err

    # The same seed gives the same month.
    again = f"sqlite:///{tmp_path / 'again.sqlite3'}"
    assert main([*fill[:4], again, *fill[5:]]) == 0
    capsys.readouterr()
    assert json_report(again, capsys)["totals"] == totals


def test_csv_has_one_line_per_cell_matching_the_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    assert main(["demo", "--fixtures", str(REQUESTS), "--fill-store", url, "--month", "2026-10"]) == 0
    capsys.readouterr()
    report = json_report(url, capsys)
    output = tmp_path / "report.csv"
    assert main(["report", "concordance", "--database-url", url, "--format", "csv", "--output", str(output)]) == 0
    lines = list(csv.DictReader(io.StringIO(output.read_text(encoding="utf-8"))))
    regimen_rows = next(t for t in report["tables"] if t["id"] == "warnings_by_regimen")["rows"]
    first = regimen_rows[0]
    wanted = ("warnings_by_regimen", first["regimen"], "accepted")
    accepted = next(line for line in lines if (line["table"], line["value"], line["measure"]) == wanted)
    assert accepted["month"] == "2026-10"
    assert accepted["count"] == str(first["accepted"])
    assert len([line for line in lines if line["table"] == "warnings_by_regimen"]) == 5 * len(regimen_rows)


def test_report_refuses_a_missing_store_and_a_reversed_period(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.sqlite3"
    assert main(["report", "concordance", "--database-url", f"sqlite:///{missing}"]) == 2
    assert "no store at" in capsys.readouterr().err
    assert not missing.exists()
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    new_store(url).close()
    assert main(["report", "concordance", "--database-url", url, "--since", "2026-11-01", "--until", "2026-10-01"]) == 2
    assert "--since is after --until" in capsys.readouterr().err
    report = json_report(url, capsys, "--since", "2026-10-01", "--until", "2026-10-31")
    assert report["period"] == {"since": "2026-10-01", "until": "2026-10-31"}
    assert report["summary"] == ["No cards were issued in this period."]
    assert main(["report", "concordance", "--database-url", url, "--output", str(tmp_path / "no" / "r.html")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_report_on_a_store_whose_schema_is_behind_names_the_upgrade(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cds_service.store.feedback import FeedbackStore
    from cds_service.store.migrate import head_revision, upgrade

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    old = FeedbackStore(url)
    upgrade(old.engine, "0001")  # before the issued card's indicator was kept
    old.close()
    assert main(["report", "concordance", "--database-url", url, "--format", "json"]) == 2
    assert capsys.readouterr().err == (
        f"cds-service: the database schema is behind (at revision 0001, this version needs {head_revision()}): "
        "run `cds-service db upgrade`\n"
    )
