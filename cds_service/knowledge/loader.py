"""Loading the knowledge: the YAML files of this package and a site's parameter overrides, validated once.

An unknown regimen, agent, trial or gate in any file is a start-up error (``KnowledgeError``), never a
runtime surprise. A site's parameter overrides (a YAML file) are part of the knowledge: their content hash
is appended to the version on every card.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cds_service.knowledge.model import Knowledge, KnowledgeError

KNOWLEDGE_PACKAGE = "cds_service.knowledge"


def _read_yaml(name: str) -> Any:
    text = resources.files(KNOWLEDGE_PACKAGE).joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def site_parameters_hash(overrides: dict[str, Any]) -> str:
    """Eight hex digits of the SHA-256 of the overrides' canonical JSON: same content, same version."""
    canonical = json.dumps(overrides, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:8]


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if key not in base:
            raise KnowledgeError(f"site parameters: unknown parameter {key!r}")
        merged[key] = _merge(base[key], value) if isinstance(base[key], dict) and isinstance(value, dict) else value
    return merged


def read_site_parameters(path: Path) -> dict[str, Any]:
    """The site's overrides file: a YAML mapping of parameters.yaml keys (nested ones as mappings)."""
    try:
        overrides = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise KnowledgeError(f"site parameters {path}: cannot be read: {exc}") from exc
    if overrides is None:
        return {}
    if not isinstance(overrides, dict):
        raise KnowledgeError(f"site parameters {path}: must be a mapping of parameter names to values")
    return overrides


def load_knowledge(site_parameters: Path | None = None) -> Knowledge:
    """Read and validate every knowledge file and the site's overrides; ``KnowledgeError`` names each problem."""
    overrides = read_site_parameters(site_parameters) if site_parameters is not None else {}
    try:
        return Knowledge.model_validate(
            {
                "info": _read_yaml("knowledge.yaml"),
                "terminology": _read_yaml("terminology.yaml"),
                "regimens": _read_yaml("regimens.yaml")["regimens"],
                "sequencing": _read_yaml("rules.yaml"),
                "gates": _read_yaml("gates.yaml")["gates"],
                "evidence": _read_yaml("evidence.yaml"),
                "vocabulary": _read_yaml("conditions.yaml"),
                "medication_history": _read_yaml("medication_history.yaml"),
                "parameters": _merge(_read_yaml("parameters.yaml"), overrides),
                "site_parameters_hash": site_parameters_hash(overrides) if overrides else None,
            }
        )
    except (ValidationError, yaml.YAMLError, OSError, KeyError, TypeError) as exc:
        raise KnowledgeError(f"knowledge base is invalid: {exc}") from exc
