"""Properties that must hold for every patient, whatever the history (hypothesis)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.cards.builder import CardContext, Hook, build_cards
from cds_service.facts import CutoffRelation, DiagnosisStatus, HccDiagnosis, LineState, PatientFacts, StopReason
from cds_service.knowledge import Knowledge, Place, load_knowledge
from cds_service.sequencing.engine import recommend
from tests.sequencing.builders import TODAY, afp, facts, line, order

KNOWLEDGE: Knowledge = load_knowledge()
HOOKS: list[Hook] = ["order-select", "order-sign", "patient-view"]
CARD_CONTEXT = CardContext(KNOWLEDGE, "p1", "hook-1", "http://x/CodeSystem/override-reason", "http://x")
AGENTS = [*sorted(KNOWLEDGE.terminology.agents), "doxorubicin"]
REGIMENS = [r.agents for r in KNOWLEDGE.regimens.values() if r.agents]

regimen_agents = st.one_of(
    st.sampled_from(REGIMENS), st.lists(st.sampled_from(AGENTS), min_size=1, max_size=3).map(tuple)
)
lines_strategy = st.lists(st.tuples(regimen_agents, st.sampled_from(list(StopReason))), max_size=3)
afp_strategy = st.one_of(
    st.none(),
    st.builds(
        lambda v, old, cmp, ok: afp(v, days_old=old, comparator=cmp, comparable=ok),
        st.floats(min_value=0, max_value=100000, allow_nan=False),
        st.integers(0, 400),
        st.sampled_from([None, "<", ">"]),
        st.booleans(),
    ),
)


@st.composite
def patients(draw: st.DrawFn) -> PatientFacts:
    drawn = draw(lines_strategy)
    history = [line(i, *agents, stop=stop) for i, (agents, stop) in enumerate(drawn, start=1)]
    return facts(*history, afp_result=draw(afp_strategy), cp=draw(st.sampled_from(["A", "B", "C", None])))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patients(), st.lists(st.sampled_from(AGENTS), max_size=2))
def test_a_regimen_already_progressed_on_is_never_preferred(patient: PatientFacts, drafted: list[str]) -> None:
    rec = recommend(patient, KNOWLEDGE, selected_orders=(order(*drafted),) if drafted else (), today=TODAY)
    progressed = [ln.agents for ln in patient.lines if ln.stop_reason is StopReason.PROGRESSION]
    for option in rec.options:
        agents = set(KNOWLEDGE.regimens[option.regimen_id].agents)
        if agents and any(agents <= received for received in progressed):
            assert option.place.rank >= Place.NOT_SUPPORTED.rank, option
            assert not option.offerable, option
    for selected in rec.selected:
        if any(selected.agents <= received for received in progressed):
            assert not selected.fits


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patients())
def test_ramucirumab_never_above_not_supported_with_low_afp_or_after_bevacizumab(patient: PatientFacts) -> None:
    rec = recommend(patient, KNOWLEDGE, today=TODAY)
    ramucirumab = [o for o in rec.options if o.regimen_id == "ramucirumab"]
    recent = (
        patient.afp is not None and patient.afp.effective is not None and ((TODAY - patient.afp.effective).days <= 90)
    )
    low_afp = recent and patient.afp is not None and (patient.afp.relation_to(Decimal(400)) is CutoffRelation.BELOW)
    after_bevacizumab = any("bevacizumab" in ln.agents for ln in patient.lines)
    for option in ramucirumab:
        if low_afp or after_bevacizumab:
            assert option.place.rank >= Place.NOT_SUPPORTED.rank
            assert not option.offerable


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patients(), st.lists(st.sampled_from(AGENTS), min_size=1, max_size=2))
def test_child_pugh_c_never_prefers_offers_or_stays_quiet(patient: PatientFacts, drafted: list[str]) -> None:
    """Policy 6.2: with Child-Pugh C nothing is preferred or offered, and a selected HCC agent is critical."""
    rec = recommend(patient, KNOWLEDGE, selected_orders=(order(*drafted),), today=TODAY)
    if patient.liver.coded is None or patient.liver.coded.child_pugh_class != "C":
        return
    assert not rec.preferred
    assert not any(o.offerable for o in rec.options)
    assert all(s.indicator.value == "critical" for s in rec.selected)


@settings(max_examples=200)
@given(
    patients(),
    st.sampled_from([DiagnosisStatus.ABSENT, DiagnosisStatus.UNKNOWN]),
    st.lists(st.sampled_from(AGENTS), max_size=2),
)
def test_a_patient_without_hcc_gets_no_recommendation(
    patient: PatientFacts, status: DiagnosisStatus, drafted: list[str]
) -> None:
    from dataclasses import replace

    rec = recommend(
        replace(patient, hcc=HccDiagnosis(status)),
        KNOWLEDGE,
        selected_orders=(order(*drafted),) if drafted else (),
        today=TODAY,
    )
    assert not rec.applicable
    assert not rec.options
    assert not rec.selected
    assert not rec.data_gaps


@settings(max_examples=200, deadline=None)
@given(patients())
def test_options_are_ordered_best_first_and_clinical_trial_is_always_there(patient: PatientFacts) -> None:
    rec = recommend(patient, KNOWLEDGE, today=TODAY)
    ranks = [o.place.rank for o in rec.options]
    assert ranks == sorted(ranks)
    assert "clinical_trial" in {o.regimen_id for o in rec.options}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    patients(),
    st.sampled_from(REGIMENS),
    st.data(),
    st.sampled_from(HOOKS),
)
def test_a_regimen_in_progress_is_never_already_received_nor_replaced(
    patient: PatientFacts, current_agents: tuple[str, ...], data: st.DataObject, hook: Hook
) -> None:
    """Policy 6.5: an order continuing the current line is never "already received", never gets a replacement,
    and gets a card only for a critical gate or a wrong product."""
    number = len(patient.lines) + 1
    current = dataclasses.replace(line(number, *current_agents), end=None, state=LineState.CURRENT)
    patient = dataclasses.replace(patient, current_line=current)
    drafted = data.draw(st.lists(st.sampled_from(current_agents), min_size=1, max_size=2, unique=True))
    selected = (order(*drafted),) if hook != "patient-view" else ()
    rec = recommend(patient, KNOWLEDGE, selected_orders=selected, today=TODAY, selecting=hook == "order-select")
    for assessed in rec.selected:
        assert assessed.continues_current
        assert "already_received" not in {f.gate_id for f in assessed.findings}
    for option in rec.options:
        if set(KNOWLEDGE.regimen_agents(option.regimen_id)) <= set(current_agents):
            assert "already_received" not in {f.gate_id for f in option.findings}, option
    if hook == "patient-view":
        return
    for issued in build_cards(rec, CARD_CONTEXT, hook=hook):
        assert "already received" not in f"{issued.card.summary}\n{issued.card.detail}".lower()
        assert not issued.card.suggestions
        assert issued.card.indicator == "critical"
