"""Knowledge releases from the repository's git history, as folders the diff and impact commands read.

A release is named by a folder, by a knowledge version (the last commit whose knowledge.yaml carries it:
what the version meant when it was superseded), or by any git revision (``HEAD~3``, a tag, a commit).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from cds_service.knowledge.releases import KNOWLEDGE_SUFFIXES

KNOWLEDGE_DIR = "cds_service/knowledge"


class HistoryError(Exception):
    """The release cannot be found (not a folder, a version in the history, or a git revision)."""


def _git(repo: Path, *args: str) -> str:
    try:
        command = ["git", "-C", str(repo), *args]  # the developer's git, found on PATH
        done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)  # noqa: S603
    except FileNotFoundError as exc:
        raise HistoryError("git is not installed") from exc
    except subprocess.CalledProcessError as exc:
        raise HistoryError(exc.stderr.strip().splitlines()[0] if exc.stderr.strip() else str(exc)) from exc
    return done.stdout


def version_commits(repo: Path) -> dict[str, str]:
    """Knowledge version → the last commit (newest first in history) whose knowledge.yaml carries it."""
    found: dict[str, str] = {}
    for commit in _git(repo, "log", "--format=%H", "--", f"{KNOWLEDGE_DIR}/").split():
        try:
            info = yaml.safe_load(_git(repo, "show", f"{commit}:{KNOWLEDGE_DIR}/knowledge.yaml"))
        except (HistoryError, yaml.YAMLError):
            continue
        version = str(info.get("version")) if isinstance(info, dict) else None
        if version and version not in found:
            found[version] = commit
    return found


def _export(repo: Path, commit: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    names = _git(repo, "ls-tree", "--name-only", commit, f"{KNOWLEDGE_DIR}/").split()
    for name in names:
        if name.endswith(KNOWLEDGE_SUFFIXES):
            (dest / Path(name).name).write_text(_git(repo, "show", f"{commit}:{name}"), encoding="utf-8")
    if not (dest / "knowledge.yaml").is_file():
        raise HistoryError(f"no knowledge files at {commit[:12]}")
    return dest


def release_folder(spec: str, repo: Path, scratch: Path) -> tuple[str, Path]:
    """(label, folder) of a release named by a folder, a knowledge version or a git revision."""
    folder = Path(spec)
    if folder.is_dir():
        return str(folder), folder
    commits = version_commits(repo)
    if spec in commits:
        commit = commits[spec]
        return f"{spec} (commit {commit[:12]})", _export(repo, commit, scratch / spec)
    try:
        commit = _git(repo, "rev-parse", "--verify", f"{spec}^{{commit}}").strip()
    except HistoryError as exc:
        known = ", ".join(sorted(commits)) or "none"
        raise HistoryError(f"{spec!r} is not a folder, a knowledge version ({known}) or a git revision") from exc
    return f"{spec} (commit {commit[:12]})", _export(repo, commit, scratch / commit[:12])
