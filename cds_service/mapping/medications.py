"""Medication resources → systemic therapy episodes → lines of therapy.

Sources (R4): MedicationStatement, MedicationRequest, MedicationAdministration; the medication comes
from ``medicationCodeableConcept`` or a ``Medication`` reached through ``medicationReference``
(contained or in the same bundle). Draft orders are the current order, not history.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from cds_service.facts import (
    DataQualityNote,
    Provenance,
    StopReason,
    TherapyEpisode,
    TherapyLine,
)
from cds_service.mapping.fhir import Parser, codings, concept_texts, first_date
from cds_service.mapping.negation import Negation
from cds_service.mapping.resources import JsonObject, ResourcePool, as_list, resource_reference
from cds_service.mapping.terminology import AgentMatch, AgentMatcher, field_of

SNOMED = "http://snomed.info/sct"
# mCODE treatment-termination reasons (clinical-sequencing.md section 1).
NO_RESPONSE_TO_TREATMENT = "266721009"
TREATMENT_NOT_TOLERATED = "407563006"

EXCLUDED_STATUSES = {
    "MedicationStatement": frozenset({"entered-in-error", "not-taken", "intended"}),
    "MedicationRequest": frozenset({"entered-in-error", "cancelled", "draft"}),
    "MedicationAdministration": frozenset({"entered-in-error", "not-done"}),
}

_PROGRESSION_TEXT = re.compile(r"progress|no response|not respond|refractory|treatment fail", re.IGNORECASE)
_INTOLERANCE_TEXT = re.compile(r"intoleran|not tolerated|toxicit|adverse|side effect", re.IGNORECASE)


def stop_reason(concepts: Any, negation: Negation | None = None) -> StopReason:
    """mCODE 266721009 / text "progression" → progression; 407563006 / "intolerance" → intolerance.

    Codes first, text second; with ``negation`` (knowledge ``text_negation``) a negated text match does
    not count: "no toxicity, stopped for progression" is progression, not intolerance (which would read
    as a possible immune-related adverse event, policy 6.2).
    """
    if not concepts:
        return StopReason.UNKNOWN
    for coding in codings(concepts):
        if field_of(coding, "system") == SNOMED:
            if field_of(coding, "code") == NO_RESPONSE_TO_TREATMENT:
                return StopReason.PROGRESSION
            if field_of(coding, "code") == TREATMENT_NOT_TOLERATED:
                return StopReason.INTOLERANCE
    text = " ; ".join(concept_texts(concepts))

    def said(pattern: re.Pattern[str]) -> bool:
        return negation.affirmed(pattern, text) if negation else pattern.search(text) is not None

    if said(_INTOLERANCE_TEXT):
        return StopReason.INTOLERANCE
    if said(_PROGRESSION_TEXT):
        return StopReason.PROGRESSION
    return StopReason.OTHER if text else StopReason.UNKNOWN


def medication_agents(
    resource: Any, raw: JsonObject, pool: ResourcePool, matcher: AgentMatcher, parser: Parser
) -> tuple[AgentMatch, str] | None:
    """The agents a medication resource names, and a display text; None when it names no medication."""
    concept = resource.medicationCodeableConcept
    if concept is None and resource.medicationReference is not None:
        reference = resource.medicationReference.reference
        medication = pool.resolve(reference, raw) if isinstance(reference, str) else None
        if medication is None:
            display = resource.medicationReference.display
            if isinstance(display, str):
                return matcher.match_concept({"text": display}), display
            parser.notes.append(DataQualityNote(resource_reference(raw), f"medication {reference} not found; left out"))
            return None
        match = matcher.match_concept(medication.get("code"))
        for ingredient in as_list(medication.get("ingredient")):
            item = ingredient.get("itemCodeableConcept") if isinstance(ingredient, dict) else None
            found = matcher.match_concept(item)
            match = AgentMatch(match.agents | found.agents, match.other | found.other)
        texts = list(concept_texts(medication.get("code") or {}))
        return match, texts[0] if texts else str(reference)
    if concept is None:
        return None
    texts = list(concept_texts(concept))
    return matcher.match_concept(concept), texts[0] if texts else "medication"


def names_no_agent(raw: JsonObject, pool: ResourcePool, matcher: AgentMatcher) -> bool:
    """True when a cheap read of the raw JSON shows the resource names no agent of the knowledge.

    Reads the same codes, displays and text as ``medication_agents`` (the concept, or the referenced /
    contained Medication's code and ingredients, or the reference's display). Only a positive finding
    of "no agent" counts: a resource whose medication cannot be read this way is validated as before.
    """
    concept = raw.get("medicationCodeableConcept")
    if type(concept) is dict:
        return not matcher.names_any_agent(concept)
    reference = raw.get("medicationReference")
    if concept is not None or not isinstance(reference, dict):
        return False
    target = reference.get("reference")
    medication = pool.resolve(target, raw) if isinstance(target, str) else None
    if medication is None:
        display = reference.get("display")
        return isinstance(display, str) and not _names_any_agent(matcher.match_concept({"text": display}))
    if _names_any_agent(matcher.match_concept(medication.get("code"))):
        return False
    for ingredient in as_list(medication.get("ingredient")):
        item = ingredient.get("itemCodeableConcept") if isinstance(ingredient, dict) else None
        if _names_any_agent(matcher.match_concept(item)):
            return False
    return True


def _names_any_agent(match: AgentMatch) -> bool:
    return bool(match.agents or match.other)


def _statement_dates(resource: Any) -> tuple[date | None, date | None]:
    period = resource.effectivePeriod
    start = first_date(resource.effectiveDateTime, period.start if period else None)
    end = first_date(period.end) if period else None
    return start, end


def _request_dates(resource: Any) -> tuple[date | None, date | None]:
    validity = resource.dispenseRequest.validityPeriod if resource.dispenseRequest else None
    start = first_date(validity.start if validity else None, resource.authoredOn)
    end = first_date(validity.end) if validity else None
    return start, end


def _reasons(resource: Any) -> Any:
    reason = resource.statusReason
    return reason if reason else None


def episodes_from(
    pool: ResourcePool, matcher: AgentMatcher, parser: Parser, negation: Negation | None = None
) -> list[TherapyEpisode]:
    """Systemic-therapy episodes (agents of the HCC list only) from every medication resource.

    A resource that names no agent (``names_no_agent``: most of a real medication list) is counted in
    ``parser.skipped`` and never validated; it could not have become an episode.
    """
    episodes: list[TherapyEpisode] = []
    for rtype in ("MedicationStatement", "MedicationRequest", "MedicationAdministration"):
        for raw in pool.of_type(rtype):
            status = raw.get("status")
            if not isinstance(status, str) or status in EXCLUDED_STATUSES[rtype]:
                continue
            if names_no_agent(raw, pool, matcher):
                parser.skipped += 1
                continue
            resource = parser.parse(raw)
            if resource is None:
                continue
            found = medication_agents(resource, raw, pool, matcher, parser)
            if found is None or not found[0].agents:
                continue
            match, description = found
            start, end = _request_dates(resource) if rtype == "MedicationRequest" else _statement_dates(resource)
            if start is None:
                parser.notes.append(DataQualityNote(resource_reference(raw), "no usable start date; left out"))
                continue
            reason = stop_reason(_reasons(resource), negation)
            episodes.append(
                TherapyEpisode(
                    agents=match.agents,
                    start=start,
                    end=end,
                    stop_reason=reason,
                    source=Provenance(rtype, resource.id, start),
                    description=description,
                )
            )
    return episodes


def group_into_lines(episodes: Iterable[TherapyEpisode], window_days: int) -> tuple[TherapyLine, ...]:
    """Agents started within ``window_days`` of a line's start form one regimen; lines ordered by start.

    A later episode of agents already in the current line (a refill, the next cycle) continues it.
    """
    window = timedelta(days=window_days)
    groups: list[list[TherapyEpisode]] = []
    for episode in sorted(episodes, key=lambda e: (e.start or date.min, e.source.reference)):
        if groups:
            current = groups[-1]
            agents = frozenset().union(*(e.agents for e in current))
            start = current[0].start
            continues = episode.agents <= agents
            starts_together = start is not None and episode.start is not None and episode.start - start <= window
            if continues or starts_together:
                current.append(episode)
                continue
        groups.append([episode])
    lines = []
    for number, group in enumerate(groups, start=1):
        ends = [e.end for e in group]
        known = [e for e in group if e.stop_reason is not StopReason.UNKNOWN]
        last_known = max(known, key=lambda e: e.end or e.start or date.min) if known else None
        lines.append(
            TherapyLine(
                number=number,
                agents=frozenset().union(*(e.agents for e in group)),
                start=group[0].start,
                end=None if any(end is None for end in ends) else max(e for e in ends if e is not None),
                stop_reason=last_known.stop_reason if last_known else StopReason.UNKNOWN,
                episodes=tuple(group),
            )
        )
    return tuple(lines)
