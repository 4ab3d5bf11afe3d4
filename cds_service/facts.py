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
    """How a line ended (policy 6.5 "Stop reasons in words"): a code or text naming progression or a toxicity,
    other text ("unclear": possibly intolerance), or nothing recorded."""

    PROGRESSION = "progression"
    INTOLERANCE = "intolerance"
    UNCLEAR = "unclear"
    UNKNOWN = "unknown"


class LineState(StrEnum):
    """A line the patient is still on, or one that ended (policy 6.5 "Current therapy is not a prior line")."""

    CURRENT = "current"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class TherapyEpisode:
    """One medication record of systemic therapy (a statement, an order, an administration or a supply).

    ``agents`` are the review's agents it names; ``unidentified`` is the medication as recorded when it is an
    anticancer agent outside the review (policy 6.5). ``ongoing`` is True when its status says it continues
    (statement active/intended/on-hold, order active/on-hold) and no end has passed; ``stopped`` when its status
    says it ended (stopped, completed). ``given`` is the date of an administration or supply. ``stop_text`` is
    the stop reason as written (statusReason text or display, else a note on a record that ended).
    """

    agents: frozenset[str]
    start: date | None
    end: date | None
    stop_reason: StopReason
    source: Provenance
    description: str
    unidentified: str | None = None
    status: str | None = None
    ongoing: bool = False
    stopped: bool = False
    given: date | None = None
    stop_text: str | None = None

    @property
    def last_date(self) -> date | None:
        """The latest date the record speaks for: its end, the day given, else its start."""
        return self.end or self.given or self.start


@dataclass(frozen=True, slots=True)
class TherapyLine:
    """One regimen: agents started together, or a later agent that completes a combination of the knowledge
    while the line is still current (policy 6.5 "One regimen, however it is drafted").

    ``state`` says whether the patient is still on it; ``state_basis`` names the record that decided it, in
    words ("MedicationRequest/r1 active", "last administration 2026-08-01 (MedicationAdministration/a7), more
    than 60 days ago"). ``stop_text`` quotes the recorded stop reason; ``unidentified`` names the medications of
    the line that are anticancer agents outside the review.
    """

    number: int
    agents: frozenset[str]
    start: date | None
    end: date | None
    stop_reason: StopReason
    episodes: tuple[TherapyEpisode, ...]
    state: LineState = LineState.ENDED
    state_basis: str = ""
    stop_text: str | None = None
    unidentified: tuple[str, ...] = ()

    @property
    def is_current(self) -> bool:
        return self.state is LineState.CURRENT

    @property
    def is_unidentified(self) -> bool:
        """A line with an anticancer agent outside the review: the review does not cover what follows it."""
        return bool(self.unidentified)


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
    problem: str | None = None  # why the result is not used (policy 6.5: no unit, implausible): then missing

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
    as_reported: str | None = None


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
    IMMUNE_TOXICITY = "immune_toxicity"

    @property
    def label(self) -> str:
        """The caution in words, as a line names it: "organ transplant", "hepatitis B"."""
        return self.value.replace("_", " ").replace("hepatitis b", "hepatitis B")


class MedicationKind(StrEnum):
    """Medicines read for policy 6.5 apart from the anticancer lines."""

    IMMUNOSUPPRESSANT = "immunosuppressant"
    HBV_ANTIVIRAL = "hbv_antiviral"


@dataclass(frozen=True, slots=True)
class CurrentMedication:
    """An active immunosuppressant or hepatitis B antiviral on record (policy 6.5)."""

    kind: MedicationKind
    name: str
    source: Provenance


class PopulationKind(StrEnum):
    """Populations the review's trials excluded (policy 6.5)."""

    PREGNANCY = "pregnancy"
    FIBROLAMELLAR = "fibrolamellar"


@dataclass(frozen=True, slots=True)
class PopulationFinding:
    """A recorded fact that puts the patient outside the trials' populations; ``test`` when it is a positive
    pregnancy test (counted only while recent), not a Condition."""

    kind: PopulationKind
    description: str
    source: Provenance
    test: bool = False


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
    products: frozenset[str] = frozenset()  # a product of the agent that is not its HCC product (Cometriq)


@dataclass(frozen=True, slots=True)
class PatientFacts:
    """Everything the sequencing rules read about one patient.

    ``lines`` are the lines that ended (the prior lines: they decide the setting, policy 6.5);
    ``current_line`` is the regimen the patient is still on, if any (never a prior line).
    """

    hcc: HccDiagnosis
    lines: tuple[TherapyLine, ...] = ()
    current_line: TherapyLine | None = None
    afp: AfpResult | None = None
    liver: LiverFacts = field(default_factory=LiverFacts)
    ecog: EcogStatus | None = None
    immunotherapy_cautions: tuple[ImmunotherapyCaution, ...] = ()
    notes: tuple[DataQualityNote, ...] = field(default=())
    medication_history_known: bool = True
    current_medications: tuple[CurrentMedication, ...] = ()
    populations: tuple[PopulationFinding, ...] = ()
    birth_date: date | None = None

    @property
    def next_line_number(self) -> int:
        """The line a new regimen would start: prior lines + 1 (+ 1 more after a current line)."""
        return len(self.lines) + (2 if self.current_line else 1)

    @property
    def all_lines(self) -> tuple[TherapyLine, ...]:
        """Every line in order, the current one last."""
        return (*self.lines, self.current_line) if self.current_line else self.lines
