"""Selected-order assessment (clinical-sequencing.md 2.4): how the clinician's draft order fits this patient."""

from __future__ import annotations

from dataclasses import dataclass

from cds_service.facts import DraftOrder
from cds_service.knowledge import EvidenceLevel, Knowledge, Place, Severity
from cds_service.memo import Memo
from cds_service.sequencing.alerts import Fit, fit_of, indicator_for, worst_severity
from cds_service.sequencing.cautions import own_cautions
from cds_service.sequencing.gates import Finding, GateContext, continues_current_line, evaluate_gates
from cds_service.sequencing.options import OptionAssessment, apply_caps, by_severity, decisive_finding
from cds_service.sequencing.setting import regimen_label


@dataclass(frozen=True, slots=True)
class SelectedAssessment:
    """One selected regimen: its place, the gates that fired (``cautions``: those its place carries), whether it
    fits, and the card's indicator."""

    order_references: tuple[str, ...]
    agents: frozenset[str]
    regimen_id: str | None
    label: str
    place: Place
    reason: str
    findings: tuple[Finding, ...]
    fit: Fit
    indicator: Severity
    # The regimen's own basis in this setting, whatever gate fired (policy 6.3, pharmacist review): the
    # setting's rationale and evidence level when the setting lists it, else why it is not addressed.
    rationale: str = ""
    evidence: EvidenceLevel | None = None
    trials: tuple[str, ...] = ()
    cautions: tuple[Finding, ...] = ()
    # Policy 6.5: the order continues (or completes) the current line: never "already received", never a misfit
    # of the setting, never replaced; only a critical gate, or a wrong product, makes a card about it.
    continues_current: bool = False
    # Policy 6.5, order-select: the combination of the setting this lone agent is part of (its label), if any.
    part_of: str | None = None
    # Only a gate on the drafted product (not the regimen) makes it misfit: the regimen itself may be offered.
    product_only: bool = False

    @property
    def fits(self) -> bool:
        return self.fit is Fit.FITS

    @property
    def already_received(self) -> bool:
        return any(f.gate_id == "already_received" for f in self.findings)


_combinations_by_knowledge: Memo[tuple[frozenset[str], ...]] = Memo(8)


def _combinations(knowledge: Knowledge) -> tuple[frozenset[str], ...]:
    """The knowledge's multi-agent regimens, largest first, once per knowledge object."""
    return _combinations_by_knowledge.get(
        (knowledge,),
        None,
        lambda: tuple(sorted((a for a in knowledge.regimen_by_agents if len(a) > 1), key=len, reverse=True)),
    )


def group_selected(
    selected: tuple[DraftOrder, ...], other_drafts: tuple[DraftOrder, ...], knowledge: Knowledge
) -> list[tuple[frozenset[str], tuple[str, ...]]]:
    """Form regimens from the selected orders; a combination counts only when all its agents are drafted."""
    drafted = {agent for order in (*selected, *other_drafts) for agent in order.agents}
    remaining = {agent for order in selected for agent in order.agents}
    groups: list[frozenset[str]] = []
    for agents in _combinations(knowledge):
        if agents <= drafted and agents & remaining:
            groups.append(agents)
            remaining -= agents
    groups += [frozenset({agent}) for agent in sorted(remaining)]
    return [(agents, tuple(o.reference for o in (*selected, *other_drafts) if o.agents & agents)) for agents in groups]


def _combination_for(
    agents: frozenset[str], options: tuple[OptionAssessment, ...], ctx: GateContext
) -> OptionAssessment | None:
    """The best-placed combination of the setting that this lone agent is part of, when it fits this patient
    (preferred or an option, no warning or critical gate)."""
    knowledge = ctx.knowledge
    found = [
        o
        for o in options
        if len(knowledge.regimen_agents(o.regimen_id)) > 1
        and agents < knowledge.regimen_agents(o.regimen_id)
        and o.place in (Place.PREFERRED, Place.OPTION)
        and worst_severity(o.findings) is Severity.INFO
    ]
    return min(found, key=lambda o: o.place.rank) if found else None


def _continuation_indicator(findings: tuple[Finding, ...], product_only: bool) -> Severity:
    """A continuation speaks only for a critical gate, or for a wrong product (policy 6.5)."""
    if worst_severity(findings) is Severity.CRITICAL:
        return Severity.CRITICAL
    return Severity.WARNING if product_only else Severity.INFO


def assess_selected(
    ctx: GateContext,
    selected: tuple[DraftOrder, ...],
    other_drafts: tuple[DraftOrder, ...],
    options: tuple[OptionAssessment, ...],
    setting_phrase: str | None,
    *,
    selecting: bool = False,
) -> tuple[SelectedAssessment, ...]:
    """Each selected regimen: the option's assessment when the setting lists it, else its gates alone; then what
    policy 6.5 says of the current line and of one agent picked at a time (``selecting``: order-select)."""
    knowledge = ctx.knowledge
    by_regimen = {o.regimen_id: o for o in options}
    drug_ranks = [o.place.rank for o in options if o.drug]
    best_rank = min(drug_ranks, default=Place.NOT_ADDRESSED.rank)
    assessments = []
    for agents, references in group_selected(selected, other_drafts, knowledge):
        regimen_id = knowledge.regimen_by_agents.get(agents)
        label = regimen_label(agents, knowledge)
        option = by_regimen.get(regimen_id) if regimen_id else None
        if option is not None:
            findings, place, reason = option.findings, option.place, option.decisive_reason
            rationale, evidence, trials = option.rationale, option.evidence, option.trials
        else:
            findings = by_severity(evaluate_gates(ctx, regimen_id, agents))
            place = apply_caps(Place.NOT_ADDRESSED, findings)
            if setting_phrase is None:
                reason = "Prior systemic therapy is unknown, so the setting is unknown."
            else:
                reason = f"Not addressed by the review: {label.lower()} {setting_phrase}."
            rationale, evidence, trials = reason, None, ()
            decisive = decisive_finding(place, findings, uncapped=Place.NOT_ADDRESSED)
            reason = decisive.message if decisive else reason
        drafts = tuple(o for o in (*selected, *other_drafts) if o.reference in references)
        on_product = evaluate_gates(ctx.for_orders(drafts), regimen_id, agents, "selected_order")
        regimen_fit = fit_of(place, findings, better_option_exists=best_rank < place.rank)
        findings = by_severity((*findings, *on_product))
        fit = fit_of(place, findings, better_option_exists=best_rank < place.rank)
        product_only = bool(on_product) and regimen_fit is Fit.FITS and fit is Fit.DOES_NOT_FIT
        continues = continues_current_line(ctx, agents)
        part_of = None
        if continues:
            current = ctx.facts.current_line
            number = current.number if current else 0
            reason = f"Continues the current line (line {number}): not a new line, not already received."
            speaks = worst_severity(findings) is Severity.CRITICAL or bool(on_product)
            fit = Fit.DOES_NOT_FIT if speaks else Fit.FITS
        elif selecting and fit is not Fit.FITS and worst_severity(findings) is Severity.INFO:
            combination = _combination_for(agents, options, ctx)
            if combination is not None:
                part_of = combination.label
                fit = Fit.PART_OF_COMBINATION
                reason = (
                    f"Part of {combination.label.lower()} ({combination.place.label} {setting_phrase or ''}".rstrip()
                    + "): the combination is checked when the order is signed."
                )
        assessments.append(
            SelectedAssessment(
                order_references=references,
                agents=agents,
                regimen_id=regimen_id,
                label=label,
                place=place,
                reason=reason,
                findings=findings,
                fit=fit,
                indicator=_continuation_indicator(findings, bool(on_product))
                if continues
                else indicator_for(fit, findings),
                rationale=rationale,
                evidence=evidence,
                trials=trials,
                cautions=own_cautions(place, findings, knowledge),
                continues_current=continues,
                part_of=part_of,
                product_only=product_only,
            )
        )
    return tuple(assessments)
