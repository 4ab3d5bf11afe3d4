"""Render a plain Kustomize base (``resources`` only) offline: every object, in order, as YAML documents.

`kubectl apply -k` renders the same list; this small reader exists so CI can validate the manifests
without downloading kustomize or helm. It refuses any Kustomize feature it does not implement rather
than render something different from what kubectl would apply.

    python scripts/render_manifests.py deploy/kubernetes > rendered.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

SUPPORTED_KEYS = {"apiVersion", "kind", "resources"}


def render(directory: Path) -> list[dict[str, Any]]:
    """The objects of the kustomization in ``directory`` (nested bases included), in resource order."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    unsupported = set(kustomization) - SUPPORTED_KEYS
    if unsupported:
        raise ValueError(f"{directory}/kustomization.yaml uses {sorted(unsupported)}: keep the base to `resources`")
    objects: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        if path.is_dir():
            objects += render(path)
            continue
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document is None:
                continue
            if not isinstance(document, dict) or "kind" not in document:
                raise ValueError(f"{path}: not a Kubernetes object")
            objects.append(document)
    return objects


def main(argv: list[str]) -> int:
    directory = Path(argv[1] if len(argv) > 1 else "deploy/kubernetes")
    sys.stdout.write(yaml.safe_dump_all(render(directory), sort_keys=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
