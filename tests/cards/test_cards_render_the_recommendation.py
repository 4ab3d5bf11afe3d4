"""Cards only render: the indicator of every card and the alternatives a does-not-fit card offers or withholds
are decided in sequencing and read off the Recommendation (issue 22)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cds_service.cards.builder import build_cards
from cds_service.cards.common import CardContext
from cds_service.knowledge import Knowledge, Severity
from cds_service.sequencing.alerts import CardIndicators
from cds_service.sequencing.alternatives import Alternatives, WithheldAlternative
from cds_service.sequencing.engine import Recommendation, recommend
from tests.sequencing.builders import TODAY, facts, line, order


@pytest.fixture
def ctx(knowledge: Knowledge) -> CardContext:
    return CardContext(knowledge, "p1", "hook-1", "http://127.0.0.1:8000/CodeSystem/override-reason", "http://x")


@pytest.fixture
def rec(knowledge: Knowledge) -> Recommendation:
    """Nivolumab after sorafenib with no AFP: a recommendation, a does-not-fit and a data-needed card."""
    return recommend(facts(line(1, "sorafenib")), knowledge, selected_orders=(order("nivolumab"),), today=TODAY)


def indicators(rec: Recommendation, ctx: CardContext) -> dict[str, str]:
    return {issued.kind: issued.card.indicator for issued in build_cards(rec, ctx, hook="order-select")}


def test_each_card_shows_the_indicator_sequencing_gave_it(rec: Recommendation, ctx: CardContext) -> None:
    assert indicators(rec, ctx) == {"recommendation": "info", "does-not-fit": "warning", "data-needed": "info"}
    louder = CardIndicators(Severity.WARNING, Severity.CRITICAL, Severity.WARNING)
    assert indicators(replace(rec, indicators=louder), ctx) == {
        "recommendation": "warning",
        "does-not-fit": "critical",
        "data-needed": "warning",
    }


def test_the_does_not_fit_card_offers_what_sequencing_offers_and_names_what_it_withholds(
    rec: Recommendation, ctx: CardContext
) -> None:
    def does_not_fit(rec: Recommendation) -> tuple[list[str], str]:
        card = next(i.card for i in build_cards(rec, ctx, hook="order-select") if i.kind == "does-not-fit")
        return [s.label for s in card.suggestions or []], card.detail or ""

    offered = [a.option.regimen_id for a in rec.alternatives.offered]
    assert offered == ["cabozantinib", "regorafenib"]
    labels, _ = does_not_fit(rec)
    assert [label.split(" (")[0] for label in labels] == ["Replace with cabozantinib", "Replace with regorafenib"]

    regorafenib = rec.alternatives.offered[1]
    only_cabozantinib = Alternatives(offered=(rec.alternatives.offered[0],))
    labels, _ = does_not_fit(replace(rec, alternatives=only_cabozantinib))
    assert [label.split(" (")[0] for label in labels] == ["Replace with cabozantinib"]

    caution = next(f for o in rec.options for f in o.findings if f.severity is not Severity.INFO)
    withheld = Alternatives(withheld=(WithheldAlternative(regorafenib.option, (caution,)),))
    labels, detail = does_not_fit(replace(rec, alternatives=withheld))
    assert labels == []
    assert f"Not offered, same caution as the selected order: Regorafenib ({caution.summary})." in detail
