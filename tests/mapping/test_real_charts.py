"""Issue 24 (clinical-sequencing.md 6.2 revised, 6.5): conditions and observations in the forms real records use.

Focused tests beside the s65c- scenarios: what the scenario format cannot express (FamilyMemberHistory, a site-coded
Child-Pugh, a MedicationRequest stop reason, a draft order's neighbours) and the edges of each rule.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from cds_service.facts import CautionKind, CodedChildPugh, LiverFacts, LiverFinding, PopulationKind, Provenance
from cds_service.knowledge import Knowledge
from cds_service.mapping.observations import parse_child_pugh_text
from cds_service.mapping.patient import PatientMapper
from cds_service.sequencing.child_pugh import assess_child_pugh
from tests.sequencing.builders import TODAY, lab
from tests.support.fhir import PID, bundle, condition, observation

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"


@pytest.fixture(scope="module")
def mapper(knowledge: Knowledge) -> PatientMapper:
    return PatientMapper(knowledge)


def cautions(mapper: PatientMapper, *resources: dict[str, Any]) -> list[CautionKind]:
    return [c.kind for c in mapper.map_facts({"c": bundle(*resources)}, PID).immunotherapy_cautions]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # 6.5: negation ends at a clause boundary and at a word naming a different finding
        ("No evidence of rejection of transplanted liver", [CautionKind.ORGAN_TRANSPLANT]),
        ("No complications after liver transplant", [CautionKind.ORGAN_TRANSPLANT]),
        ("No infection; kidney transplant 2012", [CautionKind.ORGAN_TRANSPLANT]),
        ("No history of transplant", []),
        ("Denies lupus", []),
        ("No flare of lupus", [CautionKind.AUTOIMMUNE_DISEASE]),
        # 6.5: never from a family history, an immunization or vaccination, an evaluation, referral or plan
        ("Family history of lupus", []),
        ("FHx: rheumatoid arthritis (mother)", []),
        ("Rheumatoid arthritis; family history of lupus", [CautionKind.AUTOIMMUNE_DISEASE]),
        ("Hepatitis B vaccine given", []),
        ("Vaccinated for hepatitis B", []),
        ("Hepatitis B immunization series complete", []),
        # an immunization cue far from the match in its clause: a transplant recipient's vaccine plan
        ("Kidney transplant recipient due for pneumococcal vaccine", [CautionKind.ORGAN_TRANSPLANT]),
        ("Liver transplant evaluation: not a candidate", []),
        ("Liver transplant evaluation of graft function", [CautionKind.ORGAN_TRANSPLANT]),
        ("Referral to transplant hepatology", []),
        ("Transplant listing declined", []),
        ("Will consider liver transplant", []),
        ("s/p OLT 2019 for HCC", [CautionKind.ORGAN_TRANSPLANT]),
        # 6.5: an immune-related adverse event by text
        ("irAE", [CautionKind.IMMUNE_TOXICITY]),
        ("Immune-mediated grade 3 colitis", [CautionKind.IMMUNE_TOXICITY]),
        ("Immune-mediated disease screen negative", []),
    ],
)
def test_caution_text_in_real_forms(mapper: PatientMapper, text: str, expected: list[CautionKind]) -> None:
    assert cautions(mapper, condition({"text": text})) == expected


def test_a_family_history_code_never_raises_a_caution_whatever_its_text(mapper: PatientMapper) -> None:
    """6.5: Z80-Z84 (here Z82.61, family history of arthritis) with a display naming rheumatoid arthritis."""
    coded = {"coding": [{"system": ICD10, "code": "Z82.61", "display": "Family history of arthritis"}]}
    assert cautions(mapper, condition({**coded, "text": "Rheumatoid arthritis (mother)"})) == []


def test_family_member_history_resources_are_never_read(mapper: PatientMapper) -> None:
    """6.5: a FamilyMemberHistory naming transplant, lupus or hepatitis B raises nothing."""
    history = {
        "resourceType": "FamilyMemberHistory",
        "id": "fmh1",
        "status": "completed",
        "patient": {"reference": f"Patient/{PID}"},
        "relationship": {"text": "mother"},
        "condition": [{"code": {"text": "Systemic lupus erythematosus; kidney transplant; chronic hepatitis B"}}],
    }
    facts = mapper.map_facts({"c": bundle(condition({"text": "Hepatocellular carcinoma"}), history)}, PID)
    assert facts.immunotherapy_cautions == ()


def test_immune_toxicity_named_in_a_stop_reason_of_a_medication_request(mapper: PatientMapper) -> None:
    """6.5: "Grade 3 immune-mediated colitis" as a MedicationRequest's statusReason text is a prior immune toxicity."""
    request = {
        "resourceType": "MedicationRequest",
        "id": "mr1",
        "status": "stopped",
        "intent": "order",
        "subject": {"reference": f"Patient/{PID}"},
        "medicationCodeableConcept": {"text": "pembrolizumab 100 MG/4ML Injection"},
        "statusReason": {"text": "Grade 3 immune-mediated colitis"},
    }
    facts = mapper.map_facts({"m": bundle(request)}, PID)
    found = [c for c in facts.immunotherapy_cautions if c.kind is CautionKind.IMMUNE_TOXICITY]
    assert [c.source.reference for c in found] == ["MedicationRequest/mr1"]


@pytest.mark.parametrize(
    ("coding", "text", "counts"),
    [
        # 6.5: a confirmed, active Condition coded as HCC counts whatever its text says
        ([("C22.0", "confirmed")], "Hepatocellular carcinoma with probable lung metastases", True),
        ([("C22.0", "confirmed")], "Suspected recurrence", True),
        # not confirmed: its text still says what it is
        ([("C22.0", None)], "Suspected HCC", False),
        # a family-history code beside it: not this patient's HCC
        ([("C22.0", "confirmed"), ("Z80.0", "confirmed")], "Family history of liver cancer", False),
    ],
)
def test_codes_outrank_text_for_hcc(
    mapper: PatientMapper, coding: list[tuple[str, str | None]], text: str, counts: bool
) -> None:
    concept = {"coding": [{"system": ICD10, "code": code} for code, _ in coding], "text": text}
    facts = mapper.map_facts({"c": bundle(condition(concept, verification=coding[0][1]))}, PID)
    assert (facts.hcc.status.value == "present") is counts


@pytest.mark.parametrize(
    ("text", "counts"),
    [
        ("Liver transplant in 2015 for HCC", False),
        ("Portal vein thrombosis due to HCC", False),
        ("s/p OLT for HCC; recurrent HCC in the lung", True),
        ("HCC", True),
    ],
)
def test_hcc_named_only_inside_another_entrys_history_is_not_an_active_hcc(
    mapper: PatientMapper, text: str, counts: bool
) -> None:
    facts = mapper.map_facts({"c": bundle(condition({"text": text}))}, PID)
    assert (facts.hcc.status.value == "present") is counts


def _lab_obs(code: str, quantity: dict[str, Any] | None, rid: str) -> dict[str, Any]:
    resource = observation(code, rid=rid)
    resource.pop("valueQuantity", None)
    if quantity is not None:
        resource["valueQuantity"] = quantity
    return resource


@pytest.mark.parametrize(
    ("code", "quantity", "problem"),
    [
        ("1751-7", {"value": 26}, "no unit"),
        ("1975-2", {"value": 1.2}, "no unit"),
        ("1751-7", {"value": 35, "unit": "g/dL", "code": "g/dL"}, "implausible (outside 1-6 g/dL)"),
        ("1751-7", {"value": 0.5, "unit": "g/dL", "code": "g/dL"}, "implausible (outside 1-6 g/dL)"),
        ("1975-2", {"value": 120, "unit": "mg/dL", "code": "mg/dL"}, "implausible (outside 0.1-50 mg/dL)"),
        ("6301-6", {"value": 14}, "implausible (outside 0.5-10)"),
        ("1751-7", {"value": 3.0, "unit": "mmol/L", "code": "mmol/L"}, "unit mmol/L not convertible"),
    ],
)
def test_a_lab_without_a_unit_or_implausible_in_its_unit_is_not_used(
    mapper: PatientMapper, code: str, quantity: dict[str, Any], problem: str
) -> None:
    """6.5: the component counts as missing and the facts say why; an older usable result does not stand in."""
    older = _lab_obs(code, {"value": 1.0, "unit": "g/dL" if code == "1751-7" else "mg/dL"}, "older")
    older["effectiveDateTime"] = "2026-10-01"
    newest = _lab_obs(code, quantity, "newest")
    liver = mapper.map_facts({"labs": bundle(older, newest)}, PID).liver
    found = {"1751-7": liver.albumin_g_per_dl, "1975-2": liver.bilirubin_mg_per_dl, "6301-6": liver.inr}[code]
    assert found is not None
    assert found.source.resource_id == "newest"
    assert found.problem == problem


@pytest.mark.parametrize("quantity", [{"value": 1.1}, {"value": 1.1, "code": "{INR}"}, {"value": 1.1, "code": "1"}])
def test_inr_is_a_ratio_with_or_without_a_unit(mapper: PatientMapper, quantity: dict[str, Any]) -> None:
    inr = mapper.map_facts({"labs": bundle(_lab_obs("6301-6", quantity, "inr"))}, PID).liver.inr
    assert inr is not None
    assert inr.problem is None
    assert inr.value == Decimal("1.1")


def test_the_karnofsky_score_is_never_read_as_ecog(mapper: PatientMapper) -> None:
    karnofsky = {**observation("89243-0", rid="kps"), "valueInteger": 40}
    karnofsky.pop("valueQuantity", None)
    assert mapper.map_facts({"labs": bundle(karnofsky)}, PID).ecog is None


@pytest.mark.parametrize("text", ["A/B", "Child-Pugh A/B", "class B-C", "B or C", "Child-Pugh A to B"])
def test_a_coded_value_naming_two_classes_is_unrecognised(text: str) -> None:
    """6.2: "A/B" is unrecognised, not the better class."""
    assert parse_child_pugh_text(text) == (None, None)


def _coded(klass: str, days_old: int) -> CodedChildPugh:
    when = TODAY - timedelta(days=days_old)
    return CodedChildPugh(klass, None, Provenance("Observation", "cp", when), f"class {klass}")  # type: ignore[arg-type]


def _present(days_old: int = 10) -> LiverFinding:
    return LiverFinding("moderate_severe", Provenance("Condition", "asc", TODAY - timedelta(days=days_old)))


def _absent(days_old: int = 10) -> LiverFinding:
    return LiverFinding("absent", Provenance("Condition", "he", TODAY - timedelta(days=days_old)))


def test_coded_b_from_80_days_ago_does_not_outrank_current_labs_that_score_c(knowledge: Knowledge) -> None:
    """6.2: a coded class and a class computed from current labs: the worse counts, and both are shown."""
    labs = LiverFacts(lab("3.5", "mg/dL"), lab("2.5", "g/dL"), lab("1.9"), _present(), _absent())
    liver = replace(labs, coded=_coded("B", 80))
    cp = assess_child_pugh(liver, knowledge.parameters, TODAY)
    assert (cp.min_class, cp.score_min) == ("C", 12)
    assert not cp.coded
    assert cp.compared is not None
    assert "recorded class B (Observation/cp" in cp.compared


def test_a_coded_c_outranks_current_labs_that_score_a(knowledge: Knowledge) -> None:
    labs = LiverFacts(lab("0.8", "mg/dL"), lab("4.0", "g/dL"), lab("1.1"), _absent(), _absent())
    cp = assess_child_pugh(replace(labs, coded=_coded("C", 5)), knowledge.parameters, TODAY)
    assert (cp.min_class, cp.coded) == ("C", True)
    assert cp.compared == "computed from current labs: class A (score 5)"


def test_a_coded_value_older_than_the_lab_age_is_not_used(knowledge: Knowledge) -> None:
    labs = LiverFacts(lab("0.8", "mg/dL"), lab("4.0", "g/dL"), lab("1.1"), _absent(), _absent())
    cp = assess_child_pugh(replace(labs, coded=_coded("C", 120)), knowledge.parameters, TODAY)
    assert (cp.min_class, cp.coded, cp.compared) == ("A", False, None)


def test_a_pregnancy_test_counts_only_when_positive(mapper: PatientMapper) -> None:
    positive = {
        **observation("2106-3", rid="hcg"),
        "valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA6576-8", "display": "Positive"}]},
    }
    positive.pop("valueQuantity", None)
    negative = {**positive, "id": "hcg2", "valueCodeableConcept": {"text": "Negative"}}
    found = mapper.map_facts({"labs": bundle(positive)}, PID).populations
    assert [(p.kind, p.test) for p in found] == [(PopulationKind.PREGNANCY, True)]
    assert mapper.map_facts({"labs": bundle(negative)}, PID).populations == ()


def test_a_pregnancy_test_left_out_says_why_in_the_facts(mapper: PatientMapper) -> None:
    undated = {
        **observation("2106-3", rid="hcg-undated"),
        "valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA6576-8", "display": "Positive"}]},
    }
    for element in ("valueQuantity", "effectiveDateTime", "issued"):
        undated.pop(element, None)
    facts = mapper.map_facts({"labs": bundle(undated)}, PID)
    assert facts.populations == ()
    notes = [(n.reference, n.reason) for n in facts.notes]
    assert notes == [("Observation/hcg-undated", "result has no date; left out")]


def test_the_birth_date_is_read_from_the_patient(mapper: PatientMapper) -> None:
    patient = {"resourceType": "Patient", "id": PID, "birthDate": "2011-06-01"}
    assert mapper.map_facts({"patient": patient}, PID).birth_date == date(2011, 6, 1)
