"""The release and review commands' edges: failures say why in one line and exit 2 (or 1 for a failed check)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, inspect

from cds_service.cli import main
from cds_service.knowledge.diff import changes, diff_text, knowledge_diff
from cds_service.store.migrate import downgrade, upgrade

ROOT = Path(__file__).resolve().parents[2]
KNOWLEDGE = ROOT / "cds_service" / "knowledge"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    folder = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return folder


def test_review_key_prints_a_fernet_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["review", "key"]) == 0
    Fernet(capsys.readouterr().out.strip().encode())  # a valid key, or this raises


def test_lock_check_fails_with_a_line_per_changed_file(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["knowledge", "lock", "--check", "--folder", str(copy)]) == 0
    (copy / "evidence.yaml").write_text("# changed\n" + (copy / "evidence.yaml").read_text(encoding="utf-8"))
    assert main(["knowledge", "lock", "--check", "--folder", str(copy)]) == 1
    assert "evidence.yaml changed since version" in capsys.readouterr().err


def test_diff_and_impact_refuse_an_unknown_release_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("diff", "impact"):
        assert main(["knowledge", command, "1999.1.0", str(KNOWLEDGE), "--repo", str(ROOT)]) == 2
        error = capsys.readouterr().err
        assert error.startswith("cds-service: '1999.1.0' is not a folder, a knowledge version (")
        assert error.count("\n") == 1


def test_impact_refuses_a_release_that_does_not_load(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (copy / "rules.yaml").write_text("settings: {}\n", encoding="utf-8")
    assert main(["knowledge", "impact", str(KNOWLEDGE), str(copy), "--repo", str(ROOT)]) == 2
    assert "a release must load with this version of the code" in capsys.readouterr().err


def test_diff_by_git_revision_and_a_file_added_or_removed(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    assert main(["knowledge", "diff", "HEAD", str(KNOWLEDGE), "--repo", str(ROOT)]) == 0
    assert capsys.readouterr().out.startswith("Knowledge changes from HEAD (commit ")
    (copy / "extra.yaml").write_text("a: 1\n", encoding="utf-8")
    (copy / "rxnorm-openfda.json").unlink()
    sections = dict(knowledge_diff(KNOWLEDGE, copy))
    assert sections["extra.yaml"] == ["extra.yaml is new in this release"]
    assert sections["rxnorm-openfda.json"] == ["rxnorm-openfda.json was removed"]
    assert diff_text("a", "b", []).endswith("No knowledge file differs.\n")


def test_diff_sentences_for_lists_and_values() -> None:
    assert list(changes({"text": ["a", "b"]}, {"text": ["b", "a"]})) == ["text: reordered"]
    assert list(changes({"codes": [{"system": "s", "code": "1"}]}, {"codes": [{"system": "s", "code": "2"}]})) == [
        'codes: removed s|1 ({system: "s"})',
        'codes: added s|2 ({system: "s"})',
    ]
    assert list(changes({"x": 1, "y": [1]}, {"x": 2})) == ["x: was 1, now 2", "y: removed (was [1])"]
    assert list(changes({"effect": {"severity": "warning"}}, {"effect": {"severity": "critical"}})) == [
        'effect \u203a severity: was "warning", now "critical"'
    ]


def test_review_export_to_a_file_and_prune_without_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    upgrade(create_engine(url))
    out = tmp_path / "verdicts.json"
    assert main(["review", "export", "--database-url", url, "--format", "json", "--output", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8")) == {"verdicts": []}
    bad_site = tmp_path / "site.yaml"
    bad_site.write_text("pilot: {review_queue: {retention_days: -1}}\n", encoding="utf-8")
    assert main(["review", "prune", "--database-url", url, "--site-parameters", str(bad_site)]) == 2
    assert "retention_days" in capsys.readouterr().err
    assert main(["review", "prune", "--database-url", url, "--older-than", "30"]) == 0
    assert capsys.readouterr().out == "deleted 0 review-queue entries, 0 order events older than 30 days\n"


def test_revision_0004_downgrades_to_0003_without_the_pilot_tables(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    upgrade(engine)
    assert {"cds_review_item", "cds_review_verdict", "cds_order_event"} <= set(inspect(engine).get_table_names())
    assert downgrade(engine, "0003").current == "0003"
    assert not {"cds_review_item", "cds_review_verdict", "cds_order_event"} & set(inspect(engine).get_table_names())
    engine.dispose()
