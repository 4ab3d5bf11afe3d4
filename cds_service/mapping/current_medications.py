"""Active immunosuppressants and hepatitis B antivirals on record (policy 6.5), apart from the anticancer lines.

A small matcher of its own (knowledge/conditions.yaml ``immunosuppressants``, ``hbv_antivirals``): by name in
the medication's text or coding display, in a MedicationStatement that is ``active`` or ``intended`` or a
MedicationRequest that is ``active`` or ``on-hold``. The anticancer medication history is read elsewhere
(``mapping.medications``).
"""

from __future__ import annotations

from typing import Any

from cds_service.facts import CurrentMedication, MedicationKind, Provenance
from cds_service.knowledge import ClinicalVocabulary
from cds_service.mapping.fhir import ConceptMatcher, concept_texts, parse_concept
from cds_service.mapping.resources import JsonObject, ResourcePool, resource_reference

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


class CurrentMedicationMapper:
    """Built once from the knowledge; ``map`` runs per request."""

    def __init__(self, vocabulary: ClinicalVocabulary) -> None:
        systems = vocabulary.systems
        self._matchers = (
            (MedicationKind.IMMUNOSUPPRESSANT, ConceptMatcher(vocabulary.immunosuppressants, systems)),
            (MedicationKind.HBV_ANTIVIRAL, ConceptMatcher(vocabulary.hbv_antivirals, systems)),
        )

    def map(self, pool: ResourcePool) -> tuple[CurrentMedication, ...]:
        """Every active immunosuppressant or hepatitis B antiviral of this patient, with its source."""
        found: list[CurrentMedication] = []
        for resource_type, statuses in ACTIVE_STATUSES.items():
            for resource in pool.of_type(resource_type):
                status = resource.get("status")
                if not isinstance(status, str) or status not in statuses:
                    continue
                concept = parse_concept(_concept(resource, pool))
                if concept is None:
                    continue
                for kind, matcher in self._matchers:
                    if matcher.text_matches(concept):
                        reference = resource_reference(resource)
                        resource_id = reference.partition("/")[2] or None
                        source = Provenance(resource_type, resource_id, None)
                        found.append(CurrentMedication(kind, _name(concept, kind.value), source))
        return tuple(found)
