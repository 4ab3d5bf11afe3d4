"""One test per row of clinical-sequencing.md sections 2.1-2.4: place, evidence level, decisive reason."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from cds_service.facts import (
    AfpResult,
    CautionKind,
    CodedChildPugh,
    DiagnosisStatus,
    HccDiagnosis,
    LiverFacts,
    PatientFacts,
    Provenance,
    StopReason,
)
from cds_service.knowledge import EvidenceLevel, Knowledge, Place, SettingId
from cds_service.sequencing.engine import Recommendation, recommend
from cds_service.sequencing.options import OptionAssessment
from tests.sequencing.builders import TODAY, afp, facts, lab, line, order


def run(
    knowledge: Knowledge, patient: PatientFacts, *selected: tuple[str, ...], others: tuple[str, ...] = ()
) -> Recommendation:
    orders = tuple(order(*agents, ref=f"MedicationRequest/sel-{i}") for i, agents in enumerate(selected))
    other = (order(*others, ref="MedicationRequest/other"),) if others else ()
    return recommend(patient, knowledge, selected_orders=orders, other_draft_orders=other, today=TODAY)


def option(rec: Recommendation, regimen: str) -> OptionAssessment:
    return next(o for o in rec.options if o.regimen_id == regimen)


def messages(assessment: OptionAssessment) -> list[str]:
    return [f.message for f in assessment.findings]


def gates(assessment: OptionAssessment) -> set[str]:
    return {f.gate_id for f in assessment.findings}


AFTER_SORAFENIB = facts(line(1, "sorafenib"), afp_result=afp(1250))
AFTER_ATEZO_BEV = facts(line(1, "atezolizumab", "bevacizumab"), afp_result=afp(1250))


# --- 2.1 After sorafenib (or lenvatinib) ---------------------------------------------------------------


def test_after_sorafenib_cabozantinib_is_preferred_with_phase3_celestial(knowledge: Knowledge) -> None:
    rec = run(knowledge, AFTER_SORAFENIB)
    assert rec.setting is SettingId.AFTER_SORAFENIB
    cabo = option(rec, "cabozantinib")
    assert (cabo.place, cabo.evidence, cabo.trials) == (Place.PREFERRED, EvidenceLevel.PHASE3, ("CELESTIAL",))


def test_after_sorafenib_regorafenib_is_preferred_with_phase3_resorce(knowledge: Knowledge) -> None:
    rego = option(run(knowledge, AFTER_SORAFENIB), "regorafenib")
    assert (rego.place, rego.evidence, rego.trials) == (Place.PREFERRED, EvidenceLevel.PHASE3, ("RESORCE",))


def test_regorafenib_not_supported_after_sorafenib_intolerance(knowledge: Knowledge) -> None:
    rec = run(knowledge, facts(line(1, "sorafenib", stop=StopReason.INTOLERANCE), afp_result=afp(10)))
    rego = option(rec, "regorafenib")
    assert rego.place is Place.NOT_SUPPORTED
    assert "intolerance" in rego.decisive_reason
    assert "RESORCE" in rego.decisive_reason
    assert option(rec, "cabozantinib").place is Place.PREFERRED


def test_regorafenib_with_unknown_sorafenib_stop_reason_asks_why(knowledge: Knowledge) -> None:
    rec = run(knowledge, facts(line(1, "sorafenib", stop=StopReason.UNKNOWN), afp_result=afp(10)))
    assert option(rec, "regorafenib").place is Place.PREFERRED
    assert any("tolerated sorafenib" in m for m in messages(option(rec, "regorafenib")))
    assert "sorafenib_stop_reason" in {g.kind for g in rec.data_gaps}


def test_ramucirumab_is_an_option_when_afp_at_least_400(knowledge: Knowledge) -> None:
    ramu = option(run(knowledge, facts(line(1, "sorafenib"), afp_result=afp(400))), "ramucirumab")
    assert (ramu.place, ramu.evidence) == (Place.OPTION, EvidenceLevel.PHASE3)
    assert not gates(ramu) & {"afp_below_cutoff", "afp_unknown"}


def test_ramucirumab_not_supported_when_afp_below_400(knowledge: Knowledge) -> None:
    ramu = option(run(knowledge, facts(line(1, "sorafenib"), afp_result=afp(399))), "ramucirumab")
    assert ramu.place is Place.NOT_SUPPORTED
    assert "below 400" in ramu.decisive_reason


@pytest.mark.parametrize(
    ("afp_result", "why"),
    [
        (None, "No AFP result"),
        (afp(900, days_old=120), "older than 90 days"),
        (afp(900, comparable=False), "cannot be compared"),
        (afp(1000, comparator="<"), "does not show"),
    ],
    ids=["missing", "too-old", "iu-not-comparable", "less-than-above-cutoff"],
)
def test_ramucirumab_with_afp_unknown_asks_for_an_afp(knowledge: Knowledge, afp_result: object, why: str) -> None:
    rec = run(knowledge, facts(line(1, "sorafenib"), afp_result=afp_result))  # type: ignore[arg-type]
    ramu = option(rec, "ramucirumab")
    assert ramu.place is Place.OPTION
    assert any(why in m for m in messages(ramu))
    assert not ramu.offerable
    # policy 6.2 (revised): ascites/encephalopathy not recorded at a minimum of A: the data-needed card asks
    assert [g.kind for g in rec.data_gaps] == ["afp", "child_pugh_findings"]


@pytest.mark.parametrize(
    ("afp_result", "summary"),
    [
        (None, "No AFP result on record"),
        (replace(afp(600, comparable=False), as_reported="600 IU/mL", unit="IU/mL"), "AFP 600 IU/mL not comparable"),
        (replace(afp(600, comparable=False), as_reported="600", unit=None), "AFP 600 (no unit) not comparable"),
        (replace(afp(5, comparable=False), as_reported="5 mmol/L", unit="mmol/L"), "AFP 5 mmol/L not comparable"),
        (afp(900, days_old=120), "Latest AFP older than 90 days"),
        (afp(1000, comparator="<"), "AFP <1000 ng/mL: at or above 400 ng/mL undetermined"),
    ],
    ids=["missing", "iu", "iu-code-no-unit", "unconvertible-unit", "too-old", "less-than-above-cutoff"],
)
def test_afp_unknown_summary_says_what_is_true_of_the_afp(
    knowledge: Knowledge, afp_result: AfpResult | None, summary: str
) -> None:
    """Policy 6.1 (summary names the decisive fact) and 1 (IU/mL is "not comparable"): an AFP on record in a
    unit the cut-off cannot use is named with its unit, never summarised as "No current AFP"."""
    rec = run(knowledge, facts(line(1, "sorafenib"), afp_result=afp_result), ("ramucirumab",))
    finding = next(f for f in rec.selected[0].findings if f.gate_id == "afp_unknown")
    assert finding.summary.startswith(summary)
    if afp_result is not None:
        assert "No AFP" not in finding.summary
        assert "No current AFP" not in finding.summary


def test_afp_converted_with_the_site_factor_is_shown_in_ng_per_ml_first(knowledge: Knowledge) -> None:
    """An IU/mL AFP converted with a site factor is compared in ng/mL; the card says the ng/mL value it
    compared, never "AFP 300 IU/mL ... below 400 ng/mL"."""
    converted = replace(
        afp(363, comparable=True), as_reported="300 IU/mL", unit="IU/mL", converted=True, note="site factor 1.21"
    )
    rec = run(knowledge, facts(line(1, "sorafenib"), afp_result=converted), ("ramucirumab",))
    finding = next(f for f in rec.selected[0].findings if f.gate_id == "afp_below_cutoff")
    assert finding.summary.startswith("AFP 363 ng/mL (reported 300 IU/mL) below 400")
    assert finding.message.startswith("AFP 363 ng/mL (reported 300 IU/mL, ")
    assert "AFP 300 IU/mL" not in finding.message


def test_afp_reported_as_greater_than_cutoff_counts_as_above(knowledge: Knowledge) -> None:
    ramu = option(run(knowledge, facts(line(1, "sorafenib"), afp_result=afp(2000, comparator=">"))), "ramucirumab")
    assert ramu.place is Place.OPTION
    assert ramu.offerable
    assert not any("AFP" in m for m in messages(ramu))


def test_afp_reported_as_less_than_small_value_counts_as_below(knowledge: Knowledge) -> None:
    ramu = option(run(knowledge, facts(line(1, "sorafenib"), afp_result=afp(2, comparator="<"))), "ramucirumab")
    assert ramu.place is Place.NOT_SUPPORTED


def test_nivolumab_ipilimumab_is_an_option_with_phase2_accelerated_approval(knowledge: Knowledge) -> None:
    combo = option(run(knowledge, AFTER_SORAFENIB), "nivolumab_ipilimumab")
    assert (combo.place, combo.evidence) == (Place.OPTION, EvidenceLevel.PHASE2_ACCELERATED_APPROVAL)
    assert "contraindications" in combo.decisive_reason


def test_pembrolizumab_alone_is_less_preferable(knowledge: Knowledge) -> None:
    pembro = option(run(knowledge, AFTER_SORAFENIB), "pembrolizumab")
    assert (pembro.place, pembro.evidence) == (Place.LESS_PREFERABLE, EvidenceLevel.PHASE2_ACCELERATED_APPROVAL)
    assert "KEYNOTE-240" in pembro.decisive_reason


def test_nivolumab_alone_is_less_preferable_with_its_approval_withdrawn(knowledge: Knowledge) -> None:
    """Policy 6.3: nivolumab alone is "phase I/II; US accelerated approval withdrawn 2021-07-23", less preferable."""
    nivo = option(run(knowledge, AFTER_SORAFENIB), "nivolumab")
    assert (nivo.place, nivo.evidence) == (Place.LESS_PREFERABLE, EvidenceLevel.PHASE2_APPROVAL_WITHDRAWN)
    assert "withdrawn on 2021-07-23" in nivo.decisive_reason
    assert "withdrawn 2021-07-23" in nivo.evidence.label


def test_clinical_trial_is_always_offered(knowledge: Knowledge) -> None:
    for patient in (
        AFTER_SORAFENIB,
        AFTER_ATEZO_BEV,
        facts(),
        facts(line(1, "sorafenib"), line(2, "regorafenib")),
        facts(line(1, "durvalumab", "tremelimumab")),
        facts(line(1, "doxorubicin")),
    ):
        trial = option(run(knowledge, patient), "clinical_trial")
        assert trial.place is Place.OPTION
        assert "always encouraged" in trial.rationale


def test_after_lenvatinib_same_options_marked_extrapolated(knowledge: Knowledge) -> None:
    rec = run(knowledge, facts(line(1, "lenvatinib"), afp_result=afp(1250)))
    assert rec.setting is SettingId.AFTER_LENVATINIB
    assert {o.regimen_id for o in rec.preferred} == {"cabozantinib", "regorafenib"}
    assert all(o.extrapolated for o in rec.options)
    assert any("extrapolated" in n for n in rec.setting_notes)


# --- 2.2 After atezolizumab + bevacizumab --------------------------------------------------------------


def test_after_atezo_bev_cabozantinib_and_regorafenib_may_be_preferred_without_prospective_evidence(
    knowledge: Knowledge,
) -> None:
    rec = run(knowledge, AFTER_ATEZO_BEV)
    assert rec.setting is SettingId.AFTER_ATEZOLIZUMAB_BEVACIZUMAB
    for regimen in ("cabozantinib", "regorafenib"):
        assert (option(rec, regimen).place, option(rec, regimen).evidence) == (Place.PREFERRED, EvidenceLevel.NONE)
    assert any("prospective evidence" in n for n in rec.setting_notes)


def test_after_atezo_bev_lenvatinib_and_sorafenib_are_options(knowledge: Knowledge) -> None:
    rec = run(knowledge, AFTER_ATEZO_BEV)
    assert option(rec, "lenvatinib").place is Place.OPTION
    assert option(rec, "sorafenib").place is Place.OPTION


def test_after_atezo_bev_nivolumab_ipilimumab_is_an_option_on_retrospective_data(knowledge: Knowledge) -> None:
    combo = option(run(knowledge, AFTER_ATEZO_BEV), "nivolumab_ipilimumab")
    assert (combo.place, combo.evidence) == (Place.OPTION, EvidenceLevel.RETROSPECTIVE)
    assert "Wong-2021" in combo.trials


def test_ramucirumab_unlikely_effective_after_bevacizumab_even_with_high_afp(knowledge: Knowledge) -> None:
    ramu = option(run(knowledge, AFTER_ATEZO_BEV), "ramucirumab")
    assert ramu.place is Place.NOT_SUPPORTED
    assert "bevacizumab" in ramu.decisive_reason


def test_single_agent_checkpoint_inhibitor_not_preferred_after_atezo_bev(knowledge: Knowledge) -> None:
    """Review: a single-agent ICI may not be preferred; nivolumab alone keeps policy 6.3's place and evidence
    ("phase I/II; US accelerated approval withdrawn 2021-07-23", less preferable), with the review's sentence."""
    for patient in (AFTER_ATEZO_BEV, facts(line(1, "durvalumab", "tremelimumab"), afp_result=afp(1250))):
        rec = run(knowledge, patient)
        nivo = option(rec, "nivolumab")
        assert (nivo.place, nivo.evidence) == (Place.LESS_PREFERABLE, EvidenceLevel.PHASE2_APPROVAL_WITHDRAWN)
        assert "single-agent checkpoint inhibitor may not be preferred" in nivo.rationale
        assert "withdrawn on 2021-07-23" in nivo.rationale
        assert option(rec, "pembrolizumab").place is Place.NOT_PREFERRED


def test_after_other_immunotherapy_first_line_is_a_labelled_extrapolation_without_preference(
    knowledge: Knowledge,
) -> None:
    rec = run(knowledge, facts(line(1, "durvalumab", "tremelimumab"), afp_result=afp(1250)))
    assert rec.setting is SettingId.AFTER_OTHER_IMMUNOTHERAPY
    assert not rec.preferred
    assert all(o.extrapolated for o in rec.options)
    assert any("not the review's recommendation" in n for n in rec.setting_notes)
    assert option(rec, "cabozantinib").place is Place.OPTION


def test_after_a_first_line_the_review_does_not_address_no_option_is_ranked(knowledge: Knowledge) -> None:
    rec = run(knowledge, facts(line(1, "regorafenib")), ("cabozantinib",))
    assert rec.setting is SettingId.AFTER_OTHER_REGIMEN
    assert [o.regimen_id for o in rec.options] == ["clinical_trial"]
    assert rec.selected[0].place is Place.NOT_ADDRESSED


# --- 2.3 Other settings --------------------------------------------------------------------------------


def test_first_line_atezolizumab_bevacizumab_is_preferred(knowledge: Knowledge) -> None:
    rec = run(knowledge, facts())
    assert rec.setting is SettingId.FIRST_LINE
    assert [o.regimen_id for o in rec.preferred] == ["atezolizumab_bevacizumab"]
    assert option(rec, "sorafenib").place is Place.OPTION


@pytest.mark.parametrize("agent", ["regorafenib", "cabozantinib", "ramucirumab"])
def test_second_line_only_agent_in_treatment_naive_patient_is_not_supported(knowledge: Knowledge, agent: str) -> None:
    rec = run(knowledge, facts(afp_result=afp(1250)), (agent,))
    assert rec.selected[0].place is Place.NOT_SUPPORTED
    assert not rec.selected[0].fits


def test_beyond_second_line_cabozantinib_is_the_only_preferred(knowledge: Knowledge) -> None:
    rec = run(knowledge, facts(line(1, "sorafenib"), line(2, "regorafenib"), afp_result=afp(1250)))
    assert rec.setting is SettingId.BEYOND_SECOND_LINE
    assert [o.regimen_id for o in rec.preferred] == ["cabozantinib"]
    assert "beyond second line" in option(rec, "cabozantinib").rationale


def test_regimen_already_received_is_not_suggested_again(knowledge: Knowledge) -> None:
    rec = run(knowledge, facts(line(1, "sorafenib"), line(2, "cabozantinib")), ("cabozantinib",))
    cabo = option(rec, "cabozantinib")
    assert cabo.place is Place.NOT_SUPPORTED
    assert "Already received as line 2" in cabo.decisive_reason
    assert rec.selected[0].already_received


def test_child_pugh_b_is_a_warning_on_every_drug_option(knowledge: Knowledge) -> None:
    rec = run(knowledge, facts(line(1, "sorafenib"), afp_result=afp(1250), cp="B"))
    drug_options = [o for o in rec.options if o.regimen_id != "clinical_trial"]
    assert all("child_pugh_b" in gates(o) for o in drug_options)
    assert any("cohort 5" in m and "4.4 months" in m for m in messages(option(rec, "nivolumab")))
    assert option(rec, "cabozantinib").place is Place.PREFERRED
    assert [f.summary for f in rec.headline_findings] == ["Child-Pugh B"]


def test_child_pugh_c_prefers_nothing_and_offers_nothing(knowledge: Knowledge) -> None:
    """Policy 6.2: no regimen preferred, nothing offered in one click, a critical finding on every drug."""
    rec = run(knowledge, facts(line(1, "sorafenib"), afp_result=afp(1250), cp="C"), ("regorafenib",))
    drugs = [o for o in rec.options if o.regimen_id != "clinical_trial"]
    assert not rec.preferred
    assert all(o.place is Place.NOT_ADDRESSED and not o.offerable for o in drugs)
    assert all(any("no trial in the review enrolled Child-Pugh C" in m for m in messages(o)) for o in drugs)
    assert rec.selected[0].indicator.value == "critical"


def test_child_pugh_unknown_says_so_and_asks_for_the_labs(knowledge: Knowledge) -> None:
    rec = run(knowledge, facts(line(1, "sorafenib"), afp_result=afp(1250), cp=None))
    assert all("child_pugh_unknown" in gates(o) for o in rec.options if o.regimen_id != "clinical_trial")
    gap = next(g for g in rec.data_gaps if g.kind == "child_pugh")
    assert gap.labs == ("bilirubin", "albumin", "INR")
    assert "Current bilirubin, albumin and INR (within 90 days) would determine it." in gap.description
    assert option(rec, "cabozantinib").place is Place.PREFERRED


def test_child_pugh_unknown_asks_only_for_the_lab_that_is_missing(knowledge: Knowledge) -> None:
    """Independent review r31: bilirubin and INR current, albumin unusable: only albumin is asked for."""
    liver = LiverFacts(lab("1.0", "mg/dL"), None, lab("1.1"))
    rec = run(knowledge, replace(facts(line(1, "sorafenib"), afp_result=afp(1250)), liver=liver))
    gap = next(g for g in rec.data_gaps if g.kind == "child_pugh")
    assert gap.labs == ("albumin",)
    assert gap.description.endswith("A current albumin (within 90 days) would determine it.")


def test_child_pugh_c_from_labs_shows_the_better_recorded_class_too(knowledge: Knowledge) -> None:
    """Policy 6.2: a coded class and a class computed from current labs: take the worse, and show both."""
    coded = CodedChildPugh("B", 8, Provenance("Observation", "child-pugh", TODAY - timedelta(days=20)))
    liver = LiverFacts(lab("3.6", "mg/dL"), lab("2.5", "g/dL"), lab("1.9"), coded=coded)
    rec = run(knowledge, replace(facts(line(1, "sorafenib"), afp_result=afp(1250)), liver=liver), ("cabozantinib",))
    [message] = [f.message for f in rec.selected[0].findings if f.gate_id == "child_pugh_c"]
    assert message.startswith("Child-Pugh C (score ")
    assert "; recorded class B (Observation/child-pugh, " in message
    assert rec.selected[0].indicator.value == "critical"


def test_organ_transplant_is_critical_for_checkpoint_inhibitors_only(knowledge: Knowledge) -> None:
    rec = run(knowledge, facts(line(1, "sorafenib"), afp_result=afp(1250), cautions=(CautionKind.ORGAN_TRANSPLANT,)))
    combo = option(rec, "nivolumab_ipilimumab")
    assert combo.place is Place.OPTION
    assert "organ_transplant" in gates(combo)
    assert not combo.offerable
    assert not gates(option(rec, "cabozantinib")) & {"organ_transplant"}
    assert [f.summary for f in rec.headline_findings] == ["Organ transplant"]


@pytest.mark.parametrize("status", [DiagnosisStatus.ABSENT, DiagnosisStatus.UNKNOWN])
def test_hcc_not_documented_gives_no_recommendation(knowledge: Knowledge, status: DiagnosisStatus) -> None:
    rec = run(knowledge, facts(line(1, "sorafenib"), hcc=HccDiagnosis(status)), ("cabozantinib",))
    assert not rec.applicable
    assert not rec.options
    assert not rec.selected


def test_unknown_medication_history_gives_no_setting(knowledge: Knowledge) -> None:
    patient = facts(afp_result=afp(1250))
    from dataclasses import replace

    rec = run(knowledge, replace(patient, medication_history_known=False), ("cabozantinib",))
    assert rec.setting is None
    assert not rec.options
    assert [g.kind for g in rec.data_gaps] == ["medication_history", "child_pugh_findings"]


# --- 2.4 The selected order ----------------------------------------------------------------------------


def test_selected_preferred_regimen_fits(knowledge: Knowledge) -> None:
    rec = run(knowledge, AFTER_SORAFENIB, ("cabozantinib",))
    assert rec.selected[0].fits
    assert rec.selected[0].regimen_id == "cabozantinib"


def test_combination_counts_only_when_all_agents_are_drafted(knowledge: Knowledge) -> None:
    alone = run(knowledge, AFTER_SORAFENIB, ("nivolumab",))
    assert alone.selected[0].regimen_id == "nivolumab"
    assert alone.selected[0].place is Place.LESS_PREFERABLE
    combined = run(knowledge, AFTER_SORAFENIB, ("nivolumab",), others=("ipilimumab",))
    assert combined.selected[0].regimen_id == "nivolumab_ipilimumab"
    assert combined.selected[0].place is Place.OPTION
    assert set(combined.selected[0].order_references) == {"MedicationRequest/sel-0", "MedicationRequest/other"}


def test_selected_ramucirumab_with_low_afp_does_not_fit(knowledge: Knowledge) -> None:
    rec = run(knowledge, facts(line(1, "sorafenib"), afp_result=afp(20)), ("ramucirumab",))
    assert rec.selected[0].place is Place.NOT_SUPPORTED
    assert "below 400" in rec.selected[0].reason


def test_selected_agent_outside_the_setting_is_not_addressed(knowledge: Knowledge) -> None:
    rec = run(knowledge, AFTER_SORAFENIB, ("bevacizumab",))
    assert rec.selected[0].place is Place.NOT_ADDRESSED
    assert "Not addressed by the review" in rec.selected[0].reason


def test_later_evidence_is_dated_and_never_changes_a_place(knowledge: Knowledge) -> None:
    shown = recommend(AFTER_SORAFENIB, knowledge, today=TODAY)
    assert any(n.date == "2021-07-23" for n in shown.post_review_notes)
    assert all(n.when for n in shown.post_review_notes)
    first_line = recommend(facts(afp_result=afp(10)), knowledge, today=TODAY)
    assert {"HIMALAYA", "CheckMate-9DW"} <= {t for n in first_line.post_review_notes for t in n.trials}


def test_first_line_nivolumab_alone_does_not_fit(knowledge: Knowledge) -> None:
    """Pharmacist review: not a first-line standard (CheckMate 459 negative; approval withdrawn 2021-07-23)."""
    rec = run(knowledge, facts(afp_result=afp(10)), ("nivolumab",))
    assert rec.selected[0].place is Place.LESS_PREFERABLE
    assert not rec.selected[0].fits
    assert rec.selected[0].indicator.value == "warning"


def test_child_pugh_b_with_a_missing_lab_is_b_or_c_not_b(knowledge: Knowledge) -> None:
    """Policy 6.2: bilirubin 3.5, albumin 2.5, no INR: score 9-15, only the maximum reaches C."""
    from tests.sequencing.builders import lab

    patient = replace(
        facts(line(1, "sorafenib"), afp_result=afp(1250)),
        liver=LiverFacts(lab("3.5", "mg/dL"), lab("2.5", "g/dL"), None),
    )
    rec = run(knowledge, patient, ("cabozantinib",))
    fired = {f.gate_id for f in rec.selected[0].findings}
    assert "child_pugh_b_or_c" in fired
    assert "child_pugh_b" not in fired
    assert rec.selected[0].indicator.value == "warning"


@pytest.mark.parametrize(
    ("liver_labs", "classes", "unknown"),
    [
        # A minimum of B with a lab missing (bilirubin 3.5 and albumin 2.5: 6 points + 3 minimum).
        ((("3.5", "mg/dL"), ("2.5", "g/dL"), None), "B or C", "INR missing, ascites/encephalopathy not recorded"),
        # Labs known (8 points with ascites/encephalopathy at their minimum): the policy's own example.
        ((("3.5", "mg/dL"), ("3.0", "g/dL"), ("1.5", "")), "B or C", "ascites/encephalopathy not recorded"),
    ],
)
def test_child_pugh_range_reaching_c_only_at_its_maximum_is_a_named_warning(
    knowledge: Knowledge,
    liver_labs: tuple[tuple[str, str] | None, ...],
    classes: str,
    unknown: str,
) -> None:
    """Policy 6.2 "Child-Pugh as a range": only the maximum reaches C → warning naming the range and the gap."""
    from tests.sequencing.builders import lab

    bilirubin, albumin, inr = (lab(*spec) if spec else None for spec in liver_labs)
    patient = replace(AFTER_SORAFENIB, liver=LiverFacts(bilirubin, albumin, inr))
    rec = run(knowledge, patient, ("cabozantinib",))
    selected = rec.selected[0]
    finding = next(f for f in selected.findings if f.gate_id == "child_pugh_b_or_c")
    assert finding.summary.startswith(f"Child-Pugh {classes}: ")
    assert unknown in finding.summary
    assert selected.indicator.value == "warning"
    assert not selected.fits
    assert finding in rec.headline_findings


@pytest.mark.parametrize(
    "liver_labs",
    [
        (("1.0", "mg/dL"), ("4.0", "g/dL"), None),
        (("1.0", "mg/dL"), None, None),
        (None, None, None),
        (("1.0", "mg/dL"), ("3.2", "g/dL"), ("1.2", "")),
    ],
)
def test_child_pugh_range_with_a_minimum_of_a_never_warns(
    knowledge: Knowledge, liver_labs: tuple[tuple[str, str] | None, ...]
) -> None:
    """Policy 6.2 (revised): when the minimum is A, whatever the maximum (A to C with a lab missing, or A6 with
    ascites and encephalopathy not recorded), no warning: the data-needed card asks for them to be recorded."""
    from tests.sequencing.builders import lab

    bilirubin, albumin, inr = (lab(*spec) if spec else None for spec in liver_labs)
    patient = replace(AFTER_SORAFENIB, liver=LiverFacts(bilirubin, albumin, inr))
    rec = run(knowledge, patient, ("cabozantinib",))
    selected = rec.selected[0]
    fired = {f.gate_id for f in selected.findings}
    assert not fired & {"child_pugh_b_or_c", "child_pugh_b", "child_pugh_c"}
    assert "child_pugh_findings_not_recorded" in fired
    assert selected.indicator.value == "info"
    assert not rec.headline_findings
    assert "child_pugh_findings" in {g.kind for g in rec.data_gaps}


def test_child_pugh_range_within_a_to_b_fires_no_range_gate(knowledge: Knowledge) -> None:
    """Policy 6.2: a range within A to B (normal labs, ascites/encephalopathy unrecorded) is in the facts only."""
    rec = run(knowledge, AFTER_SORAFENIB, ("cabozantinib",))
    assert rec.child_pugh is not None
    assert rec.child_pugh.class_text == "A or B"
    assert not {f.gate_id for f in rec.selected[0].findings} & {"child_pugh_b_or_c", "child_pugh_b", "child_pugh_c"}
    assert rec.selected[0].fits
