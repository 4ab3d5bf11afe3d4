"""How cards name a selected regimen's place: "already received" is said as such (policy 2.3, 6.1)."""

from __future__ import annotations

import pytest

from cds_service.cards.builder import build_cards
from cds_service.cards.common import CardContext, lower_first
from cds_service.facts import PatientFacts
from cds_service.knowledge import Knowledge
from cds_service.sequencing.engine import Recommendation, recommend
from tests.sequencing.builders import TODAY, afp, facts, line, order


@pytest.fixture
def ctx(knowledge: Knowledge) -> CardContext:
    return CardContext(knowledge, "p1", "hook-1", "http://127.0.0.1:8000/CodeSystem/override-reason", "http://x")


def _select(knowledge: Knowledge, patient: PatientFacts, *agents: str) -> Recommendation:
    return recommend(patient, knowledge, selected_orders=(order(*agents, ref="MedicationRequest/sel"),), today=TODAY)


@pytest.mark.parametrize(
    ("patient", "agent"),
    [
        (facts(line(1, "sorafenib"), line(2, "regorafenib"), afp_result=afp(150)), "regorafenib"),
        (facts(line(1, "sorafenib"), afp_result=afp(1250)), "sorafenib"),
    ],
    ids=["regorafenib-beyond-second-line", "sorafenib-after-sorafenib"],
)
def test_a_regimen_already_received_reads_already_received_not_not_addressed(
    knowledge: Knowledge, ctx: CardContext, patient: PatientFacts, agent: str
) -> None:
    rec = _select(knowledge, patient, agent)
    cards = {issued.kind: issued.card for issued in build_cards(rec, ctx, hook="order-select")}
    warning, recommendation = cards["does-not-fit"], cards["recommendation"]
    assert warning.detail is not None
    assert recommendation.detail is not None
    assert warning.indicator == "warning"
    assert warning.summary.lower().startswith(f"already received (line {len(patient.lines)}): {agent}")
    assert "not addressed" not in warning.summary
    assert warning.summary.lower().count("already received") == 1
    assert ": already received." in warning.detail.splitlines()[0]
    assert f"**Selected order:** {agent.capitalize()}: already received." in recommendation.detail
    rows = [row for row in recommendation.detail.splitlines() if row.startswith(f"| {agent.capitalize()} |")]
    assert all("| already received |" in row for row in rows)


def test_a_regimen_not_received_keeps_its_place_label(knowledge: Knowledge, ctx: CardContext) -> None:
    rec = _select(knowledge, facts(line(1, "sorafenib"), line(2, "regorafenib"), afp_result=afp(150)), "ramucirumab")
    warning = next(i.card for i in build_cards(rec, ctx, hook="order-select") if i.kind == "does-not-fit")
    assert "already received" not in warning.summary.lower()
    assert warning.detail is not None
    assert "not addressed by the review" in warning.detail


@pytest.mark.parametrize(
    ("fact", "inside_a_line"),
    [
        ("Organ transplant", "organ transplant"),
        ("AFP 95 ng/mL below 400", "AFP 95 ng/mL below 400"),
        ("ECOG 2", "ECOG 2"),
        ("Child-Pugh B", "Child-Pugh B"),
        ("Latest AFP older than 90 days", "latest AFP older than 90 days"),
    ],
)
def test_a_fact_inside_a_line_keeps_acronyms_and_names(fact: str, inside_a_line: str) -> None:
    """Pharmacist review: "(caution: aFP 95 ng/mL below 400)" read as a typo; only a plain first word is lowered."""
    assert lower_first(fact) == inside_a_line


def test_a_regimen_place_names_its_afp_caution_as_afp(knowledge: Knowledge, ctx: CardContext) -> None:
    """Fixture 18's pattern: Child-Pugh C caps every place; ramucirumab's own AFP caution is named with "AFP"."""
    rec = _select(knowledge, facts(line(1, "sorafenib"), afp_result=afp(95), cp="C"), "regorafenib")
    card = next(i.card for i in build_cards(rec, ctx, hook="order-select") if i.kind == "recommendation")
    row = next(r for r in (card.detail or "").splitlines() if r.startswith("| Ramucirumab |"))
    assert "(caution: AFP 95 ng/mL below 400)" in row
