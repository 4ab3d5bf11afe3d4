"""Minimal FHIR R4 resources for mapping and data-access tests: bare codes, one element at a time.

Whole synthetic patients (and CDS Hooks requests) come from cds_service/devtools/patients.py; these builders
make the single odd resource a mapping edge case needs.
"""

from __future__ import annotations

from typing import Any

PID = "p1"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def bundle(*resources: dict[str, Any], next_url: str | None = None) -> dict[str, Any]:
    """A searchset Bundle with bare entries (no fullUrl), and a ``next`` link when given."""
    result: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }
    if next_url:
        result["link"] = [{"relation": "next", "url": next_url}]
    return result


def condition(
    code: dict[str, Any],
    clinical: str | None = "active",
    verification: str | None = "confirmed",
    rid: str = "c1",
    subject: str = f"Patient/{PID}",
    severity: str | None = None,
) -> dict[str, Any]:
    """A Condition with the given code, clinical and verification status (None leaves the element out)."""
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": rid,
        "code": code,
        "subject": {"reference": subject},
        "onsetDateTime": "2025-01-01",
    }
    if clinical:
        resource["clinicalStatus"] = {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": clinical}]
        }
    if verification:
        resource["verificationStatus"] = {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": verification}]
        }
    if severity:
        resource["severity"] = {"text": severity}
    return resource


def statement(
    concept: dict[str, Any] | None = None,
    *,
    status: str = "completed",
    rid: str = "m1",
    start: str | None = "2025-02-01",
    end: str | None = "2025-09-01",
    reason: Any = None,
    **extra: Any,
) -> dict[str, Any]:
    """A MedicationStatement; ``extra`` adds elements as given."""
    resource: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "id": rid,
        "status": status,
        "subject": {"reference": f"Patient/{PID}"},
        **extra,
    }
    if concept is not None:
        resource["medicationCodeableConcept"] = concept
    if start:
        resource["effectivePeriod"] = {"start": start, **({"end": end} if end else {})}
    if reason is not None:
        resource["statusReason"] = reason
    return resource


def observation(
    code: str,
    *,
    value: dict[str, Any] | None = None,
    value_string: str | None = None,
    status: str = "final",
    when: str | None = "2026-11-01",
    rid: str = "o1",
    value_integer: int | None = None,
) -> dict[str, Any]:
    """An Observation coded in LOINC, with a quantity, string or integer value."""
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": rid,
        "status": status,
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/{PID}"},
    }
    if when:
        resource["effectiveDateTime"] = when
    if value is not None:
        resource["valueQuantity"] = value
    if value_string is not None:
        resource["valueString"] = value_string
    if value_integer is not None:
        resource["valueInteger"] = value_integer
    return resource
