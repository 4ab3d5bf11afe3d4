"""Knowledge releases identify their content: the lock, sign-off, diff and impact of two releases."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
import yaml

from cds_service.cli import main
from cds_service.devtools.impact import knowledge_impact
from cds_service.knowledge import KnowledgeError, load_knowledge
from cds_service.knowledge.diff import knowledge_diff
from cds_service.knowledge.releases import (
    LOCK_FILE,
    ReleaseError,
    ReleaseLock,
    SignOff,
    lock_problems,
    locked,
    read_lock,
    write_lock,
)

ROOT = Path(__file__).resolve().parents[2]
KNOWLEDGE = ROOT / "cds_service" / "knowledge"


def current_version(folder: Path = KNOWLEDGE) -> str:
    return str(yaml.safe_load((folder / "knowledge.yaml").read_text(encoding="utf-8"))["version"])


def test_every_knowledge_file_is_the_locked_content_of_the_current_version() -> None:
    """CI's guard: a knowledge file changed without a new version fails here (run `cds-service knowledge lock`
    after bumping the version in knowledge.yaml)."""
    assert lock_problems(current_version(), KNOWLEDGE) == []


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    folder = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return folder


def test_a_changed_file_without_a_new_version_fails_and_a_new_version_locks(copy: Path) -> None:
    rules = copy / "rules.yaml"
    rules.write_text(rules.read_text(encoding="utf-8").replace("preferred", "option", 1), encoding="utf-8")
    version = current_version(copy)
    assert lock_problems(version, copy) == [
        f"rules.yaml changed since version {version} was locked: bump the version in knowledge.yaml, "
        "then run `cds-service knowledge lock`"
    ]
    info = copy / "knowledge.yaml"
    info.write_text(
        info.read_text(encoding="utf-8").replace(f"version: {version}", "version: 2099.1.0"), encoding="utf-8"
    )
    assert lock_problems("2099.1.0", copy) == [
        "knowledge version 2099.1.0 is not in releases.yaml: run `cds-service knowledge lock`"
    ]
    assert main(["knowledge", "lock", "--folder", str(copy)]) == 0
    assert lock_problems("2099.1.0", copy) == []
    assert version in read_lock(copy).releases  # earlier versions are kept


def test_a_signed_off_release_never_changes_its_files(copy: Path) -> None:
    sign_off = SignOff(approved_by="Drug and therapeutics committee", date=date(2026, 12, 4), reference="minutes 12/26")
    version = current_version(copy)
    lock = read_lock(copy)
    signed = ReleaseLock(
        releases={**lock.releases, version: lock.releases[version].model_copy(update={"sign_off": sign_off})}
    )
    (copy / LOCK_FILE).write_text(yaml.safe_dump(signed.model_dump(mode="json", exclude_none=True)), encoding="utf-8")
    assert load_knowledge(folder=copy).release == signed.releases[version]
    (copy / "gates.yaml").write_text(
        (copy / "gates.yaml").read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8"
    )
    with pytest.raises(ReleaseError, match="signed off by Drug and therapeutics committee on 2026-12-04"):
        write_lock(copy, version)
    with pytest.raises(ReleaseError, match="bump the version"):
        locked(signed, version, {"gates.yaml": "0" * 64})


def test_the_sign_off_shows_on_the_knowledge_pages(copy: Path, tmp_path: Path) -> None:
    from cds_service.api.knowledge_page import settings_index_html

    assert "not signed off" in settings_index_html(load_knowledge())
    version = current_version(copy)
    lock = yaml.safe_load((copy / LOCK_FILE).read_text(encoding="utf-8"))
    lock["releases"][version]["sign_off"] = {
        "approved_by": "P. Reviewer",
        "role": "oncology pharmacist",
        "date": "2026-12-04",
        "reference": "DTC minutes 2026-12",
    }
    (copy / LOCK_FILE).write_text(yaml.safe_dump(lock), encoding="utf-8")
    page = settings_index_html(load_knowledge(folder=copy))
    assert "signed off by P. Reviewer (oncology pharmacist) on 2026-12-04, DTC minutes 2026-12" in page


def _has_history(*versions: str) -> bool:
    try:
        command = ["git", "-C", str(ROOT), "log", "-p", "--format=", "--", "cds_service/knowledge/knowledge.yaml"]
        log = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
    except (OSError, subprocess.CalledProcessError):
        return False
    return all(f"version: {v}" in log for v in versions)


@pytest.mark.skipif(not _has_history("2026.12.0", "2026.12.1"), reason="git history of the knowledge not available")
def test_knowledge_diff_of_two_real_releases_says_what_changed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["knowledge", "diff", "2026.12.0", "2026.12.1", "--repo", str(ROOT)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Knowledge changes from 2026.12.0 (commit ")
    assert '  - version: was "2026.12.0", now "2026.12.1"' in out
    assert "Value sets (codes and text the charts are read with):" in out
    assert re.search(r"text negation .* added", out)


def test_knowledge_diff_names_a_place_change_in_words(copy: Path) -> None:
    rules = copy / "rules.yaml"
    text = rules.read_text(encoding="utf-8")
    after_sorafenib = text.index("after_sorafenib:")
    regorafenib = text.index("regimen: regorafenib", after_sorafenib)
    place = text.index("place: preferred", regorafenib)
    rules.write_text(text[:place] + "place: option" + text[place + len("place: preferred") :], encoding="utf-8")
    sections = dict(knowledge_diff(KNOWLEDGE, copy))
    assert sections == {
        "Sequencing rules (places, evidence, rationale)": [
            'after sorafenib \u203a regorafenib \u203a place: was "preferred", now "option"'
        ]
    }


def test_knowledge_impact_lists_the_patients_whose_advice_changes(copy: Path) -> None:
    params = copy / "parameters.yaml"
    params.write_text(
        params.read_text(encoding="utf-8").replace("afp_cutoff_ng_per_ml: 400", "afp_cutoff_ng_per_ml: 20"),
        encoding="utf-8",
    )
    changes, total = knowledge_impact(
        KNOWLEDGE, copy, ROOT / "clinical-scenarios", ROOT / "fixtures/fhir/requests", ROOT
    )
    assert total > 100  # every scenario and fixture
    changed = {c.case for c in changes}
    assert "fixture 09-hcc-afp-below-cutoff-ramucirumab" in changed  # AFP 35: below 400, not below 20
    assert "fixture 01-hcc-after-sorafenib-cabozantinib" not in changed
    assert {c.what for c in changes if c.case == "fixture 09-hcc-afp-below-cutoff-ramucirumab"} >= {"gates"}


def test_a_gate_message_placeholder_its_function_does_not_fill_fails_at_load(copy: Path) -> None:
    gates = copy / "gates.yaml"
    gates.write_text(
        gates.read_text(encoding="utf-8").replace("below {cutoff} ng/mL;", "below {cutof} ng/mL;", 1), encoding="utf-8"
    )
    with pytest.raises(KnowledgeError, match=r"gate afp_below_cutoff: message placeholder \{cutof\} is not filled"):
        load_knowledge(folder=copy)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "child_pugh: {inr: [2.3, 1.7]}\n",
            r"child_pugh.inr must be \[lower, upper\] with lower below upper, got \[2.3, 1.7\]",
        ),
        ("child_pugh: {class_b_from: 10, class_c_from: 7}\n", r"class_b_from \(10\) must be below class_c_from \(7\)"),
    ],
)
def test_an_inverted_site_band_is_refused_in_one_line(tmp_path: Path, content: str, message: str) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(content, encoding="utf-8")
    with pytest.raises(KnowledgeError, match=message) as raised:
        load_knowledge(site)
    assert "\n" not in str(raised.value)


def test_knowledge_impact_command_lists_each_changed_patient_in_words(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = copy / "parameters.yaml"
    text = params.read_text(encoding="utf-8").replace("afp_cutoff_ng_per_ml: 400", "afp_cutoff_ng_per_ml: 20")
    params.write_text(text, encoding="utf-8")
    args = ["knowledge", "impact", str(KNOWLEDGE), str(copy), "--repo", str(ROOT)]
    args += ["--scenarios", str(ROOT / "clinical-scenarios"), "--fixtures", str(ROOT / "fixtures/fhir/requests")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Advice that changes from {KNOWLEDGE} to {copy} (")
    assert "fixture 09-hcc-afp-below-cutoff-ramucirumab:\n" in out
    assert "  - place of ramucirumab: was not supported for this patient; now option\n" in out
    assert "fixture 01-hcc-after-sorafenib-cabozantinib:" not in out


def test_knowledge_lock_from_git_keeps_every_recorded_version(copy: Path) -> None:
    before = read_lock(copy)
    assert main(["knowledge", "lock", "--folder", str(copy), "--from-git", "--repo", str(ROOT)]) == 0
    after = read_lock(copy)
    assert after.releases.items() >= before.releases.items()  # nothing recorded is ever changed
