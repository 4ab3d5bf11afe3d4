"""Layers import downward only (docs/architecture.md); the sequencing engine stays pure."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "cds_service"

SERVICE_LAYERS = [
    "cds_service.facts",
    "cds_service.sequencing",
    "cds_service.mapping",
    "cds_service.cards",
    "cds_service.data",
    "cds_service.hooks",
    "cds_service.security",
    "cds_service.api",
    "cds_service.store",
    "cds_service.report",
    "cds_service.config",
]
OUTSIDE_CONCERNS = ["fhir", "httpx", "fastapi", "starlette", "sqlalchemy"]

# What each layer must not import (project layers above it, and outside concerns). The knowledge package,
# the patient-facts vocabulary and the bounded memos are at the bottom: every layer may import them, they import
# no layer.
FORBIDDEN = {
    "knowledge": SERVICE_LAYERS + OUTSIDE_CONCERNS,
    "facts.py": [layer for layer in SERVICE_LAYERS if layer != "cds_service.facts"] + OUTSIDE_CONCERNS,
    "memo.py": SERVICE_LAYERS + OUTSIDE_CONCERNS,
    "sequencing": [
        "cds_service.mapping",
        "cds_service.cards",
        "cds_service.data",
        "cds_service.hooks",
        "cds_service.security",
        "cds_service.api",
        "cds_service.store",
        "cds_service.config",
        "fhir",
        "httpx",
        "fastapi",
        "starlette",
        "sqlalchemy",
    ],
    "mapping": [
        "cds_service.sequencing",
        "cds_service.cards",
        "cds_service.data",
        "cds_service.hooks",
        "cds_service.security",
        "cds_service.api",
        "cds_service.store",
        "cds_service.config",
        "httpx",
        "fastapi",
        "starlette",
    ],
    "cards": [
        "cds_service.mapping",
        "cds_service.data",
        "cds_service.hooks",
        "cds_service.security",
        "cds_service.api",
        "cds_service.store",
        "cds_service.config",
        "httpx",
        "fastapi",
        "starlette",
    ],
    "data": ["cds_service.hooks", "cds_service.security", "cds_service.api", "cds_service.store", "fastapi"],
    "hooks": ["cds_service.security", "cds_service.api", "cds_service.store", "fastapi", "starlette"],
    "security": ["cds_service.api"],
    "store": ["cds_service.api", "cds_service.hooks", "fastapi"],
    # The concordance report reads the store only: never the service's request path or card building.
    "report": [
        "cds_service.api",
        "cds_service.security",
        "cds_service.hooks",
        "cds_service.data",
        "cds_service.mapping",
        "cds_service.cards",
        "cds_service.config",
        "fastapi",
        "starlette",
        "httpx",
    ],
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_downward(layer: str) -> None:
    files = [PACKAGE / layer] if layer.endswith(".py") else sorted((PACKAGE / layer).glob("*.py"))
    assert files, layer
    for path in files:
        for module in imports_of(path):
            for forbidden in FORBIDDEN[layer]:
                violates = module == forbidden or module.startswith(forbidden + ".")
                assert not violates, f"{path.name} imports {module}"


def test_development_tools_are_never_on_the_request_path() -> None:
    """devtools/ (sandbox, fixture loader, synthetic traffic) is reached from the command line only."""
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "devtools" or path.name == "cli.py" or path.name.startswith("cli_"):  # the command line
            continue
        for module in imports_of(path):
            assert not module.startswith("cds_service.devtools"), f"{path} imports {module}"


def test_fhir_models_are_r4b_only() -> None:
    for path in PACKAGE.rglob("*.py"):
        for module in imports_of(path):
            if module.startswith("fhir.resources"):
                assert module.startswith("fhir.resources.R4B"), f"{path} imports {module}"


def test_every_gate_has_one_function_and_scenarios_where_it_fires_and_does_not() -> None:
    """Issue 17: a clinician can point at a gate: one YAML entry, one function, scenarios that show it."""
    from cds_service.knowledge import load_knowledge
    from cds_service.sequencing.gates import check_gate_registry, registered_gates
    from tests.clinical_scenarios.gates import gate_outcomes
    from tests.clinical_scenarios.model import SCENARIOS_DIR, load_scenario

    knowledge = load_knowledge()
    check_gate_registry(knowledge)
    assert registered_gates() == set(knowledge.gates)
    for gate_id, gate in knowledge.gates.items():
        outcomes = [gate_outcomes(load_scenario(SCENARIOS_DIR / f"{name}.yaml")) for name in gate.scenarios]
        assert any(gate_id in fired for fired, _ in outcomes), f"{gate_id}: no listed scenario where it fires"
        assert any(gate_id in quiet for _, quiet in outcomes), f"{gate_id}: no listed scenario where it stays quiet"


def test_a_gate_without_its_function_refuses_to_start() -> None:
    from cds_service.knowledge import KnowledgeError, load_knowledge
    from cds_service.sequencing.gates import check_gate_registry

    knowledge = load_knowledge()
    extra = knowledge.gates["hepatitis_b"].model_copy()
    broken = knowledge.model_copy(update={"gates": {**knowledge.gates, "new_gate_without_function": extra}})
    with pytest.raises(KnowledgeError, match=r"new_gate_without_function in gates\.yaml has no function"):
        check_gate_registry(broken)
