"""Loading the knowledge: the YAML files of this package and a site's parameter overrides, validated once.

An unknown regimen, agent, trial or gate in any file is a start-up error (``KnowledgeError``), never a
runtime surprise. A site's parameter overrides (a YAML file) are part of the knowledge: their content hash
is appended to the version on every card. The file's ``pilot:`` section holds the pilot switches
(``cds_service.knowledge.pilot``); being part of the file, they are part of that hash.

Checks that need code outside this package (the gate registry, whose functions live in ``sequencing``)
register themselves with ``register_knowledge_check`` and run inside ``load_knowledge``: this package
imports no layer of the service.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cds_service.knowledge.model import Knowledge, KnowledgeError
from cds_service.knowledge.releases import ReleaseError, read_lock

KNOWLEDGE_PACKAGE = "cds_service.knowledge"
PILOT_SECTION = "pilot"

KnowledgeCheck = Callable[[Knowledge], None]
_CHECKS: dict[str, KnowledgeCheck] = {}


def register_knowledge_check(name: str, check: KnowledgeCheck) -> None:
    """Run ``check`` on every knowledge base ``load_knowledge`` returns (it raises ``KnowledgeError``).

    The layer that owns the code a check needs registers it when imported (``sequencing.gates`` checks that
    every gate has a function and every message placeholder is filled); registering twice replaces.
    """
    _CHECKS[name] = check


def _yaml_in(folder: Traversable, name: str) -> Any:
    return yaml.safe_load(folder.joinpath(name).read_text(encoding="utf-8"))


def _read_yaml(name: str) -> Any:
    """A knowledge file of this package, parsed."""
    return _yaml_in(resources.files(KNOWLEDGE_PACKAGE), name)


def validation_problems(error: ValidationError) -> str:
    """A validation error in one line: each problem as ``where: what``, joined by "; "."""
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item.get("loc", ()))
        message = " ".join(str(item["msg"]).removeprefix("Value error, ").split())
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)


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


def load_knowledge(site_parameters: Path | None = None, *, folder: Path | None = None) -> Knowledge:
    """Read and validate every knowledge file and the site's overrides; ``KnowledgeError`` names each problem
    in one line. ``folder``: read the knowledge files from there instead of this package (another release)."""
    base: Traversable = folder if folder is not None else resources.files(KNOWLEDGE_PACKAGE)
    overrides = read_site_parameters(site_parameters) if site_parameters is not None else {}
    parameters = {key: value for key, value in overrides.items() if key != PILOT_SECTION}

    def read(name: str) -> Any:
        return _read_yaml(name) if folder is None else _yaml_in(base, name)

    try:
        release = read_lock(base).releases.get(str(read("knowledge.yaml").get("version")))
        knowledge = Knowledge.model_validate(
            {
                "info": read("knowledge.yaml"),
                "terminology": read("terminology.yaml"),
                "regimens": read("regimens.yaml")["regimens"],
                "sequencing": read("rules.yaml"),
                "gates": read("gates.yaml")["gates"],
                "evidence": read("evidence.yaml"),
                "vocabulary": read("conditions.yaml"),
                "medication_history": read("medication_history.yaml"),
                "parameters": _merge(read("parameters.yaml"), parameters),
                "site_parameters_hash": site_parameters_hash(overrides) if overrides else None,
                "pilot": overrides.get(PILOT_SECTION) or {},
                "release": release,
            }
        )
    except ValidationError as exc:
        where = f"site parameters {site_parameters}" if site_parameters is not None else "knowledge base"
        raise KnowledgeError(f"{where} is invalid: {validation_problems(exc)}") from exc
    except (yaml.YAMLError, OSError, KeyError, TypeError, AttributeError, ReleaseError) as exc:
        raise KnowledgeError(f"knowledge base is invalid: {' '.join(str(exc).split())}") from exc
    for check in _CHECKS.values():
        check(knowledge)
    return knowledge
