"""Benchmark payloads: the HCC patient after sorafenib (fixture 01, from the project's synthetic patient
builder cds_service/devtools/patients.py), padded to N resources.

``relevant``/``irrelevant`` pad with vital signs; ``realistic`` builds a long non-oncology medication list
and a two-year AFP and liver-lab history; ``synthea_chart`` fills the chart with the medication requests,
observations and conditions of the two Synthea patients in ``tests/third_party/synthea`` (Apache-2.0).
"""

from __future__ import annotations

import copy
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from cds_service.devtools.patients import (
    AMLODIPINE,
    Afp,
    Albumin,
    Bilirubin,
    ConditionEntry,
    Ecog,
    Inr,
    Labs,
    Orders,
    PriorLine,
    SyntheticPatient,
    cds_hooks_request,
    lab,
    med_concept,
    search_entry,
    statement,
)

ROOT = Path(__file__).resolve().parent.parent
SYNTHEA = ROOT / "tests" / "third_party" / "synthea"
LABS_DAY = date(2026, 11, 10)
# The fixture patient 01: HCC, sorafenib until progression, AFP 1,250 ng/mL, Child-Pugh A, ECOG 1.
AFTER_SORAFENIB = SyntheticPatient(
    diagnoses=[ConditionEntry(text="Liver cell carcinoma (hepatocellular carcinoma)", system="icd10cm", code="C22.0")],
    prior_lines=[
        PriorLine(agents=["sorafenib"], start=date(2025, 3, 15), end=date(2026, 9, 30), stop_reason="progression")
    ],
    afp=Afp(value=1250, date=LABS_DAY),
    labs=Labs(
        bilirubin=Bilirubin(value=0.9, date=LABS_DAY),
        albumin=Albumin(value=4.0, date=LABS_DAY),
        inr=Inr(value=1.1, date=LABS_DAY),
    ),
    ecog=Ecog(value=1, date=LABS_DAY),
)
CABOZANTINIB_SELECTED = Orders(selected=["cabozantinib"])


def after_sorafenib(patient_id: str = "hcc-sorafenib") -> dict[str, Any]:
    """The CDS Hooks order-select request for the patient after sorafenib, cabozantinib selected."""
    return cds_hooks_request(patient_id, "order-select", patient_id, AFTER_SORAFENIB, CABOZANTINIB_SELECTED)


def _profile(
    agents: list[str], stop_reason: str, afp: float, bilirubin: float, albumin: float, ecog: int
) -> SyntheticPatient:
    line = PriorLine(agents=agents, start=date(2025, 3, 15), end=date(2026, 9, 30), stop_reason=stop_reason)
    return AFTER_SORAFENIB.model_copy(
        update={
            "prior_lines": [line],
            "afp": Afp(value=afp, date=LABS_DAY),
            "labs": Labs(
                bilirubin=Bilirubin(value=bilirubin, date=LABS_DAY),
                albumin=Albumin(value=albumin, date=LABS_DAY),
                inr=Inr(value=1.1, date=LABS_DAY),
            ),
            "ecog": Ecog(value=ecog, date=LABS_DAY),
        }
    )


def _with_own_values(profile: SyntheticPatient, patient: int) -> SyntheticPatient:
    """The profile with this patient's own AFP and bilirubin (each on the same side of its cutoffs)."""
    if profile.afp is None or profile.labs is None or profile.labs.bilirubin is None:
        return profile
    bilirubin = profile.labs.bilirubin.model_copy(update={"value": profile.labs.bilirubin.value + patient % 5 / 10})
    return profile.model_copy(
        update={
            "afp": profile.afp.model_copy(update={"value": profile.afp.value + patient % 50}),
            "labs": profile.labs.model_copy(update={"bilirubin": bilirubin}),
        }
    )


# The cold cycle's clinical variety: which first line ended and why, AFP either side of ramucirumab's
# 400 ng/mL, Child-Pugh A or B, ECOG 0-2, and the drug picked; so that no answer (setting, gates, cards)
# is the same for every patient of the cycle, as it would be for identical patients with other ids.
COLD_PROFILES: list[tuple[SyntheticPatient, Orders]] = [
    (AFTER_SORAFENIB, CABOZANTINIB_SELECTED),
    (_profile(["sorafenib"], "intolerance", 620, 0.8, 4.1, 0), Orders(selected=["regorafenib"])),
    (_profile(["sorafenib"], "progression", 180, 1.0, 3.8, 1), Orders(selected=["ramucirumab"])),
    (_profile(["lenvatinib"], "progression", 910, 1.2, 3.6, 1), Orders(selected=["cabozantinib"])),
    (_profile(["atezolizumab", "bevacizumab"], "progression", 2400, 0.9, 3.9, 0), Orders(selected=["regorafenib"])),
    (_profile(["sorafenib"], "progression", 75, 2.4, 3.0, 1), Orders(selected=["nivolumab"])),
    (_profile(["sorafenib"], "progression", 1500, 1.1, 3.7, 2), Orders(selected=["ramucirumab"])),
]


def _vital_sign(index: int, patient_id: str) -> dict[str, Any]:
    """An Observation the rules do not read (a heart rate), shaped like a Synthea vital sign."""
    when = f"2026-{1 + index % 12:02d}-{1 + index % 28:02d}T08:00:00Z"
    resource = lab(f"vital-{index}", patient_id, "8867-4", "Heart rate", when, 60 + index % 40, "/min")
    resource["category"][0]["coding"][0]["code"] = "vital-signs"
    return search_entry(resource)


def count_resources(request: dict[str, Any]) -> int:
    total = 0
    for value in request.get("prefetch", {}).values():
        if isinstance(value, dict):
            total += len(value.get("entry", [])) if value.get("resourceType") == "Bundle" else 1
    return total


def relevant(resources: int = 100) -> dict[str, Any]:
    """Cabozantinib selected for the HCC patient after sorafenib; prefetch padded to ``resources``."""
    request = after_sorafenib()
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
    order["medicationCodeableConcept"] = copy.deepcopy(AMLODIPINE)
    return request


# A cirrhotic patient's long medication list: drugs no rule reads (RxNorm, name).
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
    ("197361", "amlodipine 5 MG Oral Tablet"),
    ("310798", "hydrochlorothiazide 25 MG Oral Tablet"),
]
# Liver labs the rules read (the latest of each), with a plausible value and unit.
LIVER_LABS = [
    ("1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma", 1.1, "mg/dL"),
    ("1751-7", "Albumin [Mass/volume] in Serum or Plasma", 3.6, "g/dL"),
    ("6301-6", "INR in Platelet poor plasma by Coagulation assay", 1.1, "{INR}"),
]
AFP_RESULTS = 40


def _day(index: int, span_days: int = 730) -> str:
    """A date in the two years before 2026-11-20, newest for index 0."""
    return (date(2026, 11, 20) - timedelta(days=(index * 17) % span_days)).isoformat()


def _statement(index: int, patient_id: str) -> dict[str, Any]:
    code, name = NON_ONCOLOGY_DRUGS[index % len(NON_ONCOLOGY_DRUGS)]
    status = "completed" if index % 3 else "active"
    resource = statement(f"{patient_id}-med-{index}", patient_id, med_concept(name, code), _day(index + 5), None)
    resource["status"] = status
    return search_entry(resource)


def _lab(resource_id: str, patient_id: str, code: str, name: str, value: float, unit: str, when: str) -> dict[str, Any]:
    return search_entry(lab(resource_id, patient_id, code, name, when, value, unit))


def realistic(resources: int = 100, patient: int = 0, *, varied: bool = False) -> dict[str, Any]:
    """A chart shaped like a real HCC patient's, of about ``resources`` resources, for patient ``patient``.

    The fixture patient after sorafenib (cabozantinib selected) with a long list of non-oncology
    MedicationStatements, 40 AFP results over two years and a liver-lab history; the rest (from 1,000
    resources on) is split between more medications, liver labs and vital signs. Every ``patient``
    number gives different ids and values, so no validated resource can be reused from another one.
    ``varied``: the patient's clinical profile and selected drug come from ``COLD_PROFILES`` in turn.
    """
    patient_id = f"hcc-bench-{patient}"
    if varied:
        profile, orders = COLD_PROFILES[patient % len(COLD_PROFILES)]
        profile = _with_own_values(profile, patient)
        request = cds_hooks_request(patient_id, "order-select", patient_id, profile, orders)
    else:
        request = after_sorafenib(patient_id)
    request["hookInstance"] = f"bench-{patient}-{resources}"
    patient_id = request["context"]["patientId"]
    prefetch = request["prefetch"]
    base = count_resources(request)
    afp = [
        _lab(
            f"{patient_id}-afp-{i}",
            patient_id,
            "1834-1",
            "Alpha-1-Fetoprotein",
            400 + (i * 37 + patient) % 900,
            "ng/mL",
            _day(i + 1),
        )
        for i in range(AFP_RESULTS)
    ]
    rest = max(resources - base - AFP_RESULTS, 0)
    if resources <= 100:
        medications, labs, vitals = rest - rest // 8, rest // 8, 0
    else:
        medications, labs = rest // 2, rest // 4
        vitals = rest - medications - labs
    liver = [
        _lab(
            f"{patient_id}-lab-{i}",
            patient_id,
            code,
            name,
            round(value * (1 + ((i + patient) % 7) / 20), 2),
            unit,
            _day(i + 3),
        )
        for i in range(labs)
        for code, name, value, unit in [LIVER_LABS[i % len(LIVER_LABS)]]
    ]
    prefetch["afp"].setdefault("entry", []).extend(afp)
    prefetch["liverLabs"].setdefault("entry", []).extend(liver + [_vital_sign(i, patient_id) for i in range(vitals)])
    prefetch["medicationStatements"].setdefault("entry", []).extend(
        _statement(i, patient_id) for i in range(medications)
    )
    for value in prefetch.values():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            value["total"] = len(value.get("entry", []))
    return request


SYNTHEA_PREFETCH_KEYS = {
    "MedicationRequest": "medicationRequests",
    "Observation": "liverLabs",
    "Condition": "conditions",
}


def _synthea_resources() -> list[dict[str, Any]]:
    """The Synthea patients' MedicationRequests, Observations and Conditions, in file order."""
    found = []
    for path in sorted(SYNTHEA.glob("*.json")):
        for entry in json.loads(path.read_text())["entry"]:
            if entry["resource"]["resourceType"] in SYNTHEA_PREFETCH_KEYS:
                found.append(entry["resource"])
    return found


def synthea_chart(resources: int = 1000, patient: int = 0) -> dict[str, Any]:
    """Fixture 01 with its 40 AFP results, filled up to ``resources`` with copies of Synthea resources.

    Real Synthea shapes (vital signs, labs, surveys, medication requests with dosage, conditions), each
    copy with its own id and this patient as subject; observations go in the ``liverLabs`` prefetch as an
    EHR with a broad lab query would send them. Every ``patient`` number gives different ids.
    """
    request = realistic(0, patient)
    request["hookInstance"] = f"bench-synthea-{patient}-{resources}"
    patient_id = request["context"]["patientId"]
    prefetch = request["prefetch"]
    pool = _synthea_resources()
    for index in range(max(resources - count_resources(request), 0)):
        resource = copy.deepcopy(pool[index % len(pool)])
        resource["id"] = f"{patient_id}-synthea-{index}"
        resource["subject"] = {"reference": f"Patient/{patient_id}"}
        prefetch[SYNTHEA_PREFETCH_KEYS[resource["resourceType"]]].setdefault("entry", []).append(search_entry(resource))
    for value in prefetch.values():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            value["total"] = len(value.get("entry", []))
    return request
