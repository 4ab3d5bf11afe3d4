"""Knowledge releases that identify their content: a lock of every knowledge file's SHA-256, per version.

``releases.yaml`` beside this module holds, for each knowledge version, the SHA-256 of every knowledge file
(the YAML and JSON files of this package) and, once a committee has approved it, a sign-off record (who
approved it, when, and a reference to the minutes or ticket). A test compares the files with the entry of
the current version, so a knowledge file changed without a new version fails CI. ``cds-service knowledge
lock`` writes the current version's entry; it refuses to change the files of a version already signed off.
"""

from __future__ import annotations

import hashlib
from datetime import date
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

LOCK_FILE = "releases.yaml"
KNOWLEDGE_SUFFIXES = (".yaml", ".json")
LOCK_COMMAND = "cds-service knowledge lock"

_HEADER = f"""\
# Knowledge releases: the SHA-256 of every knowledge file of each version, and its sign-off.
#
# Written by `{LOCK_COMMAND}` (the current version's entry); a test fails when a knowledge file differs
# from the entry of the version in knowledge.yaml, so a change without a new version cannot pass CI.
# sign_off is written by hand once the committee has approved a release:
#   sign_off: {{approved_by: "...", role: "...", date: YYYY-MM-DD, reference: "minutes or ticket"}}
# The files of a version that has a sign-off are never rewritten: change the version instead.
"""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SignOff(_Strict):
    """Who approved a knowledge release, when, and where the decision is recorded."""

    approved_by: str = Field(min_length=1)
    role: str | None = None
    date: date
    reference: str = Field(min_length=1)

    def describe(self) -> str:
        role = f" ({self.role})" if self.role else ""
        return f"signed off by {self.approved_by}{role} on {self.date.isoformat()}, {self.reference}"


class Release(_Strict):
    """One version: the SHA-256 of each knowledge file, and its sign-off once approved."""

    files: dict[str, str]
    sign_off: SignOff | None = None

    def describe(self) -> str:
        return self.sign_off.describe() if self.sign_off else "not signed off"


class ReleaseLock(_Strict):
    releases: dict[str, Release] = Field(default_factory=dict)


class ReleaseError(Exception):
    """The lock cannot be read, or the requested change would rewrite a signed-off release."""


def package_folder() -> Traversable:
    """The knowledge files shipped with the service."""
    return resources.files("cds_service.knowledge")


def knowledge_file_names(folder: Traversable) -> list[str]:
    """The knowledge files of a folder (YAML and JSON, the lock itself excluded), sorted."""
    return sorted(
        item.name
        for item in folder.iterdir()
        if item.is_file() and item.name.endswith(KNOWLEDGE_SUFFIXES) and item.name != LOCK_FILE
    )


def content_hashes(folder: Traversable) -> dict[str, str]:
    """File name → SHA-256 (hex) of its bytes, for every knowledge file of the folder."""
    return {
        name: hashlib.sha256(folder.joinpath(name).read_bytes()).hexdigest() for name in knowledge_file_names(folder)
    }


def read_lock(folder: Traversable) -> ReleaseLock:
    """The folder's ``releases.yaml`` (an empty lock when there is none)."""
    lock_file = folder.joinpath(LOCK_FILE)
    if not lock_file.is_file():
        return ReleaseLock()
    try:
        data: Any = yaml.safe_load(lock_file.read_text(encoding="utf-8")) or {}
        return ReleaseLock.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        raise ReleaseError(f"{LOCK_FILE} is invalid: {' '.join(str(exc).split())}") from exc


def lock_problems(version: str, folder: Traversable) -> list[str]:
    """Why the folder's files are not the locked content of ``version`` (empty: they are), one line each."""
    release = read_lock(folder).releases.get(version)
    if release is None:
        return [f"knowledge version {version} is not in {LOCK_FILE}: run `{LOCK_COMMAND}`"]
    actual = content_hashes(folder)
    problems = [
        f"{name} changed since version {version} was locked: bump the version in knowledge.yaml, "
        f"then run `{LOCK_COMMAND}`"
        for name in sorted(set(actual) & set(release.files))
        if actual[name] != release.files[name]
    ]
    problems += [
        f"{name} is new since version {version} was locked" for name in sorted(set(actual) - set(release.files))
    ]
    problems += [
        f"{name} was removed since version {version} was locked" for name in sorted(set(release.files) - set(actual))
    ]
    return problems


def locked(lock: ReleaseLock, version: str, files: dict[str, str]) -> ReleaseLock:
    """The lock with ``version``'s files set; a signed-off version's files are never changed."""
    existing = lock.releases.get(version)
    if existing is not None and existing.files != files and existing.sign_off is not None:
        raise ReleaseError(
            f"knowledge version {version} was {existing.describe()}; its files cannot change: bump the version "
            "in knowledge.yaml"
        )
    sign_off = existing.sign_off if existing is not None else None
    releases = {**lock.releases, version: Release(files=files, sign_off=sign_off)}
    return ReleaseLock(releases=dict(sorted(releases.items(), key=lambda item: _version_key(item[0]))))


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))


def lock_text(lock: ReleaseLock) -> str:
    """``releases.yaml`` as written: the header, then every release, oldest first."""
    data = {"releases": {v: r.model_dump(mode="json", exclude_none=True) for v, r in lock.releases.items()}}
    return _HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)


def write_lock(folder: Path, version: str) -> tuple[ReleaseLock, bool]:
    """Record the current files of ``folder`` as ``version``; returns the lock and whether it changed."""
    lock = read_lock(folder)
    updated = locked(lock, version, content_hashes(folder))
    if updated == lock and (folder / LOCK_FILE).is_file():
        return lock, False
    (folder / LOCK_FILE).write_text(lock_text(updated), encoding="utf-8")
    return updated, True
