"""Option assessment: one regimen of the setting, its place for this patient after the gates, and why."""

from __future__ import annotations

from dataclasses import dataclass

from cds_service.knowledge import EvidenceLevel, OptionRule, Place, SettingRules, Severity, SourceRef
from cds_service.sequencing.gates import Finding, GateContext, evaluate_gates


@dataclass(frozen=True, slots=True)
class OptionAssessment:
    """One regimen's standing for this patient. ``findings`` are the gates that fired, most severe first."""

    regimen_id: str
    label: str
    place: Place
    evidence: EvidenceLevel
    trials: tuple[str, ...]
    rationale: str
    findings: tuple[Finding, ...]
    sources: tuple[SourceRef, ...]
    extrapolated: bool = False
    after_review: bool = False

    @property
    def decisive_reason(self) -> str:
        """The finding that capped the place, else the most severe finding, else the review's rationale."""
        capping = [f for f in self.findings if f.place_cap is not None and f.place_cap is self.place]
        if capping:
            return capping[0].message
        loud = [f for f in self.findings if f.severity is not Severity.INFO]
        return loud[0].message if loud else self.rationale

    @property
    def offerable(self) -> bool:
        """May be offered as a one-click alternative: a drug, in a good place, with no gate forbidding it."""
        return (
            self.regimen_id != "clinical_trial"
            and self.place in (Place.PREFERRED, Place.OPTION)
            and all(f.offer for f in self.findings)
        )


def apply_caps(place: Place, findings: tuple[Finding, ...]) -> Place:
    """Each fired gate may cap the place: the regimen only ever moves down."""
    for finding in findings:
        if finding.place_cap is not None and finding.place_cap.rank > place.rank:
            place = finding.place_cap
    return place


def by_severity(findings: tuple[Finding, ...]) -> tuple[Finding, ...]:
    return tuple(sorted(findings, key=lambda f: -f.severity.rank))


def assess_option(ctx: GateContext, setting: SettingRules, option: OptionRule) -> OptionAssessment:
    """The setting's place for the regimen (capped in an extrapolated setting), then every gate in scope."""
    knowledge = ctx.knowledge
    agents = knowledge.regimen_agents(option.regimen)
    findings = by_severity(evaluate_gates(ctx, option.regimen, agents))
    place = apply_caps(setting.capped(option.place), findings)
    gate_sources = [
        SourceRef(section=knowledge.gates[f.gate_id].source.section, quote=knowledge.gates[f.gate_id].source.quote)
        for f in findings
    ]
    return OptionAssessment(
        regimen_id=option.regimen,
        label=knowledge.regimens[option.regimen].label,
        place=place,
        evidence=option.evidence,
        trials=option.trials,
        rationale=option.rationale,
        findings=findings,
        sources=tuple(dict.fromkeys((option.source, *gate_sources))),
        extrapolated=setting.extrapolated_from is not None,
        after_review=option.after_review,
    )
