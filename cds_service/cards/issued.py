"""A card together with what it stands for, so that feedback on it can be tied back to the recommendation."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cds_service.cards.common import CardKind
from cds_service.cards.models import Card
from cds_service.sequencing.gates import Finding


@dataclass(frozen=True, slots=True)
class IssuedCard:
    card: Card
    kind: CardKind
    suggestions: dict[str, str]  # suggestion uuid -> what accepting it does ("replace-with:cabozantinib")
    gates: tuple[str, ...] = ()  # ids (knowledge/gates.yaml) of the safety gates behind what the card says


def fired_gates(findings: Iterable[Finding]) -> tuple[str, ...]:
    """The ids of the gates that fired among ``findings``, once each, sorted (the audit trail's form)."""
    return tuple(sorted({finding.gate_id for finding in findings}))
