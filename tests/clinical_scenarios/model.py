"""The clinical scenario format: a patient in a few lines, a hook and an order, the expected answer.

Modelled loosely on the AHRQ CDS Connect CQL Testing Framework (YAML patients with expected results),
kept simpler. The patient and the orders are the project's one synthetic patient builder
(cds_service/devtools/patients.py); this module adds the hook, the expected result and the wording checks.
Every file in clinical-scenarios/ must validate against ``Scenario``; the JSON schema
written from it is clinical-scenarios/schema.json.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cds_service.devtools.patients import Hook, Orders, SyntheticPatient

SCENARIOS_DIR = Path(__file__).resolve().parents[2] / "clinical-scenarios"

Indicator = Literal["info", "warning", "critical"]
PlaceLabel = Literal[
    "preferred",
    "option",
    "less preferable",
    "not preferred",
    "not supported for this patient",
    "not addressed by the review",
    "already received",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CardExpectation(_Strict):
    """What one card must (or must not) say. Every field is optional."""

    indicator: Indicator | None = None
    selected_place: PlaceLabel | None = None
    regimen_places: dict[str, PlaceLabel] = {}
    summary_contains: list[str] = []
    summary_excludes: list[str] = []
    detail_contains: list[str] = []
    detail_excludes: list[str] = []
    may_suggest: list[str] | None = None
    must_not_suggest: list[str] = []
    no_recommended_suggestion: bool = False
    no_replacement: bool = False
    no_regimen_preferred: bool = False
    order_suggestions: list[str] = []


class Expectation(_Strict):
    """The expected answer. ``cards`` is the exact count; each card kind names one card that must exist."""

    no_cards: bool = False
    cards: int | None = Field(default=None, ge=1)
    no_indicator: list[Indicator] = []
    recommendation: CardExpectation | None = None
    selected_order: CardExpectation | None = None
    data_needed: CardExpectation | None = None
    every_card: CardExpectation | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Expectation:
        kinds = (self.recommendation, self.selected_order, self.data_needed, self.every_card)
        if self.no_cards and (self.cards is not None or any(k is not None for k in kinds) or self.no_indicator):
            raise ValueError("no_cards excludes every other expectation")
        if not self.no_cards and self.cards is None and not any(k is not None for k in kinds) and not self.no_indicator:
            raise ValueError("expect something: no_cards, cards, no_indicator or a card kind")
        return self


PlaceId = Literal["preferred", "option", "less_preferable", "not_preferred", "not_supported", "not_addressed"]


class SelectedResult(_Strict):
    """The engine's reading of the selected order: its regimen (null: not a regimen of the knowledge), place,
    fit (sequencing.alerts.Fit) and the indicator of the card about it."""

    regimen: str | None = None
    place: PlaceId | None = None
    fit: Literal["fits", "does_not_fit", "unranked", "part_of_combination"] | None = None
    indicator: Indicator | None = None


class Result(_Strict):
    """Named results checked on the engine's ``Recommendation``, apart from any card wording (the way the CQL
    Testing Framework asserts ``results:`` keyed by named expressions). Every field is optional; a field given
    is checked exactly, ``places`` only for the regimens it lists."""

    applicable: bool | None = None
    setting: str | None = None
    places: dict[str, PlaceId] = {}
    selected: SelectedResult | None = None
    gates: list[str] | None = None


class Scenario(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{2,60}$")
    title: str
    source: str
    note: str | None = None
    as_of: dt.date
    patient: SyntheticPatient
    hook: Hook
    order: Orders | None = None
    result: Result
    expect: Expectation

    @model_validator(mode="after")
    def _order_matches_hook(self) -> Scenario:
        if (self.hook == "patient-view") != (self.order is None):
            raise ValueError("order-select and order-sign need an order; patient-view has none")
        return self


def scenario_files() -> list[Path]:
    return sorted(SCENARIOS_DIR.glob("*.yaml"))


def load_scenario(path: Path) -> Scenario:
    """Read and validate one scenario file; its ``id`` must be its file name."""
    scenario = Scenario.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    if scenario.id != path.stem:
        raise ValueError(f"{path.name}: id {scenario.id!r} differs from the file name")
    return scenario
