"""Cards against the binding safety policy (docs/clinical-sequencing.md 6.1-6.2), from a pharmacist's review."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from cds_service.cards.builder import build_cards
from cds_service.cards.common import CardContext
from cds_service.cards.issued import IssuedCard
from cds_service.sequencing.engine import recommend
from cds_service.sequencing.facts import EcogStatus, PatientFacts, Provenance
from cds_service.sequencing.knowledge import Knowledge
from tests.sequencing.builders import TODAY, afp, facts, line, order

AFTER_SORAFENIB = facts(line(1, "sorafenib"), afp_result=afp(1250))


@pytest.fixture
def ctx(knowledge: Knowledge) -> CardContext:
    return CardContext(knowledge, "p1", "hook-1", "http://127.0.0.1:8000/CodeSystem/override-reason", "http://x")


def ecog(patient: PatientFacts, grade: int) -> PatientFacts:
    when = TODAY - timedelta(days=5)
    return replace(patient, ecog=EcogStatus(grade, Provenance("Observation", "ecog", when)))


def cards(patient: PatientFacts, ctx: CardContext, *selected: str, hook: str = "order-select") -> dict[str, IssuedCard]:
    orders = (order(*selected, ref="MedicationRequest/draft-1"),) if selected else ()
    rec = recommend(patient, ctx.knowledge, selected_orders=orders, today=TODAY)
    return {c.kind: c for c in build_cards(rec, ctx, hook=hook)}  # type: ignore[arg-type]


def replacement_regimens(card: IssuedCard) -> set[str]:
    return {meaning.removeprefix("replace-with:") for meaning in card.suggestions.values()}


@pytest.mark.parametrize(
    ("patient", "selected", "shared"),
    [
        (ecog(AFTER_SORAFENIB, 2), "cabozantinib", "ECOG 2"),
        (ecog(AFTER_SORAFENIB, 3), "regorafenib", "ECOG 3"),
        (facts(line(1, "sorafenib"), afp_result=afp(1250), cp="B"), "cabozantinib", "Child-Pugh B"),
    ],
)
def test_no_replacement_shares_the_selected_orders_caution(
    ctx: CardContext, patient: PatientFacts, selected: str, shared: str
) -> None:
    """Pharmacist review: a TKI swapped for another TKI with the same ECOG or Child-Pugh caution fixes nothing."""
    card = cards(patient, ctx, selected)["does-not-fit"]
    assert card.card.indicator == "warning"
    assert shared in card.card.summary
    assert card.card.suggestions is None
    assert replacement_regimens(card) == set()
    detail = card.card.detail or ""
    assert "No replacement is offered in one click" in detail
    assert f"same caution as the selected order: {'Regorafenib' if selected == 'cabozantinib' else 'Cabozantinib'}" in (
        detail
    )


def test_a_replacement_without_the_selected_orders_problem_is_still_offered(ctx: CardContext) -> None:
    """Ramucirumab with AFP below 400: its problem is its own, so cabozantinib and regorafenib are offered."""
    patient = facts(line(1, "sorafenib"), afp_result=afp(20))
    card = cards(patient, ctx, "ramucirumab")["does-not-fit"]
    assert replacement_regimens(card) == {"cabozantinib", "regorafenib"}
