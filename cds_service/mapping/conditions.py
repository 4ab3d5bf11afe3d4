"""Conditions → HCC diagnosis, checkpoint-inhibitor cautions, and ascites / encephalopathy as recorded."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import orjson

from cds_service.facts import (
    CautionKind,
    DiagnosisStatus,
    HccDiagnosis,
    ImmunotherapyCaution,
    LiverFinding,
    PopulationFinding,
    PopulationKind,
    Provenance,
)
from cds_service.knowledge import ClinicalVocabulary, ExtraCodes
from cds_service.mapping.fhir import ConceptMatcher, Parser, codings, concept_texts, first_date
from cds_service.mapping.negation import Negation
from cds_service.mapping.resources import JsonObject
from cds_service.mapping.terminology import field_of
from cds_service.memo import Lru

CLINICAL_STATUS_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION_STATUS_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ACTIVE_CLINICAL_STATUSES = frozenset({"active", "recurrence", "relapse"})
EXCLUDED_VERIFICATION_STATUSES = frozenset({"refuted", "entered-in-error"})
CONFIRMED_VERIFICATION_STATUSES = frozenset({"confirmed"})


# What a Condition's code and statuses mean, remembered by their exact JSON (a few hundred bytes each).
VERDICT_CACHE_SIZE = 4096
_CLASSIFIED = ("code", "clinicalStatus", "verificationStatus", "severity")

Severity = Literal["absent", "mild", "moderate_severe"] | None


@dataclass(frozen=True, slots=True)
class _Verdict:
    """What the rules make of a Condition's ``code``, ``clinicalStatus``, ``verificationStatus`` and ``severity``
    (nothing about the patient: the same coded entry means the same for everyone)."""

    refuted: bool
    cautions: tuple[tuple[CautionKind, str], ...] = ()
    populations: tuple[tuple[PopulationKind, str], ...] = ()
    current: bool = False
    hcc: bool = False
    description: str | None = None
    ascites: tuple[Severity] | None = None  # (severity,) when recorded, present or absent
    encephalopathy: tuple[Severity] | None = None


_SKIP = _Verdict(refuted=True)  # no rule reads the Condition (``names_nothing_read``)


@dataclass(frozen=True, slots=True)
class ConditionFacts:
    hcc: HccDiagnosis
    cautions: tuple[ImmunotherapyCaution, ...]
    ascites: LiverFinding | None
    encephalopathy: LiverFinding | None
    populations: tuple[PopulationFinding, ...] = ()


def _status_code(concept: Any, system: str) -> str | None:
    for coding in codings(concept):
        if field_of(coding, "system") in (system, None) and isinstance(field_of(coding, "code"), str):
            return str(field_of(coding, "code"))
    return None


def is_refuted(condition: Any) -> bool:
    """verificationStatus refuted or entered-in-error: the Condition never counts, for any rule."""
    return _status_code(condition.verificationStatus, VERIFICATION_STATUS_SYSTEM) in EXCLUDED_VERIFICATION_STATUSES


def is_current(condition: Any) -> bool:
    """Clinically active/recurrence/relapse (or no status given) and not refuted or entered-in-error."""
    if is_refuted(condition):
        return False
    clinical = _status_code(condition.clinicalStatus, CLINICAL_STATUS_SYSTEM)
    return clinical is None or clinical in ACTIVE_CLINICAL_STATUSES


def _severity(condition: Any) -> Literal["mild", "moderate_severe"] | None:
    """Ascites / encephalopathy grade as Child-Pugh reads it: mild (grade I-II) or moderate-severe (III-IV)."""
    texts = " ".join(concept_texts(condition.severity)).lower() if condition.severity else ""
    if any(w in texts for w in ("moderate", "severe", "grade iii", "grade iv", "grade 3", "grade 4")):
        return "moderate_severe"
    if "mild" in texts or "grade i" in texts or "grade 1" in texts or "grade 2" in texts:
        return "mild"
    return None


def is_confirmed(condition: Any) -> bool:
    """verificationStatus confirmed (policy 6.5: a confirmed, coded HCC counts whatever its text says)."""
    return _status_code(condition.verificationStatus, VERIFICATION_STATUS_SYSTEM) in CONFIRMED_VERIFICATION_STATUSES


def is_confirmed_or_unverified(condition: Any) -> bool:
    """verificationStatus confirmed, or not given (policy 6.2: not suspected, provisional, differential)."""
    verification = _status_code(condition.verificationStatus, VERIFICATION_STATUS_SYSTEM)
    return verification is None or verification in CONFIRMED_VERIFICATION_STATUSES


class ConditionMapper:
    def __init__(self, vocabulary: ClinicalVocabulary, extra: ExtraCodes) -> None:
        systems = vocabulary.systems
        # conditions.yaml text_negation / text_hypothetical: which cues apply to which text is documented there.
        self.negation = negation = Negation(vocabulary.text_negation)  # also read for why a line stopped
        rules, not_the_patients = vocabulary.text_negation, vocabulary.text_not_the_patients
        hcc_negation = Negation(rules, post=True, context_pre=vocabulary.hcc_named_in_other_history.text)
        # Policy 6.5: caution and population text ends a negation at another finding's name and never counts
        # from a family history or a vaccination; transplant text never from an evaluation or a plan.
        caution_negation = Negation(rules, other_findings=True, not_the_patients=not_the_patients)
        transplant_negation = Negation(
            rules, hypothetical=vocabulary.text_hypothetical, other_findings=True, not_the_patients=not_the_patients
        )
        self.hcc = ConceptMatcher(vocabulary.hcc, systems, extra.hcc, hcc_negation)
        self.not_a_diagnosis = ConceptMatcher(vocabulary.hcc_not_a_diagnosis, systems)
        self.not_current = ConceptMatcher(vocabulary.hcc_not_current, systems)
        self.not_the_patients = ConceptMatcher(vocabulary.not_the_patients, systems)
        self.transplant = ConceptMatcher(
            vocabulary.organ_transplant, systems, extra.organ_transplant, transplant_negation
        )
        self.autoimmune = ConceptMatcher(
            vocabulary.autoimmune_disease, systems, extra.autoimmune_disease, caution_negation
        )
        self.hepatitis_b = ConceptMatcher(vocabulary.hepatitis_b, systems, extra.hepatitis_b, caution_negation)
        self.immune_toxicity = ConceptMatcher(vocabulary.immune_toxicity, systems, (), caution_negation)
        self.pregnancy = ConceptMatcher(vocabulary.pregnancy, systems, (), caution_negation)
        self.fibrolamellar = ConceptMatcher(vocabulary.fibrolamellar, systems, (), caution_negation)
        self.ascites = ConceptMatcher(vocabulary.ascites, systems, extra.ascites, negation)
        self.encephalopathy = ConceptMatcher(
            vocabulary.hepatic_encephalopathy, systems, extra.hepatic_encephalopathy, negation
        )
        self._verdicts: Lru[bytes, _Verdict] = Lru(VERDICT_CACHE_SIZE)
        self._any_read = ConceptMatcher.any_of(
            (
                self.hcc,
                self.transplant,
                self.autoimmune,
                self.hepatitis_b,
                self.immune_toxicity,
                self.pregnancy,
                self.fibrolamellar,
                self.ascites,
                self.encephalopathy,
            )
        )

    def names_nothing_read(self, raw: JsonObject) -> bool:
        """True when a cheap read of the raw ``code`` shows no rule reads this Condition (it is then skipped).

        The same matchers as ``map`` on the raw JSON, before any validation: no code at all, or a code
        object whose codings and texts match none of the vocabularies. A ``code`` that is not a JSON
        object is validated as before, so that its data-quality note is kept.
        """
        code = raw.get("code")
        if code is None:
            return True
        return type(code) is dict and not self._any_read.matches(code)

    def counts_as_hcc(self, condition: Any) -> bool:
        """Policy 6.2: HCC counts only from a Condition coded as HCC (or, with no coding at all, text naming
        HCC), confirmed or unverified, never from a family history, screening, surveillance or suspicion.

        Policy 6.2 "never from a refuted entry", for text (conditions.yaml ``text_negation``, a project
        choice): a text-only entry counts only where its text names HCC without a pre- or post-negation cue
        ("No evidence of HCC", "HCC excluded on MRI" do not count), and not when the text says the disease is
        not current (``hcc_not_current``: "no recurrence", "in remission" — the text's own clinical status,
        which 6.2 excludes), nor where HCC is only the reason for another entry ("Liver transplant 2015 for
        HCC": ``hcc_named_in_other_history``, policy 6.5). Codes are never negated, and codes outrank text
        (6.5): a confirmed Condition coded as HCC counts whatever its text says.
        """
        code = condition.code
        if self.not_a_diagnosis.code_matches(code) or not is_confirmed_or_unverified(condition):
            return False
        coded = any(True for _ in codings(code))
        if coded and self.hcc.code_matches(code) and is_confirmed(condition):
            return True  # policy 6.5: a confirmed, active Condition coded as HCC counts whatever its text says
        if self.not_a_diagnosis.text_matches(code):
            return False
        if coded:
            return self.hcc.code_matches(code)
        return self.hcc.text_matches(code) and not self.not_current.text_matches(code)

    def counts_as_caution(self, kind: CautionKind, matcher: ConceptMatcher, condition: Any) -> bool:
        """Policy 6.2: a checkpoint-inhibitor caution, by code first, text second (text not negated).

        Never from a refuted or entered-in-error Condition. An organ transplant counts whatever its
        clinicalStatus (a resolved or inactive transplant Condition still means a transplanted organ);
        autoimmune disease (clinical-sequencing.md 1: "active autoimmune disease") and hepatitis B count
        while current (active, recurrence, relapse, or no status given).
        """
        if is_refuted(condition) or self.not_the_patients.code_matches(condition.code):
            return False
        if not matcher.matches(condition.code):
            return False
        return kind in (CautionKind.ORGAN_TRANSPLANT, CautionKind.IMMUNE_TOXICITY) or is_current(condition)

    def population(self, condition: Any) -> list[tuple[PopulationKind, str]]:
        """Policy 6.5: an active pregnancy Condition, or fibrolamellar carcinoma (confirmed or unverified, current),
        by code first, text second; never from a family history or another not-the-patient entry. Each with
        the label a finding is described by."""
        if not is_current(condition) or not is_confirmed_or_unverified(condition):
            return []
        if self.not_the_patients.code_matches(condition.code):
            return []
        label = next(iter(concept_texts(condition.code)), None)
        found = []
        for kind, matcher in (
            (PopulationKind.PREGNANCY, self.pregnancy),
            (PopulationKind.FIBROLAMELLAR, self.fibrolamellar),
        ):
            if matcher.matches(condition.code):
                found.append((kind, label or kind.value))
        return found

    def _verdict(self, condition: Any) -> _Verdict:
        """The classification of one validated Condition, as ``map`` applies it."""
        if is_refuted(condition):
            return _Verdict(refuted=True)
        code = condition.code
        cautions = []
        for kind, matcher in (
            (CautionKind.ORGAN_TRANSPLANT, self.transplant),
            (CautionKind.AUTOIMMUNE_DISEASE, self.autoimmune),
            (CautionKind.HEPATITIS_B, self.hepatitis_b),
            (CautionKind.IMMUNE_TOXICITY, self.immune_toxicity),
        ):
            if self.counts_as_caution(kind, matcher, condition):
                cautions.append((kind, next(iter(concept_texts(code)), kind.label)))
        populations = tuple(self.population(condition))
        if not is_current(condition):
            return _Verdict(False, tuple(cautions), populations)
        hcc = self.counts_as_hcc(condition)
        return _Verdict(
            False,
            tuple(cautions),
            populations,
            current=True,
            hcc=hcc,
            description=next(iter(concept_texts(code)), None) if hcc else None,
            ascites=_liver_severity(self.ascites, condition),
            encephalopathy=_liver_severity(self.encephalopathy, condition),
        )

    def _classified(self, raw: JsonObject, key: bytes | None, parser: Parser) -> tuple[Any, _Verdict]:
        """The validated Condition (None when skipped or invalid) and its verdict, remembered by ``key``."""
        verdict = self._verdicts.get(key) if key is not None else None
        if verdict is _SKIP or (verdict is None and self.names_nothing_read(raw)):
            if key is not None:
                self._verdicts.put(key, _SKIP)
            parser.skipped += 1
            return None, _SKIP
        condition = parser.parse(raw)
        if condition is None:
            return None, _SKIP
        if verdict is None:
            verdict = self._verdict(condition)
            if key is not None:
                self._verdicts.put(key, verdict)
        return condition, verdict

    def map(self, raw_conditions: Iterable[JsonObject], *, data_available: bool, parser: Parser) -> ConditionFacts:
        """HCC (clinical-sequencing.md 1): C22.0, SNOMED 25370001 or text, active and not refuted.

        What a Condition's code and statuses mean does not depend on the patient: it is remembered by the
        exact JSON of those elements (bounded); each Condition is still validated.
        """
        hcc_sources: list[Provenance] = []
        description: str | None = None
        cautions: list[ImmunotherapyCaution] = []
        populations: list[PopulationFinding] = []
        ascites: LiverFinding | None = None
        encephalopathy: LiverFinding | None = None
        for raw in raw_conditions:
            condition, verdict = self._classified(raw, _verdict_key(raw), parser)
            if condition is None or verdict.refuted:
                continue
            onset = first_date(
                condition.onsetDateTime,
                condition.onsetPeriod.start if condition.onsetPeriod else None,
                condition.recordedDate,
            )
            source = Provenance("Condition", condition.id, onset)
            cautions += (ImmunotherapyCaution(kind, label, source) for kind, label in verdict.cautions)
            populations += (PopulationFinding(kind, label, source) for kind, label in verdict.populations)
            if not verdict.current:
                continue
            if verdict.hcc:
                hcc_sources.append(source)
                description = description or verdict.description
            if verdict.ascites is not None:
                ascites = _worse(ascites, LiverFinding(verdict.ascites[0], source))
            if verdict.encephalopathy is not None:
                encephalopathy = _worse(encephalopathy, LiverFinding(verdict.encephalopathy[0], source))
        if hcc_sources:
            status = DiagnosisStatus.PRESENT
        else:
            status = DiagnosisStatus.ABSENT if data_available else DiagnosisStatus.UNKNOWN
        hcc = HccDiagnosis(status, tuple(hcc_sources), description)
        return ConditionFacts(hcc, tuple(cautions), ascites, encephalopathy, tuple(populations))


def _verdict_key(raw: JsonObject) -> bytes | None:
    """The exact JSON of the elements a verdict is made of (None: not JSON, not remembered)."""
    try:
        return orjson.dumps([raw.get(name) for name in _CLASSIFIED])
    except (TypeError, orjson.JSONEncodeError):
        return None


def _liver_severity(matcher: ConceptMatcher, condition: Any) -> tuple[Severity] | None:
    """Ascites / encephalopathy for Child-Pugh (policy 6.2: the minimum counts what is recorded; a recorded
    absence is an absence). A code or affirmed text records the finding with its grade; text that names it
    only negated ("No ascites", conditions.yaml ``text_negation``) records its absence; otherwise None.
    Any recorded presence outweighs a recorded absence (``_worse``); ``sequencing.child_pugh`` decides how
    old an absence may be."""
    if matcher.matches(condition.code):
        return (_severity(condition),)
    if matcher.text_denies(condition.code):
        return ("absent",)
    return None


_SEVERITY_RANK = {"absent": -1, "mild": 0, None: 1, "moderate_severe": 2}


def _worse(current: LiverFinding | None, new: LiverFinding) -> LiverFinding:
    """The worse of two records of one finding; of two recorded absences, the newer (its age matters)."""
    if current is None or _SEVERITY_RANK[new.severity] > _SEVERITY_RANK[current.severity]:
        return new
    if new.severity == current.severity == "absent" and (new.source.date or date.min) > (
        current.source.date or date.min
    ):
        return new
    return current
