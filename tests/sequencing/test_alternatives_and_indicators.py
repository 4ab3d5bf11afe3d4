"""The clinical choices the cards render, made in sequencing and carried on the Recommendation (issue 22):
the alternatives a does-not-fit card offers and withholds (with why), each regimen's own cautions, every card's
indicator, and whether a regimen entry is a drug (regimens.yaml ``drug``)."""

from __future__ import annotations

from dataclasses import replace

from cds_service.facts import CautionKind, ChildPughClass, LiverFinding, Provenance, StopReason, TherapyLine
from cds_service.knowledge import Knowledge, SettingId, Severity
from cds_service.sequencing.alerts import Fit
from cds_service.sequencing.engine import Recommendation, recommend
from tests.sequencing.builders import TODAY, afp, child_pugh, facts, line, order


def run(
    knowledge: Knowledge,
    *agents_per_order: tuple[str, ...],
    lines: tuple[TherapyLine, ...] = (line(1, "sorafenib"),),
    cp: ChildPughClass = "A",
    cautions: tuple[CautionKind, ...] = (),
) -> Recommendation:
    chart = facts(*lines, afp_result=afp(500), cp=cp, cautions=cautions)
    orders = tuple(order(*agents, ref=f"MedicationRequest/sel-{i}") for i, agents in enumerate(agents_per_order))
    return recommend(chart, knowledge, selected_orders=orders, today=TODAY)


def offered(rec: Recommendation) -> list[str]:
    return [a.option.regimen_id for a in rec.alternatives.offered]


def test_a_misfit_order_is_offered_the_preferred_regimens_with_why(knowledge: Knowledge) -> None:
    rec = run(knowledge, ("nivolumab",))
    assert [s.regimen_id for s in rec.misfits] == ["nivolumab"]
    assert offered(rec) == ["cabozantinib", "regorafenib"]
    assert {a.why for a in rec.alternatives.offered} == {"preferred for this patient"}
    assert not any(a.recommended for a in rec.alternatives.offered)  # two to choose from: neither is marked
    assert rec.alternatives.withheld == ()
    assert rec.indicators.does_not_fit is Severity.WARNING
    assert rec.indicators.recommendation is Severity.INFO


def test_the_only_clean_alternative_is_recommended(knowledge: Knowledge) -> None:
    rec = run(knowledge, ("regorafenib",), lines=(line(1, "sorafenib", stop=StopReason.INTOLERANCE),))
    assert offered(rec) == ["cabozantinib"]
    assert rec.alternatives.offered[0].recommended


def test_alternatives_sharing_the_selected_orders_caution_are_withheld_with_it(knowledge: Knowledge) -> None:
    rec = run(knowledge, ("nivolumab",), cp="B")
    assert offered(rec) == []
    withheld = {w.option.regimen_id: w.why for w in rec.alternatives.withheld}
    assert withheld == {
        "cabozantinib": "Child-Pugh B",
        "regorafenib": "Child-Pugh B",
        "ramucirumab": "Child-Pugh B",
        "nivolumab_ipilimumab": "Child-Pugh B",
    }


def test_child_pugh_c_is_critical_and_forbids_any_offer(knowledge: Knowledge) -> None:
    rec = run(knowledge, ("regorafenib",), cp="C")
    assert rec.indicators.does_not_fit is Severity.CRITICAL
    assert offered(rec) == []
    assert rec.alternatives.withheld == ()
    assert rec.alternatives.offer_forbidden_by_gate


def test_an_order_that_fits_has_no_does_not_fit_card_and_no_alternatives(knowledge: Knowledge) -> None:
    rec = run(knowledge, ("cabozantinib",))
    assert rec.misfits == ()
    assert rec.indicators.does_not_fit is None
    assert rec.alternatives.offered == ()
    assert rec.alternatives.withheld == ()


def test_the_data_needed_indicator_comes_with_a_data_gap(knowledge: Knowledge) -> None:
    with_gap = recommend(facts(line(1, "sorafenib")), knowledge, today=TODAY)  # no AFP: it decides ramucirumab
    assert with_gap.data_gaps
    assert with_gap.indicators.data_needed is Severity.INFO
    # Normal current labs with ascites and encephalopathy recorded absent: Child-Pugh A5, nothing missing.
    absent = LiverFinding("absent", Provenance("Condition", "none", TODAY))
    liver = replace(child_pugh("A"), ascites=absent, encephalopathy=absent)
    complete = replace(facts(line(1, "sorafenib"), afp_result=afp(1250)), liver=liver)
    assert recommend(complete, knowledge, today=TODAY).indicators.data_needed is None


def test_a_checkpoint_caution_is_carried_by_the_regimens_place_not_by_a_drug_without_it(knowledge: Knowledge) -> None:
    rec = run(knowledge, ("nivolumab",), cautions=(CautionKind.ORGAN_TRANSPLANT,))
    by_id = {o.regimen_id: o for o in rec.options}
    assert [f.gate_id for f in by_id["nivolumab_ipilimumab"].cautions] == ["organ_transplant"]
    assert by_id["cabozantinib"].cautions == ()
    assert [f.gate_id for f in rec.selected[0].cautions] == ["organ_transplant"]


def test_clinical_trial_enrollment_is_no_drug_by_the_knowledge_flag(knowledge: Knowledge) -> None:
    assert [r for r, regimen in knowledge.regimens.items() if not regimen.drug] == ["clinical_trial"]
    # After a first line the review does not address, only trial enrollment is listed: a drug ordered there is
    # not addressed (unranked), not a misfit measured against the trial.
    rec = run(knowledge, ("cabozantinib",), lines=(line(1, "regorafenib"),))
    assert rec.setting is SettingId.AFTER_OTHER_REGIMEN
    assert rec.selected[0].fit is Fit.UNRANKED
    # Trial enrollment is never offered in one click; marked a drug, the same entry would be: the flag decides.
    trial = {o.regimen_id: o for o in run(knowledge, ("nivolumab",)).options}["clinical_trial"]
    assert not trial.drug
    assert not trial.offerable
    marked = knowledge.regimens["clinical_trial"].model_copy(update={"drug": True})
    as_drug = knowledge.model_copy(update={"regimens": {**knowledge.regimens, "clinical_trial": marked}})
    trial = {o.regimen_id: o for o in run(as_drug, ("nivolumab",)).options}["clinical_trial"]
    assert trial.offerable
