"""Active immunosuppressants and hepatitis B antivirals on record (policy 6.5), apart from the anticancer lines.

A small matcher of its own (knowledge/conditions.yaml ``immunosuppressants``, ``hbv_antivirals``): by name in
the medication's text or coding display, in a MedicationStatement that is ``active`` or ``intended`` or a
MedicationRequest that is ``active`` or ``on-hold``. The anticancer medication history is read elsewhere
(``mapping.medications``). Why a medication stopped, in words ("Grade 3 immune-mediated colitis" in
``statusReason`` or a note), is read here too for an immune-related adverse event (policy 6.5).
"""

from __future__ import annotations

from typing import Any

import orjson

from cds_service.facts import CautionKind, CurrentMedication, ImmunotherapyCaution, MedicationKind, Provenance
from cds_service.knowledge import ClinicalVocabulary
from cds_service.mapping.fhir import ConceptMatcher, as_date, concept_texts, parse_concept
from cds_service.mapping.resources import JsonObject, ResourcePool, as_list, resource_reference
from cds_service.memo import Lru

# What a medication concept is (immunosuppressant, antiviral), by its exact JSON.
KIND_CACHE_SIZE = 4096
ACTIVE_STATUSES = {
    "MedicationStatement": frozenset({"active", "intended"}),
    "MedicationRequest": frozenset({"active", "on-hold"}),
}


def _concept(resource: JsonObject, pool: ResourcePool) -> Any:
    """The medication concept: ``medicationCodeableConcept``, or the code of the referenced Medication."""
    concept = resource.get("medicationCodeableConcept")
    if isinstance(concept, dict):
        return concept
    reference = resource.get("medicationReference")
    if isinstance(reference, dict):
        ref = reference.get("reference")
        medication = pool.resolve(ref, resource) if isinstance(ref, str) else None
        if isinstance(medication, dict) and isinstance(medication.get("code"), dict):
            return medication["code"]
        if isinstance(reference.get("display"), str):
            return {"text": reference["display"]}
    return None


def _name(concept: Any, fallback: str) -> str:
    return next(iter(concept_texts(concept)), fallback)


def _stop_texts(resource: JsonObject) -> list[str]:
    texts: list[str] = []
    for reason in as_list(resource.get("statusReason")):
        concept = parse_concept(reason)
        texts += list(concept_texts(concept)) if concept is not None else []
    for note in as_list(resource.get("note")):
        if isinstance(note, dict) and isinstance(note.get("text"), str):
            texts.append(note["text"])
    return texts


class CurrentMedicationMapper:
    """Built once from the knowledge; ``map`` and ``immune_toxicities`` run per request."""

    def __init__(self, vocabulary: ClinicalVocabulary, immune_toxicity: ConceptMatcher) -> None:
        self._immune_toxicity = immune_toxicity
        systems = vocabulary.systems
        self._matchers = (
            (MedicationKind.IMMUNOSUPPRESSANT, ConceptMatcher(vocabulary.immunosuppressants, systems)),
            (MedicationKind.HBV_ANTIVIRAL, ConceptMatcher(vocabulary.hbv_antivirals, systems)),
        )
        self._kinds: Lru[bytes, tuple[tuple[MedicationKind, str], ...]] = Lru(KIND_CACHE_SIZE)

    def kinds(self, raw_concept: Any) -> tuple[tuple[MedicationKind, str], ...]:
        """The kinds a medication concept names, each with the concept's name (none when it is not a valid
        CodeableConcept). A formulary's concepts recur across patients: remembered by their exact JSON."""
        try:
            key: bytes | None = orjson.dumps(raw_concept)
        except (TypeError, orjson.JSONEncodeError):
            key = None
        found = self._kinds.get(key) if key is not None else None
        if found is None:
            concept = parse_concept(raw_concept)
            found = (
                tuple(
                    (kind, _name(concept, kind.value))
                    for kind, matcher in self._matchers
                    if matcher.text_matches(concept)
                )
                if concept is not None
                else ()
            )
            if key is not None:
                self._kinds.put(key, found)
        return found

    def map(self, pool: ResourcePool) -> tuple[CurrentMedication, ...]:
        """Every active immunosuppressant or hepatitis B antiviral of this patient, with its source."""
        return self.scan(pool)[0]

    def immune_toxicities(self, pool: ResourcePool) -> tuple[ImmunotherapyCaution, ...]:
        """Policy 6.5: a medication stopped for an immune-related adverse event named in words ("Grade 3
        immune-mediated colitis", "irAE") in its ``statusReason`` or a note: a prior immune toxicity, whatever
        the anticancer history makes of the stop reason."""
        return self.scan(pool)[1]

    def scan(self, pool: ResourcePool) -> tuple[tuple[CurrentMedication, ...], tuple[ImmunotherapyCaution, ...]]:
        """``map`` and ``immune_toxicities`` in one pass over the medication resources."""
        found: list[CurrentMedication] = []
        cautions: list[ImmunotherapyCaution] = []
        for resource_type in ("MedicationStatement", "MedicationRequest", "MedicationAdministration"):
            statuses = ACTIVE_STATUSES.get(resource_type, ())
            for resource in pool.of_type(resource_type):
                status = resource.get("status")
                if isinstance(status, str) and status in statuses:
                    for kind, name in self.kinds(_concept(resource, pool)):
                        reference = resource_reference(resource)
                        resource_id = reference.partition("/")[2] or None
                        source = Provenance(resource_type, resource_id, None)
                        found.append(CurrentMedication(kind, name, source))
                if not resource.get("statusReason") and not resource.get("note"):
                    continue
                for text in _stop_texts(resource):
                    if self._immune_toxicity.text_says(text):
                        reference = resource_reference(resource)
                        period = resource.get("effectivePeriod")
                        when = as_date(period.get("end")) if isinstance(period, dict) else None
                        source = Provenance(resource_type, reference.partition("/")[2] or None, when)
                        cautions.append(ImmunotherapyCaution(CautionKind.IMMUNE_TOXICITY, text, source))
                        break
        return tuple(found), tuple(cautions)
