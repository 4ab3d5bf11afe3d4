"""The override reasons offered on "does not fit" warnings: this service's own, then the CDS Hooks 3.0 ballot's.

The service's CodeSystem has the HCC-specific reasons (tumour board decision, trial enrolment, drug access,
patient preference, contraindication to the alternatives, information missing); its canonical URL is
``{CDS_PUBLIC_BASE_URL}/CodeSystem/override-reason`` and the api layer serves it there. After them come the
six non-adherence reason categories of the CDS Hooks 3.0 ballot (HL7's CodeSystem
``non-adherence-reason-codes``, from the AHRQ CDSiC override taxonomy), and "other" last. An override
"disagrees with the evidence" puts the card in the committee's review queue.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from cds_service.cards.models import Coding

OVERRIDE_REASONS: tuple[tuple[str, str, str], ...] = (
    ("patient-preference", "Patient preference", "The patient chose this regimen after discussion."),
    ("clinical-trial", "Enrolled or enrolling in a clinical trial", "The order is part of a trial protocol."),
    (
        "tumour-board-decision",
        "Tumour board decision",
        "A multidisciplinary tumour board decided on this regimen for this patient.",
    ),
    (
        "drug-access",
        "Suggested regimen not accessible",
        "The suggested regimen is not available to this patient (formulary, reimbursement or supply).",
    ),
    (
        "contraindication-to-alternatives",
        "Contraindication to the suggested alternatives",
        "The suggested regimens are contraindicated for this patient.",
    ),
    (
        "information-missing",
        "Information missing from the record",
        "The record lacks information that changes the assessment (e.g. prior therapy given elsewhere).",
    ),
    ("other", "Other reason", "Another reason; the comment says which."),
)


NON_ADHERENCE_SYSTEM = "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes"
# The six categories of the CDS Hooks 3.0 ballot's non-adherence reasons (ValueSet non-adherence-reason-category).
NON_ADHERENCE_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("cds-not-applicable", "The advice does not apply to this patient"),
    ("cds-suboptimal-context", "The advice came at the wrong time or to the wrong person"),
    ("recipient-disagrees-evidence", "Disagrees with the evidence behind the advice"),
    ("recipient-concerns-outcomes", "Concerned about the outcomes of the suggested action"),
    ("does-not-align-preferences", "Does not align with the patient's preferences or values"),
    ("not-convenient-feasible", "Not convenient or feasible"),
)
OTHER_REASON = "other"


def override_reason_labels() -> dict[str, str]:
    """Every override code the cards offer → its display (for reports)."""
    return {**{code: display for code, display, _ in OVERRIDE_REASONS}, **dict(NON_ADHERENCE_CATEGORIES)}


def override_reason_system(public_base_url: str) -> str:
    return f"{public_base_url.rstrip('/')}/CodeSystem/override-reason"


ALTERNATIVES_REASON = "contraindication-to-alternatives"


def override_reason_codings(system: str, *, alternatives_suggested: bool) -> list[Coding]:
    """The override reasons a warning offers: "contraindication-to-alternatives" only on a card that suggests an
    alternative (pharmacist review: on a card that suggests none it makes no sense)."""
    return list(_codings(system, alternatives_suggested))


@lru_cache(maxsize=64)
def _codings(system: str, alternatives_suggested: bool) -> tuple[Coding, ...]:
    """The frozen codings of ``override_reason_codings``, validated once per system and choice."""
    own = [
        Coding(system=system, code=code, display=display)
        for code, display, _ in OVERRIDE_REASONS
        if (alternatives_suggested or code != ALTERNATIVES_REASON) and code != OTHER_REASON
    ]
    ballot = [
        Coding(system=NON_ADHERENCE_SYSTEM, code=code, display=display) for code, display in NON_ADHERENCE_CATEGORIES
    ]
    other = [
        Coding(system=system, code=code, display=display)
        for code, display, _ in OVERRIDE_REASONS
        if code == OTHER_REASON
    ]
    return (*own, *ballot, *other)


def override_reason_code_system(system: str) -> dict[str, Any]:
    """The CodeSystem resource (FHIR R4) listing the override reasons."""
    return {
        "resourceType": "CodeSystem",
        "id": "override-reason",
        "url": system,
        "name": "HccSequencingOverrideReason",
        "title": "Reasons for overriding an HCC second-line sequencing warning",
        "status": "active",
        "content": "complete",
        "caseSensitive": True,
        "concept": [
            {"code": code, "display": display, "definition": definition}
            for code, display, definition in OVERRIDE_REASONS
        ],
    }
