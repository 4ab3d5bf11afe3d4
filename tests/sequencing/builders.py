"""Compact builders of PatientFacts for rule and card tests (the sequencing layer's input, below mapping).

A whole synthetic patient as FHIR resources or a CDS Hooks request comes from the project's one patient
builder, cds_service/devtools/patients.py; these build the facts the mapper would produce, dated for the same
evaluation day, so a rule test does not depend on the mapping layer. ``mapped`` reads a synthetic patient of
that builder through the real mapper instead; test_builders_agree.py checks the two ways agree.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from cds_service.devtools.patients import EVALUATION_DATE, SyntheticPatient, cds_hooks_request
from cds_service.facts import (
    AfpResult,
    CautionKind,
    CodedChildPugh,
    DiagnosisStatus,
    DraftOrder,
    HccDiagnosis,
    ImmunotherapyCaution,
    LabValue,
    LiverFacts,
    PatientFacts,
    Provenance,
    StopReason,
    TherapyEpisode,
    TherapyLine,
)
from cds_service.knowledge import Knowledge
from cds_service.mapping.patient import PatientMapper

TODAY = EVALUATION_DATE
HCC = HccDiagnosis(DiagnosisStatus.PRESENT, (Provenance("Condition", "hcc", date(2025, 1, 1)),), "HCC")


def line(number: int, *agents: str, stop: StopReason = StopReason.PROGRESSION) -> TherapyLine:
    start = date(2024, 1, 1) + timedelta(days=200 * number)
    episode = TherapyEpisode(
        frozenset(agents),
        start,
        start + timedelta(days=150),
        stop,
        Provenance("MedicationStatement", f"line-{number}", start),
        " + ".join(agents),
    )
    return TherapyLine(number, frozenset(agents), start, episode.end, stop, (episode,))


def afp(
    value: float | None, *, days_old: int = 10, comparator: Literal["<", ">"] | None = None, comparable: bool = True
) -> AfpResult:
    when = TODAY - timedelta(days=days_old)
    return AfpResult(
        value_ng_per_ml=Decimal(str(value)) if value is not None and comparable else None,
        comparator=comparator,
        as_reported=f"{comparator or ''}{value} ng/mL",
        effective=when,
        source=Provenance("Observation", "afp", when),
        comparable=comparable,
        unit="ng/mL",
    )


def lab(value: str, unit: str = "", *, days_old: int = 10, ref: str = "lab") -> LabValue:
    when = TODAY - timedelta(days=days_old)
    return LabValue(Decimal(value), unit, f"{value} {unit}".strip(), Provenance("Observation", ref, when))


def child_pugh(klass: Literal["A", "B", "C"] | None) -> LiverFacts:
    """Class A from normal current labs (ascites/encephalopathy unrecorded: A or B, no gate); B and C coded."""
    if klass is None:
        return LiverFacts()
    if klass == "A":
        return LiverFacts(lab("1.0", "mg/dL"), lab("4.0", "g/dL"), lab("1.0"))
    coded = CodedChildPugh(klass, None, Provenance("Observation", "child-pugh", TODAY - timedelta(days=5)))
    return LiverFacts(coded=coded)


def facts(
    *lines: TherapyLine,
    afp_result: AfpResult | None = None,
    cp: Literal["A", "B", "C"] | None = "A",
    cautions: tuple[CautionKind, ...] = (),
    hcc: HccDiagnosis = HCC,
) -> PatientFacts:
    return PatientFacts(
        hcc=hcc,
        lines=tuple(lines),
        afp=afp_result,
        liver=child_pugh(cp),
        immunotherapy_cautions=tuple(
            ImmunotherapyCaution(kind, kind.value.replace("_", " "), Provenance("Condition", kind.value))
            for kind in cautions
        ),
    )


def order(*agents: str, ref: str = "MedicationRequest/draft-1") -> DraftOrder:
    return DraftOrder(ref, frozenset(agents), " + ".join(agents))


def mapped(patient: SyntheticPatient, knowledge: Knowledge, pid: str = "synthetic") -> PatientFacts:
    """The facts the mapper reads from a synthetic patient of the project's builder (the prefetch of its
    CDS Hooks request): the other way to the engine's input, for tests that check both ways agree."""
    request = cds_hooks_request(pid, "patient-view", pid, patient, None)
    return PatientMapper(knowledge).map_facts(request["prefetch"], pid)
