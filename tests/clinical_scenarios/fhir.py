"""Scenario → FHIR R4 resources and a CDS Hooks request with full prefetch.

Reuses the fixture helpers of scripts/build_fixtures.py (the same resource shapes the fixtures and the
demo use), so a scenario patient looks like a fixture patient.
"""

from __future__ import annotations

from typing import Any

from scripts import build_fixtures as fx
from tests.clinical_scenarios.model import ConditionEntry, Ecog, Scenario

Resource = dict[str, Any]

SYSTEMS = {"icd10cm": fx.ICD10, "snomed": fx.SNOMED}
AGENT_CONCEPTS: dict[str, Resource] = {
    "sorafenib": fx.SORAFENIB,
    "lenvatinib": fx.LENVATINIB,
    "regorafenib": fx.REGORAFENIB,
    "cabozantinib": fx.CABOZANTINIB,
    "ramucirumab": fx.RAMUCIRUMAB,
    "bevacizumab": fx.BEVACIZUMAB,
    "atezolizumab": fx.ATEZOLIZUMAB,
    "nivolumab": fx.NIVOLUMAB,
    "pembrolizumab": fx.PEMBROLIZUMAB,
    "ipilimumab": fx.IPILIMUMAB,
    "durvalumab": fx.DURVALUMAB,
    "tremelimumab": fx.TREMELIMUMAB,
    "sunitinib": fx.med_concept("sunitinib 50 MG Oral Capsule [Sutent]"),
    "amlodipine": fx.AMLODIPINE,
}
STOP_CODES = {"progression": "266721009", "intolerance": "407563006"}
BILIRUBIN = "Bilirubin.total [Mass/volume] in Serum or Plasma"
ALBUMIN = "Albumin [Mass/volume] in Serum or Plasma"
INR = "INR in Platelet poor plasma by Coagulation assay"


def _condition(rid: str, pid: str, entry: ConditionEntry) -> Resource:
    onset = entry.onset.isoformat() if entry.onset else "2025-03-01"
    system = SYSTEMS[entry.system] if entry.system else ""
    resource = fx.condition(
        rid, pid, system, entry.code or "", entry.text or "", onset, entry.clinical, severity=entry.severity
    )
    if entry.code is None:
        resource["code"] = {"text": entry.text}
    elif entry.text is None:
        resource["code"] = {"coding": [{"system": system, "code": entry.code}]}
    if entry.clinical == "absent":
        del resource["clinicalStatus"]
    if entry.verification == "absent":
        del resource["verificationStatus"]
    else:
        resource["verificationStatus"]["coding"][0]["code"] = entry.verification
    if entry.category:
        resource["category"] = [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": entry.category}]}
        ]
    return resource


ECOG_ANSWERS = ("LA9622-7", "LA9623-5", "LA9624-3", "LA9625-0", "LA9626-8", "LA9627-6")


def _lab(rid: str, pid: str, code: str, display: str, when: str, value: float, unit: str) -> Resource:
    resource = fx.lab(rid, pid, code, display, when, value, unit)
    if unit == "none":  # policy 6.5: a result with no unit
        resource["valueQuantity"] = {"value": value}
    return resource


def _ecog(pid: str, ecog: Ecog) -> Resource:
    resource = fx.ecog(pid, ecog.date.isoformat(), ecog.value)
    if ecog.form != "integer":
        del resource["valueInteger"]
    if ecog.form == "answer_code":
        answer = ECOG_ANSWERS[ecog.value]
        resource["valueCodeableConcept"] = {"coding": [{"system": fx.LOINC, "code": answer}]}
    elif ecog.form == "quantity":
        resource["valueQuantity"] = {"value": ecog.value, "unit": "{score}"}
    elif ecog.form == "string":
        resource["valueString"] = str(ecog.value)
    return resource


def _observation(rid: str, pid: str, code: str, display: str, when: str, value: dict[str, Any]) -> Resource:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": fx.LOINC, "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
        **value,
    }


def patient_resources(scenario: Scenario) -> list[Resource]:
    """The patient's record: Patient, Conditions, MedicationStatements, Observations."""
    pid = scenario.id
    data = scenario.patient
    resources: list[Resource] = [fx.patient(pid, "Testpatient", "Scenario", data.birth_date.isoformat())]
    for index, entry in enumerate([*data.diagnoses, *data.conditions], start=1):
        resources.append(_condition(f"{pid}-cond-{index}", pid, entry))
    for number, line in enumerate(data.prior_lines, start=1):
        reason = None
        if line.stop_reason or line.stop_text:
            reason = fx.stop(STOP_CODES[line.stop_reason] if line.stop_reason else None, line.stop_text)
        for agent in line.agents:
            end = line.end.isoformat() if line.end else None
            resources.append(
                fx.statement(
                    f"{pid}-line{number}-{agent}",
                    pid,
                    AGENT_CONCEPTS[agent],
                    line.start.isoformat(),
                    end,
                    reason,
                    status="completed" if line.end else "active",
                )
            )
    if data.afp:
        code = "1834-1" if data.afp.unit == "ng/mL" else "19176-7"
        resources.append(fx.afp(f"{pid}-afp", pid, data.afp.date.isoformat(), data.afp.value, data.afp.unit, code))
    labs = data.labs
    if labs.bilirubin:
        b = labs.bilirubin
        resources.append(_lab(f"{pid}-bili", pid, "1975-2", BILIRUBIN, b.date.isoformat(), b.value, b.unit))
    if labs.albumin:
        a = labs.albumin
        resources.append(_lab(f"{pid}-alb", pid, "1751-7", ALBUMIN, a.date.isoformat(), a.value, a.unit))
    if labs.inr:
        i = labs.inr
        resources.append(_lab(f"{pid}-inr", pid, "6301-6", INR, i.date.isoformat(), i.value, i.unit))
    if data.ecog:
        resources.append(_ecog(pid, data.ecog))
    if data.karnofsky:
        k = data.karnofsky
        value: dict[str, Any] = {"valueInteger": k.value}
        resources.append(_observation(f"{pid}-kps", pid, "89243-0", "Karnofsky score", k.date.isoformat(), value))
    if data.pregnancy_test:
        t = data.pregnancy_test
        answer = {"positive": ("LA6576-8", "Positive"), "negative": ("LA6577-6", "Negative")}[t.result]
        value = {"valueCodeableConcept": {"coding": [{"system": fx.LOINC, "code": answer[0], "display": answer[1]}]}}
        display = "Choriogonadotropin (pregnancy test) [Presence] in Urine"
        resources.append(_observation(f"{pid}-hcg", pid, "2106-3", display, t.date.isoformat(), value))
    for number, medication in enumerate(data.medications, start=1):
        resource: Resource = {
            "resourceType": medication.resource,
            "id": f"{pid}-med-{number}",
            "status": medication.status,
            "medicationCodeableConcept": {"text": medication.text},
            "subject": {"reference": f"Patient/{pid}"},
        }
        if medication.resource == "MedicationRequest":
            resource["intent"] = "order"
        resources.append(resource)
    return resources


def draft_orders(scenario: Scenario) -> tuple[list[Resource], list[str]]:
    """The draft MedicationRequests (selected first) and the selection references."""
    if scenario.order is None:
        return [], []
    pid = scenario.id
    selected = [fx.draft(f"draft-{agent}", pid, AGENT_CONCEPTS[agent]) for agent in scenario.order.selected]
    others = [fx.draft(f"draft-{agent}", pid, AGENT_CONCEPTS[agent]) for agent in scenario.order.other_drafts]
    return [*selected, *others], [f"MedicationRequest/{d['id']}" for d in selected]


def hook_request(scenario: Scenario) -> Resource:
    """The CDS Hooks request the EHR would send, with every prefetch key filled."""
    resources = patient_resources(scenario)
    drafts, selections = draft_orders(scenario)
    request: Resource = fx.hook_request(scenario.id, scenario.hook, scenario.id, resources, drafts, selections)
    return request
