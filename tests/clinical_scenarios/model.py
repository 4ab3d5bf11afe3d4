"""The clinical scenario format: a patient in a few lines, a hook and an order, the expected answer.

Modelled loosely on the AHRQ CDS Connect CQL Testing Framework (YAML patients with expected results),
kept simpler. Every file in clinical-scenarios/ must validate against ``Scenario``; the JSON schema
written from it is clinical-scenarios/schema.json.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

SCENARIOS_DIR = Path(__file__).resolve().parents[2] / "clinical-scenarios"

Agent = Literal[
    "sorafenib",
    "lenvatinib",
    "regorafenib",
    "cabozantinib",
    "ramucirumab",
    "bevacizumab",
    "atezolizumab",
    "nivolumab",
    "pembrolizumab",
    "ipilimumab",
    "durvalumab",
    "tremelimumab",
    "sunitinib",
    "amlodipine",
]
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


class ConditionEntry(_Strict):
    """A Condition. No ``code`` means text only; no ``text`` means a bare code (no display, no text)."""

    text: str | None = None
    system: Literal["icd10cm", "snomed"] | None = None
    code: str | None = None
    verification: Literal["confirmed", "provisional", "differential", "unconfirmed", "refuted", "absent"] = "confirmed"
    clinical: Literal["active", "recurrence", "relapse", "inactive", "remission", "resolved", "absent"] = "active"
    category: Literal["problem-list-item", "encounter-diagnosis", "health-concern"] | None = None
    severity: str | None = None
    onset: dt.date | None = None

    @model_validator(mode="after")
    def _code_or_text(self) -> ConditionEntry:
        if self.code is None and self.text is None:
            raise ValueError("a condition needs a code or a text")
        if (self.code is None) != (self.system is None):
            raise ValueError("code and system go together")
        return self


class PriorLine(_Strict):
    """One prior line of systemic therapy (one MedicationStatement per agent, same dates)."""

    agents: list[Agent] = Field(min_length=1)
    start: dt.date
    end: dt.date | None = None
    stop_reason: Literal["progression", "intolerance"] | None = None
    stop_text: str | None = None


class Measurement(_Strict):
    value: float
    unit: str
    date: dt.date


class Afp(Measurement):
    unit: Literal["ng/mL", "IU/mL"] = "ng/mL"


class Bilirubin(Measurement):
    unit: Literal["mg/dL", "umol/L", "none"] = "mg/dL"  # none: the result gives no unit (policy 6.5)


class Albumin(Measurement):
    unit: Literal["g/dL", "g/L", "none"] = "g/dL"


class Inr(Measurement):
    unit: Literal["{INR}", "1", "none"] = "{INR}"


class Labs(_Strict):
    bilirubin: Bilirubin | None = None
    albumin: Albumin | None = None
    inr: Inr | None = None


class Ecog(_Strict):
    """ECOG (LOINC 89247-1) as an integer, a LOINC answer code (LA9622-7 ... LA9627-6), a quantity or a string."""

    value: int = Field(ge=0, le=4)
    date: dt.date
    form: Literal["integer", "answer_code", "quantity", "string"] = "integer"


class Karnofsky(_Strict):
    """A Karnofsky score (LOINC 89243-0): never read as ECOG (policy 6.5)."""

    value: int = Field(ge=0, le=100)
    date: dt.date


class PregnancyTest(_Strict):
    """A qualitative pregnancy test (LOINC 2106-3, urine)."""

    result: Literal["positive", "negative"]
    date: dt.date


class Medication(_Strict):
    """A non-anticancer medication on record: a MedicationStatement (or MedicationRequest) with this text."""

    text: str
    status: Literal["active", "intended", "completed", "stopped", "on-hold"] = "active"
    resource: Literal["MedicationStatement", "MedicationRequest"] = "MedicationStatement"


class Patient(_Strict):
    birth_date: dt.date = dt.date(1958, 4, 2)
    diagnoses: list[ConditionEntry] = Field(min_length=1)
    conditions: list[ConditionEntry] = []
    prior_lines: list[PriorLine] = []
    afp: Afp | None = None
    labs: Labs = Labs()
    ecog: Ecog | None = None
    karnofsky: Karnofsky | None = None
    pregnancy_test: PregnancyTest | None = None
    medications: list[Medication] = []


class Order(_Strict):
    """The draft orders: ``selected`` are the selections (order-select); ``other_drafts`` are also in the basket."""

    selected: list[Agent] = Field(min_length=1)
    other_drafts: list[Agent] = []


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
    fit: Literal["fits", "does_not_fit", "unranked"] | None = None
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
    patient: Patient
    hook: Literal["order-select", "order-sign", "patient-view"]
    order: Order | None = None
    result: Result | None = None
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
