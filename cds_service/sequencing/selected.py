"""Selected-order assessment (clinical-sequencing.md 2.4): how the clinician's draft order fits this patient."""

from __future__ import annotations

from dataclasses import dataclass

from cds_service.facts import DraftOrder
from cds_service.knowledge import EvidenceLevel, Knowledge, Place, Severity
from cds_service.sequencing.alerts import Fit, fit_of, indicator_for
from cds_service.sequencing.cautions import own_cautions
from cds_service.sequencing.gates import Finding, GateContext, evaluate_gates
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

    @property
    def fits(self) -> bool:
        return self.fit is Fit.FITS

    @property
    def already_received(self) -> bool:
        return any(f.gate_id == "already_received" for f in self.findings)


def group_selected(
    selected: tuple[DraftOrder, ...], other_drafts: tuple[DraftOrder, ...], knowledge: Knowledge
) -> list[tuple[frozenset[str], tuple[str, ...]]]:
    """Form regimens from the selected orders; a combination counts only when all its agents are drafted."""
    drafted = {agent for order in (*selected, *other_drafts) for agent in order.agents}
    remaining = {agent for order in selected for agent in order.agents}
    groups: list[frozenset[str]] = []
    combinations = sorted((agents for agents in knowledge.regimen_by_agents if len(agents) > 1), key=len, reverse=True)
    for agents in combinations:
        if agents <= drafted and agents & remaining:
            groups.append(agents)
            remaining -= agents
    groups += [frozenset({agent}) for agent in sorted(remaining)]
    return [(agents, tuple(o.reference for o in (*selected, *other_drafts) if o.agents & agents)) for agents in groups]


def assess_selected(
    ctx: GateContext,
    selected: tuple[DraftOrder, ...],
    other_drafts: tuple[DraftOrder, ...],
    options: tuple[OptionAssessment, ...],
    setting_phrase: str | None,
) -> tuple[SelectedAssessment, ...]:
    """Each selected regimen: the option's assessment when the setting lists it, else its gates alone."""
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
        fit = fit_of(place, findings, better_option_exists=best_rank < place.rank)
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
                indicator=indicator_for(fit, findings),
                rationale=rationale,
                evidence=evidence,
                trials=trials,
                cautions=own_cautions(place, findings, knowledge),
            )
        )
    return tuple(assessments)
