"""Small helpers over ``fhir.resources.R4B`` models: lenient parsing, dates, concept matching."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.medicationdispense import MedicationDispense
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.medicationstatement import MedicationStatement
from fhir.resources.R4B.observation import Observation
from pydantic import ValidationError

from cds_service.facts import DataQualityNote
from cds_service.knowledge import ConditionVocabulary
from cds_service.mapping.negation import Negation
from cds_service.mapping.resources import JsonObject, as_list, resource_reference
from cds_service.mapping.terminology import field_of

R4B_MODELS: dict[str, Any] = {
    "Condition": Condition,
    "Observation": Observation,
    "MedicationStatement": MedicationStatement,
    "MedicationRequest": MedicationRequest,
    "MedicationAdministration": MedicationAdministration,
    "MedicationDispense": MedicationDispense,
}


_COMMON = ("resourceType", "id", "status", "subject")
_MEDICATION = (*_COMMON, "statusReason", "medicationCodeableConcept", "medicationReference", "note")
ELEMENTS_READ: dict[str, frozenset[str]] = {
    "Condition": frozenset(
        (
            *_COMMON,
            "clinicalStatus",
            "verificationStatus",
            "code",
            "severity",
            "onsetDateTime",
            "onsetPeriod",
            "recordedDate",
        )
    ),
    "Observation": frozenset(
        (
            *_COMMON,
            "code",
            "effectiveDateTime",
            "effectivePeriod",
            "effectiveInstant",
            "issued",
            "valueQuantity",
            "valueString",
            "valueInteger",
            "valueCodeableConcept",
        )
    ),
    "MedicationStatement": frozenset((*_MEDICATION, "effectiveDateTime", "effectivePeriod", "dateAsserted")),
    "MedicationRequest": frozenset((*_MEDICATION, "intent", "authoredOn", "dispenseRequest")),
    "MedicationAdministration": frozenset((*_MEDICATION, "effectiveDateTime", "effectivePeriod")),
    "MedicationDispense": frozenset(
        (*_MEDICATION, "statusReasonCodeableConcept", "whenHandedOver", "whenPrepared", "daysSupply")
    ),
}


def parse_r4(raw: JsonObject, notes: list[DataQualityNote]) -> Any | None:
    """Validate the elements the rules read with the resource's R4B model; never raise.

    Elements the rules do not read (narrative, meta, extensions, category, performer, notes...) are
    neither read nor validated, so a malformed one cannot cost the clinician an AFP result; a resource
    whose read elements are not valid R4 is left out with a note naming it.
    """
    resource_type = str(raw.get("resourceType"))
    model = R4B_MODELS.get(resource_type)
    if model is None:
        return None
    read = ELEMENTS_READ.get(resource_type)
    data = raw if read is None else {k: v for k, v in raw.items() if k in read}
    dispense = data.get("dispenseRequest")
    if isinstance(dispense, dict) and dispense.keys() - {"validityPeriod"}:
        data["dispenseRequest"] = {k: v for k, v in dispense.items() if k == "validityPeriod"}
    try:
        return model.model_validate(data)
    except (ValidationError, ValueError, TypeError, AttributeError, KeyError) as exc:
        first = str(exc).splitlines()[1] if "\n" in str(exc) else str(exc)
        notes.append(DataQualityNote(resource_reference(raw), f"not valid FHIR R4 ({first.strip()}); left out"))
        return None


class Parser:
    """Per request: validates resources and collects the data-quality notes."""

    def __init__(self, notes: list[DataQualityNote]) -> None:
        self.notes = notes
        self.skipped = 0  # resources a cheap read showed no rule needs; never validated

    def parse(self, raw: JsonObject) -> Any | None:
        return parse_r4(raw, self.notes)


def parse_concept(raw: Any) -> CodeableConcept | None:
    """Parse a lone CodeableConcept (used where the surrounding resource is not valid R4)."""
    if not isinstance(raw, dict):
        return None
    try:
        return CodeableConcept.model_validate(raw)
    except (ValidationError, ValueError, TypeError):
        return None


def as_date(value: Any) -> date | None:
    """The calendar date of a FHIR date/dateTime/instant value (partial dates: their first day)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        match = re.match(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", value)
        if match:
            year, month, day = match.groups()
            try:
                return date(int(year), int(month or 1), int(day or 1))
            except ValueError:
                return None
    return None


def first_date(*values: Any) -> date | None:
    for value in values:
        found = as_date(value)
        if found is not None:
            return found
    return None


def codings(concepts: Any) -> Iterable[Any]:
    """Every coding in one CodeableConcept or a list of them."""
    for concept in as_list(concepts):
        yield from as_list(field_of(concept, "coding"))


def concept_texts(concepts: Any) -> Iterable[str]:
    for concept in as_list(concepts):
        text = field_of(concept, "text")
        if isinstance(text, str):
            yield text
        for coding in as_list(field_of(concept, "coding")):
            display = field_of(coding, "display")
            if isinstance(display, str):
                yield display


def _words_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    """Any of ``words`` as a whole word or phrase, ignoring case."""
    if not words:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)", re.IGNORECASE)


class ConceptMatcher:
    """Matches a CodeableConcept against one vocabulary entry (codes with ``*`` prefixes, and text)."""

    def __init__(
        self,
        vocab: ConditionVocabulary,
        systems: dict[str, str],
        extra_codes: Iterable[str] = (),
        negation: Negation | None = None,
    ):
        self._negation = negation
        self._exact: set[tuple[str, str]] = set()
        self._prefixes: dict[str, tuple[str, ...]] = {}  # by system
        for ref in vocab.codes:
            self._add(systems[ref.system], ref.code)
        for extra in extra_codes:
            system, _, code = extra.rpartition("|")
            self._add(systems.get(system, system), code)
        self._words = tuple(vocab.text)
        self._text = _words_pattern(self._words)

    @classmethod
    def any_of(cls, matchers: Iterable[ConceptMatcher]) -> ConceptMatcher:
        """One matcher that matches wherever one of ``matchers`` does: one pass, for cheap pre-checks.

        It never negates (negation only removes matches), so it matches at least where any part does.
        """
        parts = tuple(matchers)
        combined = cls.__new__(cls)
        combined._negation = None
        combined._exact = set().union(*(m._exact for m in parts))
        combined._prefixes = {}
        for part in parts:
            for system, prefixes in part._prefixes.items():
                combined._prefixes[system] = combined._prefixes.get(system, ()) + prefixes
        combined._words = tuple(dict.fromkeys(word for m in parts for word in m._words))
        combined._text = _words_pattern(combined._words)
        return combined

    def _add(self, system: str, code: str) -> None:
        if code.endswith("*"):
            self._prefixes[system] = (*self._prefixes.get(system, ()), code[:-1])
        else:
            self._exact.add((system, code))

    def code_matches(self, concepts: Any) -> bool:
        """A coding of the concept is in the value set (exact code, or under a ``code*`` prefix)."""
        for coding in codings(concepts):
            system, code = field_of(coding, "system"), field_of(coding, "code")
            if not isinstance(code, str) or not isinstance(system, str | None):
                continue  # a system that is a list or object names no code system (and is not hashable)
            prefixes = self._prefixes.get(system, ()) if system is not None else ()
            if (system, code) in self._exact or code.startswith(prefixes):
                return True
        return False

    def text_matches(self, concepts: Any) -> bool:
        """The concept's text or a display names one of the vocabulary's words (not negated, when this
        matcher was given the knowledge's negation rules)."""
        pattern, negation = self._text, self._negation
        if pattern is None:
            return False
        texts = dict.fromkeys(concept_texts(concepts))  # a display often repeats the text
        if negation is None:
            return any(pattern.search(t) for t in texts)
        return any(negation.affirmed(pattern, t) for t in texts)

    def text_denies(self, concepts: Any) -> bool:
        """A recorded absence: no code in the value set, and the text names a vocabulary word only where
        it is negated ("No ascites"). Never from a code; False for a matcher without negation rules."""
        pattern, negation = self._text, self._negation
        if pattern is None or negation is None or self.code_matches(concepts):
            return False
        named = [t for t in dict.fromkeys(concept_texts(concepts)) if pattern.search(t)]
        return bool(named) and not any(negation.affirmed(pattern, t) for t in named)

    def matches(self, concepts: Any) -> bool:
        """Code first, text second (clinical-sequencing.md 6.2)."""
        return self.code_matches(concepts) or self.text_matches(concepts)
