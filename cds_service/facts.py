"""Patient facts: the plain, typed input of the sequencing engine.

The mapping layer produces them from FHIR; nothing here knows about FHIR or HTTP. Every fact carries
its provenance so that a card can show the clinician what the advice was based on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Literal

ChildPughClass = Literal["A", "B", "C"]
"""A Child-Pugh class: the one type for it in every layer."""


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a fact came from: the FHIR resource type and id, and the clinically relevant date."""

    resource_type: str
    resource_id: str | None
    date: date | None = None

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.resource_id}" if self.resource_id else self.resource_type


class DiagnosisStatus(StrEnum):
    PRESENT = "present"
    ABSENT = "absent"  # condition data was available and has no active HCC
    UNKNOWN = "unknown"  # no condition data at all


@dataclass(frozen=True, slots=True)
class HccDiagnosis:
    status: DiagnosisStatus
    sources: tuple[Provenance, ...] = ()
    description: str | None = None


class StopReason(StrEnum):
    PROGRESSION = "progression"
    INTOLERANCE = "intolerance"
    OTHER = "other"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class TherapyEpisode:
    """One agent given over a period, from one medication resource."""

    agents: frozenset[str]
    start: date | None
    end: date | None
    stop_reason: StopReason
    source: Provenance
    description: str


@dataclass(frozen=True, slots=True)
class TherapyLine:
    """Agents started within the grouping window: one regimen, one line of therapy."""

    number: int
    agents: frozenset[str]
    start: date | None
    end: date | None
    stop_reason: StopReason
    episodes: tuple[TherapyEpisode, ...]


class CutoffRelation(StrEnum):
    AT_OR_ABOVE = "at_or_above"
    BELOW = "below"
    UNDETERMINED = "undetermined"


@dataclass(frozen=True, slots=True)
class AfpResult:
    """An AFP result. ``value_ng_per_ml`` is None when the unit cannot be compared to a ng/mL cut-off.

    ``unit`` is the unit as reported (None when the result gives none), so a card can name it;
    ``converted`` is True when ``value_ng_per_ml`` is not the reported number (another unit, converted).
    """

    value_ng_per_ml: Decimal | None
    comparator: Literal["<", "<=", ">", ">="] | None
    as_reported: str
    effective: date | None
    source: Provenance
    comparable: bool
    note: str | None = None
    unit: str | None = None
    converted: bool = False

    def relation_to(self, cutoff_ng_per_ml: Decimal) -> CutoffRelation:
        """Compare honestly: ``>2000`` is above a 400 cut-off, ``<2`` below it, ``<1000`` undetermined."""
        value = self.value_ng_per_ml
        if value is None or not self.comparable:
            return CutoffRelation.UNDETERMINED
        match self.comparator:
            case None:
                return CutoffRelation.AT_OR_ABOVE if value >= cutoff_ng_per_ml else CutoffRelation.BELOW
            case ">" | ">=":
                return CutoffRelation.AT_OR_ABOVE if value >= cutoff_ng_per_ml else CutoffRelation.UNDETERMINED
            case "<":
                return CutoffRelation.BELOW if value <= cutoff_ng_per_ml else CutoffRelation.UNDETERMINED
            case "<=":
                return CutoffRelation.BELOW if value < cutoff_ng_per_ml else CutoffRelation.UNDETERMINED


@dataclass(frozen=True, slots=True)
class LabValue:
    """A laboratory result in the standard unit the rules use (mg/dL, g/dL, ratio), with its date."""

    value: Decimal
    unit: str
    as_reported: str
    source: Provenance

    @property
    def effective(self) -> date | None:
        return self.source.date


@dataclass(frozen=True, slots=True)
class LiverFinding:
    """Ascites or hepatic encephalopathy as recorded; ``severity`` None when the record does not grade it,
    "absent" when the record says there is none ("No ascites")."""

    severity: Literal["absent", "mild", "moderate_severe"] | None
    source: Provenance


@dataclass(frozen=True, slots=True)
class CodedChildPugh:
    """A Child-Pugh class and/or score recorded by the site as one Observation."""

    child_pugh_class: ChildPughClass | None
    score: int | None
    source: Provenance


@dataclass(frozen=True, slots=True)
class LiverFacts:
    """The Child-Pugh components as recorded; scoring lives in ``sequencing.child_pugh``.

    ``conditions_recorded`` is False when no Condition data was available: then ascites and encephalopathy
    are unknown. Even with Condition data, an unrecorded finding is unknown, not absent (policy 6.2).
    """

    bilirubin_mg_per_dl: LabValue | None = None
    albumin_g_per_dl: LabValue | None = None
    inr: LabValue | None = None
    ascites: LiverFinding | None = None
    encephalopathy: LiverFinding | None = None
    coded: CodedChildPugh | None = None
    conditions_recorded: bool = True


@dataclass(frozen=True, slots=True)
class EcogStatus:
    grade: int
    source: Provenance


class CautionKind(StrEnum):
    ORGAN_TRANSPLANT = "organ_transplant"
    AUTOIMMUNE_DISEASE = "autoimmune_disease"
    HEPATITIS_B = "hepatitis_b"


@dataclass(frozen=True, slots=True)
class ImmunotherapyCaution:
    kind: CautionKind
    description: str
    source: Provenance


@dataclass(frozen=True, slots=True)
class DataQualityNote:
    """A resource left out of the answer, and why."""

    reference: str
    reason: str


@dataclass(frozen=True, slots=True)
class DraftOrder:
    """A draft order selected by the clinician, reduced to the agents it names."""

    reference: str
    agents: frozenset[str]
    description: str
    contains_other_agents: bool = False


@dataclass(frozen=True, slots=True)
class PatientFacts:
    """Everything the sequencing rules read about one patient."""

    hcc: HccDiagnosis
    lines: tuple[TherapyLine, ...] = ()
    afp: AfpResult | None = None
    liver: LiverFacts = field(default_factory=LiverFacts)
    ecog: EcogStatus | None = None
    immunotherapy_cautions: tuple[ImmunotherapyCaution, ...] = ()
    notes: tuple[DataQualityNote, ...] = field(default=())
    medication_history_known: bool = True

    @property
    def next_line_number(self) -> int:
        """The line a new regimen would start: prior lines + 1."""
        return len(self.lines) + 1
