"""The CDS services this deployment offers: id, hook, prefetch templates (discovery document)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from cds_service.cards.builder import Hook
from cds_service.data.prefetch import PrefetchSpec
from cds_service.hooks.models import OrderSelectContext, OrderSignContext, PatientViewContext, validated
from cds_service.knowledge import Knowledge
from cds_service.mapping.patient import split_code

ORDER_SELECT_ID = "hcc-second-line-order-select"
ORDER_SIGN_ID = "hcc-second-line-order-sign"
PATIENT_VIEW_ID = "hcc-second-line-patient-view"
SERVICE_ID_BY_HOOK = {"order-select": ORDER_SELECT_ID, "order-sign": ORDER_SIGN_ID, "patient-view": PATIENT_VIEW_ID}

_CONTEXT_MODELS: dict[str, type[BaseModel]] = {
    "order-select": OrderSelectContext,
    "order-sign": OrderSignContext,
    "patient-view": PatientViewContext,
}


@dataclass(frozen=True, slots=True)
class ServiceDefinition:
    id: str
    hook: Hook
    title: str
    description: str
    prefetch: tuple[PrefetchSpec, ...]
    usage_requirements: str

    def discovery_entry(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "prefetch": {spec.key: spec.template for spec in self.prefetch},
            "usageRequirements": self.usage_requirements,
        }

    @property
    def context_model(self) -> type[BaseModel]:
        """The model of this hook's context (also declared in the OpenAPI document)."""
        return _CONTEXT_MODELS[self.hook]

    def parse_context(self, context: dict[str, Any]) -> Any:
        """Validate the hook context; a missing or malformed required field is a 400."""
        return validated(_CONTEXT_MODELS[self.hook], context, what=f"{self.hook} context", prefix="context.")


def _codes(system: str, codes: tuple[str, ...]) -> str:
    return ",".join(f"{system}|{code}" for code in codes)


def prefetch_specs(knowledge: Knowledge) -> tuple[PrefetchSpec, ...]:
    """The FHIR queries the rules need (clinical-sequencing.md section 1), as 2.0 prefetch templates."""
    loinc = knowledge.vocabulary.systems["loinc"]
    codes = knowledge.vocabulary.observations
    patient = "{{context.patientId}}"
    afp = _codes(loinc, (*codes.afp_mass, *codes.afp_units))
    labs = _codes(loinc, (*codes.bilirubin_total, *codes.albumin, *codes.inr, *codes.ecog, *codes.pregnancy_test))
    child_pugh_code = split_code(knowledge.parameters.child_pugh_observation_code)
    if child_pugh_code is not None:
        labs += f",{child_pugh_code[0]}|{child_pugh_code[1]}"
    return (
        PrefetchSpec("patient", f"Patient/{patient}", "patient", required=False),
        PrefetchSpec("conditions", f"Condition?patient={patient}", "conditions", required=True),
        PrefetchSpec(
            "medicationStatements",
            f"MedicationStatement?patient={patient}&_include=MedicationStatement:medication",
            "medications",
            required=True,
        ),
        PrefetchSpec(
            "medicationRequests",
            f"MedicationRequest?patient={patient}&_include=MedicationRequest:medication"
            "&_revinclude=MedicationDispense:prescription",
            "medications",
            required=True,
        ),
        PrefetchSpec(
            "medicationAdministrations",
            f"MedicationAdministration?patient={patient}&_include=MedicationAdministration:medication",
            "medications",
            required=False,
        ),
        PrefetchSpec(
            "afp", f"Observation?patient={patient}&code={afp}&_sort=-date&_count=50", "observations", required=False
        ),
        PrefetchSpec(
            "liverLabs",
            f"Observation?patient={patient}&code={labs}&_sort=-date&_count=50",
            "observations",
            required=False,
        ),
    )


_USAGE = (
    "Needs the patient's Conditions and medication history (MedicationStatement, MedicationRequest) as "
    "prefetch; AFP, liver labs, MedicationAdministration and the MedicationDispense records of the requests "
    "improve the answer (an administration or supply within 60 days keeps a line current)."
)


def service_definitions(knowledge: Knowledge) -> dict[str, ServiceDefinition]:
    """The services (order-select, order-sign, patient-view) sharing one pipeline; a service the site's pilot
    switches turn ``off`` is left out (not in discovery, and its endpoint answers as an unknown service)."""
    specs = prefetch_specs(knowledge)
    version = knowledge.version
    services = (
        ServiceDefinition(
            ORDER_SELECT_ID,
            "order-select",
            "HCC second-line systemic therapy: order check",
            "When an advanced-HCC systemic agent is selected, shows the second-line options that fit this patient "
            "(after sorafenib, lenvatinib or atezolizumab + bevacizumab), their evidence and trials, warns when the "
            f"selected regimen does not fit and offers one-click alternatives. Knowledge v{version}.",
            specs,
            _USAGE,
        ),
        ServiceDefinition(
            ORDER_SIGN_ID,
            "order-sign",
            "HCC second-line systemic therapy: signing check",
            "At signing, warns only when an advanced-HCC systemic order does not fit this patient's sequencing "
            f"(not preferred, not supported, or already received). Knowledge v{version}.",
            specs,
            _USAGE,
        ),
        ServiceDefinition(
            PATIENT_VIEW_ID,
            "patient-view",
            "HCC second-line systemic therapy: options",
            "For a patient with HCC who has received systemic therapy, lists the second-line options with their "
            f"place and evidence. Knowledge v{version}.",
            specs,
            _USAGE,
        ),
    )
    return {service.id: service for service in services if knowledge.pilot.mode_of(service.hook) != "off"}
