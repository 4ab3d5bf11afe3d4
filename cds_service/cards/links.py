"""A card's links: a few that matter now, and one to the page with all the evidence.

Order-select, order-sign and patient-view cards carry at most ``MAX_CARD_LINKS`` links: one per trial behind
the selected and the preferred regimens (its ClinicalTrials.gov record, else its publication), the patient's
timeline (a SMART app link, on the recommendation and does-not-fit cards), then one to
the knowledge page of the recommendation's setting, which lists every regimen, every trial with both
links, and the later evidence. ``source.url`` points at that page too.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Literal

from cds_service.cards.models import Link
from cds_service.knowledge import Knowledge
from cds_service.memo import Memo

MAX_CARD_LINKS = 5
RECRUITING_HCC_TRIALS_URL = "https://clinicaltrials.gov/search?cond=Hepatocellular%20Carcinoma&aggFilters=status:rec"
KNOWLEDGE_SETTINGS_PATH = "/knowledge/settings"
TIMELINE_APP_PATH = "/app/launch"
TIMELINE_LABEL = "Open timeline"


def timeline_app_url(public_base_url: str) -> str:
    """Where the EHR launches the timeline app (a SMART link: it adds ``launch`` and ``iss``)."""
    return public_base_url.rstrip("/") + TIMELINE_APP_PATH


def knowledge_page_url(public_base_url: str, setting: str | None) -> str:
    """The service's page for a setting (the list of settings when the setting is unknown)."""
    base = public_base_url.rstrip("/") + KNOWLEDGE_SETTINGS_PATH
    return f"{base}/{setting}" if setting else base


@lru_cache(maxsize=1024)
def link(label: str, url: str, kind: Literal["absolute", "smart"] = "absolute") -> Link:
    """One link; links are frozen and the same few recur on every card, so each is validated once."""
    return Link(label=label, url=url, type=kind)


_link_sets: Memo[tuple[Link, ...]] = Memo(512)


def capped_links(
    trial_ids: Iterable[str], knowledge: Knowledge, page_url: str, timeline_url: str | None = None
) -> list[Link]:
    """One link per trial (first ones first), the timeline app (a SMART link) when given, and the evidence page
    last: at most ``MAX_CARD_LINKS`` in all. Kept per (trials, knowledge, URLs)."""
    trials = tuple(dict.fromkeys(trial_ids))
    key = (trials, page_url, timeline_url)
    return list(
        _link_sets.get((knowledge,), key, lambda: tuple(_capped_links(trials, knowledge, page_url, timeline_url)))
    )


def _capped_links(
    trial_ids: tuple[str, ...], knowledge: Knowledge, page_url: str, timeline_url: str | None
) -> list[Link]:
    links: list[Link] = []
    room = MAX_CARD_LINKS - (2 if timeline_url else 1)
    for trial_id in trial_ids:
        if len(links) == room:
            break
        trial = knowledge.evidence.trials[trial_id]
        if trial.registry_url:
            label = f"{trial_id} ({trial.nct}, ClinicalTrials.gov)"
            links.append(link(label, trial.registry_url))
        elif trial.publication_url:
            where = f"doi {trial.doi}" if trial.doi else f"PubMed {trial.pmid}"
            links.append(link(f"{trial_id} ({where})", trial.publication_url))
    if timeline_url:
        links.append(link(TIMELINE_LABEL, timeline_url, "smart"))
    links.append(link("All options and trials for this setting", page_url))
    return links
