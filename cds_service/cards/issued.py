"""A card together with what it stands for, so that feedback on it can be tied back to the recommendation."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cds_service.cards.common import CardContext, CardKind, Hook, card_uuid
from cds_service.cards.models import Card, Coding, Link, Source, Suggestion
from cds_service.sequencing.gates import Finding


@dataclass(frozen=True, slots=True)
class IssuedCard:
    card: Card
    kind: CardKind
    suggestions: dict[str, str]  # suggestion uuid -> what accepting it does ("replace-with:cabozantinib")
    gates: tuple[str, ...] = ()  # ids (knowledge/gates.yaml) of the safety gates behind what the card says


@dataclass(frozen=True, slots=True)
class CardBody:
    """What a card says, decided by the recommendation, the hook and the service alone: everything but the
    call's uuids and the suggestions (their draft orders name the patient), so it can be kept with the
    recommendation and issued again on a repeated call."""

    kind: CardKind
    summary: str
    detail: str
    indicator: str
    source: Source
    links: tuple[Link, ...] | None = None
    override_reasons: tuple[Coding, ...] | None = None
    gates: tuple[str, ...] = ()


_UUID_PART: dict[CardKind, str] = {
    "recommendation": "recommendation",
    "does-not-fit": "does-not-fit",
    "data-needed": "data",
}


def issue(
    body: CardBody,
    ctx: CardContext,
    hook: Hook,
    suggestions: Sequence[Suggestion] = (),
    meanings: dict[str, str] | None = None,
    selection: str | None = None,
) -> IssuedCard:
    """The card of one call: ``body`` with the call's uuid, and its ``suggestions`` (``meanings``: what accepting
    each does) under ``selection`` (``selectionBehavior``)."""
    card = Card(
        uuid=card_uuid(ctx.hook_instance, hook, _UUID_PART[body.kind]),
        summary=body.summary,
        detail=body.detail,
        indicator=body.indicator,
        source=body.source,
        suggestions=list(suggestions) or None,
        selectionBehavior=selection,
        overrideReasons=list(body.override_reasons) if body.override_reasons is not None else None,
        links=list(body.links) if body.links is not None else None,
    )
    return IssuedCard(card, body.kind, meanings or {}, body.gates)


def fired_gates(findings: Iterable[Finding]) -> tuple[str, ...]:
    """The ids of the gates that fired among ``findings``, once each, sorted (the audit trail's form)."""
    return tuple(sorted({finding.gate_id for finding in findings}))
