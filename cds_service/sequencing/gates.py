"""Safety gates and patient-specific rules: one registered function per entry of knowledge/gates.yaml.

Each function answers one question about this patient and one regimen ("does the gate fire?") and returns
the values its message needs; what the gate then does (severity, place cap, whether the regimen may be
offered in one click), its wording and its source live in gates.yaml. A gate only ever moves a regimen
down and never decides a place by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Literal

from cds_service.facts import (
    CautionKind,
    CutoffRelation,
    DraftOrder,
    ImmunotherapyCaution,
    MedicationKind,
    PatientFacts,
    PopulationKind,
    StopReason,
    TherapyLine,
)
from cds_service.knowledge import (
    ClinicalParameters,
    GateDefinition,
    Knowledge,
    KnowledgeError,
    Place,
    SettingId,
    Severity,
    SourceRef,
    register_knowledge_check,
)
from cds_service.memo import Memo
from cds_service.sequencing.child_pugh import ChildPughAssessment, assess_child_pugh
from cds_service.sequencing.gate_fields import filled_fields, placeholders, reads_parameter
from cds_service.sequencing.wording import (
    afp_reading_text,
    afp_text,
    afp_value_text,
    agents_text,
    joined,
    number_text,
    quoted_reason,
    stop_text,
)

GapKind = Literal[
    "afp", "child_pugh", "child_pugh_findings", "medication_history", "sorafenib_stop_reason", "current_line"
]


@dataclass(frozen=True, slots=True)
class DataGap:
    """Missing data that would change the answer; ``labs`` names lab orders that would fill it; ``summary`` names
    the decisive missing fact in a few words for the data-needed card's summary (policy 6.1)."""

    kind: GapKind
    description: str
    labs: tuple[str, ...] = ()
    summary: str = ""


@dataclass(frozen=True, slots=True)
class Fired:
    """A gate fired: the values for its message template, and the data that would resolve it."""

    fields: dict[str, object] = field(default_factory=dict)
    gap: DataGap | None = None
    statement: str = ""  # what the gate says of the selected order, from the knowledge (see Finding.statement)


@dataclass(frozen=True, slots=True)
class Finding:
    """What a fired gate says about one regimen for this patient."""

    gate_id: str
    title: str
    severity: Severity
    place_cap: Place | None
    offer: bool
    summary: str
    message: str
    headline: bool = False
    gap: DataGap | None = None
    order: int = 0  # the gate's position in gates.yaml: after severity, the order summaries name findings in
    # What the gate says of the selected order, when its summary names only the fact ("Cometriq capsules
    # selected, not the HCC product"): the knowledge's own words, e.g. the product's note.
    statement: str = ""

    @property
    def asks_review(self) -> bool:
        """A warning or critical gate that decides no place: its own statement is that the order needs review
        ("Organ transplant ... review before any checkpoint inhibitor"), which a card states before any place."""
        return self.severity is not Severity.INFO and self.place_cap is None


class GateContext:
    """What the gates read, computed once per evaluation."""

    def __init__(
        self,
        facts: PatientFacts,
        knowledge: Knowledge,
        today: date,
        setting: SettingId | None,
        orders: tuple[DraftOrder, ...] = (),
    ) -> None:
        self.facts = facts
        self.orders = orders  # the selected draft orders, for the gates that apply to a selected order
        self.knowledge = knowledge
        self.params: ClinicalParameters = knowledge.parameters
        self.today = today
        self.setting = setting
        self.child_pugh: ChildPughAssessment = assess_child_pugh(facts.liver, self.params, today)
        afp = facts.afp
        self.afp_is_recent = bool(
            afp and afp.effective and (today - afp.effective).days <= self.params.afp_max_age_days
        )
        self.plan = gate_plan(knowledge)
        self.per_patient: dict[str, Finding | None] = {}  # findings of the gates that do not read the agents

    def for_orders(self, orders: tuple[DraftOrder, ...]) -> GateContext:
        """The same patient, with the selected draft orders the ``selected_order`` gates read."""
        other = GateContext.__new__(GateContext)
        other.__dict__.update(self.__dict__)
        other.orders = orders
        other.per_patient = {}
        return other

    def lines_with(self, agents: frozenset[str]) -> list[TherapyLine]:
        return [line for line in self.facts.lines if line.agents & agents]

    def cautions(self, kind: CautionKind) -> list[ImmunotherapyCaution]:
        return [c for c in self.facts.immunotherapy_cautions if c.kind is kind]


GateFunction = Callable[[GateContext, frozenset[str]], Fired | None]
_GATES: dict[str, GateFunction] = {}


def gate(gate_id: str) -> Callable[[GateFunction], GateFunction]:
    """Register the function of one gates.yaml entry."""

    def register(function: GateFunction) -> GateFunction:
        if gate_id in _GATES:
            raise KnowledgeError(f"gate {gate_id} is registered twice")
        _GATES[gate_id] = function
        return function

    return register


def registered_gates() -> frozenset[str]:
    return frozenset(_GATES)


def check_gate_registry(knowledge: Knowledge) -> None:
    """At load: every gate in gates.yaml has one function, every function has an entry, and every placeholder
    of a gate's summary and message is one its function fills (a typo fails at start-up, not when it fires)."""
    defined, registered = set(knowledge.gates), set(_GATES)
    problems = [f"gate {g} in gates.yaml has no function" for g in sorted(defined - registered)]
    problems += [f"gate function {g} has no entry in gates.yaml" for g in sorted(registered - defined)]
    for gate_id in sorted(defined & registered):
        fields = filled_fields(_GATES[gate_id])
        definition = knowledge.gates[gate_id]
        for part, template in (("summary", definition.summary), ("message", definition.message)):
            unfilled = sorted(placeholders(template) - fields) if fields is not None else []
            problems += [
                f"gate {gate_id}: {part} placeholder {{{name}}} is not filled by its function" for name in unfilled
            ]
    if problems:
        raise KnowledgeError("; ".join(problems))


def in_scope(definition: GateDefinition, regimen_id: str | None, agents: frozenset[str], knowledge: Knowledge) -> bool:
    if not agents:
        return False
    if definition.scope == "all":
        return True
    if definition.scope == "checkpoint_inhibitors":
        return bool(agents & knowledge.checkpoint_inhibitors)
    return regimen_id in definition.scope


@dataclass(frozen=True, slots=True)
class PlannedGate:
    """One gates.yaml entry with its function, its position, its source as a ``SourceRef`` and whether its
    function reads the regimen's agents (one that does not answers the same for every regimen of a patient)."""

    order: int
    gate_id: str
    definition: GateDefinition
    function: GateFunction
    source: SourceRef
    reads_agents: bool


class GatePlan:
    """The gates of one knowledge in gates.yaml order, and which of them are in scope for a regimen, worked out
    once per knowledge and regimen instead of per call."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self.gates = tuple(
            PlannedGate(
                order,
                gate_id,
                definition,
                _GATES[gate_id],
                SourceRef(section=definition.source.section, quote=definition.source.quote),
                _reads_agents(_GATES[gate_id]),
            )
            for order, (gate_id, definition) in enumerate(knowledge.gates.items())
        )
        self.by_id = {g.gate_id: g for g in self.gates}
        self._scoped: Memo[tuple[PlannedGate, ...]] = Memo(1024)
        self._agents: dict[str | None, frozenset[str]] = {}

    def agents_of(self, regimen_id: str | None) -> frozenset[str]:
        """``Knowledge.regimen_agents``, once per regimen."""
        found = self._agents.get(regimen_id)
        if found is None:
            found = self._agents[regimen_id] = self.knowledge.regimen_agents(regimen_id)
        return found

    def in_scope(self, regimen_id: str | None, agents: frozenset[str], applies_to: str) -> tuple[PlannedGate, ...]:
        """The gates that apply to this regimen, in gates.yaml order (``in_scope``)."""
        return self._scoped.get(
            (),
            (regimen_id, agents, applies_to),
            lambda: tuple(
                g
                for g in self.gates
                if g.definition.applies_to == applies_to and in_scope(g.definition, regimen_id, agents, self.knowledge)
            ),
        )


@cache
def _reads_agents(function: GateFunction) -> bool:
    return reads_parameter(function, 1)


_PLANS: Memo[GatePlan] = Memo(8)


def gate_plan(knowledge: Knowledge) -> GatePlan:
    """The knowledge's ``GatePlan``, kept for the few knowledge objects a process holds."""
    return _PLANS.get((knowledge,), None, lambda: GatePlan(knowledge))


_findings: Memo[Finding] = Memo(4096)


def _finding(ctx: GateContext, planned: PlannedGate, agents: frozenset[str]) -> Finding | None:
    """What a fired gate says, worded once per (gate, values, gap, statement): the finding is a function of
    those alone, and equal ones recur (a regimen received on an earlier line, the same caution)."""
    fired = planned.function(ctx, agents)
    if fired is None:
        return None
    values = {key: str(value) for key, value in fired.fields.items()}
    return _findings.get(
        (planned,), (*values.items(), fired.gap, fired.statement), lambda: _worded(planned, values, fired)
    )


def _worded(planned: PlannedGate, values: dict[str, str], fired: Fired) -> Finding:
    definition = planned.definition
    return Finding(
        gate_id=planned.gate_id,
        title=definition.title,
        severity=definition.effect.severity,
        place_cap=definition.effect.place_cap,
        offer=definition.effect.offer,
        summary=definition.summary.format(**values),
        message=" ".join(definition.message.format(**values).split()),
        headline=definition.headline,
        gap=fired.gap,
        order=planned.order,
        statement=fired.statement,
    )


def evaluate_gates(
    ctx: GateContext, regimen_id: str | None, agents: frozenset[str], applies_to: str = "regimen"
) -> tuple[Finding, ...]:
    """Every gate in scope for this regimen, in gates.yaml order; the fired ones become findings.

    ``applies_to`` "selected_order": only the gates that read the clinician's draft (gates.yaml ``applies_to``).
    A gate that does not read the agents is evaluated once per context and its finding reused.
    """
    findings = []
    memo = ctx.per_patient
    for planned in ctx.plan.in_scope(regimen_id, agents, applies_to):
        if planned.reads_agents:
            finding = _finding(ctx, planned, agents)
        elif planned.gate_id in memo:
            finding = memo[planned.gate_id]
        else:
            finding = memo[planned.gate_id] = _finding(ctx, planned, agents)
        if finding is not None:
            findings.append(finding)
    return tuple(findings)


def continues_current_line(ctx: GateContext, agents: frozenset[str]) -> bool:
    """The regimen is the current line or part of it, or completes it into a combination the setting lists as
    preferred or an option (policy 6.5: "Current therapy is not a prior line"; "One regimen, however it is
    drafted": bevacizumab added to atezolizumab). A combination the setting does not offer (cabozantinib added to
    atezolizumab) is a new decision, assessed as such."""
    current = ctx.facts.current_line
    if current is None or not agents or not current.agents:
        return False
    if agents <= current.agents:
        return True
    if ctx.setting is None:
        return False
    joined = current.agents | agents
    offered = (
        ctx.knowledge.regimen_agents(option.regimen)
        for option in ctx.knowledge.options_for(ctx.setting)
        if option.place in (Place.PREFERRED, Place.OPTION)
    )
    return any(len(regimen) > 1 and joined <= regimen for regimen in offered)


@gate("already_received")
def already_received(ctx: GateContext, agents: frozenset[str]) -> Fired | None:
    """Do not suggest a regimen the patient has already received (policy 2.3); a regimen that continues the
    current line is never "already received" (policy 6.5)."""
    if continues_current_line(ctx, agents):
        return None
    line = next((line for line in ctx.facts.lines if agents <= line.agents), None)
    return Fired({"line": line.number, "stop": stop_text(line)}) if line else None


@gate("current_line")
def current_line(ctx: GateContext, agents: frozenset[str]) -> Fired | None:
    """A line is current (policy 6.5): the setting comes from the lines that ended, nothing is offered in one
    click while it continues, and why it stops (progression or intolerance) would decide what follows."""
    line = ctx.facts.current_line
    if line is None:
        return None
    regimen = _line_text(line, ctx.knowledge)
    since = line.start.isoformat() if line.start else "an unrecorded date"
    gap = DataGap(
        "current_line",
        f"The patient is on line {line.number} ({regimen}, current: {line.state_basis}). Whether it stops for "
        "progression or intolerance decides the next line's options.",
        summary=f"On {regimen}: progression or intolerance not recorded",
    )
    return Fired({"line": line.number, "regimen": regimen, "since": since, "basis": line.state_basis}, gap)


def _line_text(line: TherapyLine, knowledge: Knowledge) -> str:
    parts = [agents_text(line.agents)] if line.agents else []
    return " + ".join([*parts, *line.unidentified]) or "an unidentified regimen"


def _lines_of(ctx: GateContext, agent: str) -> list[TherapyLine]:
    return ctx.lines_with(frozenset({agent}))


@gate("sorafenib_intolerance")
def sorafenib_intolerance(ctx: GateContext, agents: frozenset[str]) -> Fired | None:
    """RESORCE excluded patients who did not tolerate sorafenib (review, "Regorafenib"); the card quotes the
    recorded reason (policy 6.5)."""
    lines = [line for line in _lines_of(ctx, "sorafenib") if line.stop_reason is StopReason.INTOLERANCE]
    return Fired({"quoted": quoted_reason(lines[0])}) if lines else None


@gate("sorafenib_stop_reason_unknown")
def sorafenib_stop_reason_unknown(ctx: GateContext, agents: frozenset[str]) -> Fired | None:
    """Sorafenib stopped for a reason not recorded, or recorded in words that name neither progression nor a
    toxicity ("unclear - possibly intolerance", policy 6.5): regorafenib's support is undecided. With no
    sorafenib line, the same for lenvatinib, labelled as an extrapolation (policy 6.5: lenvatinib carries the
    same tolerance caveat)."""
    agent = "sorafenib" if _lines_of(ctx, "sorafenib") else "lenvatinib"
    lines = _lines_of(ctx, agent)
    reasons = {line.stop_reason for line in lines}
    if StopReason.INTOLERANCE in reasons or not reasons & {StopReason.UNKNOWN, StopReason.UNCLEAR}:
        return None
    name = agent.capitalize()
    unclear = next((line for line in lines if line.stop_reason is StopReason.UNCLEAR), None)
    if unclear is not None:
        why = f"{agent} was stopped for “{unclear.stop_text}”: unclear, possibly intolerance"
        state, missing = "unclear (possibly intolerance)", "unclear"
    else:
        why, state, missing = f"the record does not say why {agent} stopped", "unknown", "not recorded"
    if agent == "lenvatinib":
        why += " (the caveat is extrapolated from sorafenib to lenvatinib)"
    gap = DataGap(
        "sorafenib_stop_reason",
        f"Why {agent} was stopped (progression or intolerance) decides whether regorafenib is supported"
        + (f"; the record says “{unclear.stop_text}”." if unclear else "."),
        summary=f"Why {agent} stopped decides regorafenib: {missing}",
    )
    return Fired({"why": why, "state": state, "agent": name}, gap=gap)


@gate("lenvatinib_intolerance")
def lenvatinib_intolerance(ctx: GateContext, agents: frozenset[str]) -> Fired | None:
    """Lenvatinib stopped for intolerance: the same tolerance caveat for regorafenib as after sorafenib,
    labelled as an extrapolation (policy 6.5 "Stop reasons in words")."""
    lines = [line for line in _lines_of(ctx, "lenvatinib") if line.stop_reason is StopReason.INTOLERANCE]
    return Fired({"quoted": quoted_reason(lines[0])}) if lines else None


@gate("wrong_product")
def wrong_product(ctx: GateContext, agents: frozenset[str]) -> Fired | None:
    """A selected product of the agent that is not its HCC product: Cometriq capsules are the thyroid product,
    not interchangeable with Cabometyx tablets (policy 6.5 "The product, not only the molecule")."""
    products = ctx.knowledge.medication_history.products
    for order in ctx.orders:
        for product_id in sorted(order.products):
            product = products[product_id]
            if product.agent in agents:
                fields: dict[str, object] = {"product": product.label, "order": order.description, "note": product.note}
                return Fired(fields, statement=product.note)
    return None


def _afp_relation(ctx: GateContext) -> CutoffRelation:
    afp = ctx.facts.afp
    if afp is None or not ctx.afp_is_recent:
        return CutoffRelation.UNDETERMINED
    return afp.relation_to(ctx.params.afp_cutoff_ng_per_ml)


@gate("afp_below_cutoff")
def afp_below_cutoff(ctx: GateContext, agents: frozenset[str]) -> Fired | None:
    """Ramucirumab only with AFP at or above the cut-off (REACH-2; default 400 ng/mL)."""
    if _afp_relation(ctx) is not CutoffRelation.BELOW:
        return None
    afp = ctx.facts.afp
    value = afp_value_text(afp) if afp else "?"
    return Fired({"afp": afp_text(afp), "value": value, "cutoff": number_text(ctx.params.afp_cutoff_ng_per_ml)})


@gate("afp_unknown")
def afp_unknown(ctx: GateContext, agents: frozenset[str]) -> Fired | None:
    """No current, comparable AFP: ramucirumab's condition cannot be checked; ask for an AFP (policy 2.1).

    ``fact`` (the summary's first words) says what is true of the record: no AFP, an AFP in a unit that
    cannot be compared with the ng/mL cut-off (naming the unit; clinical-sequencing.md 1: IU/mL is "not
    comparable" unless the site configures a factor), an AFP too old, or one whose comparator leaves the
    cut-off undecided.
    """
    if _afp_relation(ctx) is not CutoffRelation.UNDETERMINED:
        return None
    afp, cutoff = ctx.facts.afp, number_text(ctx.params.afp_cutoff_ng_per_ml)
    if afp is None:
        why = fact = "No AFP result on record"
    elif not afp.comparable:
        why = f"{afp_text(afp)} cannot be compared with the ng/mL cut-off"
        fact = f"AFP {afp_reading_text(afp)} not comparable with {cutoff} ng/mL"
    elif not ctx.afp_is_recent:
        why = f"The latest {afp_text(afp)} is older than {ctx.params.afp_max_age_days} days"
        fact = f"Latest AFP older than {ctx.params.afp_max_age_days} days"
    else:
        why = f"{afp_text(afp)} does not show whether AFP is at or above {cutoff} ng/mL"
        fact = f"AFP {afp_value_text(afp)}: at or above {cutoff} ng/mL undetermined"
    gap = DataGap("afp", f"{why}. A current AFP (ng/mL) decides whether ramucirumab is an option.")
    return Fired({"why": why, "fact": fact, "cutoff": cutoff}, gap)


@gate("after_bevacizumab")
def after_bevacizumab(ctx: GateContext, agents: frozenset[str]) -> Fired | None:
    """Ramucirumab is unlikely to be effective after a bevacizumab-containing regimen (review)."""
    lines = ctx.lines_with(frozenset({"bevacizumab"}))
    return Fired({"line": lines[0].number}) if lines else None


@gate("celestial_extrapolation")
def celestial_extrapolation(ctx: GateContext, agents: frozenset[str]) -> Fired | None:
    """Beyond second line, cabozantinib's phase III evidence holds only for CELESTIAL's population (policy 6.3)."""
    lines = ctx.facts.lines
    if ctx.setting is not SettingId.BEYOND_SECOND_LINE:
        return None
    if len(lines) <= 2 and any("sorafenib" in line.agents for line in lines):
        return None
    described = ", ".join(f"line {line.number} {agents_text(line.agents)}" for line in lines)
    return Fired({"lines": described})


@gate("after_ctla4_combination")
def after_ctla4_combination(ctx: GateContext, agents: frozenset[str]) -> Fired | None:
    """Nivolumab + ipilimumab after a CTLA-4-containing regimen is not addressed by the review (policy 6.3)."""
    lines = ctx.lines_with(ctx.knowledge.ctla4_inhibitors)
    if not lines:
        return None
    return Fired({"line": lines[0].number, "agents": agents_text(lines[0].agents)})


@gate("child_pugh_c")
def child_pugh_c(ctx: GateContext, agents: frozenset[str]) -> Fired | None:
    """Child-Pugh C (its recorded minimum reaches C): no trial in the review enrolled it (policy 6.2)."""
    cp = ctx.child_pugh
    return Fired({"basis": _basis(cp)}) if cp.min_class == "C" else None


def _basis(cp: ChildPughAssessment) -> str:
    """The score, and the other class when a coded and a computed class were compared (policy 6.2: "take the
    worse, and show both")."""
    return f"{cp.score_text}; {cp.compared}" if cp.compared else cp.score_text


def _years_between(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def population_facts(ctx: GateContext) -> list[str]:
    """What puts the patient outside the review's trials' populations (policy 6.5): pregnancy (an active
    pregnancy Condition, or a positive pregnancy test within ``pregnancy_test_max_age_days``), age under
    ``trial_minimum_age_years``, fibrolamellar carcinoma. Each with its source."""
    facts, params, today = ctx.facts, ctx.params, ctx.today
    found: list[str] = []
    for kind, name in (
        (PopulationKind.PREGNANCY, "Pregnancy"),
        (PopulationKind.FIBROLAMELLAR, "Fibrolamellar carcinoma"),
    ):
        for finding in facts.populations:
            if finding.kind is not kind:
                continue
            when = finding.source.date
            if finding.test and (when is None or (today - when).days > params.pregnancy_test_max_age_days):
                continue
            shown = when.isoformat() if when else "undated"
            found.append(f"{name} ({finding.description}, {finding.source.reference}, {shown})")
            break
    born = facts.birth_date
    if born is not None and _years_between(born, today) < params.trial_minimum_age_years:
        found.append(f"Age {_years_between(born, today)} (under {params.trial_minimum_age_years})")
    return found


@gate("outside_trial_populations")
def outside_trial_populations(ctx: GateContext, agents: frozenset[str]) -> Fired | None:
    """Pregnancy, age under 18 or fibrolamellar carcinoma: the review's trials excluded these patients; nothing
    is preferred and no suggestion is recommended (policy 6.5, "Outside the trials' populations")."""
    found = population_facts(ctx)
    if not found:
        return None
    short = "; ".join(fact.split(" (")[0] for fact in found)
    return Fired({"what": short, "facts": "; ".join(found)})


@gate("child_pugh_b_or_c")
def child_pugh_b_or_c(ctx: GateContext, agents: frozenset[str]) -> Fired | None:
    """The score's minimum is B and only its maximum reaches C (policy 6.2, "Child-Pugh as a range", revised):
    a warning naming the range and what is not recorded. A minimum of A never warns
    (``child_pugh_findings_not_recorded``)."""
    cp = ctx.child_pugh
    if cp.min_class != "B" or cp.max_class != "C":
        return None
    fields = {"classes": cp.class_text, "unknown": cp.unknown_text, "score_min": cp.score_min}
    return Fired({**fields, "score_max": cp.score_max})


@gate("child_pugh_b")
def child_pugh_b(ctx: GateContext, agents: frozenset[str]) -> Fired | None:
    """Child-Pugh B (its recorded minimum is B): the phase III trials enrolled A; limited data (policy 6.2)."""
    cp = ctx.child_pugh
    if cp.min_class != "B" or cp.max_class == "C":
        return None
    return Fired({"basis": _basis(cp)})


@gate("child_pugh_unknown")
def child_pugh_unknown(ctx: GateContext, agents: frozenset[str]) -> Fired | None:
    """A Child-Pugh lab missing or too old: say which, with dates, and offer the lab orders (policy 6.2)."""
    cp = ctx.child_pugh
    if cp.labs_known or cp.min_class == "C":
        return None
    why = "; ".join(lab.describe() for lab in cp.labs)
    needed = cp.missing_labs
    current = "A current" if len(needed) == 1 else "Current"
    gap = DataGap(
        "child_pugh",
        f"Child-Pugh class unknown (possible class {cp.class_text}): {why}. {current} {joined(needed, 'and')} "
        f"(within {ctx.params.liver_lab_max_age_days} days) would determine it.",
        labs=needed,
    )
    return Fired({"why": why}, gap)


@gate("child_pugh_findings_not_recorded")
def child_pugh_findings_not_recorded(ctx: GateContext, agents: frozenset[str]) -> Fired | None:
    """The score's minimum is A and ascites or encephalopathy is not recorded, so the class is a range (policy
    6.2, revised): the range is shown in the facts and the data-needed card asks for ascites and encephalopathy
    to be recorded; no warning, no summary mention."""
    cp = ctx.child_pugh
    open_findings = (*cp.unrecorded_findings, *cp.ungraded_findings)
    if cp.coded or cp.min_class != "A" or cp.max_class == "A" or not open_findings:
        return None
    names = " and ".join(open_findings)
    gap = DataGap(
        "child_pugh_findings",
        f"Child-Pugh {cp.class_text} ({cp.score_text}): {names} not recorded. Recording them (present with a "
        "grade, or absent) would determine the class.",
        summary="Ascites and encephalopathy not recorded: record them, present or absent",
    )
    return Fired({"classes": cp.class_text, "score": cp.score_text, "names": names}, gap)


@gate("ecog_2_or_more")
def ecog_2_or_more(ctx: GateContext, agents: frozenset[str]) -> Fired | None:
    """ECOG above the trials' maximum (0-1): the card says so (policy 6.2)."""
    ecog = ctx.facts.ecog
    if ecog is None or ecog.grade <= ctx.params.ecog_trial_maximum:
        return None
    when = ecog.source.date.isoformat() if ecog.source.date else "undated"
    return Fired({"grade": ecog.grade, "when": when})


def _caution(ctx: GateContext, kind: CautionKind) -> Fired | None:
    found = ctx.cautions(kind)
    if not found:
        return None
    return Fired({"what": found[0].description, "reference": found[0].source.reference})


@gate("organ_transplant")
def organ_transplant(ctx: GateContext, agents: frozenset[str]) -> Fired | None:
    """Organ transplant on record and a checkpoint inhibitor: critical (policy 6.2)."""
    return _caution(ctx, CautionKind.ORGAN_TRANSPLANT)


@gate("autoimmune_disease")
def autoimmune_disease(ctx: GateContext, agents: frozenset[str]) -> Fired | None:
    """Autoimmune disease on record and a checkpoint inhibitor: warning (policy 6.2)."""
    return _caution(ctx, CautionKind.AUTOIMMUNE_DISEASE)


@gate("possible_transplant_or_autoimmune")
def possible_transplant_or_autoimmune(ctx: GateContext, agents: frozenset[str]) -> Fired | None:
    """An active immunosuppressant with no organ transplant or autoimmune disease recorded: verify before a
    checkpoint inhibitor (policy 6.5)."""
    if ctx.cautions(CautionKind.ORGAN_TRANSPLANT) or ctx.cautions(CautionKind.AUTOIMMUNE_DISEASE):
        return None
    found = [m for m in ctx.facts.current_medications if m.kind is MedicationKind.IMMUNOSUPPRESSANT]
    if not found:
        return None
    return Fired({"drug": found[0].name, "reference": found[0].source.reference})


@gate("prior_immune_toxicity")
def prior_immune_toxicity(ctx: GateContext, agents: frozenset[str]) -> Fired | None:
    """A checkpoint inhibitor stopped for intolerance, or an immune-related adverse event recorded by code or
    text ("Grade 3 immune-mediated colitis", T45.AX5-): a possible severe immune-related event (policy 6.2, 6.5)."""
    lines = [
        line
        for line in ctx.lines_with(ctx.knowledge.checkpoint_inhibitors)
        if line.stop_reason is StopReason.INTOLERANCE
    ]
    if lines:
        line = lines[0]
        stopped = f"Line {line.number} ({agents_text(line.agents)}) was stopped for intolerance{quoted_reason(line)}"
        return Fired({"what": stopped})
    recorded = ctx.cautions(CautionKind.IMMUNE_TOXICITY)
    if recorded:
        event = recorded[0]
        return Fired(
            {"what": f"Immune-related adverse event on record ({event.description}, {event.source.reference})"}
        )
    return None


@gate("hepatitis_b")
def hepatitis_b(ctx: GateContext, agents: frozenset[str]) -> Fired | None:
    """Hepatitis B on record: the checkpoint-inhibitor trials required antiviral therapy (review, KEYNOTE-224);
    the card says whether an antiviral (entecavir, tenofovir) is on record (policy 6.5)."""
    fired = _caution(ctx, CautionKind.HEPATITIS_B)
    if fired is None:
        return None
    antivirals = [m for m in ctx.facts.current_medications if m.kind is MedicationKind.HBV_ANTIVIRAL]
    if antivirals:
        antiviral = f"antiviral on record: {antivirals[0].name} ({antivirals[0].source.reference})"
    else:
        antiviral = "no active antiviral (entecavir, tenofovir) on record"
    return Fired({**fired.fields, "antiviral": antiviral})


register_knowledge_check("gate registry", check_gate_registry)  # load_knowledge runs it once gates are imported
