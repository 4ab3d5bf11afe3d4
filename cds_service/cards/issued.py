"""A card together with what it stands for, so that feedback on it can be tied back to the recommendation."""

from __future__ import annotations

from dataclasses import dataclass

from cds_service.cards.common import CardKind
from cds_service.cards.models import Card


@dataclass(frozen=True, slots=True)
class IssuedCard:
    card: Card
    kind: CardKind
    suggestions: dict[str, str]  # suggestion uuid -> what accepting it does ("replace-with:cabozantinib")
