"""Resources no rule reads never change an answer; medications and conditions naming nothing read are skipped."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.facts import DiagnosisStatus
from cds_service.hooks.services import SERVICE_ID_BY_HOOK
from cds_service.knowledge import load_knowledge
from cds_service.mapping.conditions import ConditionMapper
from cds_service.mapping.fhir import Parser
from cds_service.mapping.medications import episodes_from
from cds_service.mapping.resources import collect_resources
from cds_service.mapping.terminology import AgentMatcher
from tests.conftest import load_request

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
# Common drugs of a cirrhotic patient's list, none of them a systemic HCC agent (RxNorm, name).
NON_ONCOLOGY_DRUGS = [
    ("866924", "metoprolol succinate 25 MG Extended Release Oral Tablet"),
    ("314076", "lisinopril 10 MG Oral Tablet"),
    ("617310", "atorvastatin 20 MG Oral Tablet"),
    ("861007", "metformin hydrochloride 500 MG Oral Tablet"),
    ("310429", "furosemide 20 MG Oral Tablet"),
    ("313096", "spironolactone 25 MG Oral Tablet"),
    ("856448", "propranolol hydrochloride 10 MG Oral Tablet"),
    ("198053", "omeprazole 20 MG Delayed Release Oral Capsule"),
    ("308459", "lactulose 10 GM per 15 ML Oral Solution"),
    ("1807516", "rifaximin 550 MG Oral Tablet"),
]
# Observations no rule reads (LOINC, name, unit).
UNRELATED_OBSERVATIONS = [
    ("8867-4", "Heart rate", "/min"),
    ("29463-7", "Body weight", "kg"),
    ("718-7", "Hemoglobin", "g/dL"),
    ("2345-7", "Glucose", "mg/dL"),
    ("2951-2", "Sodium", "mmol/L"),
]
# Conditions no rule reads (SNOMED CT, name), as Synthea records them.
UNRELATED_CONDITIONS = [
    ("38341003", "Hypertension"),
    ("444814009", "Viral sinusitis (disorder)"),
    ("44465007", "Sprain of ankle"),
    ("15777000", "Prediabetes"),
    ("40055000", "Chronic sinusitis (disorder)"),
]
SNOMED = "http://snomed.info/sct"
FIXTURES = ["01-", "04-", "06-", "07-", "11-", "13-", "14-", "17-"]
MEDICATION_KEYS = ["medicationStatements", "medicationRequests", "medicationAdministrations"]
OBSERVATION_KEYS = ["afp", "liverLabs"]

dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2026, 11, 25)).map(date.isoformat)


@st.composite
def unrelated_medication(draw: st.DrawFn, patient_id: str, position: int) -> dict[str, Any]:
    code, name = draw(st.sampled_from(NON_ONCOLOGY_DRUGS))
    rtype = draw(st.sampled_from(["MedicationStatement", "MedicationRequest", "MedicationAdministration"]))
    concept = {"text": name, "coding": [{"system": RXNORM, "code": code, "display": name}]}
    resource: dict[str, Any] = {
        "resourceType": rtype,
        "id": f"unrelated-med-{position}",
        "status": draw(st.sampled_from(["active", "completed", "stopped", "on-hold"]))
        if rtype != "MedicationAdministration"
        else "completed",
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    if draw(st.booleans()):
        resource["medicationCodeableConcept"] = concept
    else:
        resource["contained"] = [{"resourceType": "Medication", "id": "med", "code": concept}]
        resource["medicationReference"] = {"reference": "#med"}
    if rtype == "MedicationRequest":
        resource["intent"] = "order"
        resource["authoredOn"] = draw(dates)
    else:
        resource["effectiveDateTime"] = draw(dates)
    return resource


@st.composite
def unrelated_observation(draw: st.DrawFn, patient_id: str, position: int) -> dict[str, Any]:
    code, name, unit = draw(st.sampled_from(UNRELATED_OBSERVATIONS))
    return {
        "resourceType": "Observation",
        "id": f"unrelated-obs-{position}",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code, "display": name}], "text": name},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": draw(dates),
        "valueQuantity": {"value": draw(st.integers(1, 500)), "unit": unit},
    }


@st.composite
def unrelated_condition(draw: st.DrawFn, patient_id: str, position: int) -> dict[str, Any]:
    code, name = draw(st.sampled_from(UNRELATED_CONDITIONS))
    return {
        "resourceType": "Condition",
        "id": f"unrelated-condition-{position}",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": draw(st.sampled_from(["active", "resolved"])),
                }
            ]
        },
        "code": {"coding": [{"system": SNOMED, "code": code, "display": name}], "text": name},
        "subject": {"reference": f"Patient/{patient_id}"},
        "onsetDateTime": draw(dates),
    }


def _bundle(request: dict[str, Any], key: str) -> list[Any]:
    prefetch = request["prefetch"]
    value = prefetch.get(key)
    if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
        value = prefetch[key] = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    entries: list[Any] = value.setdefault("entry", [])
    return entries


@st.composite
def with_unrelated(draw: st.DrawFn, request: dict[str, Any]) -> dict[str, Any]:
    """The request with any number of unrelated medications, observations and conditions at random places."""
    padded = copy.deepcopy(request)
    patient_id = request["context"]["patientId"]
    count = draw(st.integers(0, 25))
    for position in range(count):
        kind = draw(st.sampled_from(["medication", "observation", "condition"]))
        if kind == "medication":
            resource = draw(unrelated_medication(patient_id, position))
            key = draw(st.sampled_from(MEDICATION_KEYS))
        elif kind == "observation":
            resource = draw(unrelated_observation(patient_id, position))
            key = draw(st.sampled_from(OBSERVATION_KEYS))
        else:
            resource = draw(unrelated_condition(patient_id, position))
            key = "conditions"
        entries = _bundle(padded, key)
        entries.insert(draw(st.integers(0, len(entries))), {"resource": resource})
    return padded


def _response(client: TestClient, request: dict[str, Any]) -> Any:
    response = client.post(f"/cds-services/{SERVICE_ID_BY_HOOK[request['hook']]}", json=request)
    assert response.status_code == 200, response.text
    return response.json()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), name=st.sampled_from(FIXTURES))
def test_unrelated_resources_never_change_the_response(client: TestClient, data: st.DataObject, name: str) -> None:
    request = load_request(name)
    padded = data.draw(with_unrelated(request))
    assert _response(client, padded) == _response(client, request)


@given(data=st.data())
@settings(max_examples=20, deadline=None)
def test_medications_naming_no_agent_are_counted_and_never_validated(data: st.DataObject) -> None:
    request = data.draw(with_unrelated(load_request("01-")))
    patient_id = request["context"]["patientId"]
    pool = collect_resources(request["prefetch"], patient_id)
    unrelated = sum(
        1
        for rtype in ("MedicationStatement", "MedicationRequest", "MedicationAdministration")
        for raw in pool.of_type(rtype)
        if str(raw.get("id", "")).startswith("unrelated-med-")
    )
    parser = Parser([])
    episodes = episodes_from(pool, AgentMatcher(load_knowledge().terminology), parser)
    assert parser.skipped == unrelated
    assert [sorted(e.agents) for e in episodes] == [["sorafenib"]]


@given(data=st.data())
@settings(max_examples=20, deadline=None)
def test_conditions_naming_nothing_read_are_counted_and_never_validated(data: st.DataObject) -> None:
    request = data.draw(with_unrelated(load_request("01-")))
    pool = collect_resources(request["prefetch"], request["context"]["patientId"])
    conditions = pool.of_type("Condition")
    unrelated = sum(1 for raw in conditions if str(raw.get("id", "")).startswith("unrelated-condition-"))
    knowledge = load_knowledge()
    parser = Parser([])
    facts = ConditionMapper(knowledge.vocabulary, knowledge.parameters.extra_codes).map(
        conditions, data_available=True, parser=parser
    )
    assert parser.skipped == unrelated
    assert facts.hcc.status is DiagnosisStatus.PRESENT


def test_a_condition_named_only_in_text_or_with_a_malformed_code_is_still_read() -> None:
    knowledge = load_knowledge()
    mapper = ConditionMapper(knowledge.vocabulary, knowledge.parameters.extra_codes)
    subject = {"reference": "Patient/p"}
    text_only = {
        "resourceType": "Condition",
        "id": "t",
        "code": {"text": "Hepatocellular carcinoma"},
        "subject": subject,
    }
    malformed = {"resourceType": "Condition", "id": "m", "code": "C22.0", "subject": subject}
    assert not mapper.names_nothing_read(text_only)
    assert not mapper.names_nothing_read(malformed)  # validated, so that its data-quality note is kept
    notes: list[Any] = []
    facts = mapper.map([text_only, malformed], data_available=True, parser=Parser(notes))
    assert facts.hcc.status is DiagnosisStatus.PRESENT
    assert [note.reference for note in notes] == ["Condition/m"]


@pytest.mark.parametrize(
    "text", ["No ascites", "No hepatic encephalopathy", "Awaiting liver transplant", "HCC excluded on MRI"]
)
def test_the_cheap_pre_check_never_negates(text: str) -> None:
    """ConceptMatcher.any_of stays a superset of the negating matchers: a negated or hypothetical text is
    still read (a recorded absence of ascites narrows Child-Pugh, policy 6.2)."""
    knowledge = load_knowledge()
    mapper = ConditionMapper(knowledge.vocabulary, knowledge.parameters.extra_codes)
    assert not mapper.names_nothing_read({"resourceType": "Condition", "id": "n", "code": {"text": text}})
