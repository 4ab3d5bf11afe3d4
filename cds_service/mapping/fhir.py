"""Small helpers over ``fhir.resources.R4B`` models: lenient parsing, dates, concept matching."""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

import orjson
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.medicationdispense import MedicationDispense
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.medicationstatement import MedicationStatement
from fhir.resources.R4B.observation import Observation
from fhir_core.types import FhirBase
from fhir_core.utils import is_list_type, is_primitive_type
from pydantic import TypeAdapter, ValidationError
from pydantic_core import SchemaValidator

from cds_service.facts import DataQualityNote
from cds_service.knowledge import ConditionVocabulary, QualifiedText
from cds_service.mapping.negation import Negation
from cds_service.mapping.resources import JsonObject, as_list, resource_reference
from cds_service.mapping.terminology import field_of
from cds_service.memo import Lru

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
# Validated datatypes remembered by their JSON (a few KiB each at most).
ELEMENT_CACHE_SIZE = 4096
# Whether a text names a vocabulary's word, by the text, per matcher (drug names and statuses recur).
TEXT_CACHE_SIZE = 4096


class ReadResource:
    """The elements of one resource that the rules read, each validated with its ``fhir.resources.R4B`` type.

    Reads like the resource's R4B model: a read element is an attribute (R4B datatype models and values);
    an element of the model that is absent, or that no rule reads, is None; any other name is an error.
    """

    model: ClassVar[type[Any]]
    fields: ClassVar[frozenset[str]]

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:
        """Only reached for a name that is not an element (each element is a class attribute, None)."""
        raise AttributeError(f"{type(self).__name__} has no element {name!r}")


@dataclass(frozen=True, slots=True)
class _Element:
    name: str  # the field's name on the R4B model (its JSON name is the key it is read under)
    validate: Callable[[Any], Any]  # the R4B type's validator (pydantic-core's, without TypeAdapter's wrapper)
    complex: bool  # an object or an array: validated results are remembered by content
    temporal: bool  # a date, dateTime or instant: validated results are remembered by the string
    list_of_complex: bool  # an array of datatypes: a null item is invalid (as the R4B model says)
    choice: int = 0  # the bit of its choice element (``value[x]``), 0 for an element that is not one


class ElementValidator:
    """Validates what the rules read of a resource, element by element, with the R4B model's own field types.

    The whole-resource model costs a fixed price per datatype instance for model-wide checks over
    every field the model has (most of a request's CPU for a handful of resources); the same result comes
    from validating each read element with the type the model declares for it, then the model's
    resource-level rules over those elements: required elements present, at most one type of a choice
    element (``value[x]``). Datatypes recur across resources and patients (the AFP code, a drug's concept,
    a clinical status), so a validated datatype is remembered by its exact JSON, and a date, dateTime or
    instant by its string (bounded, least recently used out); validated values are never modified.
    """

    def __init__(self, read: Mapping[str, frozenset[str]], cache_size: int = ELEMENT_CACHE_SIZE) -> None:
        self._elements: dict[str, dict[str, _Element]] = {}
        self._views: dict[str, type[ReadResource]] = {}
        self._required: dict[str, tuple[str, ...]] = {}  # a value must be given
        self._present: dict[str, tuple[str, ...]] = {}  # the key must be there (R4B accepts a null datatype)
        self._choices: dict[str, tuple[tuple[str, tuple[str, ...], bool], ...]] = {}
        self._required_choices: dict[str, int] = {}  # the bits of the choice elements a value must be given for
        self._cache: Lru[tuple[str, str, bytes], Any] = Lru(cache_size)
        self._moments: Lru[tuple[str, str, str], date] = Lru(cache_size)
        for resource_type, model in R4B_MODELS.items():
            self._compile(resource_type, model, read[resource_type])

    def _compile(self, resource_type: str, model: Any, read: frozenset[str]) -> None:
        by_key = {(info.alias or name): (name, info) for name, info in model.model_fields.items()}
        elements: dict[str, _Element] = {}
        for key in sorted(read & by_key.keys()):
            name, info = by_key[key]
            shape = typing.get_args(info.annotation) or (info.annotation,)
            complex_ = any(_is_datatype(arg) for arg in shape) or is_list_type(info)
            adapter: TypeAdapter[Any] = TypeAdapter(info.annotation)
            core = adapter.validator
            elements[key] = _Element(
                name,
                core.validate_python if isinstance(core, SchemaValidator) else adapter.validate_python,
                complex_,
                any(_is_temporal(arg) for arg in shape),
                is_list_type(info) and not is_primitive_type(info),
            )
        self._elements[resource_type] = elements
        names = {element.name for element in elements.values()}
        sample = model.model_construct()
        present = {name for name, info in model.model_fields.items() if info.is_required()}
        required = {name for name, _ in sample.get_required_fields()}
        if (required | present) - names:
            raise ValueError(f"{resource_type}: required elements {sorted((required | present) - names)} must be read")
        self._required[resource_type] = tuple(sorted(required))
        self._present[resource_type] = tuple(
            key for key, element in elements.items() if element.name in present and element.name not in required
        )
        self._choices[resource_type] = tuple(
            (
                prefix,
                tuple(f for f in fields if f in names),
                bool(model.model_fields[fields[0]].json_schema_extra["one_of_many_required"]),
            )
            for prefix, fields in sample.get_one_of_many_fields().items()
        )
        bits = {
            field: 1 << position
            for position, (_, fields, _) in enumerate(self._choices[resource_type])
            for field in fields
        }
        self._elements[resource_type] = {
            key: dataclasses.replace(element, choice=bits.get(element.name, 0)) for key, element in elements.items()
        }
        self._required_choices[resource_type] = sum(
            1 << position for position, (_, _, required) in enumerate(self._choices[resource_type]) if required
        )
        if {"model", "fields"} & model.model_fields.keys():
            raise ValueError(f"{resource_type}: an element is named like a ReadResource attribute")
        self._views[resource_type] = type(
            f"{resource_type}Read",
            (ReadResource,),
            {
                "model": model,
                "fields": frozenset(model.model_fields),
                "__module__": __name__,
                **dict.fromkeys(model.model_fields),
            },
        )

    def validate(self, raw: JsonObject) -> ReadResource | None:
        """The read elements of ``raw`` validated (None for a type no rule reads); raises ``ValueError``."""
        resource_type = raw.get("resourceType")
        elements = self._elements.get(resource_type) if isinstance(resource_type, str) else None
        if elements is None or resource_type is None:
            return None
        values: dict[str, Any] = {}
        chosen = 0  # the choice elements given a value, as bits
        clash = False  # one choice element given more than one type
        for key, value in raw.items():
            element = elements.get(key)
            if element is None or value is None:
                continue
            if element.complex or element.temporal:
                found = self._element(resource_type, key, element, value)
            else:
                try:
                    found = element.validate(value)
                except ValidationError:
                    found = self._checked(key, element, value)  # raises with the first error
            if found is not None:
                values[element.name] = found
                if element.choice:
                    clash = clash or bool(chosen & element.choice)
                    chosen |= element.choice
        for name in self._required[resource_type]:
            if name not in values:
                raise ValueError(f"{name}: a required element is missing")
        for key in self._present[resource_type]:
            if key not in raw:
                raise ValueError(f"{key}: a required element is missing")
        required_choices = self._required_choices[resource_type]
        if not clash and chosen & required_choices == required_choices:
            return self._views[resource_type](values)
        for prefix, fields, required in self._choices[resource_type]:
            present = [f for f in fields if f in values]
            if len(present) > 1:
                raise ValueError(f"{prefix}[x]: more than one type given ({', '.join(present)})")
            if required and not present:
                raise ValueError(f"{prefix}[x]: a required element is missing")
        return self._views[resource_type](values)

    def _element(self, resource_type: str, key: str, element: _Element, value: Any) -> Any:
        if not element.complex:
            if not element.temporal or type(value) is not str:
                return self._checked(key, element, value)
            return self._remembered(self._moments, (resource_type, key, value), key, element, value)
        if element.list_of_complex and isinstance(value, list) and any(item is None for item in value):
            raise ValueError(f"{key}: None is not allowed as an element of {key}")
        try:
            digest = orjson.dumps(value)
        except (TypeError, orjson.JSONEncodeError):
            return self._checked(key, element, value)
        return self._remembered(self._cache, (resource_type, key, digest), key, element, value)

    def _remembered(self, cache: Lru[Any, Any], cache_key: Any, key: str, element: _Element, value: Any) -> Any:
        """``_checked``, remembered in ``cache`` by ``cache_key`` (a value that is the same JSON validates the same)."""
        found = cache.get(cache_key)
        if found is None:
            found = self._checked(key, element, value)
            if found is not None:
                cache.put(cache_key, found)
        return found

    @staticmethod
    def _checked(key: str, element: _Element, value: Any) -> Any:
        try:
            return element.validate(value)
        except ValidationError as exc:
            error = exc.errors(include_url=False, include_context=False)[0]
            where = ".".join(str(part) for part in (key, *error["loc"]))
            raise ValueError(f"{where}: {error['msg']}") from None


def _is_temporal(annotation: Any) -> bool:
    """A FHIR date, dateTime or instant (``Annotated[datetime, DateTime()]``): an immutable ``date`` when valid."""
    base = typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Annotated else annotation
    return isinstance(base, type) and issubclass(base, date)


def _is_datatype(annotation: Any) -> bool:
    """An R4B complex datatype or resource (a ``fhir_core`` model type), not a primitive."""
    return isinstance(annotation, type) and issubclass(annotation, FhirBase)


ELEMENTS = ElementValidator(ELEMENTS_READ)


def parse_r4(raw: JsonObject, notes: list[DataQualityNote]) -> Any | None:
    """Validate the elements the rules read with the resource's R4B model types; never raise.

    Elements the rules do not read (narrative, meta, extensions, category, performer, notes...) are
    neither read nor validated, so a malformed one cannot cost the clinician an AFP result; a resource
    whose read elements are not valid R4 is left out with a note naming it. The result reads like the
    R4B model (``ReadResource``).
    """
    data = raw
    dispense = raw.get("dispenseRequest")
    if isinstance(dispense, dict) and dispense.keys() - {"validityPeriod"}:
        data = {**raw, "dispenseRequest": {k: v for k, v in dispense.items() if k == "validityPeriod"}}
    try:
        return ELEMENTS.validate(data)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        first = str(exc).splitlines()[0]
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
    """Parse a lone CodeableConcept (used where the surrounding resource is not valid R4).

    Draft orders name the same few products again and again: a validated concept is remembered by its
    exact JSON (bounded), as ``ElementValidator`` does.
    """
    if not isinstance(raw, dict):
        return None
    try:
        key = orjson.dumps(raw)
    except (TypeError, orjson.JSONEncodeError):
        return None
    found = _CONCEPTS.get(key)
    if found is None:
        try:
            found = CodeableConcept.model_validate(raw)
        except (ValidationError, ValueError, TypeError):
            return None
        _CONCEPTS.put(key, found)
    return found


_CONCEPTS: Lru[bytes, CodeableConcept] = Lru(ELEMENT_CACHE_SIZE)
_DATE_START = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?")


def as_date(value: Any) -> date | None:
    """The calendar date of a FHIR date/dateTime/instant value (partial dates: their first day)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        match = _DATE_START.match(value)
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


def _words_pattern(words: tuple[str, ...], extra: tuple[str, ...] = ()) -> re.Pattern[str] | None:
    """Any of ``words`` as a whole word or phrase (or an ``extra`` regular expression), ignoring case."""
    alternatives = [re.escape(w) for w in sorted(words, key=len, reverse=True)] + list(extra)
    if not alternatives:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


def _qualified_pattern(qualified: QualifiedText | None) -> tuple[str, ...]:
    """A qualifier, then at most ``window_words`` words, then a name ("immune-mediated grade 3 colitis")."""
    if qualified is None:
        return ()
    qualifiers = "|".join(re.escape(q) for q in sorted(qualified.qualifiers, key=len, reverse=True))
    names = "|".join(re.escape(n) for n in sorted(qualified.names, key=len, reverse=True))
    return (rf"(?:{qualifiers})(?:[\s,-]+[\w/]+){{0,{qualified.window_words}}}?[\s,-]+(?:{names})",)


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
        self._extra = _qualified_pattern(vocab.qualified_text)
        self._text = _words_pattern(self._words, self._extra)
        self._said: Lru[str, bool] = Lru(TEXT_CACHE_SIZE)

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
        combined._extra = tuple(dict.fromkeys(extra for m in parts for extra in m._extra))
        combined._text = _words_pattern(combined._words, combined._extra)
        combined._said = Lru(TEXT_CACHE_SIZE)
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
        if self._text is None:
            return False
        return any(self.text_says(t) for t in dict.fromkeys(concept_texts(concepts)))

    def text_says(self, text: str) -> bool:
        """The text names a vocabulary word (not negated, with negation rules); remembered by the text."""
        said = self._said.get(text)
        if said is None:
            pattern, negation = self._text, self._negation
            if pattern is None:
                said = False
            elif negation is None:
                said = pattern.search(text) is not None
            else:
                said = negation.affirmed(pattern, text)
            self._said.put(text, said)
        return said

    def text_denies(self, concepts: Any) -> bool:
        """A recorded absence: no code in the value set, and the text names a vocabulary word only where
        it is negated ("No ascites"). Never from a code; False for a matcher without negation rules."""
        pattern, negation = self._text, self._negation
        if pattern is None or negation is None or self.code_matches(concepts):
            return False
        named = [t for t in dict.fromkeys(concept_texts(concepts)) if pattern.search(t)]
        return bool(named) and not any(self.text_says(t) for t in named)

    def matches(self, concepts: Any) -> bool:
        """Code first, text second (clinical-sequencing.md 6.2)."""
        return self.code_matches(concepts) or self.text_matches(concepts)
