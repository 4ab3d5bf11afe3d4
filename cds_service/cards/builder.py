"""Recommendation → CDS Hooks cards: what a busy oncologist understands in five seconds.

One pipeline for three hooks: order-select (recommendation, "does not fit", data needed), order-sign (the
"does not fit" card only) and patient-view (the options, no suggestions).
"""

from __future__ import annotations

from cds_service.cards.common import CardContext, Hook
from cds_service.cards.data_needed import data_needed_card
from cds_service.cards.does_not_fit import does_not_fit_card
from cds_service.cards.issued import IssuedCard
from cds_service.cards.recommendation import recommendation_card
from cds_service.sequencing.engine import Recommendation

__all__ = ["CardContext", "Hook", "IssuedCard", "build_cards"]


def build_cards(rec: Recommendation, ctx: CardContext, *, hook: Hook) -> list[IssuedCard]:
    """The cards of one hook call (cds-hooks-conformance.md section 7: at most three cards)."""
    if not rec.applicable:
        return []
    if hook == "order-sign" or rec.continuation_only:
        # Policy 6.5: an order that continues the current line gets no card unless a critical gate applies.
        card = does_not_fit_card(rec, ctx, hook=hook)
        if card is None and hook == "order-sign" and rec.unidentified and not rec.continuation_only:
            # Policy 6.5: a prior line the review does not cover: the card names the medication it could not place.
            return [recommendation_card(rec, ctx, hook=hook)]
        return [card] if card else []
    if hook == "patient-view":
        if not rec.facts.lines and rec.facts.current_line is None:
            return []
        return [recommendation_card(rec, ctx, hook=hook)]
    cards = [
        recommendation_card(rec, ctx, hook=hook),
        does_not_fit_card(rec, ctx, hook=hook),
        data_needed_card(rec, ctx, hook=hook),
    ]
    return [card for card in cards if card is not None]
