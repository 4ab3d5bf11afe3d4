"""Conditions → HCC diagnosis, immunotherapy cautions, and the clinical parts of Child-Pugh."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cds_service.mapping.fhir import ConceptMatcher, Parser, codings, concept_texts, first_date
from cds_service.mapping.resources import JsonObject
from cds_service.mapping.terminology import field_of
from cds_service.sequencing.facts import (
    CautionKind,
    DiagnosisStatus,
    HccDiagnosis,
    ImmunotherapyCaution,
    Provenance,
)
from cds_service.sequencing.knowledge import ClinicalVocabulary

CLINICAL_STATUS_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION_STATUS_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ACTIVE_CLINICAL_STATUSES = frozenset({"active", "recurrence", "relapse"})
EXCLUDED_VERIFICATION_STATUSES = frozenset({"refuted", "entered-in-error"})


@dataclass(frozen=True, slots=True)
class ConditionCodes:
    """Site additions to the vocabulary: ``system|code`` strings (``code*`` for a prefix)."""

    hcc: tuple[str, ...] = ()
    organ_transplant: tuple[str, ...] = ()
    autoimmune_disease: tuple[str, ...] = ()
    ascites: tuple[str, ...] = ()
    hepatic_encephalopathy: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LiverFinding:
    """Ascites or hepatic encephalopathy, with its Child-Pugh points (a range when severity is unknown)."""

    points_min: int
    points_max: int
    source: Provenance


@dataclass(frozen=True, slots=True)
class ConditionFacts:
    hcc: HccDiagnosis
    cautions: tuple[ImmunotherapyCaution, ...]
    ascites: LiverFinding | None
    encephalopathy: LiverFinding | None


def _status_code(concept: Any, system: str) -> str | None:
    for coding in codings(concept):
        if field_of(coding, "system") in (system, None) and isinstance(field_of(coding, "code"), str):
            return str(field_of(coding, "code"))
    return None


def is_current(condition: Any) -> bool:
    """Clinically active/recurrence/relapse (or no status given) and not refuted or entered-in-error."""
    verification = _status_code(condition.verificationStatus, VERIFICATION_STATUS_SYSTEM)
    if verification in EXCLUDED_VERIFICATION_STATUSES:
        return False
    clinical = _status_code(condition.clinicalStatus, CLINICAL_STATUS_SYSTEM)
    return clinical is None or clinical in ACTIVE_CLINICAL_STATUSES


def _severity_points(condition: Any) -> tuple[int, int]:
    """Child-Pugh points for ascites / encephalopathy: mild 2, moderate-severe 3, unknown severity 2-3."""
    texts = " ".join(concept_texts(condition.severity)).lower() if condition.severity else ""
    if "mild" in texts or "grade i" in texts or "grade 1" in texts or "grade 2" in texts:
        return 2, 2
    if any(w in texts for w in ("moderate", "severe", "grade iii", "grade iv", "grade 3", "grade 4")):
        return 3, 3
    return 2, 3


class ConditionMapper:
    def __init__(self, vocabulary: ClinicalVocabulary, extra: ConditionCodes) -> None:
        systems = vocabulary.systems
        self.hcc = ConceptMatcher(vocabulary.hcc, systems, extra.hcc)
        self.transplant = ConceptMatcher(vocabulary.organ_transplant, systems, extra.organ_transplant)
        self.autoimmune = ConceptMatcher(vocabulary.autoimmune_disease, systems, extra.autoimmune_disease)
        self.ascites = ConceptMatcher(vocabulary.ascites, systems, extra.ascites)
        self.encephalopathy = ConceptMatcher(vocabulary.hepatic_encephalopathy, systems, extra.hepatic_encephalopathy)

    def map(self, raw_conditions: Iterable[JsonObject], *, data_available: bool, parser: Parser) -> ConditionFacts:
        """HCC (clinical-sequencing.md 1): C22.0, SNOMED 25370001 or text, active and not refuted."""
        hcc_sources: list[Provenance] = []
        description: str | None = None
        cautions: list[ImmunotherapyCaution] = []
        ascites: LiverFinding | None = None
        encephalopathy: LiverFinding | None = None
        for raw in raw_conditions:
            condition = parser.parse(raw)
            if condition is None or not is_current(condition):
                continue
            onset = first_date(
                condition.onsetDateTime,
                condition.onsetPeriod.start if condition.onsetPeriod else None,
                condition.recordedDate,
            )
            source = Provenance("Condition", condition.id, onset)
            code = condition.code
            if self.hcc.matches(code):
                hcc_sources.append(source)
                description = description or next(iter(concept_texts(code)), None)
            if self.transplant.matches(code):
                label = next(iter(concept_texts(code)), "organ transplant")
                cautions.append(ImmunotherapyCaution(CautionKind.ORGAN_TRANSPLANT, label, source))
            if self.autoimmune.matches(code):
                label = next(iter(concept_texts(code)), "autoimmune disease")
                cautions.append(ImmunotherapyCaution(CautionKind.AUTOIMMUNE_DISEASE, label, source))
            if self.ascites.matches(code):
                ascites = _worse(ascites, LiverFinding(*_severity_points(condition), source))
            if self.encephalopathy.matches(code):
                encephalopathy = _worse(encephalopathy, LiverFinding(*_severity_points(condition), source))
        if hcc_sources:
            status = DiagnosisStatus.PRESENT
        else:
            status = DiagnosisStatus.ABSENT if data_available else DiagnosisStatus.UNKNOWN
        hcc = HccDiagnosis(status, tuple(hcc_sources), description)
        return ConditionFacts(hcc, tuple(cautions), ascites, encephalopathy)


def _worse(current: LiverFinding | None, new: LiverFinding) -> LiverFinding:
    if current is None or new.points_max > current.points_max:
        return new
    return current
