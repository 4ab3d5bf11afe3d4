"""What every card shares: identity, the per-request context, summaries, source, links, the closing line."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from cds_service.cards.models import SUMMARY_MAX_CHARS, Link, Source
from cds_service.sequencing.knowledge import Knowledge

Hook = Literal["order-select", "order-sign", "patient-view"]
CardKind = Literal["recommendation", "does-not-fit", "data-needed"]
CARD_NAMESPACE = uuid.UUID("6f1c1f55-33a4-4b8e-9a51-2d0f3c8e7a10")
RECRUITING_HCC_TRIALS_URL = "https://clinicaltrials.gov/search?cond=Hepatocellular%20Carcinoma&aggFilters=status:rec"


@dataclass(frozen=True, slots=True)
class CardContext:
    """Per-request inputs of the card builders."""

    knowledge: Knowledge
    patient_id: str
    hook_instance: str
    override_reason_system: str


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


def card_source(knowledge: Knowledge) -> Source:
    return Source(label=f"{knowledge.info.review.label}; knowledge v{knowledge.version}")


def closing_line(knowledge: Knowledge) -> str:
    """Policy 6.4: every card ends by saying what it is."""
    return (
        f"_Decision support from a {knowledge.info.review.published} review plus dated later evidence "
        f"(knowledge v{knowledge.version}); the treating clinician decides._"
    )


def trial_links(trial_ids: Iterable[str], knowledge: Knowledge) -> list[Link]:
    """Registry record and publication of each trial, then the recruiting HCC trials search."""
    links: list[Link] = []
    for trial_id in dict.fromkeys(trial_ids):
        trial = knowledge.evidence.trials[trial_id]
        if trial.registry_url:
            links.append(
                Link(label=f"{trial_id}: {trial.nct} (ClinicalTrials.gov)", url=trial.registry_url, type="absolute")
            )
        if trial.publication_url:
            where = f"doi {trial.doi}" if trial.doi else f"PubMed {trial.pmid}"
            links.append(Link(label=f"{trial_id}: publication ({where})", url=trial.publication_url, type="absolute"))
    links.append(
        Link(label="Recruiting HCC trials (ClinicalTrials.gov)", url=RECRUITING_HCC_TRIALS_URL, type="absolute")
    )
    return links


def names_text(names: list[str]) -> str:
    """ "a", "a or b", "a, b or c"."""
    if not names:
        return ""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
