"""The recommendation card (info): the setting, every option with place and evidence, facts, later evidence."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from cds_service.cards.common import (
    CardContext,
    Hook,
    card_links,
    card_source,
    caution_line,
    closing_line,
    evidence_page,
    lower_first,
    place_text,
    preferred_tails,
    regimen_basis,
    summary_naming_cautions,
)
from cds_service.cards.facts import facts_markdown
from cds_service.cards.issued import CardBody, IssuedCard, fired_gates, issue
from cds_service.knowledge import Knowledge, Place, Severity
from cds_service.memo import Memo
from cds_service.sequencing.alerts import Fit
from cds_service.sequencing.engine import Recommendation
from cds_service.sequencing.markdown import cell
from cds_service.sequencing.options import OptionAssessment


def option_rows(options: Iterable[OptionAssessment], knowledge: Knowledge, preferred: str = "preferred") -> list[str]:
    """The options table: one row per regimen, with its place, evidence, key result and what applies to this
    patient."""
    rows = ["| Regimen | Place | Evidence | Key result | For this patient |", "|---|---|---|---|---|"]
    return rows + [_kept_row(option, knowledge, preferred) for option in options]


_rows: Memo[str] = Memo(2048)


def _kept_row(option: OptionAssessment, knowledge: Knowledge, preferred: str) -> str:
    """``option_row``, once per assessment object (the engine hands out one object for equal assessments)."""
    return _rows.get((option, knowledge), preferred, lambda: option_row(option, knowledge, preferred))


def option_row(option: OptionAssessment, knowledge: Knowledge, preferred: str = "preferred") -> str:
    """One regimen's row of the options table."""
    trials = knowledge.evidence.trials
    evidence = option.evidence.label
    if option.trials:
        evidence += ": " + ", ".join(option.trials)
    key = "; ".join(f"{t}: {trials[t].key_result}" for t in option.trials[:1]) or "—"
    # A statement about the patient, not the regimen (the current line), is said once above the table.
    messages = [f.message for f in option.findings if not (f.headline and f.severity is Severity.INFO)]
    decisive = option.decisive_reason
    note = " ".join(dict.fromkeys((decisive, *(m for m in messages if m != decisive))))
    if decisive != option.rationale:
        note += f" (Review: {option.rationale})"
    place = place_text(option, preferred)
    if option.after_review:
        place += " (later evidence, not the review)"
    elif option.extrapolated:
        place += " (extrapolated)"
    return f"| {cell(option.label)} | {place} | {cell(evidence)} | {cell(key)} | {cell(note)} |"


def linked_regimens(rec: Recommendation) -> list[OptionAssessment]:
    """Whose trials the card links: the preferred regimens, or the options when none is preferred."""
    drugs = [o for o in rec.options if o.drug]
    return [o for o in drugs if o.place is Place.PREFERRED] or [o for o in drugs if o.place is Place.OPTION]


def recommendation_summary(rec: Recommendation) -> str:
    """The decisive patient fact first, then the setting's answer, then the other cautions (policy 6.1-6.2).

    Facts come loudest first, then in gates.yaml order (Child-Pugh, checkpoint-inhibitor cautions, ECOG), so a
    card listing checkpoint inhibitors names their caution. A preferred regimen is named with its own caution
    ("atezolizumab + bevacizumab preferred (caution: organ transplant)", ``preferred_tails``) or not at all.
    Rather than leave a caution unnamed the answer is shortened ("see options") or left to the detail; what
    still does not fit is counted ("(+1 more caution)").
    """
    phrase = rec.setting_phrase or "with prior therapy unknown"
    tails = preferred_tails(rec.options, wordings=rec.preferred_wordings)
    if rec.current_line_statement:
        # Policy 6.5: a patient still on a line is told so first ("On first-line X; second-line options apply
        # after progression or intolerance"), never shown options as if it had ended.
        answers = [rec.current_line_statement]
    elif rec.unidentified:
        # Policy 6.5: the card names the medication it could not place; nothing is preferred.
        names = ", ".join(rec.unidentified)
        answers = [
            f"HCC {phrase}: nothing is preferred",
            f"Prior line outside the review ({names}): nothing is preferred",
            f"Prior line outside the review: {names}",
        ]
    elif tails:
        answers = [f"HCC {phrase}: {tail}" for tail in tails] + [f"HCC {phrase}: see options"]
    elif rec.options:
        answers = [f"HCC {phrase}: no regimen is preferred; see options"]
    else:
        answers = [f"HCC {phrase}: no second-line option can be ranked from the review"]
    see_options = [f"HCC {phrase}: see options"] if rec.options else []
    none_preferred = ["no regimen is preferred"] if rec.options and not tails else []
    for selected in unranked_selected(rec):
        shorter = (*answers, *see_options, *none_preferred)
        answers = [*(f"{selected}; {a}" for a in shorter), selected, *answers]
    return _summary(tuple(answers), tuple(see_options), tuple(f.summary for f in rec.headline_findings))


@lru_cache(maxsize=4096)
def _summary(answers: tuple[str, ...], see_options: tuple[str, ...], facts: tuple[str, ...]) -> str:
    """The end of ``recommendation_summary``: a pure function of its texts, kept per (answers, options, facts)."""
    if not facts:
        return summary_naming_cautions(list(dict.fromkeys(answers)), [])
    once = named_once(list(facts), list(dict.fromkeys([*answers, *see_options])))
    if once is not None:
        return once
    first = facts[0]
    short = [f"{first}; {see}" for see in see_options]
    forms = [f"{first}; {answer}" for answer in answers]
    return summary_naming_cautions(list(dict.fromkeys([*forms, *short, first])), facts[1:])


def named_once(facts: list[str], answers: list[str]) -> str | None:
    """The first answer, most complete first, that names every fact once: a caution the answer already attaches
    to a preferred checkpoint regimen ("atezolizumab + bevacizumab preferred (caution: organ transplant)") is not
    also named in front of it (pharmacist review of policy 6.1-6.2: "Organ transplant; ... (caution: organ
    transplant)" named it twice). None when no answer names a fact itself or none fits whole under 140 characters.
    """
    for answer in answers:
        lead = [fact for fact in facts if fact.lower() not in answer.lower()]
        if len(lead) == len(facts):
            continue
        form = f"{lead[0]}; {answer}" if lead else answer
        line, unnamed = caution_line(form, lead[1:])
        if not unnamed and line.startswith(form):
            return line
    return None


def unranked_selected(rec: Recommendation) -> list[str]:
    """The decisive fact about a selected order the review does not rank (policy 6.1 lists no warning for it;
    6.3 makes it "not addressed by the review"), for the recommendation card's summary, since no other card
    speaks of it: "Selected nivolumab + ipilimumab after a CTLA-4 inhibitor: not addressed by the review"
    (the gate that set the place, from gates.yaml), "Selected regorafenib: not addressed by the review"."""
    facts = []
    for selected in rec.selected:
        if selected.fit is Fit.PART_OF_COMBINATION and selected.part_of:
            facts.append(f"Selected {selected.label.lower()}: part of {selected.part_of.lower()}, checked at signing")
            continue
        if selected.fit is not Fit.UNRANKED:
            continue
        capping = [f for f in selected.findings if f.place_cap is selected.place]
        qualifier = f" {lower_first(capping[0].summary)}" if capping else ""
        place = place_text(selected, rec.preferred_wordings[0])
        facts.append(f"Selected {selected.label.lower()}{qualifier}: {place}")
    return facts


def recommendation_card(rec: Recommendation, ctx: CardContext, *, hook: Hook) -> IssuedCard:
    """Card 1 (info): the setting, every option with place and evidence, caveats, facts used, knowledge version."""
    return issue(recommendation_body(rec, ctx, hook=hook), ctx, hook)


def recommendation_body(rec: Recommendation, ctx: CardContext, *, hook: Hook) -> CardBody:
    """What card 1 says (``recommendation_card``)."""
    knowledge = ctx.knowledge
    detail = [f"**Setting:** {rec.setting_title or 'Prior systemic therapy unknown'}"]
    if rec.unidentified:
        names = ", ".join(rec.unidentified)
        detail += ["", f"**Prior medication the review does not cover:** {cell(names)} (see the lines below)."]
    for note in rec.setting_notes:
        detail += ["", f"> {note}"]
    if rec.current_line_statement:
        detail += ["", f"**Current line:** {cell(rec.current_line_statement)}."]
        current = [f for o in rec.options for f in o.findings if f.headline and f.severity is Severity.INFO]
        detail += [f"- {cell(message)}" for message in dict.fromkeys(f.message for f in current)]
    headline = rec.headline_findings
    if headline:
        detail += ["", "**Before choosing a regimen**", *(f"- {cell(f.message)}" for f in headline)]
    if rec.selected and hook != "patient-view":
        for selected in rec.selected:
            place = place_text(selected, rec.preferred_wordings[0])
            basis = " ".join(regimen_basis(selected, [selected.reason]))
            line = f"**Selected order:** {selected.label}: {place}. {cell(selected.reason)}"
            detail += ["", f"{line} {cell(basis)}" if basis else line]
    if rec.options and not rec.options_apply:
        detail += [
            "",
            "The first-line options are on the evidence page (the last link); none is listed here while "
            "the first line continues.",
        ]
    elif rec.options:
        detail += ["", *option_rows(rec.options, knowledge, rec.preferred_wordings[0])]
    if rec.data_gaps:
        detail += [
            "",
            "**Data that would change this answer**",
            *(f"- {cell(gap.description)}" for gap in rec.data_gaps),
        ]
    detail += ["", "**Patient facts used**", *facts_markdown(rec.facts, rec.child_pugh)]
    if rec.post_review_notes:
        detail += ["", "**Later evidence (after the 2021 review; not part of its recommendations)**"]
        detail += [f"- {note.when}: {cell(note.text)}" for note in rec.post_review_notes]
    info = knowledge.info
    section = f"; review section: {rec.setting_source.section}" if rec.setting_source else ""
    detail += ["", f"Source: {info.review.label}{section}. Knowledge: {info.name} v{knowledge.version}.", ""]
    detail.append(closing_line(knowledge))
    findings = [f for o in rec.options for f in o.findings]
    if hook != "patient-view":
        findings += [f for s in rec.selected for f in s.findings]
    return CardBody(
        "recommendation",
        summary=recommendation_summary(rec),
        detail="\n".join(detail),
        indicator=rec.indicators.recommendation.value,
        source=card_source(knowledge, evidence_page(rec, ctx)),
        links=tuple(card_links(rec, ctx, linked_regimens(rec))),
        gates=fired_gates(findings),
    )
