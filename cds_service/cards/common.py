"""What every card shares: identity, the per-request context, summaries, source, links, the closing line."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from cds_service.cards.links import capped_links, knowledge_page_url
from cds_service.cards.models import SUMMARY_MAX_CHARS, Link, Source
from cds_service.sequencing.engine import Recommendation
from cds_service.sequencing.gates import Finding
from cds_service.sequencing.knowledge import Knowledge, Place
from cds_service.sequencing.options import OptionAssessment

Hook = Literal["order-select", "order-sign", "patient-view"]
CardKind = Literal["recommendation", "does-not-fit", "data-needed"]
CARD_NAMESPACE = uuid.UUID("6f1c1f55-33a4-4b8e-9a51-2d0f3c8e7a10")


@dataclass(frozen=True, slots=True)
class CardContext:
    """Per-request inputs of the card builders."""

    knowledge: Knowledge
    patient_id: str
    hook_instance: str
    override_reason_system: str
    public_base_url: str  # where the service's knowledge pages are (CDS_PUBLIC_BASE_URL)


def card_uuid(hook_instance: str, *parts: str) -> str:
    """Deterministic per hook call: a retried call gets the same uuids, feedback maps back to the card."""
    return str(uuid.uuid5(CARD_NAMESPACE, ":".join((hook_instance, *parts))))


def fit_summary(text: str) -> str:
    """Cut a summary to CDS Hooks' limit (under 140 characters) on a word boundary, without an ellipsis.

    Builders put the decisive fact first and add optional tails with ``summary_line``, so a cut only ever
    removes the least important words.
    """
    if len(text) <= SUMMARY_MAX_CHARS:
        return text
    return text[:SUMMARY_MAX_CHARS].rsplit(" ", 1)[0].rstrip(",;:")


def summary_line(essential: str, *optional: str) -> str:
    """The essential part, then as many optional parts (each "; "-joined) as fit under 140 characters."""
    line = essential
    for part in optional:
        candidate = f"{line}; {part}"
        if len(candidate) > SUMMARY_MAX_CHARS:
            break
        line = candidate
    return fit_summary(line)


def card_source(knowledge: Knowledge, evidence_page: str) -> Source:
    """The review and knowledge version, with ``url`` at the service's evidence page for the setting."""
    return Source(label=f"{knowledge.info.review.label}; knowledge v{knowledge.version}", url=evidence_page)


def evidence_page(rec: Recommendation, ctx: CardContext) -> str:
    """The knowledge page of the recommendation's setting (every regimen, every trial, the later evidence)."""
    return knowledge_page_url(ctx.public_base_url, rec.setting.value if rec.setting else None)


def card_links(rec: Recommendation, ctx: CardContext, regimens: Iterable[OptionAssessment]) -> list[Link]:
    """The trials behind the selected regimen(s) and ``regimens``, then the evidence page: at most five links."""
    by_id = {o.regimen_id: o for o in rec.options}
    selected = [by_id[s.regimen_id] for s in rec.selected if s.regimen_id in by_id]
    trials = [t for option in (*selected, *regimens) for t in option.trials]
    return capped_links(trials, ctx.knowledge, evidence_page(rec, ctx))


def closing_line(knowledge: Knowledge) -> str:
    """Policy 6.4: every card ends by saying what it is."""
    return (
        f"_Decision support from a {knowledge.info.review.published} review plus dated later evidence "
        f"(knowledge v{knowledge.version}); the treating clinician decides._"
    )


ALREADY_RECEIVED = "already received"


def place_text(place: Place, findings: Iterable[Finding]) -> str:
    """How a card names a regimen's place for this patient: "already received" when the patient has had it.

    Policy 2.3 ("Do not suggest a regimen the patient has already progressed on") and 6.1 (the summary
    names "already received"): the already_received gate caps the place, but a regimen outside the
    setting's options ranks lower still ("not addressed by the review"), which would hide that the
    patient already received it. Every other place reads as its label.
    """
    if any(f.gate_id == "already_received" for f in findings):
        return ALREADY_RECEIVED
    return place.label


def names_text(names: list[str]) -> str:
    """ "a", "a or b", "a, b or c"."""
    if not names:
        return ""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
