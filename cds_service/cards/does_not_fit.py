"""The card for a selected order that does not fit this patient (warning, or critical for a safety gate).

It renders what sequencing decided: the indicator (``sequencing.alerts``), the alternatives offered in one
click and those withheld, each with why (``sequencing.alternatives``: never one a gate forbids, a checkpoint
inhibitor after a caution, anything in Child-Pugh C).
"""

from __future__ import annotations

from cds_service.cards.common import (
    CardContext,
    Hook,
    card_links,
    card_source,
    card_uuid,
    closing_line,
    evidence_page,
    first_fitting,
    place_label,
    place_text,
    preferred_tails,
    regimen_basis,
    summary_naming_cautions,
)
from cds_service.cards.issued import CardBody, IssuedCard, fired_gates, issue
from cds_service.cards.models import Suggestion
from cds_service.cards.override_reasons import override_reason_codings
from cds_service.cards.suggestions import by_hand_note, replacement_actions, uncoded_agents
from cds_service.knowledge import Knowledge, Place, Severity
from cds_service.sequencing.cautions import checkpoint_caution
from cds_service.sequencing.engine import Recommendation
from cds_service.sequencing.gates import Finding
from cds_service.sequencing.markdown import cell
from cds_service.sequencing.options import OptionAssessment
from cds_service.sequencing.selected import SelectedAssessment


def alternative_notes(
    rec: Recommendation, misfits: tuple[SelectedAssessment, ...], offered: tuple[OptionAssessment, ...]
) -> list[str]:
    """What the card says about each regimen it offers or names (the offered ones, the preferred ones its summary
    may name): every gate message of that regimen not already said of the selected order, e.g. "Hepatitis B on
    record: the checkpoint-inhibitor trials required antiviral therapy" next to "Replace with atezolizumab +
    bevacizumab", the organ transplant caution of a preferred checkpoint inhibitor (policy 6.2)."""
    excluded = {s.regimen_id for s in misfits}
    said = {f.message for s in misfits for f in s.findings}
    named = [*offered, *(o for o in rec.preferred if o.regimen_id not in excluded and o not in offered)]
    notes = []
    for option in named:
        messages = [m for m in dict.fromkeys(f.message for f in option.findings) if m not in said]
        notes += [f"- {option.label}: {cell(message)}" for message in messages]
    return notes


def _replacement(
    selected: SelectedAssessment, option: OptionAssessment, ctx: CardContext, recommended: bool, preferred: str
) -> Suggestion:
    """The suggestion replacing the selected draft order(s) with ``option``."""
    agents = ctx.knowledge.regimens[option.regimen_id].agents
    replacement = replacement_actions(selected.order_references, agents, ctx)
    return Suggestion(
        label=f"Replace with {option.label.lower()} ({place_label(option.place, preferred)})",
        uuid=card_uuid(ctx.hook_instance, "does-not-fit", *selected.order_references, option.regimen_id),
        isRecommended=True if recommended else None,
        actions=replacement.actions,
    )


_REVIEW = "needs review before ordering"


def _place_phrase(selected: SelectedAssessment, setting_phrase: str) -> str:
    if selected.continues_current:
        return "continuing the current line"
    if selected.product_only:
        return ""  # the regimen fits; the finding names the product
    if selected.already_received:
        return place_text(selected)  # "already received"
    match selected.place:
        case Place.NOT_SUPPORTED:
            return f"not supported {setting_phrase}"
        case Place.LESS_PREFERABLE | Place.NOT_PREFERRED:
            return f"{selected.place.label} {setting_phrase}"
        case Place.NOT_ADDRESSED:
            return f"not addressed by the review {setting_phrase}"
        case _:
            return _REVIEW


def does_not_fit_summary(selected: SelectedAssessment, rec: Recommendation, knowledge: Knowledge) -> str:
    """The decisive fact first ("Child-Pugh C", "AFP 95 below 400", "Organ transplant"), then the order.

    Loudest first; then what is specific to this order before what is about the patient: its own reasons
    (non-headline gates: AFP below 400, already received...) and, on a checkpoint inhibitor, its caution are
    always named, even when a patient-wide caution leads (pharmacist review). Patient-wide cautions (Child-Pugh,
    ECOG) follow as many as fit, the rest counted ("(+1 more caution)"); what is preferred only when all are
    named. Without the setting phrase if that is what it takes.
    """
    setting_phrase = rec.setting_phrase or "with prior therapy unknown"

    def specific(finding: Finding) -> bool:
        return not finding.headline or checkpoint_caution(finding, knowledge)

    loud = sorted(
        (f for f in selected.findings if f.severity is not Severity.INFO),
        key=lambda f: (-f.severity.rank, not specific(f), f.order),
    )
    label = selected.label.lower()
    others = [o for o in rec.options if o.regimen_id != selected.regimen_id]
    selected_is_preferred = selected.regimen_id in {o.regimen_id for o in rec.preferred}
    loud_gates = {f.gate_id for f in selected.findings if f.severity is not Severity.INFO}
    tail = (
        []
        if selected_is_preferred or selected.product_only
        else preferred_tails(others, loud_gates, rec.preferred_wordings)
    )
    phrase = _place_phrase(selected, setting_phrase)
    if not loud:
        return first_fitting(f"Selected {label} is {phrase}", tail)
    decisive, rest = loud[0], loud[1:]
    own = [f.summary for f in rest if specific(f)]
    cautions = [f.summary for f in rest if not specific(f)]
    # A place a finding already states is not repeated: "Already received (line 2): regorafenib".
    stated = any(phrase.lower() in summary.lower() for summary in (decisive.summary, *own))
    review = decisive.asks_review and not selected.product_only and not selected.continues_current
    heads: tuple[str, ...] = (
        # The gate's own statement first (policy 6.1), then the place the sequencing gives, as room allows.
        tuple(
            dict.fromkeys(
                (
                    f"{decisive.summary}: {label} {_REVIEW}; {phrase}",
                    f"{decisive.summary}: {label} {_REVIEW}",
                )
            )
        )
        if review and phrase != _REVIEW
        else tuple(dict.fromkeys((f"{decisive.summary}: {decisive.statement}", f"{decisive.summary}: {label}")))
        if selected.product_only and decisive.statement
        else (f"{decisive.summary}: {label} {_REVIEW}",)
        if review
        else (f"{decisive.summary}: {label}",)
        if stated
        else (
            f"{decisive.summary}: {label} {phrase}",
            f"{decisive.summary}: {label} {_place_phrase(selected, '').rstrip()}",
            f"{decisive.summary}: {label}",
        )
    )
    forms = ["; ".join([head, *own]) for head in heads]
    return summary_naming_cautions(list(dict.fromkeys(forms)), cautions, tail)


def does_not_fit_card(rec: Recommendation, ctx: CardContext, *, hook: Hook) -> IssuedCard | None:
    """Card 2: the selected regimen does not fit (policy 6.1); critical when a critical gate fired."""
    body = does_not_fit_body(rec, ctx, hook=hook)
    return None if body is None else issue_does_not_fit(body, rec, ctx, hook)


def _first_misfit(misfits: tuple[SelectedAssessment, ...]) -> SelectedAssessment:
    """The loudest selected order that does not fit: the card's summary and its replacements are about it."""
    return max(misfits, key=lambda s: s.indicator.rank)


def does_not_fit_body(rec: Recommendation, ctx: CardContext, *, hook: Hook) -> CardBody | None:
    """What card 2 says; None when every selected order fits."""
    misfits = rec.misfits
    indicator = rec.indicators.does_not_fit
    if not misfits or indicator is None:
        return None
    first = _first_misfit(misfits)
    alternatives = rec.alternatives
    offered = alternatives.offered_options
    withheld = [f"{w.option.label} ({w.why})" for w in alternatives.withheld]
    agents = (ctx.knowledge.regimens[a.option.regimen_id].agents for a in alternatives.offered)
    by_hand = tuple(dict.fromkeys(agent for each in agents for agent in uncoded_agents(each, ctx.knowledge)))
    detail: list[str] = []
    for selected in misfits:
        place = place_text(selected, rec.preferred_wordings[0])
        detail.append(f"**{selected.label}** ({', '.join(selected.order_references)}): {place}.")
        messages = [f.message for f in selected.findings] or [selected.reason]
        detail += [f"- {cell(line)}" for line in (*messages, *regimen_basis(selected, messages))]
    if offered:
        detail += [
            "",
            "Alternatives for this patient: "
            + "; ".join(
                f"{o.label} ({place_label(o.place, rec.preferred_wordings[0])}, {o.evidence.label})" for o in offered
            ),
        ]
    elif rec.continuation_only:
        detail += ["", "The order continues the current line: no replacement is offered (policy 6.5)."]
    elif alternatives.offer_forbidden_by_gate or withheld:
        detail += ["", "No replacement is offered in one click for this patient; see the recommendation card."]
    if withheld:
        detail.append("Not offered, same caution as the selected order: " + "; ".join(withheld) + ".")
    notes = alternative_notes(rec, misfits, offered)
    if notes:
        detail += ["", "**About the alternatives**", *notes]
    note = by_hand_note(by_hand)
    if note:
        detail += ["", note]
    detail += ["", "Every option and the evidence: the recommendation card and the last link.", ""]
    detail.append(closing_line(ctx.knowledge))
    reasons = override_reason_codings(ctx.override_reason_system, alternatives_suggested=bool(alternatives.offered))
    return CardBody(
        "does-not-fit",
        summary=does_not_fit_summary(first, rec, ctx.knowledge),
        detail="\n".join(detail),
        indicator=indicator.value,
        source=card_source(ctx.knowledge, evidence_page(rec, ctx)),
        links=tuple(card_links(rec, ctx, offered)),
        override_reasons=tuple(reasons),
        gates=fired_gates(f for s in misfits for f in s.findings),
    )


def issue_does_not_fit(body: CardBody, rec: Recommendation, ctx: CardContext, hook: Hook) -> IssuedCard:
    """Card 2 of one call: ``body`` with a one-click replacement of the selected draft by each alternative."""
    first = _first_misfit(rec.misfits)
    alternatives = rec.alternatives
    suggestions = [
        _replacement(first, a.option, ctx, a.recommended, rec.preferred_wordings[0]) for a in alternatives.offered
    ]
    offered = alternatives.offered_options
    meanings = {s.uuid: f"replace-with:{o.regimen_id}" for s, o in zip(suggestions, offered, strict=True)}
    return issue(body, ctx, hook, suggestions, meanings, "at-most-one" if suggestions else None)
