"""Release hygiene: one version, named in the changelog; the changelog keeps its format."""

from __future__ import annotations

import re
import tomllib

from cds_service import __version__
from tests.conftest import ROOT

CHANGELOG = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


def test_the_version_has_one_home_that_pyproject_reads() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in pyproject["project"]
    assert pyproject["project"]["dynamic"] == ["version"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "cds_service.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)


def test_the_changelog_has_unreleased_first_then_each_release_with_its_date() -> None:
    headings = re.findall(r"^## \[([^\]]+)\](.*)$", CHANGELOG, flags=re.MULTILINE)
    assert headings[0] == ("Unreleased", "")
    releases = headings[1:]
    assert releases[0][0] == __version__  # the newest release is this version; changes since are Unreleased
    for version, dated in releases:
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), version
        assert re.fullmatch(r" - \d{4}-\d{2}-\d{2}", dated), (version, dated)
    sections = set(re.findall(r"^### (.+)$", CHANGELOG, flags=re.MULTILINE))
    assert sections <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
