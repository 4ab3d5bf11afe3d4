"""The data-needed card's summary names the missing fact that decides the answer (policy 6.1, pharmacist review)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cds_service.cards.builder import build_cards
from cds_service.cards.common import CardContext
from cds_service.facts import PatientFacts, StopReason
from cds_service.knowledge import Knowledge
from cds_service.sequencing.engine import recommend
from tests.sequencing.builders import TODAY, afp, facts, line, order


@pytest.fixture
def ctx(knowledge: Knowledge) -> CardContext:
    return CardContext(knowledge, "p1", "hook-1", "http://127.0.0.1:8000/CodeSystem/override-reason", "http://x")


def _data_summary(ctx: CardContext, patient: PatientFacts, selected: str) -> str:
    rec = recommend(patient, ctx.knowledge, selected_orders=(order(selected),), today=TODAY)
    return next(i.card.summary for i in build_cards(rec, ctx, hook="order-select") if i.kind == "data-needed")


@pytest.mark.parametrize(
    ("patient", "expected"),
    [
        (
            facts(line(1, "sorafenib", stop=StopReason.UNKNOWN), afp_result=afp(1250)),
            "Why sorafenib stopped decides regorafenib: not recorded; Ascites and encephalopathy not recorded: record "
            "them, present or absent",
        ),
        (
            replace(facts(afp_result=afp(1250)), medication_history_known=False),
            "Prior systemic therapy not obtained: it decides the setting; Ascites and encephalopathy not recorded: "
            "record them, present or absent",
        ),
    ],
    ids=["sorafenib-stop-reason", "medication-history"],
)
def test_the_data_needed_summary_names_the_decisive_missing_fact(
    ctx: CardContext, patient: PatientFacts, expected: str
) -> None:
    summary = _data_summary(ctx, patient, "regorafenib")
    assert summary == expected
    assert "Missing data would change" not in summary
