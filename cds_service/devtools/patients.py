"""One synthetic patient builder: a synthetic patient -> FHIR R4 resources -> a CDS Hooks request.

The way the AHRQ CQL Testing Framework exports one test case to a CDS Hooks request, every invented patient
of the project goes through this module: the clinical scenarios (clinical-scenarios/, a ``SyntheticPatient``
in a few YAML lines), the committed fixtures (scripts/build_fixtures.py, from the resource builders below),
the tests and the benchmarks (benchmarks/payloads.py). Three layers:

- FHIR R4 resource builders (``patient``, ``condition``, ``statement``, ``lab``, ``draft``, ...), the one
  place that knows the resource shapes the fixtures and the demo use;
- the CDS Hooks export (``hook_request`` with every prefetch key filled, ``searchset``, ``transaction``);
- a declarative ``SyntheticPatient`` (diagnoses, conditions, prior lines, AFP, liver labs, ECOG, Karnofsky, a
  pregnancy test, other medications) with
  ``patient_resources`` and ``cds_hooks_request``.

Every patient built here is invented; nothing here runs on the request path.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FHIR_SERVER = "https://ehr.example.org/fhir"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
UCUM = "http://unitsofmeasure.org"
# The day the synthetic patients are dated for: the rules are evaluated as of this date (tests pin it).
EVALUATION_DATE = dt.date(2026, 11, 25)
NAMESPACE = uuid.UUID("0d3f7a52-8f0e-4a40-9a53-5f1e2b7c9d11")
Resource = dict[str, Any]


def patient(pid: str, family: str, given: str, birth: str) -> Resource:
    """A Patient (name and birth date only; gender unknown)."""
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"family": family, "given": [given]}],
        "gender": "unknown",
        "birthDate": birth,
    }


def condition(
    rid: str,
    pid: str,
    system: str,
    code: str,
    display: str,
    onset: str,
    status: str = "active",
    severity: str | None = None,
) -> Resource:
    """A confirmed Condition with a coded, displayed and texted code."""
    resource: Resource = {
        "resourceType": "Condition",
        "id": rid,
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status}]
        },
        "verificationStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]
        },
        "code": {"coding": [{"system": system, "code": code, "display": display}], "text": display},
        "subject": {"reference": f"Patient/{pid}"},
        "onsetDateTime": onset,
    }
    if severity:
        resource["severity"] = {"text": severity}
    return resource


HCC = (ICD10, "C22.0", "Liver cell carcinoma (hepatocellular carcinoma)")


def med_concept(text: str, rxcui: str | None = None) -> Resource:
    """A medication concept: its text, and an RxNorm coding when ``rxcui`` is given."""
    concept: Resource = {"text": text}
    if rxcui:
        concept["coding"] = [{"system": RXNORM, "code": rxcui, "display": text}]
    return concept


def stop(code: str | None = None, text: str | None = None) -> list[Resource]:
    """A MedicationStatement ``statusReason``: a SNOMED code (progression, intolerance) and/or free text."""
    concept: Resource = {}
    if code:
        display = {"266721009": "No response to treatment", "407563006": "Treatment not tolerated"}[code]
        concept["coding"] = [{"system": SNOMED, "code": code, "display": display}]
    if text:
        concept["text"] = text
    return [concept]


def statement(
    rid: str,
    pid: str,
    concept: Resource,
    start: str,
    end: str | None,
    reason: list[Resource] | None = None,
    status: str = "completed",
) -> Resource:
    """A MedicationStatement over ``start``..``end`` (open when ``end`` is None)."""
    period = {"start": start, **({"end": end} if end else {})}
    resource: Resource = {
        "resourceType": "MedicationStatement",
        "id": rid,
        "status": status,
        "medicationCodeableConcept": concept,
        "subject": {"reference": f"Patient/{pid}"},
        "effectivePeriod": period,
    }
    if reason:
        resource["statusReason"] = reason
    return resource


def administration(rid: str, pid: str, concept: Resource, when: str, reason: list[Resource] | None = None) -> Resource:
    """A completed MedicationAdministration on one day."""
    resource: Resource = {
        "resourceType": "MedicationAdministration",
        "id": rid,
        "status": "completed",
        "medicationCodeableConcept": concept,
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
    }
    if reason:
        resource["statusReason"] = reason
    return resource


def lab(
    rid: str,
    pid: str,
    code: str,
    display: str,
    when: str,
    value: float | None = None,
    unit: str | None = None,
    ucum: str | None = None,
    comparator: str | None = None,
    value_string: str | None = None,
) -> Resource:
    """A laboratory Observation (LOINC code): a quantity, a string value, or no value."""
    resource: Resource = {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
        ],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
    }
    if value_string is not None:
        resource["valueString"] = value_string
    elif value is not None:
        quantity: Resource = {"value": value, "unit": unit, "system": UCUM, "code": ucum or unit}
        if comparator:
            quantity["comparator"] = comparator
        resource["valueQuantity"] = quantity
    return resource


def afp(rid: str, pid: str, when: str, value: float, unit: str = "ng/mL", code: str = "1834-1") -> Resource:
    """An AFP Observation: LOINC 1834-1 (mass, ng/mL) or 19176-7 (units, IU/mL)."""
    display = (
        "Alpha-1-Fetoprotein [Mass/volume] in Serum or Plasma"
        if code == "1834-1"
        else ("Alpha-1-Fetoprotein [Units/volume] in Serum or Plasma")
    )
    ucum = {"ng/mL": "ng/mL", "IU/mL": "[IU]/mL", "ug/L": "ug/L"}[unit]
    return lab(rid, pid, code, display, when, value, unit, ucum)


def liver_panel(
    pid: str, when: str, bilirubin: float = 0.9, albumin: tuple[float, str] = (4.0, "g/dL"), inr: float = 1.1
) -> list[Resource]:
    """Bilirubin, albumin and INR on one day (the Child-Pugh labs)."""
    return [
        lab(f"{pid}-bili", pid, "1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma", when, bilirubin, "mg/dL"),
        lab(f"{pid}-alb", pid, "1751-7", "Albumin [Mass/volume] in Serum or Plasma", when, albumin[0], albumin[1]),
        lab(f"{pid}-inr", pid, "6301-6", "INR in Platelet poor plasma by Coagulation assay", when, inr, "{INR}"),
    ]


def ecog(pid: str, when: str, grade: int) -> Resource:
    """An ECOG performance status Observation (LOINC 89247-1)."""
    return {
        "resourceType": "Observation",
        "id": f"{pid}-ecog",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "89247-1", "display": "ECOG Performance Status score"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
        "valueInteger": grade,
    }


def draft(rid: str, pid: str, concept: Resource | None, resource_type: str = "MedicationRequest") -> Resource:
    """A draft order (R4 MedicationRequest, or a DSTU2 MedicationOrder as the sandbox sends)."""
    order: Resource = {"resourceType": resource_type, "id": rid, "status": "draft"}
    if resource_type == "MedicationOrder":
        order.update({"patient": {"reference": f"Patient/{pid}"}, "dateWritten": EVALUATION_DATE.isoformat()})
    else:
        order.update(
            {"intent": "order", "subject": {"reference": f"Patient/{pid}"}, "authoredOn": EVALUATION_DATE.isoformat()}
        )
    if concept is not None:
        order["medicationCodeableConcept"] = concept
    return order


CABOZANTINIB = med_concept("cabozantinib 60 MG Oral Tablet [Cabometyx]")
REGORAFENIB = med_concept("regorafenib 40 MG Oral Tablet [Stivarga]")
RAMUCIRUMAB = med_concept("ramucirumab 10 MG/ML Injectable Solution [Cyramza]", "1657775")
NIVOLUMAB = med_concept("nivolumab 10 MG/ML Injectable Solution [Opdivo]")
IPILIMUMAB = med_concept("ipilimumab 5 MG/ML Injectable Solution [Yervoy]", "1657005")
SORAFENIB = med_concept("sorafenib 200 MG Oral Tablet [Nexavar]", "597747")
LENVATINIB = med_concept("lenvatinib 4 MG Daily Dose Oral Capsule [Lenvima]", "1604345")
ATEZOLIZUMAB = med_concept("atezolizumab 1200 MG in 20 ML Injection [Tecentriq]", "1792780")
BEVACIZUMAB = med_concept("bevacizumab 25 MG/ML Injectable Solution [Avastin]", "1657066")
AMLODIPINE = med_concept("amlodipine 5 MG Oral Tablet", "197361")
DURVALUMAB = med_concept("durvalumab 50 MG/ML Injectable Solution [Imfinzi]", "1919507")
TREMELIMUMAB = med_concept("tremelimumab-actl 20 MG/ML Injectable Solution [Imjudo]", "2619317")
PEMBROLIZUMAB = med_concept("pembrolizumab 25 MG/ML Injectable Solution [Keytruda]")


def _keyed(resources: list[Resource]) -> dict[str, list[Resource]]:
    keys = {
        "Patient": "patient",
        "Condition": "conditions",
        "MedicationStatement": "medicationStatements",
        "MedicationRequest": "medicationRequests",
        "MedicationAdministration": "medicationAdministrations",
        "MedicationDispense": "medicationRequests",  # _revinclude=MedicationDispense:prescription
        "Medication": "medicationRequests",
    }
    grouped: dict[str, list[Resource]] = {
        k: []
        for k in (
            "conditions",
            "medicationStatements",
            "medicationRequests",
            "medicationAdministrations",
            "afp",
            "liverLabs",
        )
    }
    for resource in resources:
        rtype = resource["resourceType"]
        if rtype == "Observation":
            code = resource["code"]["coding"][0]["code"]
            key = "afp" if code in ("1834-1", "19176-7") else "liverLabs"
        else:
            key = keys[rtype]
        grouped.setdefault(key, []).append(resource)
    return grouped


def search_entry(resource: Resource) -> Resource:
    """One searchset entry (``include`` for a Medication or a revincluded MedicationDispense, ``match`` otherwise)."""
    mode = "include" if resource["resourceType"] in ("Medication", "MedicationDispense") else "match"
    return {
        "fullUrl": f"{FHIR_SERVER}/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
        "search": {"mode": mode},
    }


def searchset(resources: list[Resource]) -> Resource:
    """A searchset Bundle of ``resources``, as a FHIR server answers a prefetch query."""
    bundle: Resource = {"resourceType": "Bundle", "type": "searchset", "total": len(resources)}
    if resources:
        bundle["entry"] = [search_entry(r) for r in resources]
    return bundle


def transaction(resources: list[Resource]) -> Resource:
    """A transaction Bundle of PUT entries (ids survive loading into a FHIR server)."""
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"{FHIR_SERVER}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
            }
            for r in resources
        ],
    }


def hook_request(
    name: str,
    hook: str,
    pid: str,
    resources: list[Resource],
    drafts: list[Resource],
    selections: list[str] | None = None,
    prefetch: bool = True,
    bundle_type: bool = True,
) -> Resource:
    """A CDS Hooks request: context (draft orders, selections) and, unless ``prefetch`` is False, every prefetch
    key filled from ``resources``."""
    context: Resource = {"userId": "Practitioner/onc-1", "patientId": pid}
    if hook != "patient-view":
        draft_bundle: Resource = {"resourceType": "Bundle", "entry": [{"resource": d} for d in drafts]}
        if bundle_type:
            draft_bundle["type"] = "collection"
        context["draftOrders"] = draft_bundle
    if hook == "order-select":
        context["selections"] = selections or [f"{d['resourceType']}/{d['id']}" for d in drafts]
    request: Resource = {
        "hook": hook,
        "hookInstance": str(uuid.uuid5(NAMESPACE, name)),
        "fhirServer": FHIR_SERVER,
        "context": context,
    }
    if prefetch:
        grouped = _keyed(resources)
        patients = [r for r in resources if r["resourceType"] == "Patient"]
        request["prefetch"] = {
            "patient": patients[0] if patients else None,
            **{key: searchset(items) for key, items in grouped.items() if key != "patient"},
        }
    return request


# --- The declarative synthetic patient ----------------------------------------------------------------------

Agent = Literal[
    "sorafenib",
    "lenvatinib",
    "regorafenib",
    "cabozantinib",
    "ramucirumab",
    "bevacizumab",
    "atezolizumab",
    "nivolumab",
    "pembrolizumab",
    "ipilimumab",
    "durvalumab",
    "tremelimumab",
    "sunitinib",
    "amlodipine",
]
Hook = Literal["order-select", "order-sign", "patient-view"]

AGENT_CONCEPTS: dict[str, Resource] = {
    "sorafenib": SORAFENIB,
    "lenvatinib": LENVATINIB,
    "regorafenib": REGORAFENIB,
    "cabozantinib": CABOZANTINIB,
    "ramucirumab": RAMUCIRUMAB,
    "bevacizumab": BEVACIZUMAB,
    "atezolizumab": ATEZOLIZUMAB,
    "nivolumab": NIVOLUMAB,
    "pembrolizumab": PEMBROLIZUMAB,
    "ipilimumab": IPILIMUMAB,
    "durvalumab": DURVALUMAB,
    "tremelimumab": TREMELIMUMAB,
    "sunitinib": med_concept("sunitinib 50 MG Oral Capsule [Sutent]"),
    "amlodipine": AMLODIPINE,
}
CONDITION_SYSTEMS = {"icd10cm": ICD10, "snomed": SNOMED}
STOP_CODES = {"progression": "266721009", "intolerance": "407563006"}
BILIRUBIN = "Bilirubin.total [Mass/volume] in Serum or Plasma"
ALBUMIN = "Albumin [Mass/volume] in Serum or Plasma"
INR = "INR in Platelet poor plasma by Coagulation assay"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConditionEntry(_Strict):
    """A Condition. No ``code`` means text only; no ``text`` means a bare code (no display, no text)."""

    text: str | None = None
    system: Literal["icd10cm", "snomed"] | None = None
    code: str | None = None
    verification: Literal["confirmed", "provisional", "differential", "unconfirmed", "refuted", "absent"] = "confirmed"
    clinical: Literal["active", "recurrence", "relapse", "inactive", "remission", "resolved", "absent"] = "active"
    category: Literal["problem-list-item", "encounter-diagnosis", "health-concern"] | None = None
    severity: str | None = None
    onset: dt.date | None = None

    @model_validator(mode="after")
    def _code_or_text(self) -> ConditionEntry:
        if self.code is None and self.text is None:
            raise ValueError("a condition needs a code or a text")
        if (self.code is None) != (self.system is None):
            raise ValueError("code and system go together")
        return self


class PriorLine(_Strict):
    """One prior line of systemic therapy (one MedicationStatement per agent, same dates)."""

    agents: list[Agent] = Field(min_length=1)
    start: dt.date
    end: dt.date | None = None
    stop_reason: Literal["progression", "intolerance"] | None = None
    stop_text: str | None = None


class MedicationRecord(_Strict):
    """One medication record as a real chart holds it (policy 6.5): the resource type, the medication coded as
    the fixtures code the agent (``agent``) or as written (``text``, with an optional RxNorm ``code``), its
    status, dates, and the stop reason as a code and/or words (``stop_text``) or a ``note``.

    ``date`` is the effective start (statement), authoredOn (request), the day given (administration) or the day
    handed over (dispense). ``status`` defaults to completed (statement with an end, administration, dispense),
    active (statement without an end, request).
    """

    resource: Literal["statement", "request", "administration", "dispense"] = "statement"
    agent: Agent | None = None
    text: str | None = None
    code: str | None = None
    status: str | None = None
    date: dt.date
    end: dt.date | None = None
    stop_reason: Literal["progression", "intolerance"] | None = None
    stop_text: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _names_a_medication(self) -> MedicationRecord:
        if self.agent is None and self.text is None and self.code is None:
            raise ValueError("a medication record needs an agent, a text or a code")
        return self


class DraftConcept(_Strict):
    """How a draft order names its medication when not as the fixtures do (a product, a brand, a code)."""

    text: str
    code: str | None = None


class Measurement(_Strict):
    value: float
    unit: str
    date: dt.date


class Afp(Measurement):
    unit: Literal["ng/mL", "IU/mL"] = "ng/mL"


class Bilirubin(Measurement):
    unit: Literal["mg/dL", "umol/L", "none"] = "mg/dL"  # none: the result gives no unit (policy 6.5)


class Albumin(Measurement):
    unit: Literal["g/dL", "g/L", "none"] = "g/dL"


class Inr(Measurement):
    unit: Literal["{INR}", "1", "none"] = "{INR}"


class Labs(_Strict):
    bilirubin: Bilirubin | None = None
    albumin: Albumin | None = None
    inr: Inr | None = None


class Ecog(_Strict):
    """ECOG (LOINC 89247-1) as an integer, a LOINC answer code (LA9622-7 ... LA9627-6), a quantity or a string."""

    value: int = Field(ge=0, le=4)
    date: dt.date
    form: Literal["integer", "answer_code", "quantity", "string"] = "integer"


class Karnofsky(_Strict):
    """A Karnofsky score (LOINC 89243-0): never read as ECOG (policy 6.5)."""

    value: int = Field(ge=0, le=100)
    date: dt.date


class PregnancyTest(_Strict):
    """A qualitative pregnancy test (LOINC 2106-3, urine)."""

    result: Literal["positive", "negative"]
    date: dt.date


class Medication(_Strict):
    """A non-anticancer medication on record: a MedicationStatement (or MedicationRequest) with this text."""

    text: str
    status: Literal["active", "intended", "completed", "stopped", "on-hold"] = "active"
    resource: Literal["MedicationStatement", "MedicationRequest"] = "MedicationStatement"


class SyntheticPatient(_Strict):
    """An invented patient in a few lines: what the rules read, nothing else."""

    birth_date: dt.date = dt.date(1958, 4, 2)
    diagnoses: list[ConditionEntry] = Field(min_length=1)
    conditions: list[ConditionEntry] = []
    prior_lines: list[PriorLine] = []
    medications: list[MedicationRecord] = []
    afp: Afp | None = None
    labs: Labs = Labs()
    ecog: Ecog | None = None
    karnofsky: Karnofsky | None = None
    pregnancy_test: PregnancyTest | None = None
    other_medications: list[Medication] = []


class Orders(_Strict):
    """The draft orders: ``selected`` are the selections (order-select); ``other_drafts`` are also in the basket."""

    selected: list[Agent] = Field(min_length=1)
    other_drafts: list[Agent] = []
    drafted_as: dict[Agent, DraftConcept] = {}


def _condition_resource(rid: str, pid: str, entry: ConditionEntry) -> Resource:
    onset = entry.onset.isoformat() if entry.onset else "2025-03-01"
    system = CONDITION_SYSTEMS[entry.system] if entry.system else ""
    resource = condition(
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
        display = {"display": record.text} if record.text else {}
        concept["coding"] = [{"system": RXNORM, "code": record.code, **display}]
    return concept


def medication_record(rid: str, pid: str, record: MedicationRecord) -> Resource:
    """One MedicationStatement, MedicationRequest, MedicationAdministration or MedicationDispense (policy 6.5)."""
    concept = _record_concept(record)
    when, end = record.date.isoformat(), record.end.isoformat() if record.end else None
    reason = None
    if record.stop_reason or record.stop_text:
        reason = stop(STOP_CODES[record.stop_reason] if record.stop_reason else None, record.stop_text)
    resource: Resource
    if record.resource == "statement":
        status = record.status or ("completed" if end else "active")
        resource = statement(rid, pid, concept, when, end, reason, status=status)
    elif record.resource == "administration":
        resource = administration(rid, pid, concept, when, reason)
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


ECOG_ANSWERS = ("LA9622-7", "LA9623-5", "LA9624-3", "LA9625-0", "LA9626-8", "LA9627-6")


def _lab(rid: str, pid: str, code: str, display: str, when: str, value: float, unit: str) -> Resource:
    resource = lab(rid, pid, code, display, when, value, unit)
    if unit == "none":  # policy 6.5: a result with no unit
        resource["valueQuantity"] = {"value": value}
    return resource


def _ecog(pid: str, entry: Ecog) -> Resource:
    resource = ecog(pid, entry.date.isoformat(), entry.value)
    if entry.form != "integer":
        del resource["valueInteger"]
    if entry.form == "answer_code":
        resource["valueCodeableConcept"] = {"coding": [{"system": LOINC, "code": ECOG_ANSWERS[entry.value]}]}
    elif entry.form == "quantity":
        resource["valueQuantity"] = {"value": entry.value, "unit": "{score}"}
    elif entry.form == "string":
        resource["valueString"] = str(entry.value)
    return resource


def _observation(rid: str, pid: str, code: str, display: str, when: str, value: Resource) -> Resource:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
        **value,
    }


def _other_resources(pid: str, data: SyntheticPatient) -> list[Resource]:
    """Karnofsky, a pregnancy test and other medications (policy 6.5)."""
    resources: list[Resource] = []
    if data.karnofsky:
        k = data.karnofsky
        value: Resource = {"valueInteger": k.value}
        resources.append(_observation(f"{pid}-kps", pid, "89243-0", "Karnofsky score", k.date.isoformat(), value))
    if data.pregnancy_test:
        t = data.pregnancy_test
        answer = {"positive": ("LA6576-8", "Positive"), "negative": ("LA6577-6", "Negative")}[t.result]
        value = {"valueCodeableConcept": {"coding": [{"system": LOINC, "code": answer[0], "display": answer[1]}]}}
        display = "Choriogonadotropin (pregnancy test) [Presence] in Urine"
        resources.append(_observation(f"{pid}-hcg", pid, "2106-3", display, t.date.isoformat(), value))
    for number, medication in enumerate(data.other_medications, start=1):
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


def patient_resources(
    pid: str, data: SyntheticPatient, family: str = "Testpatient", given: str = "Scenario"
) -> list[Resource]:
    """The patient's record as FHIR R4 resources: Patient, Conditions, MedicationStatements, Observations."""
    resources: list[Resource] = [patient(pid, family, given, data.birth_date.isoformat())]
    for index, entry in enumerate([*data.diagnoses, *data.conditions], start=1):
        resources.append(_condition_resource(f"{pid}-cond-{index}", pid, entry))
    for number, line in enumerate(data.prior_lines, start=1):
        reason = None
        if line.stop_reason or line.stop_text:
            reason = stop(STOP_CODES[line.stop_reason] if line.stop_reason else None, line.stop_text)
        for agent in line.agents:
            end = line.end.isoformat() if line.end else None
            resources.append(
                statement(
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
        resources.append(afp(f"{pid}-afp", pid, data.afp.date.isoformat(), data.afp.value, data.afp.unit, code))
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
    return resources + _other_resources(pid, data)


def draft_orders(pid: str, orders: Orders | None) -> tuple[list[Resource], list[str]]:
    """The draft MedicationRequests (selected first) and the references of the selected ones."""
    if orders is None:
        return [], []
    concepts = dict(AGENT_CONCEPTS)
    for agent, drafted in orders.drafted_as.items():
        concepts[agent] = med_concept(drafted.text, drafted.code)
    selected = [draft(f"draft-{agent}", pid, concepts[agent]) for agent in orders.selected]
    others = [draft(f"draft-{agent}", pid, concepts[agent]) for agent in orders.other_drafts]
    return [*selected, *others], [f"MedicationRequest/{d['id']}" for d in selected]


def cds_hooks_request(name: str, hook: Hook, pid: str, data: SyntheticPatient, orders: Orders | None) -> Resource:
    """The CDS Hooks request an EHR would send for this patient and these draft orders, every prefetch key
    filled; ``name`` seeds the hookInstance (the same name gives the same request)."""
    drafts, selections = draft_orders(pid, orders)
    return hook_request(name, hook, pid, patient_resources(pid, data), drafts, selections)
