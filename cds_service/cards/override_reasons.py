"""The override-reason CodeSystem this service defines for its "does not fit" warnings.

Its canonical URL is ``{CDS_PUBLIC_BASE_URL}/CodeSystem/override-reason``; the api layer serves the
CodeSystem resource there so that analysts can resolve the codes sent back in feedback.
"""

from __future__ import annotations

from typing import Any

from cds_service.cards.models import Coding

OVERRIDE_REASONS: tuple[tuple[str, str, str], ...] = (
    ("patient-preference", "Patient preference", "The patient chose this regimen after discussion."),
    ("clinical-trial", "Enrolled or enrolling in a clinical trial", "The order is part of a trial protocol."),
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


def override_reason_system(public_base_url: str) -> str:
    return f"{public_base_url.rstrip('/')}/CodeSystem/override-reason"


ALTERNATIVES_REASON = "contraindication-to-alternatives"


def override_reason_codings(system: str, *, alternatives_suggested: bool) -> list[Coding]:
    """The override reasons a warning offers: "contraindication-to-alternatives" only on a card that suggests an
    alternative (pharmacist review: on a card that suggests none it makes no sense)."""
    return [
        Coding(system=system, code=code, display=display)
        for code, display, _ in OVERRIDE_REASONS
        if alternatives_suggested or code != ALTERNATIVES_REASON
    ]


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
