"""Policy 6.5 at the mapping layer: current and ended lines, unidentified lines, stop reasons in words, products."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from cds_service.facts import LineState, StopReason
from cds_service.knowledge import Knowledge
from cds_service.mapping.patient import PatientMapper
from tests.conftest import with_parameters
from tests.support.fhir import PID, bundle, statement

TODAY = date(2026, 11, 25)


@pytest.fixture(scope="module")
def mapper(knowledge: Knowledge) -> PatientMapper:
    return PatientMapper(knowledge)


def administration(agent: str, when: str, rid: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationAdministration",
        "id": rid,
        "status": "completed",
        "medicationCodeableConcept": {"text": agent},
        "subject": {"reference": f"Patient/{PID}"},
        "effectiveDateTime": when,
    }


def dispense(agent: str, when: str, rid: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationDispense",
        "id": rid,
        "status": "completed",
        "medicationCodeableConcept": {"text": agent},
        "subject": {"reference": f"Patient/{PID}"},
        "whenHandedOver": when,
    }


@pytest.mark.parametrize(("last", "state"), [("2026-10-01", LineState.CURRENT), ("2026-09-20", LineState.ENDED)])
def test_an_administration_within_the_site_window_keeps_the_line_current(
    mapper: PatientMapper, last: str, state: LineState
) -> None:
    """Default 60 days: 2026-10-01 is 55 days before 2026-11-25 (current), 2026-09-20 is 66 (ended)."""
    facts = mapper.map_facts({"a": bundle(administration("cabozantinib", last, "a1"))}, PID, today=TODAY)
    line = facts.current_line or facts.lines[0]
    assert line.state is state
    assert "MedicationAdministration/a1" in line.state_basis


def test_the_window_is_a_site_parameter(knowledge: Knowledge) -> None:
    short = PatientMapper(with_parameters(knowledge, current_line_days=30))
    facts = short.map_facts({"a": bundle(administration("cabozantinib", "2026-10-01", "a1"))}, PID, today=TODAY)
    assert facts.current_line is None
    assert len(facts.lines) == 1


def test_a_recent_supply_keeps_the_line_current(mapper: PatientMapper) -> None:
    facts = mapper.map_facts({"r": bundle(dispense("regorafenib", "2026-11-01", "d1"))}, PID, today=TODAY)
    assert facts.current_line is not None
    assert not facts.lines
    assert "last supply 2026-11-01 (MedicationDispense/d1)" in facts.current_line.state_basis


def test_a_later_stop_ends_an_order_left_active(mapper: PatientMapper) -> None:
    active = {
        "resourceType": "MedicationRequest",
        "id": "r1",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"text": "sorafenib"},
        "subject": {"reference": f"Patient/{PID}"},
        "authoredOn": "2026-01-10",
    }
    stopped = statement({"text": "sorafenib"}, status="stopped", start="2026-01-10", end="2026-10-01")
    facts = mapper.map_facts({"m": bundle(active, stopped)}, PID, today=TODAY)
    assert facts.current_line is None
    assert facts.lines[0].end == date(2026, 10, 1)


def test_only_the_latest_regimen_can_be_current(mapper: PatientMapper) -> None:
    stale = statement({"text": "sorafenib"}, rid="s1", status="active", start="2025-03-01", end=None)
    now = statement({"text": "cabozantinib"}, rid="c1", status="active", start="2026-09-01", end=None)
    facts = mapper.map_facts({"m": bundle(stale, now)}, PID, today=TODAY)
    assert [sorted(ln.agents) for ln in facts.lines] == [["sorafenib"]]
    assert facts.lines[0].state_basis.startswith("line 2 started 2026-09-01")
    assert facts.current_line is not None
    assert facts.current_line.agents == {"cabozantinib"}
    assert facts.current_line.number == 2


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Grade 3 hand-foot skin reaction", StopReason.INTOLERANCE),
        ("HFSR G3", StopReason.INTOLERANCE),
        ("Toxicities: diarrhoea, fatigue", StopReason.INTOLERANCE),
        ("Progressive disease (RECIST)", StopReason.PROGRESSION),
        ("No toxicity; radiological progression", StopReason.PROGRESSION),
        ("Per patient request", StopReason.UNCLEAR),
    ],
)
def test_stop_reasons_in_words_are_classified_and_kept_to_quote(
    mapper: PatientMapper, text: str, reason: StopReason
) -> None:
    stopped = statement({"text": "sorafenib"}, status="stopped", reason=[{"text": text}])
    line = mapper.map_facts({"m": bundle(stopped)}, PID, today=TODAY).lines[0]
    assert line.stop_reason is reason
    assert line.stop_text == text


def test_a_note_on_a_stopped_statement_is_read_as_its_reason(mapper: PatientMapper) -> None:
    stopped = statement({"text": "sorafenib"}, status="completed", note=[{"text": "Stopped: grade 3 rash"}])
    line = mapper.map_facts({"m": bundle(stopped)}, PID, today=TODAY).lines[0]
    assert (line.stop_reason, line.stop_text) == (StopReason.INTOLERANCE, "Stopped: grade 3 rash")


@pytest.mark.parametrize(
    ("concept", "named"),
    [
        ({"text": "camrelizumab 200 MG injection"}, "camrelizumab"),
        ({"text": "Tevimbra 100 MG/10 ML"}, "tislelizumab"),
        ({"text": "Study drug ABC-1 (blinded)"}, "Study drug ABC-1 (blinded)"),
        ({"text": "investigational PD-1 antibody"}, "investigational PD-1 antibody"),
    ],
)
def test_an_anticancer_agent_outside_the_review_is_an_unidentified_line(
    mapper: PatientMapper, concept: dict[str, Any], named: str
) -> None:
    facts = mapper.map_facts({"m": bundle(statement(concept))}, PID, today=TODAY)
    assert len(facts.lines) == 1
    assert facts.lines[0].unidentified == (named,)
    assert facts.lines[0].is_unidentified


@pytest.mark.parametrize(
    ("concept", "products"),
    [
        ({"text": "cabozantinib 140 MG daily-dose capsules"}, {"cometriq"}),
        ({"text": "Cometriq"}, {"cometriq"}),
        (
            {
                "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1363273"}],
                "text": "cabozantinib",
            },
            {"cometriq"},
        ),
        ({"text": "Cabometyx 60 MG tablet"}, set()),
        ({"text": "cabozantinib 60 MG Oral Tablet"}, set()),
    ],
)
def test_a_drafted_cometriq_product_is_recognised(
    mapper: PatientMapper, concept: dict[str, Any], products: set[str]
) -> None:
    draft = {"resourceType": "MedicationRequest", "id": "d1", "status": "draft", "medicationCodeableConcept": concept}
    orders = mapper.map_draft_orders({"resourceType": "Bundle", "entry": [{"resource": draft}]}, None)
    assert orders.selected[0].agents == {"cabozantinib"}
    assert orders.selected[0].products == products


def test_the_suggested_cabozantinib_order_is_not_read_back_as_cometriq(
    mapper: PatientMapper, knowledge: Knowledge
) -> None:
    """A one-click cabozantinib order names the tablets; when it comes back as the next draft it is not flagged."""
    from cds_service.cards.drafts import medication_concept

    concept = medication_concept("cabozantinib", knowledge)
    assert "tablet" in str(concept["text"]).lower()
    draft = {"resourceType": "MedicationRequest", "id": "d1", "status": "draft", "medicationCodeableConcept": concept}
    orders = mapper.map_draft_orders({"resourceType": "Bundle", "entry": [{"resource": draft}]}, None)
    assert orders.selected[0].agents == {"cabozantinib"}
    assert orders.selected[0].products == frozenset()
