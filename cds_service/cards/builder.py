"""Recommendation → CDS Hooks cards: what a busy oncologist understands in five seconds.

One pipeline for three hooks: order-select (recommendation, "does not fit" warning, data needed),
order-sign (the warning only) and patient-view (the options, no suggestions).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_service.cards.models import SUMMARY_MAX_CHARS, Action, Card, Link, Source, Suggestion
from cds_service.cards.override_reasons import override_reason_codings
from cds_service.sequencing.engine import STOP_TEXT, OptionAssessment, Recommendation, SelectedAssessment
from cds_service.sequencing.facts import PatientFacts
from cds_service.sequencing.knowledge import Knowledge, Place

Hook = Literal["order-select", "order-sign", "patient-view"]
CARD_NAMESPACE = uuid.UUID("6f1c1f55-33a4-4b8e-9a51-2d0f3c8e7a10")
LOINC = "http://loinc.org"
AFP_LOINC = ("1834-1", "Alpha-1-Fetoprotein [Mass/volume] in Serum or Plasma")
RECRUITING_HCC_TRIALS_URL = "https://clinicaltrials.gov/search?cond=Hepatocellular%20Carcinoma&aggFilters=status:rec"


CardKind = Literal["recommendation", "mismatch", "data-needed"]


@dataclass(frozen=True, slots=True)
class IssuedCard:
    """A card and what it stands for, so that feedback on it can be tied back to the recommendation."""

    card: Card
    kind: CardKind
    suggestions: dict[str, str]  # suggestion uuid -> what accepting it does ("replace-with:cabozantinib")


@dataclass(frozen=True, slots=True)
class CardContext:
    """Per-request inputs of the card builder."""

    knowledge: Knowledge
    patient_id: str
    hook_instance: str
    override_reason_system: str


def card_uuid(hook_instance: str, *parts: str) -> str:
    """Deterministic per hook call: a retried call gets the same uuids, feedback maps back to the card."""
    return str(uuid.uuid5(CARD_NAMESPACE, ":".join((hook_instance, *parts))))


def fit_summary(text: str) -> str:
    """Cut a summary to CDS Hooks' limit (under 140 characters) on a word boundary."""
    if len(text) <= SUMMARY_MAX_CHARS:
        return text
    return text[: SUMMARY_MAX_CHARS - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _source(knowledge: Knowledge) -> Source:
    info = knowledge.info
    return Source(label=f"{info.review.label}; knowledge v{info.version}")


def _when(value: object) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else "undated"


def facts_markdown(facts: PatientFacts, knowledge: Knowledge) -> list[str]:
    """The patient facts the advice used, each with its date and source resource."""
    rows: list[str] = []
    for source in facts.hcc.sources:
        rows.append(f"- HCC diagnosis: {facts.hcc.description or 'HCC'} ({source.reference}, {_when(source.date)})")
    if not facts.lines:
        rows.append("- Prior systemic therapy: none on record")
    else:
        rows.append(f"- Prior systemic lines: {len(facts.lines)}; a new regimen would be line {facts.next_line_number}")
    for line in facts.lines:
        names = " + ".join(sorted(line.agents))
        refs = ", ".join(e.source.reference for e in line.episodes[:4])
        more = f" and {len(line.episodes) - 4} more" if len(line.episodes) > 4 else ""
        period = f"{_when(line.start)} to {_when(line.end) if line.end else 'ongoing or end not recorded'}"
        rows.append(f"- Line {line.number}: {names}, {period}, {STOP_TEXT[line.stop_reason]} ({refs}{more})")
    afp = facts.afp
    if afp is None:
        rows.append("- AFP: no result on record")
    else:
        value = f"{afp.value_ng_per_ml:g} ng/mL" if afp.value_ng_per_ml is not None else afp.as_reported
        if afp.comparator and afp.value_ng_per_ml is not None:
            value = afp.comparator + value
        note = f"; {afp.note}" if afp.note else ""
        rows.append(
            f"- AFP: {value} (reported {afp.as_reported}; {afp.source.reference}, {_when(afp.effective)}{note})"
        )
    child_pugh = facts.child_pugh
    if child_pugh is not None:
        refs = ", ".join(s.reference for s in child_pugh.sources) or "no source data"
        if child_pugh.child_pugh_class:
            score = (
                f", score {child_pugh.score_min}"
                if child_pugh.score_min == child_pugh.score_max and child_pugh.score_min
                else (f", score {child_pugh.score_min}-{child_pugh.score_max}" if child_pugh.score_min else "")
            )
            missing = f"; not on record: {', '.join(child_pugh.missing)}" if child_pugh.missing else ""
            rows.append(f"- Child-Pugh: class {child_pugh.child_pugh_class}{score}{missing} ({refs})")
        else:
            rows.append(
                f"- Child-Pugh: undetermined (score {child_pugh.score_min}-{child_pugh.score_max}; "
                f"missing: {', '.join(child_pugh.missing)}) ({refs})"
            )
    if facts.ecog is not None:
        rows.append(f"- ECOG: {facts.ecog.grade} ({facts.ecog.source.reference}, {_when(facts.ecog.source.date)})")
    for caution in facts.immunotherapy_cautions:
        rows.append(f"- Immunotherapy caution: {caution.description} ({caution.source.reference})")
    for left_out in facts.notes[:10]:
        rows.append(f"- Left out: {left_out.reference}: {left_out.reason}")
    if len(facts.notes) > 10:
        rows.append(f"- Left out: {len(facts.notes) - 10} more resources")
    return rows


def _option_rows(options: Iterable[OptionAssessment], knowledge: Knowledge) -> list[str]:
    rows = ["| Regimen | Place | Evidence | Key result | For this patient |", "|---|---|---|---|---|"]
    trials = knowledge.evidence.trials
    for option in options:
        evidence = option.evidence.label
        if option.trials:
            evidence += ": " + ", ".join(option.trials)
        key = "; ".join(f"{t}: {trials[t].key_result}" for t in option.trials[:1]) or "—"
        note = " ".join((option.decisive_reason, *option.reasons[1:], *option.caveats))
        place = option.place.label + (" (extrapolated)" if option.extrapolated else "")
        rows.append(f"| {_md(option.label)} | {place} | {_md(evidence)} | {_md(key)} | {_md(note)} |")
    return rows


def _trial_links(trial_ids: Iterable[str], knowledge: Knowledge) -> list[Link]:
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


def _preferred_names(rec: Recommendation) -> str:
    names = [o.label.lower() for o in rec.preferred if o.regimen_id != "clinical_trial"]
    if not names:
        return ""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def recommendation_card(rec: Recommendation, ctx: CardContext, *, hook: Hook) -> IssuedCard:
    """Card 1: the setting, every option with place and evidence, caveats, facts used, knowledge version."""
    knowledge = ctx.knowledge
    title = rec.setting_title or "Prior systemic therapy unknown"
    phrase = rec.setting_phrase or "with prior therapy unknown"
    preferred = _preferred_names(rec)
    if preferred:
        summary = f"HCC {phrase}: {preferred} preferred"
    elif rec.options:
        summary = f"HCC {phrase}: no option is preferred by the review; see options"
    else:
        summary = f"HCC {phrase}: no second-line option can be ranked from the review"
    detail = [f"**Setting:** {title}"]
    for note in rec.setting_notes:
        detail += ["", f"> {note}"]
    if rec.selected and hook != "patient-view":
        for selected in rec.selected:
            detail += ["", f"**Selected order:** {selected.label}: {selected.place.label}. {selected.reason}"]
    if rec.options:
        detail += ["", *_option_rows(rec.options, knowledge)]
    if rec.data_gaps:
        detail += ["", "**Data that would change this answer**", *(f"- {gap.description}" for gap in rec.data_gaps)]
    detail += ["", "**Patient facts used**", *facts_markdown(rec.facts, knowledge)]
    if rec.post_review_notes:
        detail += ["", "**Later evidence (after the 2021 review; not part of its recommendations)**"]
        detail += [f"- {note.date}: {note.text}" for note in rec.post_review_notes]
    info = knowledge.info
    section = f"; review section: {rec.setting_source.section}" if rec.setting_source else ""
    detail += [
        "",
        f"Source: {info.review.label}{section}. Knowledge: {info.name} v{info.version} ({info.date.isoformat()}).",
    ]
    card = Card(
        uuid=card_uuid(ctx.hook_instance, hook, "recommendation"),
        summary=fit_summary(summary),
        detail="\n".join(detail),
        indicator="info",
        source=_source(knowledge),
        links=_trial_links(rec.trials_cited, knowledge),
    )
    return IssuedCard(card, "recommendation", {})


def _alternatives(rec: Recommendation) -> list[OptionAssessment]:
    """The regimens to offer instead: the preferred ones, or the options when nothing is preferred."""
    candidates = [o for o in rec.options if o.regimen_id != "clinical_trial"]
    preferred = [o for o in candidates if o.place is Place.PREFERRED]
    return preferred or [o for o in candidates if o.place is Place.OPTION]


def _medication_request(agent: str, ctx: CardContext) -> dict[str, object]:
    spec = ctx.knowledge.terminology.agents[agent]
    concept: dict[str, object] = {"text": agent}
    if spec.rxnorm_ingredient:
        concept["coding"] = [
            {"system": ctx.knowledge.terminology.rxnorm_system, "code": spec.rxnorm_ingredient, "display": agent}
        ]
    resource = MedicationRequest.model_validate(
        {
            "resourceType": "MedicationRequest",
            "status": "draft",
            "intent": "order",
            "subject": {"reference": f"Patient/{ctx.patient_id}"},
            "medicationCodeableConcept": concept,
        }
    )
    return resource.model_dump(mode="json", exclude_none=True)


def _replacement(
    selected: SelectedAssessment, option: OptionAssessment, ctx: CardContext, recommended: bool
) -> Suggestion:
    regimen = ctx.knowledge.regimens[option.regimen_id]
    actions = [
        Action(type="delete", description=f"Remove the draft order {reference}", resourceId=reference)
        for reference in selected.order_references
    ]
    actions += [
        Action(type="create", description=f"Draft an order for {agent}", resource=_medication_request(agent, ctx))
        for agent in regimen.agents
    ]
    return Suggestion(
        label=f"Replace with {option.label.lower()} ({option.place.label})",
        uuid=card_uuid(ctx.hook_instance, "mismatch", *selected.order_references, option.regimen_id),
        isRecommended=True if recommended else None,
        actions=actions,
    )


_MISFIT_PHRASES = {
    Place.OPTION: "is an option, not the preferred choice,",
    Place.LESS_PREFERABLE: "is less preferable",
    Place.NOT_PREFERRED: "is not preferred",
    Place.NOT_ADDRESSED: "is not addressed by the review",
}


def _misfit_phrase(selected: SelectedAssessment, rec: Recommendation) -> str:
    if selected.already_received:
        return "was already received"
    if selected.place is Place.NOT_SUPPORTED:
        return "is not supported for this patient"
    return f"{_MISFIT_PHRASES[selected.place]} {rec.setting_phrase or 'with prior therapy unknown'}"


def mismatch_card(rec: Recommendation, ctx: CardContext, *, hook: Hook) -> IssuedCard | None:
    """Card 2 (warning): the selected regimen is not preferred, not supported, or already received."""
    misfits = [s for s in rec.selected if not s.fits]
    if not misfits:
        return None
    first = misfits[0]
    summary = fit_summary(f"Selected {first.label.lower()} {_misfit_phrase(first, rec)}: {first.reason}")
    alternatives = [o for o in _alternatives(rec) if not any(o.regimen_id == s.regimen_id for s in misfits)]
    suggestions = [
        _replacement(first, option, ctx, recommended=len(alternatives) == 1 and index == 0)
        for index, option in enumerate(alternatives)
    ]
    detail = [f"**{s.label}** ({', '.join(s.order_references)}): {s.place.label}. {s.reason}" for s in misfits]
    if alternatives:
        detail += [
            "",
            "Alternatives for this patient: "
            + "; ".join(f"{o.label} ({o.place.label}, {o.evidence.label})" for o in alternatives),
        ]
    detail += ["", f"Knowledge v{ctx.knowledge.info.version}; see the recommendation card for the evidence."]
    trials = [t for o in alternatives for t in o.trials]
    card = Card(
        uuid=card_uuid(ctx.hook_instance, hook, "mismatch"),
        summary=summary,
        detail="\n".join(detail),
        indicator="warning",
        source=_source(ctx.knowledge),
        suggestions=suggestions or None,
        selectionBehavior="at-most-one" if suggestions else None,
        overrideReasons=override_reason_codings(ctx.override_reason_system),
        links=_trial_links(trials, ctx.knowledge),
    )
    meanings = {s.uuid: f"replace-with:{o.regimen_id}" for s, o in zip(suggestions, alternatives, strict=True)}
    return IssuedCard(card, "mismatch", meanings)


def _afp_service_request(ctx: CardContext) -> dict[str, object]:
    code, display = AFP_LOINC
    resource = ServiceRequest.model_validate(
        {
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "order",
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": "AFP"},
            "subject": {"reference": f"Patient/{ctx.patient_id}"},
        }
    )
    return resource.model_dump(mode="json", exclude_none=True)


def data_needed_card(rec: Recommendation, ctx: CardContext, *, hook: Hook) -> IssuedCard | None:
    """Card 3 (info): missing data that would change the answer; an AFP order in one click."""
    if not rec.data_gaps:
        return None
    afp_gap = any(gap.kind == "afp" for gap in rec.data_gaps)
    summary = (
        "AFP result needed: it decides whether ramucirumab is an option"
        if afp_gap
        else "Missing data would change this HCC second-line assessment"
    )
    suggestions = (
        [
            Suggestion(
                label="Order AFP (LOINC 1834-1)",
                uuid=card_uuid(ctx.hook_instance, hook, "data", "afp"),
                actions=[Action(type="create", description="Draft an AFP order", resource=_afp_service_request(ctx))],
            )
        ]
        if afp_gap
        else None
    )
    card = Card(
        uuid=card_uuid(ctx.hook_instance, hook, "data"),
        summary=fit_summary(summary),
        detail="\n".join(f"- {gap.description}" for gap in rec.data_gaps),
        indicator="info",
        source=_source(ctx.knowledge),
        suggestions=suggestions,
        selectionBehavior="at-most-one" if suggestions else None,
    )
    return IssuedCard(card, "data-needed", {s.uuid: "order:afp" for s in suggestions or []})


def build_cards(rec: Recommendation, ctx: CardContext, *, hook: Hook) -> list[IssuedCard]:
    """The cards of one hook call (cds-hooks-conformance.md section 7; issue: at most three cards)."""
    if not rec.applicable:
        return []
    if hook == "order-sign":
        card = mismatch_card(rec, ctx, hook=hook)
        return [card] if card else []
    if hook == "patient-view":
        if not rec.facts.lines:
            return []
        return [recommendation_card(rec, ctx, hook=hook)]
    cards = [
        recommendation_card(rec, ctx, hook=hook),
        mismatch_card(rec, ctx, hook=hook),
        data_needed_card(rec, ctx, hook=hook),
    ]
    return [card for card in cards if card is not None]
