"""Medication resources → systemic therapy episodes → lines of therapy, each current or ended.

Sources (R4): MedicationStatement, MedicationRequest, MedicationAdministration and MedicationDispense; the
medication comes from ``medicationCodeableConcept`` or a ``Medication`` reached through
``medicationReference`` (contained or in the same bundle). Draft orders are the current order, not history.

How the record is read follows docs/clinical-sequencing.md 6.5: a line is *current* while a status says it
continues (statement active/intended/on-hold, order active/on-hold, with no end passed) or an administration
or supply lies within ``current_line_days`` with no later stop; otherwise it ended, and how it ended is read
from the coded reason, else from the reason's text (the knowledge's stop-reason words), which is kept to be
quoted. An anticancer agent outside the review makes an *unidentified* line, named as recorded; a later agent
that completes a combination of the knowledge while the line is still in use joins that line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from cds_service.facts import (
    DataQualityNote,
    LineState,
    Provenance,
    StopReason,
    TherapyEpisode,
    TherapyLine,
)
from cds_service.knowledge import StopReasonVocabulary
from cds_service.mapping.fhir import Parser, codings, concept_texts, first_date
from cds_service.mapping.negation import Negation
from cds_service.mapping.resources import JsonObject, ResourcePool, as_list, resource_reference
from cds_service.mapping.terminology import INVESTIGATIONAL, AgentMatch, AgentMatcher, field_of

SNOMED = "http://snomed.info/sct"
# mCODE treatment-termination reasons (clinical-sequencing.md section 1).
NO_RESPONSE_TO_TREATMENT = "266721009"
TREATMENT_NOT_TOLERATED = "407563006"

MEDICATION_TYPES = ("MedicationStatement", "MedicationRequest", "MedicationAdministration", "MedicationDispense")
EXCLUDED_STATUSES = {
    "MedicationStatement": frozenset({"entered-in-error", "not-taken"}),
    "MedicationRequest": frozenset({"entered-in-error", "cancelled", "draft"}),
    "MedicationAdministration": frozenset({"entered-in-error", "not-done"}),
    "MedicationDispense": frozenset({"entered-in-error", "cancelled", "declined", "stopped", "preparation"}),
}
ONGOING_STATUSES = {
    "MedicationStatement": frozenset({"active", "intended", "on-hold"}),
    "MedicationRequest": frozenset({"active", "on-hold"}),
}
STOPPED_STATUSES = {
    "MedicationStatement": frozenset({"stopped", "completed"}),
    "MedicationRequest": frozenset({"stopped"}),
}
# Records whose notes may say why therapy stopped (a statement that ended, an order stopped); a completed
# order's notes are about that order (a cycle given), not about the line.
NOTES_SAY_WHY = {
    "MedicationStatement": frozenset({"stopped", "completed"}),
    "MedicationRequest": frozenset({"stopped"}),
}
SUPPLY_WORDS = {
    "MedicationAdministration": "administration",
    "MedicationDispense": "supply",
    "MedicationRequest": "order",
}


def _terms_pattern(terms: Iterable[str]) -> re.Pattern[str]:
    """Whole words or phrases; a term ending in "-" matches any word it begins ("toxic-": toxicity)."""
    parts = [re.escape(t[:-1]) + r"\w*" if t.endswith("-") else re.escape(t) for t in terms]
    return re.compile(r"(?<![\w])(?:" + "|".join(parts) + r")(?![\w])", re.IGNORECASE)


_DEFAULT_WORDS = StopReasonVocabulary(
    source="built-in (tests without the knowledge)",
    progression=("progression", "progressed", "progressive disease", "no response", "refractory", "treatment failure"),
    intolerance=("intoleran-", "not tolerated", "toxic-", "adverse event", "side effect", "grade"),
)


class StopReasonReader:
    """Codes first (mCODE), then the text against the knowledge's stop-reason words (policy 6.5).

    Intolerance words are read before progression words (text naming both counts as intolerance); a negated
    word does not count ("no toxicity, stopped for progression" is progression, not intolerance, which would
    read as a possible immune-related adverse event). Any other text is "unclear".
    """

    def __init__(self, words: StopReasonVocabulary | None = None, negation: Negation | None = None) -> None:
        words = words or _DEFAULT_WORDS
        self._progression = _terms_pattern(words.progression)
        self._intolerance = _terms_pattern(words.intolerance)
        self._negation = negation

    def _said(self, pattern: re.Pattern[str], text: str) -> bool:
        return self._negation.affirmed(pattern, text) if self._negation else pattern.search(text) is not None

    def classify(self, concepts: Any, note: str | None = None) -> tuple[StopReason, str | None]:
        """The reason, and the text to quote (the concept's text or display, else the note)."""
        texts = list(dict.fromkeys(concept_texts(concepts))) if concepts else []
        if note:
            texts.append(note)
        text = " ; ".join(texts) or None
        for coding in codings(concepts) if concepts else ():
            if field_of(coding, "system") == SNOMED:
                if field_of(coding, "code") == NO_RESPONSE_TO_TREATMENT:
                    return StopReason.PROGRESSION, text
                if field_of(coding, "code") == TREATMENT_NOT_TOLERATED:
                    return StopReason.INTOLERANCE, text
        if text is None:
            return StopReason.UNKNOWN, None
        if self._said(self._intolerance, text):
            return StopReason.INTOLERANCE, text
        if self._said(self._progression, text):
            return StopReason.PROGRESSION, text
        return StopReason.UNCLEAR, text


def stop_reason(concepts: Any, negation: Negation | None = None) -> StopReason:
    """The stop reason of a ``statusReason`` (built-in words; the service reads with the knowledge's)."""
    return StopReasonReader(None, negation).classify(concepts)[0]


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
    """True when a cheap read of the raw JSON shows the resource names no agent the matcher knows.

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


@dataclass(frozen=True, slots=True)
class _Dates:
    start: date | None
    end: date | None
    given: date | None = None


def _dates(rtype: str, resource: Any) -> _Dates:
    if rtype == "MedicationRequest":
        validity = resource.dispenseRequest.validityPeriod if resource.dispenseRequest else None
        start = first_date(validity.start if validity else None, resource.authoredOn)
        end = first_date(validity.end) if validity else None
        given = (end or start) if resource.status == "completed" else None
        return _Dates(start, end, given)
    if rtype == "MedicationDispense":
        given = first_date(resource.whenHandedOver, resource.whenPrepared)
        return _Dates(given, None, given)
    period = resource.effectivePeriod
    start = first_date(resource.effectiveDateTime, period.start if period else None)
    end = first_date(period.end) if period else None
    if rtype == "MedicationAdministration":
        given = end or start
        return _Dates(start, given, given)
    return _Dates(start or first_date(resource.dateAsserted), end)


def _status_reason(rtype: str, resource: Any) -> Any:
    if rtype == "MedicationDispense":
        return resource.statusReasonCodeableConcept
    return resource.statusReason or None


def _note_text(resource: Any) -> str | None:
    texts = [n.text.strip() for n in as_list(getattr(resource, "note", None)) if isinstance(n.text, str) and n.text]
    return " ".join(texts) or None


def episodes_from(
    pool: ResourcePool,
    matcher: AgentMatcher,
    parser: Parser,
    negation: Negation | None = None,
    stop_reasons: StopReasonReader | None = None,
) -> list[TherapyEpisode]:
    """Systemic-therapy episodes from every medication resource: agents of the review, and anticancer agents
    outside it (``unidentified``, named as recorded; policy 6.5).

    A resource that names no agent (``names_no_agent``: most of a real medication list) is counted in
    ``parser.skipped`` and never validated; it could not have become an episode.
    """
    reader = stop_reasons or StopReasonReader(None, negation)
    episodes: list[TherapyEpisode] = []
    for rtype in MEDICATION_TYPES:
        excluded = EXCLUDED_STATUSES[rtype]
        for raw in pool.of_type(rtype):
            status = raw.get("status")
            if not isinstance(status, str) or status in excluded:
                continue
            if rtype == "MedicationDispense" and status not in ("completed", "in-progress", "on-hold", "unknown"):
                continue
            concept = raw.get("medicationCodeableConcept")
            if (
                not matcher.may_name_agent(concept)
                if type(concept) is dict  # the common case of names_no_agent, without its call
                else names_no_agent(raw, pool, matcher)
            ):
                parser.skipped += 1
                continue
            resource = parser.parse(raw)
            if resource is None:
                continue
            found = medication_agents(resource, raw, pool, matcher, parser)
            if found is None or not (found[0].agents or found[0].other):
                continue
            match, description = found
            dates = _dates(rtype, resource)
            if dates.start is None:
                parser.notes.append(DataQualityNote(resource_reference(raw), "no usable start date; left out"))
                continue
            note = _note_text(resource) if status in NOTES_SAY_WHY.get(rtype, ()) else None
            reason, text = reader.classify(_status_reason(rtype, resource), note)
            episodes.append(
                TherapyEpisode(
                    agents=match.agents,
                    start=dates.start,
                    end=dates.end,
                    stop_reason=reason,
                    source=Provenance(rtype, resource.id, dates.start),
                    description=description,
                    unidentified=_unidentified_name(match, description),
                    status=status,
                    ongoing=status in ONGOING_STATUSES.get(rtype, ()),
                    stopped=status in STOPPED_STATUSES.get(rtype, ()),
                    given=dates.given,
                    stop_text=text,
                )
            )
    return episodes


def _unidentified_name(match: AgentMatch, description: str) -> str | None:
    """How a card names an anticancer medication outside the review: its agent names, or the record's own words
    for a clinical-trial drug."""
    if not match.other:
        return None
    named = sorted(a for a in match.other if a != INVESTIGATIONAL)
    return " + ".join(named) if named else description


def _key(episode: TherapyEpisode) -> frozenset[str]:
    """What an episode gives: its agents, and an unidentified medication by the words it was recorded with."""
    return episode.agents | ({f"?{episode.unidentified.lower()}"} if episode.unidentified else frozenset())


def _in_use(group: list[TherapyEpisode], day: date, current_days: int) -> bool:
    """Was the line still in use on ``day``: a record whose period covers it, a record ongoing then, or an
    administration or supply within ``current_days`` before it?"""
    for episode in group:
        start = episode.start
        if start is None or start > day:
            continue
        if episode.given is not None:
            if day - episode.given <= timedelta(days=current_days):
                return True
        elif episode.end is not None:
            if episode.end >= day:
                return True
        elif episode.ongoing or not episode.stopped:
            return True
    return False


def group_into_episodes(
    episodes: Iterable[TherapyEpisode],
    window_days: int,
    combinations: Iterable[frozenset[str]] = (),
    current_days: int = 60,
) -> list[list[TherapyEpisode]]:
    """Episodes into regimens, ordered by start (policy 6.5 "One regimen, however it is drafted").

    An episode joins the last regimen when it gives nothing new (a refill, the next cycle, a renewal), when it
    started within ``window_days`` of the regimen's start, or when its agents complete one of ``combinations``
    (the knowledge's multi-agent regimens) while the regimen is still in use (atezolizumab, then bevacizumab
    six weeks later).
    """
    window = timedelta(days=window_days)
    known = [c for c in combinations if len(c) > 1]
    groups: list[list[TherapyEpisode]] = []
    for episode in sorted(episodes, key=lambda e: (e.start or date.min, e.source.reference)):
        if groups and episode.start is not None:
            current = groups[-1]
            key = frozenset().union(*(_key(e) for e in current))
            agents = frozenset().union(*(e.agents for e in current))
            start = current[0].start
            continues = _key(episode) <= key
            starts_together = start is not None and episode.start - start <= window
            completes = (
                not episode.unidentified
                and bool(episode.agents - agents)
                and not any(e.unidentified for e in current)
                and any(agents | episode.agents <= combination for combination in known)
                and _in_use(current, episode.start, current_days)
            )
            if continues or starts_together or completes:
                current.append(episode)
                continue
        groups.append([episode])
    return groups


def _line_stop(group: list[TherapyEpisode]) -> tuple[StopReason, str | None]:
    """How a line ended: intolerance if any record says so (a checkpoint inhibitor stopped for toxicity must not
    be hidden by a later progression of its partner), else the latest recorded reason; the texts, quoted."""
    known = [e for e in group if e.stop_reason is not StopReason.UNKNOWN]
    if not known:
        return StopReason.UNKNOWN, None
    texts = "; ".join(dict.fromkeys(e.stop_text for e in known if e.stop_text)) or None
    if any(e.stop_reason is StopReason.INTOLERANCE for e in known):
        return StopReason.INTOLERANCE, texts
    latest = max(known, key=lambda e: (e.last_date or date.min, e.stop_reason is StopReason.PROGRESSION))
    return latest.stop_reason, texts


def _state(group: list[TherapyEpisode], today: date, current_days: int) -> tuple[LineState, str, date | None]:
    """Current or ended as of ``today``, the record that decided it (in words), and the end when recorded.

    Current: a record whose status says it continues (with no end passed), or an administration, supply or
    completed order within ``current_days``, with no later stop. Ended: the latest stop (a stopped or completed
    statement, a stopped order, an end passed, a last administration older than ``current_days``).
    """
    evidence: list[tuple[date, str]] = []
    stops: list[tuple[date, str, date | None]] = []
    for episode in group:
        ref = episode.source.reference
        if episode.ongoing and (episode.end is None or episode.end >= today):
            evidence.append((episode.start or today, f"{ref} {episode.status}, no end recorded"))
        elif episode.given is not None:
            word = SUPPLY_WORDS.get(episode.source.resource_type, "record")
            given = f"last {word} {episode.given.isoformat()} ({ref})"
            if (today - episode.given).days <= current_days:
                evidence.append((episode.given, f"{given}, within {current_days} days"))
            else:
                stops.append((episode.given, f"{given}, more than {current_days} days ago", episode.given))
        elif episode.stopped or (episode.end is not None and episode.end < today):
            ended = f" {episode.end.isoformat()}" if episode.end else ", end date not recorded"
            stops.append((episode.end or episode.start or today, f"{ref} {episode.status}{ended}", episode.end))
        elif episode.start is not None and episode.end is None:
            recent = (today - episode.start).days <= current_days
            basis = f"{ref} {episode.status}, started {episode.start.isoformat()}, no end recorded"
            if recent:
                evidence.append((episode.start, basis))
            else:
                stops.append((episode.start, f"{basis} (more than {current_days} days ago)", None))
    latest_use = max(evidence, default=None, key=lambda item: item[0])
    latest_stop = max(stops, default=None, key=lambda item: item[0])
    if latest_use is not None and (latest_stop is None or latest_use[0] > latest_stop[0]):
        return LineState.CURRENT, latest_use[1], None
    if latest_stop is not None:
        return LineState.ENDED, latest_stop[1], latest_stop[2]
    return LineState.ENDED, "no record says it continues", None


def _line(number: int, group: list[TherapyEpisode], state: LineState, basis: str, end: date | None) -> TherapyLine:
    reason, text = _line_stop(group) if state is LineState.ENDED else (StopReason.UNKNOWN, None)
    return TherapyLine(
        number=number,
        agents=frozenset().union(*(e.agents for e in group)),
        start=group[0].start,
        end=end if state is LineState.ENDED else None,
        stop_reason=reason,
        episodes=tuple(group),
        state=state,
        state_basis=basis,
        stop_text=text,
        unidentified=tuple(dict.fromkeys(e.unidentified for e in group if e.unidentified)),
    )


def build_lines(
    episodes: Iterable[TherapyEpisode],
    *,
    window_days: int,
    today: date,
    current_days: int = 60,
    combinations: Iterable[frozenset[str]] = (),
) -> tuple[tuple[TherapyLine, ...], TherapyLine | None]:
    """The lines that ended, in order, and the current line (only the latest regimen can be current: a line
    followed by another ended when the next started, whatever its old orders still say)."""
    groups = group_into_episodes(episodes, window_days, combinations, current_days)
    ended: list[TherapyLine] = []
    current: TherapyLine | None = None
    for index, group in enumerate(groups):
        state, basis, end = _state(group, today, current_days)
        if index < len(groups) - 1 and state is LineState.CURRENT:
            following = groups[index + 1][0].start
            state, end = LineState.ENDED, following
            basis = f"line {index + 2} started {following.isoformat() if following else 'later'} ({basis})"
        line = _line(len(ended) + 1, group, state, basis, end)
        if state is LineState.CURRENT:
            current = line
        else:
            ended.append(line)
    return tuple(ended), current


def group_into_lines(
    episodes: Iterable[TherapyEpisode], window_days: int, today: date | None = None
) -> tuple[TherapyLine, ...]:
    """Every line in order, current or ended (a compact form of ``build_lines`` for tests and tools)."""
    ended, current = build_lines(episodes, window_days=window_days, today=today or date.today())
    return (*ended, current) if current else ended
