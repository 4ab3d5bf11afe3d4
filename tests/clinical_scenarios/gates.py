"""Which safety gates fire in each clinical scenario: the engine's findings for the scenario's patient."""

from __future__ import annotations

from cds_service.sequencing.gates import Finding, GateContext, in_scope
from tests.clinical_scenarios.model import Scenario
from tests.clinical_scenarios.results import evaluate, knowledge


def gate_outcomes(scenario: Scenario) -> tuple[set[str], set[str]]:
    """(gates that fired, gates in scope that did not fire) for the regimens this scenario's cards assess."""
    facts, rec = evaluate(scenario)
    shipped = knowledge()
    if not rec.applicable:
        return set(), set()
    assessed: list[tuple[str | None, frozenset[str], tuple[Finding, ...]]] = [
        (o.regimen_id, shipped.regimen_agents(o.regimen_id), o.findings) for o in rec.options
    ]
    assessed += [(s.regimen_id, s.agents, s.findings) for s in rec.selected]
    fired = {f.gate_id for _, _, findings in assessed for f in findings}
    ctx = GateContext(facts, shipped, scenario.as_of, rec.setting)
    in_scope_ids = {
        gate_id
        for gate_id, definition in shipped.gates.items()
        for regimen_id, agents, _ in assessed
        if in_scope(definition, regimen_id, agents, ctx.knowledge)
    }
    return fired, in_scope_ids - fired
