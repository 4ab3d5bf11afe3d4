"""The sequencing engine: a pure function from patient facts and draft orders to a recommendation.

It restates the review's "Sequencing" section (docs/clinical-sequencing.md 2.1-2.4) with the safety
policy of section 6: the setting comes from the prior lines (``setting``), each option's place from the
knowledge files, moved down by the gates (``gates``, ``options``); the selected order is assessed the same
way (``selected``) and the alert policy (``alerts``) decides how loudly the cards speak.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from cds_service.facts import DiagnosisStatus, DraftOrder, PatientFacts
from cds_service.knowledge import Knowledge, Place, PostReviewNote, SettingId, Severity, SourceRef
from cds_service.sequencing.alerts import CardIndicators, Fit, card_indicators
from cds_service.sequencing.alternatives import Alternatives, choose_alternatives
from cds_service.sequencing.child_pugh import ChildPughAssessment
from cds_service.sequencing.gates import DataGap, Finding, GateContext
from cds_service.sequencing.options import OptionAssessment, assess_option
from cds_service.sequencing.selected import SelectedAssessment, assess_selected
from cds_service.sequencing.setting import determine_setting, line_label, unidentified_medications


@dataclass(frozen=True, slots=True)
class Recommendation:
    """The engine's answer: the setting, every option's place, each selected order's fit, the alternatives to a
    misfit order (offered and withheld, with why) and the indicator of every card; the cards only render it."""

    applicable: bool
    summary_reason: str
    knowledge_version: str
    facts: PatientFacts
    child_pugh: ChildPughAssessment | None = None
    setting: SettingId | None = None
    setting_title: str | None = None
    setting_phrase: str | None = None
    setting_notes: tuple[str, ...] = ()
    setting_source: SourceRef | None = None
    preferred_label: str = "preferred"
    preferred_attribution: str | None = None
    options: tuple[OptionAssessment, ...] = ()
    selected: tuple[SelectedAssessment, ...] = ()
    data_gaps: tuple[DataGap, ...] = ()
    post_review_notes: tuple[PostReviewNote, ...] = ()
    trials_cited: tuple[str, ...] = ()
    alternatives: Alternatives = field(default_factory=Alternatives)
    indicators: CardIndicators = field(default_factory=CardIndicators)
    # Policy 6.5: what the patient is on now, in one sentence ("On first-line atezolizumab + bevacizumab;
    # second-line options apply after progression or intolerance"), and the prior medications the review does
    # not cover (the setting is then "not determined").
    current_line_statement: str | None = None
    unidentified: tuple[str, ...] = ()
    # What the properties below derive from the fields above, worked out on first use (the cards ask often).
    _misfits: tuple[SelectedAssessment, ...] | None = field(default=None, init=False, repr=False, compare=False)
    _preferred: tuple[OptionAssessment, ...] | None = field(default=None, init=False, repr=False, compare=False)
    _wordings: tuple[str, ...] | None = field(default=None, init=False, repr=False, compare=False)
    _headline: tuple[Finding, ...] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def misfits(self) -> tuple[SelectedAssessment, ...]:
        """The selected orders that do not fit this patient (policy 6.1): what the does-not-fit card is about."""
        found = self._misfits
        if found is None:
            found = misfits_of(self.selected)
            object.__setattr__(self, "_misfits", found)
        return found

    @property
    def options_apply(self) -> bool:
        """Whether the setting's options are for a new regimen now: not while a first line is in progress
        (policy 6.5: "second-line options apply after progression or intolerance")."""
        return not (self.facts.current_line is not None and not self.facts.lines)

    @property
    def continuation_only(self) -> bool:
        """Every selected order continues the current line (policy 6.5): only a does-not-fit card may speak."""
        return bool(self.selected) and all(s.continues_current for s in self.selected)

    @property
    def preferred(self) -> tuple[OptionAssessment, ...]:
        found = self._preferred
        if found is None:
            found = tuple(o for o in self.options if o.place is Place.PREFERRED)
            object.__setattr__(self, "_preferred", found)
        return found

    @property
    def preferred_wordings(self) -> tuple[str, ...]:
        """The setting's preferred place in its source's words, most complete first: "preferred in the 2021
        review", then "preferred" (rules.yaml preferred_label and preferred_attribution)."""
        found = self._wordings
        if found is None:
            label = self.preferred_label
            full = f"{label} {self.preferred_attribution}" if self.preferred_attribution else label
            found = tuple(dict.fromkeys((full, label)))
            object.__setattr__(self, "_wordings", found)
        return found

    @property
    def population_messages(self) -> tuple[str, ...]:
        """Policy 6.5: why the review's trials excluded this patient (pregnancy, age under 18, fibrolamellar
        carcinoma), once; every card says it."""
        found = (*(f for s in self.selected for f in s.findings), *(f for o in self.options for f in o.findings))
        return tuple(dict.fromkeys(f.message for f in found if f.gate_id == "outside_trial_populations"))

    @property
    def headline_findings(self) -> tuple[Finding, ...]:
        """Warning and critical facts about the patient (headline gates), once per gate, loudest first, then in
        gates.yaml order (the order summaries name them in)."""
        if self._headline is not None:
            return self._headline
        found: dict[str, Finding] = {}
        for finding in (
            *(f for s in self.selected for f in s.findings),
            *(f for o in self.options for f in o.findings),
        ):
            if finding.headline and finding.severity is not Severity.INFO:
                found.setdefault(finding.gate_id, finding)
        headline = tuple(sorted(found.values(), key=lambda f: (-f.severity.rank, f.order)))
        object.__setattr__(self, "_headline", headline)
        return headline


def misfits_of(selected: tuple[SelectedAssessment, ...]) -> tuple[SelectedAssessment, ...]:
    return tuple(s for s in selected if s.fit is Fit.DOES_NOT_FIT)


def _data_gaps(options: tuple[OptionAssessment, ...], selected: tuple[SelectedAssessment, ...]) -> tuple[DataGap, ...]:
    """Gaps that would change the answer: an AFP only while ramucirumab could still be an option. Recording
    ascites and encephalopathy at a Child-Pugh minimum of A (policy 6.2, revised) comes last: it never decides
    as much as a missing lab, an AFP or a stop reason."""
    gaps: dict[str, DataGap] = {}
    for place, findings in (*((o.place, o.findings) for o in options), *((s.place, s.findings) for s in selected)):
        for finding in findings:
            gap = finding.gap
            if gap is not None and (gap.kind != "afp" or place.rank <= Place.OPTION.rank):
                gaps.setdefault(gap.kind, gap)
    return tuple(sorted(gaps.values(), key=lambda gap: gap.kind == "child_pugh_findings"))


def _later_evidence(
    knowledge: Knowledge, setting_id: SettingId, selected: tuple[SelectedAssessment, ...]
) -> tuple[PostReviewNote, ...]:
    """Dated later evidence for this setting, or about a selected regimen (clinical-sequencing.md 4)."""
    selected_ids = {s.regimen_id for s in selected if s.regimen_id}
    return tuple(
        n for n in knowledge.evidence.post_review_notes if setting_id in n.settings or selected_ids & set(n.regimens)
    )


_ORDINALS = {1: "first", 2: "second", 3: "third"}


def _current_line_phrases(facts: PatientFacts, knowledge: Knowledge) -> tuple[str | None, str | None]:
    """Policy 6.5: the sentence naming the current line, and the setting phrase while it is first line."""
    current = facts.current_line
    if current is None:
        return None, None
    label = line_label(current, knowledge)
    regimen = label[:1].lower() + label[1:]
    ordinal = _ORDINALS.get(current.number)
    on = f"On {ordinal}-line {regimen}" if ordinal else f"On line {current.number}, {regimen}"
    if not facts.lines:
        statement = f"{on}; second-line options apply after progression or intolerance"
        return statement, f"on first-line {regimen}, with no line ended"
    return f"{on}; the options below apply after progression or intolerance", None


def recommend(
    facts: PatientFacts,
    knowledge: Knowledge,
    *,
    selected_orders: tuple[DraftOrder, ...] = (),
    other_draft_orders: tuple[DraftOrder, ...] = (),
    today: date,
    selecting: bool = False,
) -> Recommendation:
    """Second-line sequencing for advanced HCC (review, "Sequencing"; clinical-sequencing.md 2 and 6).

    Without a documented HCC diagnosis there is no recommendation: the agents are used in other cancers.
    ``selecting`` (order-select): the clinician picks one drug at a time (policy 6.5).
    """
    version = knowledge.version
    if facts.hcc.status is not DiagnosisStatus.PRESENT:
        reason = (
            "No hepatocellular carcinoma diagnosis on record."
            if facts.hcc.status is DiagnosisStatus.ABSENT
            else "No condition data was available, so an HCC diagnosis cannot be confirmed."
        )
        return Recommendation(applicable=False, summary_reason=reason, knowledge_version=version, facts=facts)

    if not facts.medication_history_known:
        ctx = GateContext(facts, knowledge, today, None)
        selected = assess_selected(ctx, selected_orders, other_draft_orders, (), None, selecting=selecting)
        gap = DataGap(
            "medication_history",
            "Prior systemic therapy could not be obtained; the setting is unknown.",
            summary="Prior systemic therapy not obtained: it decides the setting",
        )
        misfits = misfits_of(selected)
        return Recommendation(
            applicable=True,
            summary_reason="Prior systemic therapy unknown",
            knowledge_version=version,
            facts=facts,
            child_pugh=ctx.child_pugh,
            selected=selected,
            data_gaps=(gap, *_data_gaps((), selected)),
            alternatives=choose_alternatives((), misfits),
            indicators=card_indicators((s.indicator for s in misfits), has_data_gaps=True),
        )

    setting_id = determine_setting(facts.lines, knowledge)
    setting = knowledge.sequencing.settings[setting_id]
    unidentified = unidentified_medications(facts.lines)
    statement, first_line_phrase = _current_line_phrases(facts, knowledge)
    phrase = first_line_phrase or setting.phrase
    # Policy 6.5: a patient on a first line is not "with no prior systemic therapy", and the first-line options
    # do not apply to a new regimen now (the card says so instead of listing them).
    title = f"First line in progress ({phrase.removeprefix('on ')})" if first_line_phrase else setting.title
    if setting_id is SettingId.NOT_DETERMINED:
        phrase = f"{setting.phrase} ({', '.join(unidentified)})"
    ctx = GateContext(facts, knowledge, today, setting_id)
    options = tuple(
        sorted(
            (assess_option(ctx, setting, option) for option in knowledge.options_for(setting_id)),
            key=lambda o: o.place.rank,
        )
    )
    selected = assess_selected(ctx, selected_orders, other_draft_orders, options, phrase, selecting=selecting)
    later = _later_evidence(knowledge, setting_id, selected)
    trials = (*(t for o in options for t in o.trials), *(t for n in later for t in n.trials))
    misfits = misfits_of(selected)
    gaps = _data_gaps(options, selected)
    return Recommendation(
        applicable=True,
        summary_reason=setting.title,
        knowledge_version=version,
        facts=facts,
        child_pugh=ctx.child_pugh,
        setting=setting_id,
        setting_title=title,
        setting_phrase=phrase,
        setting_notes=setting.notes,
        setting_source=setting.source,
        preferred_label=setting.preferred_label,
        preferred_attribution=setting.preferred_attribution,
        options=options,
        selected=selected,
        data_gaps=gaps,
        post_review_notes=later,
        trials_cited=tuple(dict.fromkeys(trials)),
        alternatives=choose_alternatives(options, misfits),
        indicators=card_indicators((s.indicator for s in misfits), has_data_gaps=bool(gaps)),
        current_line_statement=statement,
        unidentified=unidentified,
    )
