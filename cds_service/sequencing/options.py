"""Option assessment: one regimen of the setting, its place for this patient after the gates, and why."""

from __future__ import annotations

from dataclasses import dataclass

from cds_service.knowledge import EvidenceLevel, OptionRule, Place, SettingRules, Severity, SourceRef
from cds_service.memo import Memo
from cds_service.sequencing.cautions import checkpoint_notes, own_cautions
from cds_service.sequencing.gates import Finding, GateContext, evaluate_gates


def decisive_finding(place: Place, findings: tuple[Finding, ...], *, uncapped: Place | None = None) -> Finding | None:
    """The finding that decides a regimen's standing: the first that capped the place, else the most severe
    warning or critical one (``findings`` come most severe first). ``uncapped`` is a place no finding counts as
    capping (a regimen outside the setting's options is "not addressed" whether or not a gate says so)."""
    capping = [f for f in findings if f.place_cap is place and place is not uncapped]
    loud = [f for f in findings if f.severity is not Severity.INFO]
    decisive = capping or loud
    return decisive[0] if decisive else None


@dataclass(frozen=True, slots=True)
class OptionAssessment:
    """One regimen's standing for this patient. ``findings`` are the gates that fired, most severe first;
    ``cautions`` those its place carries (``cautions.own_cautions``), ``notes`` its checkpoint-inhibitor notes;
    ``drug`` is False for an entry that is no drug (clinical trial enrollment: regimens.yaml ``drug``)."""

    regimen_id: str
    label: str
    drug: bool
    place: Place
    evidence: EvidenceLevel
    trials: tuple[str, ...]
    rationale: str
    findings: tuple[Finding, ...]
    sources: tuple[SourceRef, ...]
    cautions: tuple[Finding, ...] = ()
    notes: tuple[Finding, ...] = ()
    extrapolated: bool = False
    after_review: bool = False

    @property
    def decisive_reason(self) -> str:
        """The finding that capped the place, else the most severe finding, else the review's rationale."""
        decisive = decisive_finding(self.place, self.findings)
        return decisive.message if decisive else self.rationale

    @property
    def already_received(self) -> bool:
        return any(f.gate_id == "already_received" for f in self.findings)

    @property
    def offerable(self) -> bool:
        """May be offered as a one-click alternative: a drug, in a good place, with no gate forbidding it."""
        return self.drug and self.place in (Place.PREFERRED, Place.OPTION) and all(f.offer for f in self.findings)


def apply_caps(place: Place, findings: tuple[Finding, ...]) -> Place:
    """Each fired gate may cap the place: the regimen only ever moves down."""
    for finding in findings:
        if finding.place_cap is not None and finding.place_cap.rank > place.rank:
            place = finding.place_cap
    return place


def by_severity(findings: tuple[Finding, ...]) -> tuple[Finding, ...]:
    if len(findings) < 2:
        return findings
    return tuple(sorted(findings, key=_severity_first))


def _severity_first(finding: Finding) -> int:
    return -finding.severity.rank


_assessed: Memo[OptionAssessment] = Memo(2048)


def assess_option(ctx: GateContext, setting: SettingRules, option: OptionRule) -> OptionAssessment:
    """The setting's place for the regimen (capped in an extrapolated setting), then every gate in scope.

    The assessment follows from the knowledge's setting and option and the findings alone, so one equal to an
    earlier one (the same findings, by value) is that earlier object."""
    findings = by_severity(evaluate_gates(ctx, option.regimen, ctx.plan.agents_of(option.regimen)))
    held = (ctx.knowledge, setting, option)
    return _assessed.get(held, findings, lambda: _assessment(ctx, setting, option, findings))


def _assessment(
    ctx: GateContext, setting: SettingRules, option: OptionRule, findings: tuple[Finding, ...]
) -> OptionAssessment:
    knowledge = ctx.knowledge
    place = apply_caps(setting.capped(option.place), findings)
    planned = ctx.plan.by_id
    gate_sources = [planned[f.gate_id].source for f in findings]
    regimen = knowledge.regimens[option.regimen]
    return OptionAssessment(
        regimen_id=option.regimen,
        label=regimen.label,
        drug=regimen.drug,
        place=place,
        evidence=option.evidence,
        trials=option.trials,
        rationale=option.rationale,
        findings=findings,
        sources=tuple(dict.fromkeys((option.source, *gate_sources))),
        cautions=own_cautions(place, findings, knowledge),
        notes=checkpoint_notes(findings, knowledge),
        extrapolated=setting.extrapolated_from is not None,
        after_review=option.after_review,
    )
