"""A scenario's ``result:`` block, checked on the engine's ``Recommendation`` (not on card wording)."""

from __future__ import annotations

from functools import cache
from typing import Any

from cds_service.facts import DraftOrder, PatientFacts
from cds_service.knowledge import Knowledge, load_knowledge
from cds_service.mapping.patient import PatientMapper
from cds_service.sequencing.engine import Recommendation, recommend
from tests.clinical_scenarios.fhir import hook_request
from tests.clinical_scenarios.model import Scenario


@cache
def _knowledge() -> Knowledge:
    return load_knowledge()


def knowledge() -> Knowledge:
    """The shipped knowledge, loaded once."""
    return _knowledge()


def evaluate(scenario: Scenario) -> tuple[PatientFacts, Recommendation]:
    """The mapped facts and the engine's answer for the scenario's patient and orders, from the same request
    the cards are built from."""
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
    return facts, rec


def recommendation_for(scenario: Scenario) -> Recommendation:
    """The engine's answer for the scenario's patient and orders."""
    return evaluate(scenario)[1]


def fired_gates(rec: Recommendation) -> set[str]:
    """Every gate that fired for an option of the setting or for the selected order."""
    findings = (*(f for o in rec.options for f in o.findings), *(f for s in rec.selected for f in s.findings))
    return {f.gate_id for f in findings}


def result_failures(scenario: Scenario, rec: Recommendation) -> list[str]:
    """Each way the engine's answer differs from the scenario's ``result:`` block, as a sentence."""
    expected = scenario.result
    problems: list[str] = []
    if expected.applicable is not None and rec.applicable != expected.applicable:
        problems.append(f"applicable: expected {expected.applicable}, engine says {rec.applicable}")
    if expected.setting is not None:
        actual = rec.setting.value if rec.setting is not None else "unknown"
        if actual != expected.setting:
            problems.append(f"setting: expected {expected.setting}, engine says {actual}")
    places = {o.regimen_id: o.place.value for o in rec.options}
    for regimen, place in expected.places.items():
        if places.get(regimen) != place:
            problems.append(f"place of {regimen}: expected {place}, engine says {places.get(regimen, 'not listed')}")
    if expected.selected is not None:
        if len(rec.selected) != 1:
            problems.append(f"selected: expected one selected regimen, engine assessed {len(rec.selected)}")
        else:
            got = rec.selected[0]
            actual_selected = {
                "regimen": got.regimen_id,
                "place": got.place.value,
                "fit": got.fit.value,
                "indicator": got.indicator.value,
            }
            for name, value in expected.selected.model_dump(exclude_unset=True).items():
                if actual_selected[name] != value:
                    problems.append(f"selected {name}: expected {value}, engine says {actual_selected[name]}")
    if expected.gates is not None:
        fired = fired_gates(rec)
        if fired != set(expected.gates):
            problems.append(f"gates fired: expected {sorted(expected.gates)}, engine fired {sorted(fired)}")
    return problems
