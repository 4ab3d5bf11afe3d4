"""Scenario -> FHIR R4 resources and a CDS Hooks request with full prefetch, through the project's one
synthetic patient builder (cds_service/devtools/patients.py: the same builder the fixtures, the tests and the
benchmarks use). The scenario's id is the patient id and seeds the hookInstance."""

from __future__ import annotations

from cds_service.devtools.patients import Resource, cds_hooks_request
from cds_service.devtools.patients import patient_resources as _patient_resources
from tests.clinical_scenarios.model import Scenario


def patient_resources(scenario: Scenario) -> list[Resource]:
    """The patient's record: Patient, Conditions, MedicationStatements, Observations."""
    return _patient_resources(scenario.id, scenario.patient)


def hook_request(scenario: Scenario) -> Resource:
    """The CDS Hooks request the EHR would send, with every prefetch key filled."""
    return cds_hooks_request(scenario.id, scenario.hook, scenario.id, scenario.patient, scenario.order)
