"""Draft FHIR resources that suggestions create: medication orders and lab orders (validated as R4B)."""

from __future__ import annotations

from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_service.cards.common import CardContext

LOINC = "http://loinc.org"
LAB_ORDERS: dict[str, tuple[str, str, str]] = {
    "afp": ("1834-1", "Alpha-1-Fetoprotein [Mass/volume] in Serum or Plasma", "AFP"),
    "bilirubin": ("1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma", "Total bilirubin"),
    "albumin": ("1751-7", "Albumin [Mass/volume] in Serum or Plasma", "Albumin"),
    "INR": ("6301-6", "INR in Platelet poor plasma by Coagulation assay", "INR"),
}


def medication_request(agent: str, ctx: CardContext) -> dict[str, object]:
    """A draft order for one agent, coded with its RxNorm ingredient where the knowledge has one."""
    spec = ctx.knowledge.terminology.agents[agent]
    concept: dict[str, object] = {"text": agent}
    if spec.rxnorm_ingredient:
        concept["coding"] = [
            {"system": ctx.knowledge.terminology.rxnorm_system, "code": spec.rxnorm_ingredient, "display": agent}
        ]
    resource = MedicationRequest.model_validate(
        {
            "resourceType": "MedicationRequest",
            "status": "draft",
            "intent": "order",
            "subject": {"reference": f"Patient/{ctx.patient_id}"},
            "medicationCodeableConcept": concept,
        }
    )
    return resource.model_dump(mode="json", exclude_none=True)


def lab_service_request(lab: str, ctx: CardContext) -> dict[str, object]:
    """A draft lab order (LOINC) for AFP or one Child-Pugh laboratory value."""
    code, display, text = LAB_ORDERS[lab]
    resource = ServiceRequest.model_validate(
        {
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "order",
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": text},
            "subject": {"reference": f"Patient/{ctx.patient_id}"},
        }
    )
    return resource.model_dump(mode="json", exclude_none=True)
