"""The card for a selected order that does not fit this patient (warning, or critical for a safety gate).

Its indicator comes from the alert policy (``sequencing.alerts``); its suggestions replace the draft with a
regimen that may be offered in one click (never one a gate forbids: a checkpoint inhibitor after a
caution, anything in Child-Pugh C).
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
    summary_line,
)
from cds_service.cards.issued import IssuedCard, fired_gates
from cds_service.cards.models import Card, Suggestion
from cds_service.cards.override_reasons import override_reason_codings
from cds_service.cards.recommendation import preferred_names
from cds_service.cards.suggestions import by_hand_note, replacement_actions
from cds_service.sequencing.alerts import Fit
from cds_service.sequencing.engine import Recommendation
from cds_service.sequencing.knowledge import Place, Severity
from cds_service.sequencing.markdown import cell
from cds_service.sequencing.options import OptionAssessment
from cds_service.sequencing.selected import SelectedAssessment


def alternatives(rec: Recommendation, misfits: list[SelectedAssessment]) -> list[OptionAssessment]:
    """Regimens to offer instead: the offerable preferred ones, or the offerable options if none is preferred."""
    excluded = {s.regimen_id for s in misfits}
    candidates = [o for o in rec.options if o.offerable and o.regimen_id not in excluded]
    preferred = [o for o in candidates if o.place is Place.PREFERRED]
    return preferred or [o for o in candidates if o.place is Place.OPTION]


def _replacement(
    selected: SelectedAssessment, option: OptionAssessment, ctx: CardContext, recommended: bool
) -> tuple[Suggestion, tuple[str, ...]]:
    """The suggestion, and the agents of it that must be placed by hand (no known code)."""
    agents = ctx.knowledge.regimens[option.regimen_id].agents
    replacement = replacement_actions(selected.order_references, agents, ctx)
    suggestion = Suggestion(
        label=f"Replace with {option.label.lower()} ({option.place.label})",
        uuid=card_uuid(ctx.hook_instance, "does-not-fit", *selected.order_references, option.regimen_id),
        isRecommended=True if recommended else None,
        actions=replacement.actions,
    )
    return suggestion, replacement.by_hand


def _place_phrase(selected: SelectedAssessment, setting_phrase: str) -> str:
    match selected.place:
        case Place.NOT_SUPPORTED:
            return f"not supported {setting_phrase}"
        case Place.LESS_PREFERABLE | Place.NOT_PREFERRED:
            return f"{selected.place.label} {setting_phrase}"
        case Place.NOT_ADDRESSED:
            return f"not addressed by the review {setting_phrase}"
        case _:
            return "needs review before ordering"


def does_not_fit_summary(selected: SelectedAssessment, rec: Recommendation) -> str:
    """The decisive fact first ("Child-Pugh C", "AFP below 400 ng/mL", "Organ transplant"), then the order."""
    setting_phrase = rec.setting_phrase or "with prior therapy unknown"
    loud = [f for f in selected.findings if f.severity is not Severity.INFO]
    label = selected.label.lower()
    phrase = _place_phrase(selected, setting_phrase)
    preferred = preferred_names(rec)
    tail = (
        (f"{preferred} preferred",)
        if preferred and selected.regimen_id not in {o.regimen_id for o in rec.preferred}
        else ()
    )
    if loud:
        others = tuple(f.summary for f in loud[1:])
        return summary_line(f"{loud[0].summary}: {label} {phrase}", *others, *tail)
    return summary_line(f"Selected {label} is {phrase}", *tail)


def does_not_fit_card(rec: Recommendation, ctx: CardContext, *, hook: Hook) -> IssuedCard | None:
    """Card 2: the selected regimen does not fit (policy 6.1); critical when a critical gate fired."""
    misfits = [s for s in rec.selected if s.fit is Fit.DOES_NOT_FIT]
    if not misfits:
        return None
    first = max(misfits, key=lambda s: s.indicator.rank)
    offered = alternatives(rec, misfits)
    clean = [o for o in offered if all(f.severity is Severity.INFO for f in o.findings)]
    replacements = [
        _replacement(first, option, ctx, recommended=len(offered) == 1 and option in clean) for option in offered
    ]
    suggestions = [suggestion for suggestion, _ in replacements]
    by_hand = tuple(dict.fromkeys(agent for _, agents in replacements for agent in agents))
    detail: list[str] = []
    for selected in misfits:
        detail.append(f"**{selected.label}** ({', '.join(selected.order_references)}): {selected.place.label}.")
        detail += [f"- {cell(f.message)}" for f in selected.findings] or [f"- {cell(selected.reason)}"]
    if offered:
        detail += [
            "",
            "Alternatives for this patient: "
            + "; ".join(f"{o.label} ({o.place.label}, {o.evidence.label})" for o in offered),
        ]
    elif any(not f.offer for s in misfits for f in s.findings):
        detail += ["", "No replacement is offered in one click for this patient; see the recommendation card."]
    note = by_hand_note(by_hand)
    if note:
        detail += ["", note]
    detail += ["", "Every option and the evidence: the recommendation card and the last link.", ""]
    detail.append(closing_line(ctx.knowledge))
    card = Card(
        uuid=card_uuid(ctx.hook_instance, hook, "does-not-fit"),
        summary=does_not_fit_summary(first, rec),
        detail="\n".join(detail),
        indicator=first.indicator.value,
        source=card_source(ctx.knowledge, evidence_page(rec, ctx)),
        suggestions=suggestions or None,
        selectionBehavior="at-most-one" if suggestions else None,
        overrideReasons=override_reason_codings(ctx.override_reason_system),
        links=card_links(rec, ctx, offered),
    )
    meanings = {s.uuid: f"replace-with:{o.regimen_id}" for s, o in zip(suggestions, offered, strict=True)}
    return IssuedCard(card, "does-not-fit", meanings, fired_gates(f for s in misfits for f in s.findings))
