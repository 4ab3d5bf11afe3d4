"""A site's parameter overrides change the advice only together with the version every card shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.api.app import create_app
from cds_service.config import Settings
from cds_service.hooks.services import ORDER_SELECT_ID
from cds_service.knowledge import KnowledgeError, load_knowledge, site_parameters_hash
from tests.conftest import AS_OF, load_request


def cards(tmp_path: Path, site_file: Path | None, name: str) -> list[dict[str, Any]]:
    settings = Settings(
        environment="development",
        auth_disabled=True,
        database_url=f"sqlite:///{tmp_path / 'feedback.sqlite3'}",
        site_parameters_path=site_file,
    )
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as client:
        response = client.post(f"/cds-services/{ORDER_SELECT_ID}", json=load_request(name))
    assert response.status_code == 200
    result: list[dict[str, Any]] = response.json()["cards"]
    return result


def test_a_changed_site_parameter_changes_the_version_on_every_card(tmp_path: Path) -> None:
    default = cards(tmp_path, None, "09-")
    assert {c["source"]["label"].rsplit(" v", 1)[1] for c in default} == {"2026.12.5"}
    assert "ramucirumab not supported" in default[1]["summary"]  # AFP 35 ng/mL below the default 400

    site_file = tmp_path / "site.yaml"
    site_file.write_text("afp_cutoff_ng_per_ml: 20\n", encoding="utf-8")
    changed = cards(tmp_path, site_file, "09-")
    version = f"2026.12.5+site.{site_parameters_hash({'afp_cutoff_ng_per_ml': 20})}"
    assert {c["source"]["label"].rsplit(" v", 1)[1] for c in changed} == {version}
    assert all(version in c["detail"] for c in changed)
    assert not any("ramucirumab not supported" in c["summary"] for c in changed)


def test_the_same_overrides_give_the_same_version(tmp_path: Path) -> None:
    one, two = tmp_path / "a.yaml", tmp_path / "b.yaml"
    one.write_text("afp_max_age_days: 60\nline_grouping_days: 21\n", encoding="utf-8")
    two.write_text("# reordered\nline_grouping_days: 21\nafp_max_age_days: 60\n", encoding="utf-8")
    assert load_knowledge(one).version == load_knowledge(two).version != load_knowledge().version


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("afp_cutof_ng_per_ml: 300\n", "unknown parameter 'afp_cutof_ng_per_ml'"),
        ("afp_max_age_days: -5\n", "afp_max_age_days"),
        ("- a list\n", "must be a mapping"),
    ],
)
def test_a_bad_site_file_refuses_to_start(tmp_path: Path, content: str, message: str) -> None:
    site_file = tmp_path / "site.yaml"
    site_file.write_text(content, encoding="utf-8")
    with pytest.raises(KnowledgeError, match=message):
        load_knowledge(site_file)
