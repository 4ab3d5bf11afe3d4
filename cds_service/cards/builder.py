"""Recommendation → CDS Hooks cards: what a busy oncologist understands in five seconds.

One pipeline for three hooks: order-select (recommendation, "does not fit", data needed), order-sign (the
"does not fit" card only) and patient-view (the options, no suggestions).
"""

from __future__ import annotations

from cds_service.cards.common import CardContext, Hook
from cds_service.cards.data_needed import data_needed_body, issue_data_needed
from cds_service.cards.does_not_fit import does_not_fit_body, issue_does_not_fit
from cds_service.cards.issued import CardBody, IssuedCard, issue
from cds_service.cards.recommendation import recommendation_body
from cds_service.sequencing.engine import Recommendation

__all__ = ["CardBody", "CardContext", "Hook", "IssuedCard", "build_cards", "card_bodies"]


def card_bodies(rec: Recommendation, ctx: CardContext, *, hook: Hook) -> tuple[CardBody, ...]:
    """What the cards of a hook call say (cds-hooks-conformance.md section 7: at most three cards); they depend
    on the recommendation, the hook and the service, not on the call."""
    if not rec.applicable:
        return ()
    if hook == "order-sign" or rec.continuation_only:
        # Policy 6.5: an order that continues the current line gets no card unless a critical gate applies.
        body = does_not_fit_body(rec, ctx, hook=hook)
        if body is None and hook == "order-sign" and rec.unidentified and not rec.continuation_only:
            # Policy 6.5: a prior line the review does not cover: the card names the medication it could not place.
            return (recommendation_body(rec, ctx, hook=hook),)
        return (body,) if body else ()
    if hook == "patient-view":
        if not rec.facts.lines and rec.facts.current_line is None:
            return ()
        return (recommendation_body(rec, ctx, hook=hook),)
    bodies = (
        recommendation_body(rec, ctx, hook=hook),
        does_not_fit_body(rec, ctx, hook=hook),
        data_needed_body(rec, ctx, hook=hook),
    )
    return tuple(body for body in bodies if body is not None)


def build_cards(
    rec: Recommendation, ctx: CardContext, *, hook: Hook, bodies: tuple[CardBody, ...] | None = None
) -> list[IssuedCard]:
    """The cards of one hook call: ``card_bodies`` (or ``bodies``, kept from an earlier call with the same
    recommendation and hook) with this call's uuids and suggestions."""
    if bodies is None:
        bodies = card_bodies(rec, ctx, hook=hook)
    issued = []
    for body in bodies:
        if body.kind == "does-not-fit":
            issued.append(issue_does_not_fit(body, rec, ctx, hook))
        elif body.kind == "data-needed":
            issued.append(issue_data_needed(body, rec, ctx, hook))
        else:
            issued.append(issue(body, ctx, hook))
    return issued
