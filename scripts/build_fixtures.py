"""Write the synthetic patients and hook requests in fixtures/fhir/ (run again after editing them).

Every patient here is invented for tests and the demo, built with the project's one synthetic patient
builder (cds_service/devtools/patients.py: the FHIR R4 resource shapes and the CDS Hooks export). For each
one the script writes a FHIR R4 transaction bundle (fixtures/fhir/patients/<name>.json, PUT entries so ids
survive loading into a FHIR server) and a CDS Hooks request with full prefetch
(fixtures/fhir/requests/<name>.json).
Dates are chosen for rules evaluated as of 2026-11-25 (tests pin that date).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from cds_service.devtools.patients import (
    AMLODIPINE,
    ATEZOLIZUMAB,
    BEVACIZUMAB,
    CABOZANTINIB,
    DURVALUMAB,
    HCC,
    ICD10,
    IPILIMUMAB,
    NIVOLUMAB,
    RAMUCIRUMAB,
    REGORAFENIB,
    RXNORM,
    SNOMED,
    SORAFENIB,
    TREMELIMUMAB,
    Resource,
    administration,
    afp,
    condition,
    draft,
    ecog,
    hook_request,
    liver_panel,
    patient,
    statement,
    stop,
    transaction,
)

ROOT = Path(__file__).resolve().parent.parent / "fixtures" / "fhir"


Fixture = tuple[str, str, Callable[[], tuple[list[Resource], Resource]]]


def sorafenib_history(pid: str, reason: list[Resource], end: str = "2026-09-30") -> Resource:
    return statement(f"{pid}-sorafenib", pid, SORAFENIB, "2025-03-15", end, reason)


def base(pid: str, family: str, given: str) -> list[Resource]:
    return [patient(pid, family, given, "1958-04-02"), condition(f"{pid}-hcc", pid, *HCC, "2025-03-01")]


def fixtures() -> dict[str, tuple[list[Resource], Resource]]:
    out: dict[str, tuple[list[Resource], Resource]] = {}

    def add(name: str, resources: list[Resource], request: Resource) -> None:
        out[name] = (resources, request)

    pid = "hcc-sorafenib"
    resources = [
        *base(pid, "Testpatient", "Sora"),
        sorafenib_history(pid, stop("266721009")),
        afp(f"{pid}-afp", pid, "2026-11-10", 1250),
        *liver_panel(pid, "2026-11-10"),
        ecog(pid, "2026-11-10", 1),
    ]
    add(
        "01-hcc-after-sorafenib-cabozantinib",
        resources,
        hook_request("01", "order-select", pid, resources, [draft("draft-cabo", pid, CABOZANTINIB)]),
    )
    add("02-hcc-after-sorafenib-patient-view", resources, hook_request("02", "patient-view", pid, resources, []))

    pid = "no-hcc"
    resources = [
        patient(pid, "Testpatient", "Nohcc", "1960-01-01"),
        condition(f"{pid}-htn", pid, SNOMED, "38341003", "Hypertension", "2010-05-01"),
        statement(f"{pid}-amlodipine", pid, AMLODIPINE, "2010-05-01", None, status="active"),
    ]
    add(
        "03-no-hcc-cabozantinib",
        resources,
        hook_request("03", "order-select", pid, resources, [draft("draft-cabo", pid, CABOZANTINIB)]),
    )

    pid = "hcc-intolerant"
    resources = [
        *base(pid, "Testpatient", "Intol"),
        sorafenib_history(pid, stop("407563006", "Hand-foot skin reaction grade 3"), "2025-06-01"),
        afp(f"{pid}-afp", pid, "2026-11-01", 35),
        *liver_panel(pid, "2026-11-01"),
    ]
    add(
        "04-hcc-sorafenib-intolerance-regorafenib",
        resources,
        hook_request("04", "order-select", pid, resources, [draft("draft-rego", pid, REGORAFENIB)]),
    )

    pid = "hcc-lenvatinib"
    lenvima: Resource = {
        "resourceType": "Medication",
        "id": f"{pid}-lenvima",
        "code": {
            "coding": [
                {"system": RXNORM, "code": "1604345", "display": "lenvatinib 4 MG Daily Dose Oral Capsule [Lenvima]"}
            ]
        },
    }
    lenvatinib_order: Resource = {
        "resourceType": "MedicationRequest",
        "id": f"{pid}-lenvatinib",
        "status": "completed",
        "intent": "order",
        "medicationReference": {"reference": f"Medication/{pid}-lenvima"},
        "subject": {"reference": f"Patient/{pid}"},
        "authoredOn": "2025-01-10",
        "dispenseRequest": {"validityPeriod": {"start": "2025-01-10", "end": "2026-08-15"}},
        "statusReason": {"text": "Radiological disease progression"},
    }
    resources = [
        *base(pid, "Testpatient", "Lenva"),
        lenvima,
        lenvatinib_order,
        afp(f"{pid}-afp", pid, "2026-10-20", 88),
        *liver_panel(pid, "2026-10-20"),
    ]
    add(
        "05-hcc-after-lenvatinib-cabozantinib",
        resources,
        hook_request("05", "order-select", pid, resources, [draft("draft-cabo", pid, CABOZANTINIB)]),
    )

    pid = "hcc-atezo-bev"
    resources = [*base(pid, "Testpatient", "Imbrave")]
    for cycle, when in enumerate(("2025-10-01", "2025-10-22", "2025-11-12", "2026-08-20"), start=1):
        reason = stop("266721009") if cycle == 4 else None
        resources.append(administration(f"{pid}-atezo-{cycle}", pid, ATEZOLIZUMAB, when, reason))
        resources.append(administration(f"{pid}-bev-{cycle}", pid, BEVACIZUMAB, when, reason))
    resources += [afp(f"{pid}-afp", pid, "2026-11-05", 820), *liver_panel(pid, "2026-11-05")]
    add(
        "06-hcc-after-atezolizumab-bevacizumab-ramucirumab",
        resources,
        hook_request("06", "order-select", pid, resources, [draft("draft-ramu", pid, RAMUCIRUMAB)]),
    )

    pid = "hcc-two-lines"
    resources = [
        *base(pid, "Testpatient", "Twoline"),
        sorafenib_history(pid, stop("266721009"), "2025-09-01"),
        statement(f"{pid}-regorafenib", pid, REGORAFENIB, "2025-09-20", "2026-10-15", stop("266721009")),
        afp(f"{pid}-afp", pid, "2026-11-12", 150),
        *liver_panel(pid, "2026-11-12"),
    ]
    add(
        "07-hcc-two-prior-lines-regorafenib",
        resources,
        hook_request("07", "order-select", pid, resources, [draft("draft-rego", pid, REGORAFENIB)]),
    )

    pid = "hcc-child-pugh-b"
    resources = [
        *base(pid, "Testpatient", "Pughb"),
        sorafenib_history(pid, stop("266721009")),
        condition(f"{pid}-ascites", pid, SNOMED, "389026000", "Ascites", "2026-09-01", severity="Mild"),
        afp(f"{pid}-afp", pid, "2026-11-02", 95),
        *liver_panel(pid, "2026-11-02", bilirubin=2.4, albumin=(30, "g/L"), inr=1.5),
    ]
    add(
        "08-hcc-child-pugh-b-nivolumab",
        resources,
        hook_request("08", "order-select", pid, resources, [draft("draft-nivo", pid, NIVOLUMAB)]),
    )

    pid = "hcc-afp-low"
    resources = [
        *base(pid, "Testpatient", "Lowafp"),
        sorafenib_history(pid, stop("266721009")),
        afp(f"{pid}-afp", pid, "2026-11-15", 35),
        *liver_panel(pid, "2026-11-15"),
    ]
    add(
        "09-hcc-afp-below-cutoff-ramucirumab",
        resources,
        hook_request("09", "order-select", pid, resources, [draft("draft-ramu", pid, RAMUCIRUMAB)]),
    )
    add(
        "10-hcc-afp-below-cutoff-order-sign",
        resources,
        hook_request("10", "order-sign", pid, resources, [draft("draft-ramu", pid, RAMUCIRUMAB)]),
    )

    pid = "hcc-afp-missing"
    resources = [
        *base(pid, "Testpatient", "Noafp"),
        sorafenib_history(pid, stop("266721009")),
        *liver_panel(pid, "2026-11-15"),
    ]
    add(
        "11-hcc-afp-missing-ramucirumab",
        resources,
        hook_request("11", "order-select", pid, resources, [draft("draft-ramu", pid, RAMUCIRUMAB)]),
    )

    pid = "hcc-afp-iu"
    resources = [
        *base(pid, "Testpatient", "Iuafp"),
        sorafenib_history(pid, stop("266721009")),
        afp(f"{pid}-afp", pid, "2026-11-15", 600, "IU/mL", "19176-7"),
        *liver_panel(pid, "2026-11-15"),
    ]
    add(
        "12-hcc-afp-iu-ramucirumab",
        resources,
        hook_request("12", "order-select", pid, resources, [draft("draft-ramu", pid, RAMUCIRUMAB)]),
    )

    pid = "hcc-transplant"
    resources = [
        *base(pid, "Testpatient", "Graft"),
        sorafenib_history(pid, stop("266721009")),
        condition(f"{pid}-transplant", pid, ICD10, "Z94.4", "Liver transplant status", "2019-02-01"),
        afp(f"{pid}-afp", pid, "2026-11-15", 12),
        *liver_panel(pid, "2026-11-15"),
    ]
    add(
        "13-hcc-transplant-nivolumab-ipilimumab",
        resources,
        hook_request(
            "13",
            "order-select",
            pid,
            resources,
            [draft("draft-nivo", pid, NIVOLUMAB), draft("draft-ipi", pid, IPILIMUMAB)],
        ),
    )

    pid = "hcc-naive"
    resources = [
        *base(pid, "Testpatient", "Naive"),
        afp(f"{pid}-afp", pid, "2026-11-15", 40),
        *liver_panel(pid, "2026-11-15"),
    ]
    add(
        "14-hcc-first-line-regorafenib",
        resources,
        hook_request("14", "order-select", pid, resources, [draft("draft-rego", pid, REGORAFENIB)]),
    )

    pid = "hcc-durva-treme"
    resources = [
        *base(pid, "Testpatient", "Stride"),
        administration(f"{pid}-treme-1", pid, TREMELIMUMAB, "2025-11-03"),
        administration(f"{pid}-durva-1", pid, DURVALUMAB, "2025-11-03"),
        administration(f"{pid}-durva-2", pid, DURVALUMAB, "2026-07-20", stop("266721009")),
        afp(f"{pid}-afp", pid, "2026-11-10", 60),
        *liver_panel(pid, "2026-11-10"),
    ]
    add(
        "17-hcc-after-durvalumab-tremelimumab-cabozantinib",
        resources,
        hook_request("17", "order-select", pid, resources, [draft("draft-cabo", pid, CABOZANTINIB)]),
    )

    pid = "hcc-child-pugh-c"
    resources = [
        *base(pid, "Testpatient", "Pughc"),
        sorafenib_history(pid, stop("266721009")),
        condition(f"{pid}-ascites", pid, SNOMED, "389026000", "Ascites", "2026-09-01", severity="Severe"),
        condition(
            f"{pid}-encephalopathy", pid, ICD10, "K76.82", "Hepatic encephalopathy", "2026-10-01", severity="Mild"
        ),
        afp(f"{pid}-afp", pid, "2026-11-02", 95),
        *liver_panel(pid, "2026-11-02", bilirubin=3.5, albumin=(2.5, "g/dL"), inr=1.5),
    ]
    add(  # Child-Pugh score 12 (3 + 3 + 1 + severe ascites 3 + mild encephalopathy 2): class C
        "18-hcc-child-pugh-c-regorafenib",
        resources,
        hook_request("18", "order-select", pid, resources, [draft("draft-rego", pid, REGORAFENIB)]),
    )

    pid = "hcc-naive"
    resources = out["14-hcc-first-line-regorafenib"][0]
    add(
        "19-hcc-first-line-durvalumab-tremelimumab",
        resources,
        hook_request(
            "19",
            "order-select",
            pid,
            resources,
            [draft("draft-durva", pid, DURVALUMAB), draft("draft-treme", pid, TREMELIMUMAB)],
        ),
    )

    pid = "hcc-transplant"
    resources = out["13-hcc-transplant-nivolumab-ipilimumab"][0]
    add(
        "20-hcc-transplant-nivolumab-ipilimumab-order-sign",
        resources,
        hook_request(
            "20",
            "order-sign",
            pid,
            resources,
            [draft("draft-nivo", pid, NIVOLUMAB), draft("draft-ipi", pid, IPILIMUMAB)],
        ),
    )

    pid = "hcc-sorafenib"
    resources = out["01-hcc-after-sorafenib-cabozantinib"][0]
    sandbox_order = draft("order-123", pid, {"text": "Cabometyx 60 MG Oral Tablet"}, "MedicationOrder")
    sandbox_order["reasonCodeableConcept"] = {"text": "Hepatocellular carcinoma"}
    add(
        "15-sandbox-dstu2-medicationorder",
        resources,
        hook_request("15", "order-select", pid, resources, [sandbox_order], bundle_type=False),
    )
    no_medication_yet = draft("request-123", pid, None)
    no_medication_yet.pop("intent")
    no_medication_yet["category"] = {"text": "outpatient"}
    add(
        "16-sandbox-no-medication-selected-yet",
        resources,
        hook_request("16", "order-select", pid, resources, [no_medication_yet], bundle_type=False),
    )

    add("21-hcc-timeline-patient-view", *timeline_patient())
    return out


# The timeline app's patient: two lines (sorafenib stopped for progression, regorafenib current), 20 monthly
# AFP results rising through the 400 ng/mL cut-off (one from an outside lab in IU/mL), four liver panels.
TIMELINE_AFP = [85, 110, 150, 210, 260, 240, 190, 160, 150, 180, 210, 280, 350, 390, 420, 480, 530, 610, 700, 820]
TIMELINE_IU_MONTH = 9  # the 10th result (2026-01-10) is reported in IU/mL: not comparable without a site factor
TIMELINE_LIVER = [
    ("2025-04-10", 0.8, 4.0, 1.0),
    ("2025-10-10", 1.0, 3.7, 1.1),
    ("2026-04-10", 1.4, 3.4, 1.2),
    ("2026-11-10", 2.1, 3.1, 1.3),
]


def timeline_patient() -> tuple[list[Resource], Resource]:
    pid = "hcc-timeline"
    resources = [
        *base(pid, "Testpatient", "Timeline"),
        statement(f"{pid}-sorafenib", pid, SORAFENIB, "2024-11-01", "2025-08-20", stop("266721009")),
        statement(f"{pid}-regorafenib", pid, REGORAFENIB, "2025-09-05", None, status="active"),
    ]
    for month, value in enumerate(TIMELINE_AFP):
        year, number = 2025 + (month + 3) // 12, (month + 3) % 12 + 1
        when = f"{year}-{number:02d}-10"
        unit, code = ("IU/mL", "19176-7") if month == TIMELINE_IU_MONTH else ("ng/mL", "1834-1")
        resources.append(afp(f"{pid}-afp-{month + 1:02d}", pid, when, value, unit, code))
    for when, bilirubin, albumin, inr in TIMELINE_LIVER:
        for resource in liver_panel(pid, when, bilirubin, (albumin, "g/dL"), inr):
            resource["id"] = f"{resource['id']}-{when}"
            resources.append(resource)
    return resources, hook_request("21", "patient-view", pid, resources, [])


def main() -> None:
    (ROOT / "patients").mkdir(parents=True, exist_ok=True)
    (ROOT / "requests").mkdir(parents=True, exist_ok=True)
    written_patients: set[str] = set()
    for name, (resources, request) in fixtures().items():
        pid = request["context"]["patientId"]
        if pid not in written_patients:
            (ROOT / "patients" / f"{pid}.json").write_text(json.dumps(transaction(resources), indent=1) + "\n")
            written_patients.add(pid)
        (ROOT / "requests" / f"{name}.json").write_text(json.dumps(request, indent=1) + "\n")


if __name__ == "__main__":
    main()
