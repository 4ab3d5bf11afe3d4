"""How cards name a selected regimen's place: "already received" is said as such (policy 2.3, 6.1)."""

from __future__ import annotations

import pytest

from cds_service.cards.builder import build_cards
from cds_service.cards.common import CardContext
from cds_service.sequencing.engine import Recommendation, recommend
from cds_service.sequencing.facts import PatientFacts
from cds_service.sequencing.knowledge import Knowledge
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
    assert "not addressed by the review" in warning.detail
