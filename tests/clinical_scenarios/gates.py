"""Which safety gates fire in each clinical scenario: the engine's findings for the scenario's patient."""

from __future__ import annotations

from functools import cache
from typing import Any

from cds_service.facts import DraftOrder
from cds_service.knowledge import Knowledge, load_knowledge
from cds_service.mapping.patient import PatientMapper
from cds_service.sequencing.engine import recommend
from cds_service.sequencing.gates import Finding, GateContext, in_scope
from tests.clinical_scenarios.fhir import hook_request
from tests.clinical_scenarios.model import Scenario


@cache
def _knowledge() -> Knowledge:
    return load_knowledge()


def gate_outcomes(scenario: Scenario) -> tuple[set[str], set[str]]:
    """(gates that fired, gates in scope that did not fire) for the regimens this scenario's cards assess."""
    knowledge = _knowledge()
    mapper = PatientMapper(knowledge)
    request: dict[str, Any] = hook_request(scenario)
    context = request["context"]
    facts = mapper.map_facts(request["prefetch"], context["patientId"], today=scenario.as_of)
    selected: tuple[DraftOrder, ...] = ()
    others: tuple[DraftOrder, ...] = ()
    if scenario.hook != "patient-view":
        selections = context.get("selections") if scenario.hook == "order-select" else None
        drafts = mapper.map_draft_orders(context.get("draftOrders"), selections)
        selected = tuple(o for o in drafts.selected if o.agents and not o.contains_other_agents)
        others = drafts.others
    rec = recommend(
        facts,
        knowledge,
        selected_orders=selected,
        other_draft_orders=others,
        today=scenario.as_of,
        selecting=scenario.hook == "order-select",
    )
    if not rec.applicable:
        return set(), set()
    assessed: list[tuple[str | None, frozenset[str], tuple[Finding, ...]]] = [
        (o.regimen_id, knowledge.regimen_agents(o.regimen_id), o.findings) for o in rec.options
    ]
    assessed += [(s.regimen_id, s.agents, s.findings) for s in rec.selected]
    fired = {f.gate_id for _, _, findings in assessed for f in findings}
    ctx = GateContext(facts, knowledge, scenario.as_of, rec.setting)
    in_scope_ids = {
        gate_id
        for gate_id, definition in knowledge.gates.items()
        for regimen_id, agents, _ in assessed
        if in_scope(definition, regimen_id, agents, ctx.knowledge)
    }
    return fired, in_scope_ids - fired
