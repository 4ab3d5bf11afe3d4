"""The digest of pyproject.toml's dependency declarations, written at the top of each lock file.

``./scripts/lock`` writes it; tests/test_lock.py recomputes it, so a dependency added to (or changed in)
pyproject.toml without rerunning ``./scripts/lock`` fails the tests with the command to run.

    python scripts/lock_digest.py pyproject.toml
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from pathlib import Path

DIGEST_PREFIX = "# pyproject-dependencies-sha256: "


def dependencies_digest(pyproject: Path) -> str:
    """SHA-256 of requires-python, the dependencies and every extra, in a canonical JSON form."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    declared = {
        "requires-python": project.get("requires-python"),
        "dependencies": sorted(project.get("dependencies", [])),
        "optional-dependencies": {k: sorted(v) for k, v in project.get("optional-dependencies", {}).items()},
    }
    return hashlib.sha256(json.dumps(declared, sort_keys=True).encode()).hexdigest()


def recorded_digest(lock: Path) -> str | None:
    """The digest a lock file was made for (None when it carries none)."""
    for line in lock.read_text(encoding="utf-8").splitlines():
        if line.startswith(DIGEST_PREFIX):
            return line.removeprefix(DIGEST_PREFIX).strip()
    return None


if __name__ == "__main__":
    sys.stdout.write(dependencies_digest(Path(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml")) + "\n")
