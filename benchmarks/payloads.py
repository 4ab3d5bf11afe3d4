"""Benchmark payloads built from the fixtures: the HCC patient after sorafenib, padded to N resources."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "fhir" / "requests"
BASE_REQUEST = "01-hcc-after-sorafenib-cabozantinib.json"


def _vital_sign(index: int, patient_id: str) -> dict[str, Any]:
    """An Observation the rules do not read (a heart rate), shaped like a Synthea vital sign."""
    return {
        "fullUrl": f"https://ehr.example.org/fhir/Observation/vital-{index}",
        "resource": {
            "resourceType": "Observation",
            "id": f"vital-{index}",
            "status": "final",
            "category": [
                {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}
                    ]
                }
            ],
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
            "subject": {"reference": f"Patient/{patient_id}"},
            "effectiveDateTime": f"2026-{1 + index % 12:02d}-{1 + index % 28:02d}T08:00:00Z",
            "valueQuantity": {
                "value": 60 + index % 40,
                "unit": "/min",
                "system": "http://unitsofmeasure.org",
                "code": "/min",
            },
        },
        "search": {"mode": "match"},
    }


def count_resources(request: dict[str, Any]) -> int:
    total = 0
    for value in request.get("prefetch", {}).values():
        if isinstance(value, dict):
            total += len(value.get("entry", [])) if value.get("resourceType") == "Bundle" else 1
    return total


def relevant(resources: int = 100) -> dict[str, Any]:
    """Cabozantinib selected for the HCC patient after sorafenib; prefetch padded to ``resources``."""
    request: dict[str, Any] = json.loads((FIXTURES / BASE_REQUEST).read_text())
    patient_id = request["context"]["patientId"]
    missing = resources - count_resources(request)
    vitals = request["prefetch"]["liverLabs"]
    vitals.setdefault("entry", [])
    vitals["entry"] += [_vital_sign(i, patient_id) for i in range(max(missing, 0))]
    vitals["total"] = len(vitals["entry"])
    return request


def irrelevant(resources: int = 100) -> dict[str, Any]:
    """The same patient and prefetch, with a non-oncology drug selected."""
    request = copy.deepcopy(relevant(resources))
    order = request["context"]["draftOrders"]["entry"][0]["resource"]
    order["medicationCodeableConcept"] = {
        "text": "amlodipine 5 MG Oral Tablet",
        "coding": [
            {
                "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                "code": "197361",
                "display": "amlodipine 5 MG Oral Tablet",
            }
        ],
    }
    return request
