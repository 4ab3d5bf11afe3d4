"""Draft FHIR resources that suggestions create: medication orders and lab orders (validated as R4B)."""

from __future__ import annotations

from collections.abc import Callable

import orjson
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_service.cards.common import CardContext
from cds_service.knowledge import Knowledge
from cds_service.memo import Memo

LOINC = "http://loinc.org"
LAB_ORDERS: dict[str, tuple[str, str, str]] = {
    "afp": ("1834-1", "Alpha-1-Fetoprotein [Mass/volume] in Serum or Plasma", "AFP"),
    "bilirubin": ("1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma", "Total bilirubin"),
    "albumin": ("1751-7", "Albumin [Mass/volume] in Serum or Plasma", "Albumin"),
    "INR": ("6301-6", "INR in Platelet poor plasma by Coagulation assay", "INR"),
}


def medication_concept(agent: str, knowledge: Knowledge) -> dict[str, object]:
    """What a suggested order names: the agent's order code (a clinical drug or dose-form group, its display
    saying which), else its RxNorm ingredient, else text only (then the card says to place it by hand)."""
    spec = knowledge.terminology.agents[agent]
    system = knowledge.terminology.rxnorm_system
    # Policy 6.5: the text names the HCC product where the code alone does not (cabozantinib tablets).
    product = knowledge.medication_history.hcc_products.get(agent)
    if spec.order_coding is not None:
        coding = spec.order_coding
        text = product or coding.display
        return {"text": text, "coding": [{"system": system, "code": coding.code, "display": coding.display}]}
    if spec.rxnorm_ingredient:
        coded = [{"system": system, "code": spec.rxnorm_ingredient, "display": agent}]
        return {"text": product or agent, "coding": coded}
    return {"text": product or agent}


def is_coded(agent: str, knowledge: Knowledge) -> bool:
    spec = knowledge.terminology.agents[agent]
    return spec.order_coding is not None or spec.rxnorm_ingredient is not None


# A validated draft's JSON by what it orders (and the knowledge that names it); the subject is filled per call.
_VALIDATED: Memo[bytes] = Memo(256)
_SUBJECT_PLACEHOLDER = "Patient/subject"


def _validated(kind: str, what: str, knowledge: Knowledge, build: Callable[[], dict[str, object]]) -> bytes:
    """``build()`` validated as its R4B model and dumped, once per (kind, what, knowledge): only the subject
    reference differs between calls, and any reference string is valid where the model has it."""

    def validate() -> bytes:
        model = MedicationRequest if kind == "MedicationRequest" else ServiceRequest
        resource = model.model_validate({**build(), "subject": {"reference": _SUBJECT_PLACEHOLDER}})
        return orjson.dumps(resource.model_dump(mode="json", exclude_none=True))

    return _VALIDATED.get((knowledge,), (kind, what), validate)


def _for_subject(validated: bytes, patient_id: str) -> dict[str, object]:
    resource: dict[str, object] = orjson.loads(validated)
    resource["subject"] = {"reference": f"Patient/{patient_id}"}
    return resource


def medication_request(agent: str, ctx: CardContext, *, draft_id: str | None = None) -> dict[str, object]:
    """A draft order for one agent; with ``draft_id`` it is that draft, changed (for an ``update`` action).

    The draft's id is the one the client sent, echoed as it is (validated R4B without it): an EHR whose
    draft ids are not valid FHIR ids (``draft_ramu``) still gets its warning and its update action.
    """
    knowledge = ctx.knowledge
    validated = _validated(
        "MedicationRequest",
        agent,
        knowledge,
        lambda: {
            "resourceType": "MedicationRequest",
            "status": "draft",
            "intent": "order",
            "medicationCodeableConcept": medication_concept(agent, knowledge),
        },
    )
    dumped = _for_subject(validated, ctx.patient_id)
    return {"resourceType": "MedicationRequest", "id": draft_id, **dumped} if draft_id else dumped


def lab_service_request(lab: str, ctx: CardContext) -> dict[str, object]:
    """A draft lab order (LOINC) for AFP or one Child-Pugh laboratory value."""
    code, display, text = LAB_ORDERS[lab]
    validated = _validated(
        "ServiceRequest",
        lab,
        ctx.knowledge,
        lambda: {
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "order",
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": text},
        },
    )
    return _for_subject(validated, ctx.patient_id)
