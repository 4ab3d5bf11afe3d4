"""Scenario → FHIR R4 resources and a CDS Hooks request with full prefetch.

Reuses the fixture helpers of scripts/build_fixtures.py (the same resource shapes the fixtures and the
demo use), so a scenario patient looks like a fixture patient.
"""

from __future__ import annotations

from typing import Any

from scripts import build_fixtures as fx
from tests.clinical_scenarios.model import ConditionEntry, MedicationRecord, Scenario

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


def _record_concept(record: MedicationRecord) -> Resource:
    if record.text is None and record.code is None and record.agent is not None:
        return AGENT_CONCEPTS[record.agent]
    concept: Resource = {"text": record.text} if record.text else {}
    if record.code:
        concept["coding"] = [
            {"system": fx.RXNORM, "code": record.code, **({"display": record.text} if record.text else {})}
        ]
    return concept


def medication_record(rid: str, pid: str, record: MedicationRecord) -> Resource:
    """One MedicationStatement, MedicationRequest, MedicationAdministration or MedicationDispense (policy 6.5)."""
    concept = _record_concept(record)
    when, end = record.date.isoformat(), record.end.isoformat() if record.end else None
    reason = None
    if record.stop_reason or record.stop_text:
        reason = fx.stop(STOP_CODES[record.stop_reason] if record.stop_reason else None, record.stop_text)
    resource: Resource
    if record.resource == "statement":
        status = record.status or ("completed" if end else "active")
        resource = fx.statement(rid, pid, concept, when, end, reason, status=status)
    elif record.resource == "administration":
        resource = fx.administration(rid, pid, concept, when, reason)
        resource["status"] = record.status or "completed"
    elif record.resource == "request":
        resource = {
            "resourceType": "MedicationRequest",
            "id": rid,
            "status": record.status or "active",
            "intent": "order",
            "medicationCodeableConcept": concept,
            "subject": {"reference": f"Patient/{pid}"},
            "authoredOn": when,
        }
        if end:
            resource["dispenseRequest"] = {"validityPeriod": {"start": when, "end": end}}
        if reason:
            resource["statusReason"] = reason[0]
    else:
        resource = {
            "resourceType": "MedicationDispense",
            "id": rid,
            "status": record.status or "completed",
            "medicationCodeableConcept": concept,
            "subject": {"reference": f"Patient/{pid}"},
            "whenHandedOver": when,
        }
    if record.note:
        resource["note"] = [{"text": record.note}]
    return resource


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
    for index, record in enumerate(data.medications, start=1):
        resources.append(medication_record(f"{pid}-med{index}", pid, record))
    if data.afp:
        code = "1834-1" if data.afp.unit == "ng/mL" else "19176-7"
        resources.append(fx.afp(f"{pid}-afp", pid, data.afp.date.isoformat(), data.afp.value, data.afp.unit, code))
    labs = data.labs
    if labs.bilirubin:
        b = labs.bilirubin
        resources.append(fx.lab(f"{pid}-bili", pid, "1975-2", BILIRUBIN, b.date.isoformat(), b.value, b.unit))
    if labs.albumin:
        a = labs.albumin
        resources.append(fx.lab(f"{pid}-alb", pid, "1751-7", ALBUMIN, a.date.isoformat(), a.value, a.unit))
    if labs.inr:
        i = labs.inr
        resources.append(fx.lab(f"{pid}-inr", pid, "6301-6", INR, i.date.isoformat(), i.value, i.unit))
    if data.ecog:
        resources.append(fx.ecog(pid, data.ecog.date.isoformat(), data.ecog.value))
    return resources


def draft_orders(scenario: Scenario) -> tuple[list[Resource], list[str]]:
    """The draft MedicationRequests (selected first) and the selection references."""
    if scenario.order is None:
        return [], []
    pid = scenario.id
    concepts = dict(AGENT_CONCEPTS)
    for agent, drafted in scenario.order.drafted_as.items():
        concepts[agent] = fx.med_concept(drafted.text, drafted.code)
    selected = [fx.draft(f"draft-{agent}", pid, concepts[agent]) for agent in scenario.order.selected]
    others = [fx.draft(f"draft-{agent}", pid, concepts[agent]) for agent in scenario.order.other_drafts]
    return [*selected, *others], [f"MedicationRequest/{d['id']}" for d in selected]


def hook_request(scenario: Scenario) -> Resource:
    """The CDS Hooks request the EHR would send, with every prefetch key filled."""
    resources = patient_resources(scenario)
    drafts, selections = draft_orders(scenario)
    request: Resource = fx.hook_request(scenario.id, scenario.hook, scenario.id, resources, drafts, selections)
    return request
