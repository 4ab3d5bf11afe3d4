"""The lock files are what the image and CI install, and they agree with pyproject.toml.

After any change to the dependencies in pyproject.toml (or a merge that touched them), ``./scripts/lock``
rewrites requirements/*.lock; these tests fail, naming that command, until it has been run.
"""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

LOCKS = {"runtime": ["postgres", "report"], "dev": ["dev", "postgres", "report"]}
RERUN = "pyproject.toml and the lock files disagree: run ./scripts/lock and commit requirements/"


def _lock_digest() -> Any:
    spec = importlib.util.spec_from_file_location("lock_digest", ROOT / "scripts" / "lock_digest.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lock_digest = _lock_digest()
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def pinned(lock: Path) -> dict[str, str]:
    """Package name → exact version, as the lock pins it."""
    pins = re.findall(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;\\]+)", lock.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return {canonicalize_name(name.split("[")[0]): version for name, version in pins}


@pytest.mark.parametrize("name", sorted(LOCKS))
def test_each_lock_was_made_from_the_current_pyproject(name: str) -> None:
    lock = ROOT / "requirements" / f"{name}.lock"
    assert lock_digest.recorded_digest(lock) == lock_digest.dependencies_digest(ROOT / "pyproject.toml"), RERUN


@pytest.mark.parametrize("name", sorted(LOCKS))
def test_each_lock_pins_every_declared_dependency_within_its_bounds_with_hashes(name: str) -> None:
    lock = ROOT / "requirements" / f"{name}.lock"
    pins = pinned(lock)
    declared = [Requirement(r) for r in PROJECT["dependencies"]]
    declared += [Requirement(r) for extra in LOCKS[name] for r in PROJECT["optional-dependencies"][extra]]
    for requirement in declared:
        version = pins.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement.name} is not in {lock.name}; {RERUN}"
        assert requirement.specifier.contains(version, prereleases=True), f"{requirement} vs {version}; {RERUN}"
    text = lock.read_text(encoding="utf-8")
    for block in re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 3)[-1]):
        if "==" in block.split("\n")[0]:
            assert "--hash=sha256:" in block, f"no hash for {block.splitlines()[0]}"


def test_the_image_and_ci_install_from_the_locks() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "--require-hashes -r requirements/runtime.lock" in dockerfile
    assert "--no-deps ." in dockerfile  # the project itself adds no unlocked dependency
    script = (ROOT / "scripts" / "test").read_text(encoding="utf-8")
    assert "--require-hashes -r requirements/dev.lock" in script
    assert "--no-deps -e ." in script
    assert "./scripts/test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_the_lock_tool_comes_from_pypi_pinned_in_the_script() -> None:
    script = (ROOT / "scripts" / "lock").read_text(encoding="utf-8")
    assert re.search(r"^UV_VERSION=\d+\.\d+\.\d+$", script, flags=re.MULTILINE)
    assert 'pip install --quiet "uv==$UV_VERSION"' in script
