"""Observations → AFP, the Child-Pugh laboratory values (standard units, dated), a coded Child-Pugh, ECOG."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from typing import Any, Literal, cast

from cds_service.facts import (
    AfpResult,
    ChildPughClass,
    CodedChildPugh,
    DataQualityNote,
    EcogStatus,
    LabValue,
    PopulationFinding,
    PopulationKind,
    Provenance,
)
from cds_service.knowledge import ClinicalVocabulary, PlausibleRange
from cds_service.mapping.fhir import Parser, codings, first_date
from cds_service.mapping.resources import JsonObject, resource_reference
from cds_service.mapping.terminology import field_of

RESULT_STATUSES = frozenset({"final", "amended", "corrected"})
Comparator = Literal["<", "<=", ">", ">="]

# UCUM mass concentrations → factor to ng/mL (ng/mL = ug/L).
AFP_MASS_UNITS: dict[str, Decimal] = {
    "ng/ml": Decimal(1),
    "ug/l": Decimal(1),
    "µg/l": Decimal(1),
    "mcg/l": Decimal(1),
    "ng/dl": Decimal("0.01"),
    "ng/l": Decimal("0.001"),
    "pg/ml": Decimal("0.001"),
    "ug/ml": Decimal(1000),
    "µg/ml": Decimal(1000),
    "mg/l": Decimal(1000),
    "ug/dl": Decimal(10),
    "µg/dl": Decimal(10),
    "mg/dl": Decimal(10000),
}
AFP_IU_UNITS = frozenset({"[iu]/ml", "iu/ml", "k[iu]/l", "kiu/l", "[iu]/l", "iu/l"})
_IU_FACTORS = {
    "[iu]/ml": Decimal(1),
    "iu/ml": Decimal(1),
    "k[iu]/l": Decimal(1),
    "kiu/l": Decimal(1),
    "[iu]/l": Decimal("0.001"),
    "iu/l": Decimal("0.001"),
}

BILIRUBIN_TO_MG_PER_DL = {
    "mg/dl": Decimal(1),
    "umol/l": Decimal(1) / Decimal("17.1"),
    "µmol/l": Decimal(1) / Decimal("17.1"),
    "mg/l": Decimal("0.1"),
}
ALBUMIN_TO_G_PER_DL = {"g/dl": Decimal(1), "g/l": Decimal("0.1"), "mg/dl": Decimal("0.001")}
INR_UNITS = {"": Decimal(1), "{inr}": Decimal(1), "{ratio}": Decimal(1), "1": Decimal(1)}

_VALUE_STRING = re.compile(r"^\s*(<=|>=|<|>)?\s*(\d+(?:[.,]\d+)?)\s*([^\d\s].*)?$")


@dataclass(frozen=True, slots=True)
class _Reading:
    value: Decimal
    comparator: Comparator | None
    unit: str | None  # UCUM code first: what the conversion reads
    as_reported: str
    shown_unit: str | None = None  # the human-readable unit first: what a card names


def _unit_key(unit: str | None) -> str | None:
    return unit.strip().lower().replace("μ", "µ") if unit else None


def _reading(observation: Any) -> _Reading | None:
    quantity = observation.valueQuantity
    if quantity is not None and quantity.value is not None:
        unit = quantity.code or quantity.unit
        comparator = cast("Comparator | None", quantity.comparator)
        shown = f"{comparator or ''}{quantity.value:g} {quantity.unit or quantity.code or ''}".strip()
        return _Reading(Decimal(quantity.value), comparator, unit, shown, quantity.unit or quantity.code)
    if observation.valueInteger is not None:
        return _Reading(Decimal(observation.valueInteger), None, None, str(observation.valueInteger))
    text = observation.valueString
    if isinstance(text, str):
        match = _VALUE_STRING.match(text)
        if match:
            sign, number, unit = match.groups()
            try:
                value = Decimal(number.replace(",", "."))
            except InvalidOperation:
                return None
            shown_unit = unit.strip() if unit else None
            return _Reading(value, cast("Comparator | None", sign), shown_unit, text, shown_unit)
    return None


def _effective(observation: Any) -> date | None:
    period = observation.effectivePeriod
    return first_date(
        observation.effectiveDateTime,
        observation.effectiveInstant,
        period.start if period else None,
        observation.issued,
    )


class ObservationIndex:
    """Raw Observations by (system, code), built in one pass over the prefetch.

    Each rule then reads only the few Observations with its codes; the others (vital signs, unrelated
    labs) cost one dictionary lookup each and are never validated.
    """

    def __init__(
        self,
        raws: Iterable[JsonObject],
        owned: Callable[[JsonObject], bool] = lambda _: True,
        aliases: Collection[str] = (),
    ) -> None:
        """``owned`` says whether an Observation is the patient's (noting it when not); a subject reference in
        ``aliases`` (the patient's own references) is the patient's without that call."""
        self._owned = owned
        self._aliases = aliases
        by_code: dict[tuple[str, str], list[JsonObject]] = {}
        self._by_code = by_code
        for raw in raws:
            code = raw.get("code")
            codings = code.get("coding") if isinstance(code, dict) else None
            if not isinstance(codings, list):
                continue
            for coding in codings:
                if isinstance(coding, dict):
                    system, value = coding.get("system"), coding.get("code")
                    if isinstance(system, str) and isinstance(value, str):
                        listed = by_code.get((system, value))
                        if listed is None:
                            by_code[(system, value)] = [raw]
                        elif listed[-1] is not raw:  # one Observation coded twice alike is listed once
                            listed.append(raw)

    def find(self, system: str, codes: Iterable[str]) -> list[tuple[JsonObject, set[str]]]:
        """The Observations coded with any of ``codes`` in ``system``, each once, with the codes it has."""
        by_code = self._by_code
        hits = [(code, listed) for code in codes if (listed := by_code.get((system, code)))]
        if len(hits) == 1:  # the usual case: each Observation once, with that one code
            code, listed = hits[0]
            one = {code}
            return [(raw, one) for raw in listed if self._owned(raw)]
        found: dict[int, tuple[JsonObject, set[str]]] = {}
        for code, listed in hits:
            for raw in listed:
                found.setdefault(id(raw), (raw, set()))[1].add(code)
        return [(raw, codes_found) for raw, codes_found in found.values() if self._owned(raw)]

    def results(self, system: str, codes: Iterable[str]) -> list[tuple[str, JsonObject, set[str]]]:
        """``find`` kept to final/amended/corrected results, each with its raw date (``_raw_date``).

        Ownership is checked for every Observation found (others are noted), then the status, as ``find``
        then a status filter would; in one pass for the usual single code.
        """
        by_code = self._by_code
        hits = [(code, listed) for code in codes if (listed := by_code.get((system, code)))]
        if len(hits) != 1:
            return [
                (_raw_date(raw), raw, found)
                for raw, found in self.find(system, codes)
                if isinstance(status := raw.get("status"), str) and status in RESULT_STATUSES
            ]
        code, listed = hits[0]
        one = {code}
        owned, aliases = self._owned, self._aliases
        candidates: list[tuple[str, JsonObject, set[str]]] = []
        for raw in listed:
            subject = raw.get("subject")
            if not (
                type(subject) is dict and type(ref := subject.get("reference")) is str and ref in aliases
            ) and not owned(raw):
                continue
            status = raw.get("status")
            if isinstance(status, str) and status in RESULT_STATUSES:
                when = raw.get("effectiveDateTime")
                candidates.append((when if isinstance(when, str) else _raw_date(raw), raw, one))
        return candidates


def _raw_date(raw: JsonObject) -> str:
    """The raw effective date string, for ordering before anything is validated (ISO 8601 sorts)."""
    value = raw.get("effectiveDateTime")
    if isinstance(value, str):
        return value
    period = raw.get("effectivePeriod")
    for value in (
        raw.get("effectiveInstant"),
        period.get("start") if isinstance(period, dict) else None,
        raw.get("issued"),
    ):
        if isinstance(value, str):
            return value
    return ""


def _newest_first(
    index: ObservationIndex, system: str, codes: Iterable[str], parser: Parser
) -> Iterator[tuple[Any, date, set[str]]]:
    """Final/amended/corrected observations with one of ``codes``, newest first; undated ones are noted.

    Lazy: a rule that needs only the latest usable result validates only that one (the newest is found
    without sorting; the rest are sorted only when it is not usable). Of equal dates, the first listed
    comes first.
    """
    candidates = index.results(system, codes)
    for raw_date, raw, _ in candidates:
        if not raw_date:
            parser.notes.append(DataQualityNote(resource_reference(raw), "result has no date; left out"))
    if not candidates:
        return
    newest = max(candidates, key=itemgetter(0))
    found = _usable(newest[1], parser)
    if found is not None:
        yield found[0], found[1], newest[2]
    candidates.sort(key=itemgetter(0), reverse=True)
    for _, raw, codes_found in candidates[1:]:
        found = _usable(raw, parser)
        if found is not None:
            yield found[0], found[1], codes_found


def _usable(raw: JsonObject, parser: Parser) -> tuple[Any, date] | None:
    """The validated Observation and its date, or None (invalid, or undated: noted)."""
    observation = parser.parse(raw)
    if observation is None:
        return None
    when = _effective(observation)
    if when is None:
        parser.notes.append(DataQualityNote(resource_reference(raw), "result has no date; left out"))
        return None
    return observation, when


def _results(
    index: ObservationIndex, codes: Iterable[str], vocabulary: ClinicalVocabulary, parser: Parser
) -> Iterator[tuple[Any, date, set[str]]]:
    """LOINC-coded results, newest first (``_newest_first``)."""
    return _newest_first(index, vocabulary.systems["loinc"], codes, parser)


def latest_afp(
    index: ObservationIndex,
    vocabulary: ClinicalVocabulary,
    iu_factor: Decimal | None,
    parser: Parser,
) -> AfpResult | None:
    """The latest AFP result that has a numeric value, or None: the one result the rules read.

    In ng/mL when the unit allows (IU/mL only with the site's configured factor; otherwise the result is
    returned as not comparable, with its unit kept). Newest first, stopping at the first result with a
    numeric value: older results of a two-year history are neither validated nor reported. Candidates are
    ordered by their raw ISO 8601 date, which orders them as their validated dates do.
    """
    codes = vocabulary.observations
    mass_codes, unit_codes = set(codes.afp_mass), set(codes.afp_units)
    for observation, when, loinc in _results(index, mass_codes | unit_codes, vocabulary, parser):
        reading = _reading(observation)
        source = Provenance("Observation", observation.id, when)
        if reading is None:
            parser.notes.append(DataQualityNote(source.reference, "AFP result has no numeric value; left out"))
            continue
        unit = _unit_key(reading.unit)
        value: Decimal | None = None
        note: str | None = None
        if unit in AFP_MASS_UNITS:
            value = reading.value * AFP_MASS_UNITS[unit]
        elif unit is None and loinc & mass_codes:
            value = reading.value
            note = "no unit given: ng/mL assumed for a LOINC mass-concentration code"
        elif unit in AFP_IU_UNITS or (unit is None and loinc <= unit_codes):
            if iu_factor is not None:
                value = reading.value * _IU_FACTORS.get(unit or "iu/ml", Decimal(1)) * iu_factor
                note = f"converted from IU/mL with the site factor {iu_factor:g}"
            else:
                note = "reported in IU/mL: not comparable with the ng/mL cut-off"
        else:
            note = f"unit {reading.unit or 'missing'} cannot be converted to ng/mL"
        return AfpResult(
            value_ng_per_ml=value,
            comparator=reading.comparator,
            as_reported=reading.as_reported,
            effective=when,
            source=source,
            comparable=value is not None,
            note=note,
            unit=reading.shown_unit,
            converted=value is not None and value != reading.value,
        )
    return None


def _latest_lab(
    name: str,
    results: Iterable[tuple[Any, date, set[str]]],
    units: dict[str, Decimal],
    standard_unit: str,
    plausible: PlausibleRange | None,
) -> LabValue | None:
    """The newest result of one lab that has a value, in the standard unit.

    Policy 6.5: a result with no unit (where the lab needs one: INR is a ratio and does not), in a unit that
    cannot be converted, or implausible in its unit is not used: it is returned with ``problem`` saying why,
    and the score counts the component as missing (an older result does not stand in for the newest).
    """
    for observation, when, _ in results:
        reading = _reading(observation)
        if reading is None:
            continue
        source = Provenance("Observation", observation.id, when)
        unit = _unit_key(reading.unit) or ""
        if unit not in units:
            problem = "no unit" if not unit else f"unit {reading.unit} not convertible"
            return LabValue(reading.value, standard_unit, reading.as_reported, source, problem=problem)
        value = reading.value * units[unit]
        if plausible is not None and not plausible.low <= value <= plausible.high:
            shown = f"{plausible.low:g}-{plausible.high:g} {standard_unit}".strip()
            problem = f"implausible (outside {shown})"
            return LabValue(value, standard_unit, reading.as_reported, source, problem=problem)
        return LabValue(value, standard_unit, reading.as_reported, source)
    return None


def map_liver_labs(
    index: ObservationIndex, vocabulary: ClinicalVocabulary, parser: Parser
) -> tuple[LabValue | None, LabValue | None, LabValue | None]:
    """The latest bilirubin (mg/dL), albumin (g/dL) and INR with their dates; scoring is the rules' job."""
    codes = vocabulary.observations
    plausible = codes.plausible
    bilirubin = _latest_lab(
        "bilirubin",
        _results(index, codes.bilirubin_total, vocabulary, parser),
        BILIRUBIN_TO_MG_PER_DL,
        "mg/dL",
        plausible.bilirubin_mg_per_dl if plausible else None,
    )
    albumin = _latest_lab(
        "albumin",
        _results(index, codes.albumin, vocabulary, parser),
        ALBUMIN_TO_G_PER_DL,
        "g/dL",
        plausible.albumin_g_per_dl if plausible else None,
    )
    inr = _latest_lab(
        "INR", _results(index, codes.inr, vocabulary, parser), INR_UNITS, "", plausible.inr if plausible else None
    )
    return bilirubin, albumin, inr


_CODED_CLASS = re.compile(
    r"(?:child[\s-]*pugh|class|grade|cp)[\s:-]*([ABC])(?:\s*\(?\s*(\d{1,2})\s*\)?)?(?![A-Za-z])"
    r"|^\s*([ABC])\s*(\d{1,2})?\s*$",
    re.IGNORECASE,
)
_TWO_CLASSES = re.compile(
    r"(?<![A-Za-z])[ABC]\s*(?:/|-|\u2013|or|to)\s*[ABC](?![A-Za-z])"
    r"|(?:child[\s-]*pugh|class|grade|cp)[\s:-]*[ABC]\s*\d{0,2}\s*(?:/|-|\u2013|or|to)\s*[ABC](?![A-Za-z])",
    re.IGNORECASE,
)
_CODED_SCORE = re.compile(r"(?:score|points?)\D{0,12}?(\d{1,2})\b|^\s*(\d{1,2})\s*$", re.IGNORECASE)


def parse_child_pugh_text(text: str) -> tuple[ChildPughClass | None, int | None]:
    """A recorded Child-Pugh value: "class B", "Child-Pugh B (8)", "B8", "score 8", "has a score of 8, class B".

    The class letter must follow "Child-Pugh", "class", "grade" or "CP", or stand alone: the article "a" in
    a sentence is never read as class A.
    """
    klass: ChildPughClass | None = None
    score: int | None = None
    if _TWO_CLASSES.search(text):
        return None, None  # policy 6.2: a value naming two classes ("A/B") is unrecognised, not the better one
    match = _CODED_CLASS.search(text)
    if match:
        letter = match.group(1) or match.group(3)
        klass = cast("ChildPughClass", letter.upper())
        digits = match.group(2) or match.group(4)
        score = int(digits) if digits else None
    scored = _CODED_SCORE.search(text)
    if score is None and scored:
        score = int(scored.group(1) or scored.group(2))
    if score is not None and not 5 <= score <= 15:
        score = None
    return klass, score


def map_coded_child_pugh(index: ObservationIndex, code: tuple[str, str], parser: Parser) -> CodedChildPugh | None:
    """The newest usable site-coded Child-Pugh Observation (undated ones are noted and left out)."""
    system, value = code
    for observation, when, _ in _newest_first(index, system, (value,), parser):
        texts = [t for t in (observation.valueString, *_concept_codes(observation.valueCodeableConcept)) if t]
        klass, score = parse_child_pugh_text(" ".join(texts)) if texts else (None, None)
        if isinstance(observation.valueInteger, int) and 5 <= observation.valueInteger <= 15:
            score = observation.valueInteger
        quantity = observation.valueQuantity
        if score is None and quantity is not None and quantity.value is not None and 5 <= quantity.value <= 15:
            score = int(quantity.value)
        if klass is None and score is None:
            parser.notes.append(
                DataQualityNote(f"Observation/{observation.id}", "Child-Pugh value not recognised; left out")
            )
            continue
        shown = " ".join(str(t) for t in texts) if texts else (str(score) if score is not None else None)
        return CodedChildPugh(klass, score, Provenance("Observation", observation.id, when), shown)
    return None


def _concept_codes(concept: Any) -> list[str]:
    if concept is None:
        return []
    values = [field_of(c, "code") for c in codings(concept)] + [field_of(concept, "text")]
    return [v for v in values if isinstance(v, str)]


def _ecog_grade(observation: Any, answers: dict[str, int]) -> int | None:
    """ECOG from an integer, a whole-number quantity or string, a LOINC answer code (LA9622-7 ... LA9627-6:
    ECOG 0 ... 5, policy 6.5), or a text or display starting with the grade."""
    if observation.valueInteger is not None:
        return int(observation.valueInteger)
    quantity = observation.valueQuantity
    if quantity is not None and quantity.value is not None and Decimal(quantity.value) % 1 == 0:
        return int(quantity.value)
    if isinstance(observation.valueString, str):
        found = re.match(r"^\s*(?:ECOG\s*)?([0-5])\s*$", observation.valueString, re.IGNORECASE)
        if found:
            return int(found.group(1))
    concept = observation.valueCodeableConcept
    if concept is not None:
        for coding in codings(concept):
            code = field_of(coding, "code")
            if isinstance(code, str) and code in answers:
                return answers[code]
    return None


def map_ecog(index: ObservationIndex, vocabulary: ClinicalVocabulary, parser: Parser) -> EcogStatus | None:
    """Latest ECOG performance status (LOINC 89247-1 only: never the Karnofsky score 89243-0), grade 0-5."""
    answers = vocabulary.observations.ecog_answers
    for observation, when, _ in _results(index, vocabulary.observations.ecog, vocabulary, parser):
        grade: int | None = _ecog_grade(observation, answers)
        concept = observation.valueCodeableConcept
        if grade is None and concept is not None:
            texts = [field_of(concept, "text")] + [field_of(c, "display") for c in codings(concept)]
            texts += [field_of(c, "code") for c in codings(concept) if str(field_of(c, "code")).isdigit()]
            for text in texts:
                found = re.match(r"^\s*(?:ECOG\s*)?([0-5])\b", text) if isinstance(text, str) else None
                if found:
                    grade = int(found.group(1))
                    break
        if grade is not None and 0 <= grade <= 5:
            return EcogStatus(grade, Provenance("Observation", observation.id, when))
    return None


def _positive(observation: Any, answers: tuple[str, ...]) -> bool:
    """A qualitative result that says positive: a positive answer code, or the words positive / detected."""
    concept = observation.valueCodeableConcept
    words: list[str] = []
    if concept is not None:
        if any(field_of(c, "code") in answers for c in codings(concept)):
            return True
        words += [t for t in [field_of(concept, "text"), *(field_of(c, "display") for c in codings(concept))] if t]
    if isinstance(observation.valueString, str):
        words.append(observation.valueString)
    text = " ".join(str(w) for w in words).lower()
    return bool(re.search(r"\b(positive|detected)\b", text)) and not re.search(r"\b(negative|not detected)\b", text)


def map_pregnancy_tests(
    index: ObservationIndex, vocabulary: ClinicalVocabulary, parser: Parser
) -> tuple[PopulationFinding, ...]:
    """The newest qualitative pregnancy test, when positive (policy 6.5; the gate decides how recent)."""
    codes = vocabulary.observations
    for observation, when, _ in _results(index, codes.pregnancy_test, vocabulary, parser):
        if _positive(observation, codes.positive_answers):
            source = Provenance("Observation", observation.id, when)
            return (PopulationFinding(PopulationKind.PREGNANCY, "positive pregnancy test", source, test=True),)
        return ()
    return ()
