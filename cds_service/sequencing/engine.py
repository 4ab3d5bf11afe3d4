"""The sequencing engine: a pure function from patient facts and draft orders to a recommendation.

It restates the review's "Sequencing" section (shared/docs/clinical-sequencing.md sections 2.1-2.4);
the options, places and evidence come from the knowledge files, the patient-specific rules below
only move an option down (never up) and say why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from cds_service.sequencing.facts import (
    CutoffRelation,
    DiagnosisStatus,
    DraftOrder,
    PatientFacts,
    StopReason,
    TherapyLine,
)
from cds_service.sequencing.knowledge import (
    EvidenceLevel,
    Knowledge,
    OptionRule,
    Place,
    PostReviewNote,
    RuleId,
    SettingId,
    SourceRef,
)


@dataclass(frozen=True, slots=True)
class SequencingParameters:
    """Site parameters of the rules (documented defaults in the README's settings table)."""

    afp_cutoff_ng_per_ml: Decimal = Decimal(400)
    afp_max_age_days: int = 90
    show_post_review_notes: bool = True


class LineClass(StrEnum):
    SORAFENIB = "sorafenib"
    LENVATINIB = "lenvatinib"
    ATEZOLIZUMAB_BEVACIZUMAB = "atezolizumab_bevacizumab"
    OTHER_IMMUNOTHERAPY = "other_immunotherapy"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class OptionAssessment:
    """One regimen's standing for this patient. ``reasons`` holds the decisive reason first."""

    regimen_id: str
    label: str
    place: Place
    evidence: EvidenceLevel
    trials: tuple[str, ...]
    rationale: str
    reasons: tuple[str, ...]
    caveats: tuple[str, ...]
    sources: tuple[SourceRef, ...]
    extrapolated: bool = False

    @property
    def decisive_reason(self) -> str:
        return self.reasons[0] if self.reasons else self.rationale


@dataclass(frozen=True, slots=True)
class SelectedAssessment:
    """How the clinician's selected draft order(s) fit this patient (clinical-sequencing.md 2.4).

    It fits when it is among the best-placed options of the setting (preferred, or an option where the
    review prefers none), is supported for this patient and was not received before.
    """

    order_references: tuple[str, ...]
    agents: frozenset[str]
    regimen_id: str | None
    label: str
    place: Place
    reason: str
    already_received: bool = False
    fits: bool = False


@dataclass(frozen=True, slots=True)
class DataGap:
    """Missing data that would change the answer."""

    kind: Literal["afp", "child_pugh", "medication_history", "sorafenib_stop_reason"]
    description: str


@dataclass(frozen=True, slots=True)
class Recommendation:
    applicable: bool
    summary_reason: str
    knowledge_version: str
    facts: PatientFacts
    setting: SettingId | None = None
    setting_title: str | None = None
    setting_phrase: str | None = None
    setting_notes: tuple[str, ...] = ()
    setting_source: SourceRef | None = None
    options: tuple[OptionAssessment, ...] = ()
    selected: tuple[SelectedAssessment, ...] = ()
    data_gaps: tuple[DataGap, ...] = ()
    post_review_notes: tuple[PostReviewNote, ...] = ()
    trials_cited: tuple[str, ...] = field(default=())

    @property
    def preferred(self) -> tuple[OptionAssessment, ...]:
        return tuple(o for o in self.options if o.place is Place.PREFERRED)


def classify_line(agents: frozenset[str], knowledge: Knowledge) -> LineClass:
    """Classify a prior regimen into the review's first-line settings."""
    regimen = knowledge.regimen_by_agents.get(agents)
    if regimen in (LineClass.SORAFENIB, LineClass.LENVATINIB, LineClass.ATEZOLIZUMAB_BEVACIZUMAB):
        return LineClass(regimen)
    immunotherapy = {a for a, spec in knowledge.terminology.agents.items() if spec.immunotherapy}
    if agents & immunotherapy:
        return LineClass.OTHER_IMMUNOTHERAPY
    return LineClass.OTHER


_SETTING_BY_LINE_CLASS = {
    LineClass.SORAFENIB: SettingId.AFTER_SORAFENIB,
    LineClass.LENVATINIB: SettingId.AFTER_LENVATINIB,
    LineClass.ATEZOLIZUMAB_BEVACIZUMAB: SettingId.AFTER_ATEZOLIZUMAB_BEVACIZUMAB,
    LineClass.OTHER_IMMUNOTHERAPY: SettingId.AFTER_OTHER_IMMUNOTHERAPY,
    LineClass.OTHER: SettingId.AFTER_OTHER_REGIMEN,
}


def determine_setting(lines: tuple[TherapyLine, ...], knowledge: Knowledge) -> SettingId:
    """No prior line: first line; two or more: beyond second line; one: by what it was."""
    if not lines:
        return SettingId.FIRST_LINE
    if len(lines) >= 2:
        return SettingId.BEYOND_SECOND_LINE
    return _SETTING_BY_LINE_CLASS[classify_line(lines[0].agents, knowledge)]


def regimen_label(agents: frozenset[str], knowledge: Knowledge) -> str:
    regimen_id = knowledge.regimen_by_agents.get(agents)
    if regimen_id is not None:
        return knowledge.regimens[regimen_id].label
    return " + ".join(sorted(agents)).capitalize() if agents else "Unidentified regimen"


class _Context:
    """What the rules read, computed once per evaluation."""

    def __init__(self, facts: PatientFacts, knowledge: Knowledge, params: SequencingParameters, today: date) -> None:
        self.facts = facts
        self.knowledge = knowledge
        self.params = params
        self.today = today
        self.gaps: dict[str, DataGap] = {}
        afp = facts.afp
        self.afp_is_recent = bool(afp and afp.effective and (today - afp.effective).days <= params.afp_max_age_days)

    def add_gap(self, gap: DataGap) -> None:
        self.gaps.setdefault(gap.kind, gap)

    def received_in(self, agents: tuple[str, ...]) -> TherapyLine | None:
        wanted = set(agents)
        return next((line for line in self.facts.lines if wanted and wanted <= line.agents), None)

    def had_agent(self, agent: str) -> bool:
        return any(agent in line.agents for line in self.facts.lines)


def number_text(value: Decimal) -> str:
    """400 rather than 400.0 or 4E+2."""
    return format(value.normalize(), "f")


STOP_TEXT = {
    StopReason.PROGRESSION: "stopped for progression",
    StopReason.INTOLERANCE: "stopped for intolerance",
    StopReason.OTHER: "stopped for another reason",
    StopReason.UNKNOWN: "reason for stopping not recorded",
}


def _stop_text(line: TherapyLine) -> str:
    return STOP_TEXT[line.stop_reason]


def _afp_text(ctx: _Context) -> str:
    afp = ctx.facts.afp
    if afp is None:
        return "no AFP result"
    when = afp.effective.isoformat() if afp.effective else "undated"
    return f"AFP {afp.as_reported} ({when})"


class _Assessor:
    def __init__(self, ctx: _Context, option: OptionRule, extrapolated: bool, max_place: Place | None):
        self.ctx = ctx
        self.option = option
        self.place = option.place
        self.reasons: list[str] = []
        self.caveats: list[str] = []
        self.sources = [option.source]
        self.extrapolated = extrapolated
        if max_place is not None and self.place.rank < max_place.rank:
            self.place = max_place
            self.reasons.append("Extrapolated: no preference can be taken from the review for this setting.")

    def demote(self, place: Place, reason: str, rule: RuleId) -> None:
        """Move the option down to ``place`` (never up); the decisive reason goes first."""
        if place.rank >= self.place.rank:
            self.place = place
            self.reasons.insert(0, reason)
        else:
            self.reasons.append(reason)
        self.sources.append(self.ctx.knowledge.sequencing.rules[rule].source)

    def run(self) -> OptionAssessment:
        rules = set(self.option.rules) | self.ctx.knowledge.global_rules
        for rule_id in sorted(rules, key=_RULE_ORDER.__getitem__):
            _RULES[rule_id](self)
        regimen = self.ctx.knowledge.regimens[self.option.regimen]
        return OptionAssessment(
            regimen_id=self.option.regimen,
            label=regimen.label,
            place=self.place,
            evidence=self.option.evidence,
            trials=self.option.trials,
            rationale=self.option.rationale,
            reasons=tuple(self.reasons),
            caveats=tuple(self.caveats),
            sources=tuple(dict.fromkeys(self.sources)),
            extrapolated=self.extrapolated,
        )


def _rule_already_received(a: _Assessor) -> None:
    """Do not suggest a regimen the patient has already received (clinical-sequencing.md 2.3)."""
    regimen = a.ctx.knowledge.regimens[a.option.regimen]
    line = a.ctx.received_in(regimen.agents)
    if line is not None:
        a.demote(
            Place.NOT_SUPPORTED,
            f"Already received as line {line.number} ({_stop_text(line)}).",
            RuleId.ALREADY_RECEIVED,
        )


def _rule_requires_sorafenib_tolerance(a: _Assessor) -> None:
    """RESORCE excluded patients who did not tolerate sorafenib (review, "Regorafenib")."""
    sorafenib_lines = [line for line in a.ctx.facts.lines if "sorafenib" in line.agents]
    if any(line.stop_reason is StopReason.INTOLERANCE for line in sorafenib_lines):
        a.demote(
            Place.NOT_SUPPORTED,
            "Sorafenib was stopped for intolerance; RESORCE enrolled only patients who tolerated sorafenib.",
            RuleId.REQUIRES_SORAFENIB_TOLERANCE,
        )
    elif any(line.stop_reason in (StopReason.UNKNOWN, StopReason.OTHER) for line in sorafenib_lines):
        a.caveats.append(
            "RESORCE enrolled only patients who tolerated sorafenib; the record does not say why it stopped."
        )
        a.ctx.add_gap(
            DataGap(
                "sorafenib_stop_reason",
                "Why sorafenib was stopped (progression or intolerance) decides whether regorafenib is supported.",
            )
        )


def _rule_afp_at_least_cutoff(a: _Assessor) -> None:
    """Ramucirumab only with AFP >= the cut-off (REACH-2); below it not supported; unknown: ask for AFP."""
    ctx = a.ctx
    cutoff = ctx.params.afp_cutoff_ng_per_ml
    afp = ctx.facts.afp
    relation = afp.relation_to(cutoff) if afp and ctx.afp_is_recent else CutoffRelation.UNDETERMINED
    if relation is CutoffRelation.BELOW:
        a.demote(
            Place.NOT_SUPPORTED,
            f"{_afp_text(ctx)} is below {number_text(cutoff)} ng/mL; ramucirumab is supported only at AFP ≥ "
            f"{number_text(cutoff)} ng/mL (REACH-2).",
            RuleId.AFP_AT_LEAST_CUTOFF,
        )
        return
    if relation is CutoffRelation.AT_OR_ABOVE:
        a.reasons.append(f"{_afp_text(ctx)} is at or above {number_text(cutoff)} ng/mL.")
        return
    if afp is None:
        why = "No AFP result on record"
    elif not afp.comparable:
        why = f"{_afp_text(ctx)} cannot be compared with the ng/mL cut-off"
    elif not ctx.afp_is_recent:
        why = f"The latest {_afp_text(ctx)} is older than {ctx.params.afp_max_age_days} days"
    else:
        why = f"{_afp_text(ctx)} does not show whether AFP is at or above {number_text(cutoff)} ng/mL"
    a.caveats.append(f"{why}: ramucirumab is an option only if AFP ≥ {number_text(cutoff)} ng/mL.")
    if a.place.rank <= Place.OPTION.rank:
        ctx.add_gap(DataGap("afp", f"{why}. A current AFP (ng/mL) decides whether ramucirumab is an option."))


def _rule_not_after_bevacizumab(a: _Assessor) -> None:
    """Ramucirumab is unlikely to be effective after a bevacizumab-containing regimen (review)."""
    if a.ctx.had_agent("bevacizumab"):
        a.demote(
            Place.NOT_SUPPORTED,
            "Unlikely to be effective after a bevacizumab-containing regimen.",
            RuleId.NOT_AFTER_BEVACIZUMAB,
        )


def _rule_immunotherapy_cautions(a: _Assessor) -> None:
    """Immunotherapy only without contraindications: flag transplant and autoimmune disease for review."""
    for caution in a.ctx.facts.immunotherapy_cautions:
        a.caveats.append(f"Review before immunotherapy: {caution.description} ({caution.source.reference}).")


def _rule_child_pugh(a: _Assessor) -> None:
    """Phase III trials enrolled Child-Pugh A; B has limited data; C or unknown has none in the review."""
    if a.option.regimen == "clinical_trial":
        return
    child_pugh = a.ctx.facts.child_pugh
    klass = child_pugh.child_pugh_class if child_pugh else None
    if klass == "B":
        detail = {
            "nivolumab": " Limited data: CheckMate 040 cohort 5 (ORR 12%, DCR 55%).",
            "cabozantinib": " Limited data: CELESTIAL post-hoc analysis of patients who worsened to B.",
        }.get(a.option.regimen, "")
        a.caveats.append(f"Child-Pugh B: the phase III trials enrolled Child-Pugh A.{detail}")
    elif klass == "C":
        a.caveats.append("Child-Pugh C: the review has no evidence for this option.")
    elif klass is None:
        a.caveats.append("Child-Pugh class unknown: the phase III trials enrolled Child-Pugh A.")


_RULE_ORDER = {rule_id: position for position, rule_id in enumerate(RuleId)}
_RULES = {
    RuleId.ALREADY_RECEIVED: _rule_already_received,
    RuleId.REQUIRES_SORAFENIB_TOLERANCE: _rule_requires_sorafenib_tolerance,
    RuleId.AFP_AT_LEAST_CUTOFF: _rule_afp_at_least_cutoff,
    RuleId.NOT_AFTER_BEVACIZUMAB: _rule_not_after_bevacizumab,
    RuleId.IMMUNOTHERAPY_CAUTIONS: _rule_immunotherapy_cautions,
    RuleId.CHILD_PUGH: _rule_child_pugh,
}


def _group_selected(
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
    result = []
    for agents in groups:
        refs = tuple(o.reference for o in (*selected, *other_drafts) if o.agents & agents)
        result.append((agents, refs))
    return result


def _assess_selected(
    selected: tuple[DraftOrder, ...],
    other_drafts: tuple[DraftOrder, ...],
    options: tuple[OptionAssessment, ...],
    ctx: _Context,
    setting_phrase: str | None,
) -> tuple[SelectedAssessment, ...]:
    knowledge = ctx.knowledge
    by_regimen = {o.regimen_id: o for o in options}
    drug_options = [o.place.rank for o in options if o.regimen_id != "clinical_trial"]
    best_rank = min(drug_options, default=Place.PREFERRED.rank)
    assessments = []
    for agents, refs in _group_selected(selected, other_drafts, knowledge):
        regimen_id = knowledge.regimen_by_agents.get(agents)
        label = regimen_label(agents, knowledge)
        line = ctx.received_in(tuple(agents))
        option = by_regimen.get(regimen_id) if regimen_id else None
        if option is not None:
            place, reason = option.place, option.decisive_reason
        elif setting_phrase is None:
            place, reason = (
                Place.NOT_ADDRESSED,
                "Prior systemic therapy is unknown, so the setting is unknown.",
            )
        else:
            place = Place.NOT_SUPPORTED if line else Place.NOT_ADDRESSED
            reason = (
                f"Already received as line {line.number} ({_stop_text(line)})."
                if line
                else f"The review does not address {label.lower()} {setting_phrase}."
            )
        assessments.append(
            SelectedAssessment(
                order_references=refs,
                agents=agents,
                regimen_id=regimen_id,
                label=label,
                place=place,
                reason=reason,
                already_received=line is not None,
                fits=line is None and place is not Place.NOT_SUPPORTED and place.rank <= best_rank,
            )
        )
    return tuple(assessments)


def recommend(
    facts: PatientFacts,
    knowledge: Knowledge,
    *,
    selected_orders: tuple[DraftOrder, ...] = (),
    other_draft_orders: tuple[DraftOrder, ...] = (),
    params: SequencingParameters | None = None,
    today: date,
) -> Recommendation:
    """Second-line sequencing for advanced HCC (review, "Sequencing"; clinical-sequencing.md 2.1-2.4).

    Without a documented HCC diagnosis there is no recommendation: the agents are used in other cancers.
    """
    params = params or SequencingParameters()
    version = knowledge.info.version
    if facts.hcc.status is not DiagnosisStatus.PRESENT:
        reason = (
            "No hepatocellular carcinoma diagnosis on record."
            if facts.hcc.status is DiagnosisStatus.ABSENT
            else "No condition data was available, so an HCC diagnosis cannot be confirmed."
        )
        return Recommendation(applicable=False, summary_reason=reason, knowledge_version=version, facts=facts)

    ctx = _Context(facts, knowledge, params, today)
    if not facts.medication_history_known:
        ctx.add_gap(
            DataGap("medication_history", "Prior systemic therapy could not be obtained; the setting is unknown.")
        )
        selected = _assess_selected(selected_orders, other_draft_orders, (), ctx, None)
        return Recommendation(
            applicable=True,
            summary_reason="Prior systemic therapy unknown",
            knowledge_version=version,
            facts=facts,
            selected=selected,
            data_gaps=tuple(ctx.gaps.values()),
        )

    setting_id = determine_setting(facts.lines, knowledge)
    setting = knowledge.sequencing.settings[setting_id]
    extrapolated = setting.extrapolated_from is not None
    options = tuple(
        sorted(
            (
                _Assessor(ctx, option, extrapolated, setting.max_place).run()
                for option in knowledge.options_for(setting_id)
            ),
            key=lambda o: o.place.rank,
        )
    )
    notes = tuple(n for n in (setting.scope_note, setting.extrapolation_note, setting.setting_note) if n is not None)
    shown = {o.regimen_id for o in options}
    post_review = (
        tuple(n for n in knowledge.evidence.post_review_notes if shown & set(n.regimens))
        if params.show_post_review_notes
        else ()
    )
    trials = tuple(
        dict.fromkeys((*(t for o in options for t in o.trials), *(t for n in post_review for t in n.trials)))
    )
    return Recommendation(
        applicable=True,
        summary_reason=setting.title,
        knowledge_version=version,
        facts=facts,
        setting=setting_id,
        setting_title=setting.title,
        setting_phrase=setting.phrase,
        setting_notes=notes,
        setting_source=setting.source,
        options=options,
        selected=_assess_selected(selected_orders, other_draft_orders, options, ctx, setting.phrase),
        data_gaps=tuple(ctx.gaps.values()),
        post_review_notes=post_review,
        trials_cited=trials,
    )
