"""FHIR R4 → PatientFacts, table-driven over the edge cases real EHR data has."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from cds_service.facts import AfpResult, CautionKind, DiagnosisStatus, StopReason
from cds_service.knowledge import Knowledge
from cds_service.mapping.fhir import Parser
from cds_service.mapping.observations import ObservationIndex, latest_afp
from cds_service.mapping.patient import PatientMapper
from cds_service.sequencing.child_pugh import assess_child_pugh
from tests.conftest import THIRD_PARTY, with_parameters
from tests.sequencing.builders import TODAY
from tests.support.fhir import LOINC, PID, RXNORM, SNOMED, bundle, condition, observation, statement


@pytest.fixture(scope="module")
def mapper(knowledge: Knowledge) -> PatientMapper:
    return PatientMapper(knowledge)


ICD_HCC = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C22.0"}]}
SNOMED_HCC = {"coding": [{"system": SNOMED, "code": "25370001"}]}


@pytest.mark.parametrize(
    ("conditions", "status"),
    [
        ([condition(ICD_HCC)], DiagnosisStatus.PRESENT),
        ([condition(SNOMED_HCC)], DiagnosisStatus.PRESENT),
        ([condition({"text": "Hepatocellular carcinoma, BCLC C"})], DiagnosisStatus.PRESENT),
        ([condition(ICD_HCC, clinical="recurrence")], DiagnosisStatus.PRESENT),
        ([condition(ICD_HCC, clinical="relapse")], DiagnosisStatus.PRESENT),
        ([condition(ICD_HCC, clinical=None, verification=None)], DiagnosisStatus.PRESENT),
        ([condition(ICD_HCC, clinical="resolved")], DiagnosisStatus.ABSENT),
        ([condition(ICD_HCC, clinical="inactive")], DiagnosisStatus.ABSENT),
        ([condition(ICD_HCC, verification="refuted")], DiagnosisStatus.ABSENT),
        ([condition(ICD_HCC, verification="entered-in-error")], DiagnosisStatus.ABSENT),
        ([condition(ICD_HCC, subject="Patient/someone-else")], DiagnosisStatus.ABSENT),
        ([condition({"text": "Cholangiocarcinoma"})], DiagnosisStatus.ABSENT),
        ([condition({"text": "Screening for HCCX"})], DiagnosisStatus.ABSENT),
        ([], DiagnosisStatus.ABSENT),
    ],
    ids=[
        "icd10",
        "snomed",
        "text",
        "recurrence",
        "relapse",
        "no-status",
        "resolved",
        "inactive",
        "refuted",
        "entered-in-error",
        "other-patient",
        "other-cancer",
        "no-substring",
        "none",
    ],
)
def test_hcc_diagnosis(mapper: PatientMapper, conditions: list[dict[str, Any]], status: DiagnosisStatus) -> None:
    assert mapper.map_facts({"conditions": bundle(*conditions)}, PID).hcc.status is status


def test_hcc_unknown_when_no_condition_data_at_all(mapper: PatientMapper) -> None:
    facts = mapper.map_facts({"conditions": None}, PID, conditions_available=False)
    assert facts.hcc.status is DiagnosisStatus.UNKNOWN


def test_hcc_provenance(mapper: PatientMapper) -> None:
    hcc = mapper.map_facts({"c": bundle(condition(ICD_HCC, rid="dx-7"))}, PID).hcc
    assert [(s.reference, s.date.isoformat() if s.date else None) for s in hcc.sources] == [
        ("Condition/dx-7", "2025-01-01")
    ]


@pytest.mark.parametrize(
    ("concept", "agents"),
    [
        ({"coding": [{"system": RXNORM, "code": "597747"}]}, {"sorafenib"}),
        ({"coding": [{"system": RXNORM, "code": "1597876"}]}, {"nivolumab"}),
        ({"coding": [{"system": "http://example.org/local", "code": "597747"}]}, set()),
        ({"text": "NEXAVAR 200 mg tablet"}, {"sorafenib"}),
        (
            {"coding": [{"system": "http://example.org/local", "code": "x", "display": "Cabometyx 60mg"}]},
            {"cabozantinib"},
        ),
        ({"text": "bevacizumab-awwb (Mvasi)"}, {"bevacizumab"}),
        ({"text": "Opdivo Qvantig SC"}, {"nivolumab"}),
        ({"text": "xnivolumabx"}, set()),
        ({"text": "Keytruda"}, {"pembrolizumab"}),
    ],
    ids=[
        "rxnorm-sorafenib",
        "rxnorm-ingredient",
        "code-of-other-system",
        "brand-text",
        "brand-display",
        "biosimilar",
        "subcutaneous",
        "no-substring",
        "brand-only",
    ],
)
def test_drug_identification(mapper: PatientMapper, concept: dict[str, Any], agents: set[str]) -> None:
    assert set(mapper.agents.match_concept(concept).agents) == agents


def test_combination_product_is_not_nivolumab_alone(mapper: PatientMapper) -> None:
    match = mapper.agents.match_concept({"coding": [{"system": RXNORM, "code": "2596778"}]})
    assert match.agents == {"nivolumab"}
    assert match.other == {"relatlimab"}
    assert not match.is_hcc_agent_product


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("completed", "ended"),
        ("active", "current"),
        ("stopped", "ended"),
        ("entered-in-error", None),
        ("not-taken", None),
        ("intended", "current"),
        ("on-hold", "current"),
    ],
)
def test_medication_statement_status_rules(mapper: PatientMapper, status: str, state: str | None) -> None:
    """Policy 6.5: active, intended or on-hold is the current line, never a prior line."""
    recorded = statement({"text": "sorafenib"}, status=status, end=None)
    facts = mapper.map_facts({"m": bundle(recorded)}, PID, today=date(2026, 11, 25))
    assert bool(facts.lines) is (state == "ended")
    assert (facts.current_line is not None) is (state == "current")


@pytest.mark.parametrize(
    ("status", "kept"),
    [("completed", True), ("stopped", True), ("draft", False), ("cancelled", False), ("entered-in-error", False)],
)
def test_medication_request_status_rules(mapper: PatientMapper, status: str, kept: bool) -> None:
    request = {
        "resourceType": "MedicationRequest",
        "id": "r1",
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": {"text": "lenvatinib"},
        "subject": {"reference": f"Patient/{PID}"},
        "authoredOn": "2025-01-05",
    }
    assert bool(mapper.map_facts({"m": bundle(request)}, PID).lines) is kept


def test_medication_request_dates_from_validity_period(mapper: PatientMapper) -> None:
    request = {
        "resourceType": "MedicationRequest",
        "id": "r1",
        "status": "completed",
        "intent": "order",
        "medicationCodeableConcept": {"text": "lenvatinib"},
        "subject": {"reference": f"Patient/{PID}"},
        "authoredOn": "2025-01-01",
        "dispenseRequest": {"validityPeriod": {"start": "2025-01-05", "end": "2025-07-01"}},
    }
    line = mapper.map_facts({"m": bundle(request)}, PID).lines[0]
    assert (line.start.isoformat(), line.end.isoformat()) == ("2025-01-05", "2025-07-01")  # type: ignore[union-attr]


@pytest.mark.parametrize(("where", "kept"), [("contained", True), ("bundle", True), ("absent", False)])
def test_medication_reference(mapper: PatientMapper, where: str, kept: bool) -> None:
    medication = {"resourceType": "Medication", "id": "med-1", "code": {"text": "Lenvima 4 mg"}}
    resource = statement(
        None, medicationReference={"reference": "#med-1" if where == "contained" else "Medication/med-1"}
    )
    if where == "contained":
        resource["contained"] = [medication]
    values = {"m": bundle(resource, *([medication] if where == "bundle" else []))}
    facts = mapper.map_facts(values, PID)
    assert bool(facts.lines) is kept
    if not kept:
        assert any("not found" in n.reason for n in facts.notes)


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ([{"coding": [{"system": SNOMED, "code": "266721009"}]}], StopReason.PROGRESSION),
        ([{"coding": [{"system": SNOMED, "code": "407563006"}]}], StopReason.INTOLERANCE),
        ([{"text": "Disease progression on CT"}], StopReason.PROGRESSION),
        ([{"text": "Grade 3 hand-foot skin reaction: not tolerated"}], StopReason.INTOLERANCE),
        ([{"text": "Patient moved away"}], StopReason.UNCLEAR),
        ([{"text": "No toxicity; stopped for radiological progression"}], StopReason.PROGRESSION),
        ([{"text": "Disease progression, no adverse events"}], StopReason.PROGRESSION),
        ([{"text": "Grade 3 immune-related toxicity, no progression"}], StopReason.INTOLERANCE),
        ([{"text": "No progression; stopped at the patient's request"}], StopReason.UNCLEAR),
        (None, StopReason.UNKNOWN),
    ],
)
def test_why_a_line_stopped(mapper: PatientMapper, reason: Any, expected: StopReason) -> None:
    facts = mapper.map_facts({"m": bundle(statement({"text": "sorafenib"}, reason=reason))}, PID)
    assert facts.lines[0].stop_reason is expected


def test_agents_started_within_the_window_form_one_line_and_cycles_continue_it(mapper: PatientMapper) -> None:
    administrations = []
    for i, when in enumerate(["2025-01-01", "2025-01-22", "2025-02-12", "2025-06-01"]):
        for agent in ("atezolizumab", "bevacizumab"):
            administrations.append(
                {
                    "resourceType": "MedicationAdministration",
                    "id": f"{agent}-{i}",
                    "status": "completed",
                    "medicationCodeableConcept": {"text": agent},
                    "subject": {"reference": f"Patient/{PID}"},
                    "effectiveDateTime": when,
                }
            )
    later = statement({"text": "cabozantinib"}, rid="cabo", start="2025-08-01", end=None)
    lines = mapper.map_facts({"a": bundle(*administrations), "m": bundle(later)}, PID).lines
    assert [sorted(ln.agents) for ln in lines] == [["atezolizumab", "bevacizumab"], ["cabozantinib"]]
    assert [ln.number for ln in lines] == [1, 2]
    assert lines[1].end is None


def test_line_grouping_window_is_configurable(knowledge: Knowledge) -> None:
    """Agents that make no combination of the knowledge form one line only when started within the window."""
    resources = bundle(
        statement({"text": "sorafenib"}, rid="a", start="2025-01-01"),
        statement({"text": "nivolumab"}, rid="b", start="2025-01-20"),
    )
    assert len(PatientMapper(knowledge).map_facts({"m": resources}, PID).lines) == 1
    narrow = PatientMapper(with_parameters(knowledge, line_grouping_days=7))
    assert len(narrow.map_facts({"m": resources}, PID).lines) == 2


def test_a_later_agent_completing_a_combination_in_use_joins_the_line(knowledge: Knowledge) -> None:
    """Policy 6.5: ipilimumab added while nivolumab is still given completes nivolumab + ipilimumab: one line,
    whatever the grouping window; started after nivolumab ended, it is a line of its own."""
    narrow = PatientMapper(with_parameters(knowledge, line_grouping_days=7))
    joined = bundle(
        statement({"text": "nivolumab"}, rid="a", start="2025-01-01", end="2025-09-01"),
        statement({"text": "ipilimumab"}, rid="b", start="2025-03-01", end="2025-09-01"),
    )
    assert [sorted(ln.agents) for ln in narrow.map_facts({"m": joined}, PID).lines] == [["ipilimumab", "nivolumab"]]
    later = bundle(
        statement({"text": "nivolumab"}, rid="a", start="2025-01-01", end="2025-02-01"),
        statement({"text": "ipilimumab"}, rid="b", start="2025-06-01", end="2025-09-01"),
    )
    assert len(narrow.map_facts({"m": later}, PID).lines) == 2


def test_undated_medication_is_left_out_with_a_note(mapper: PatientMapper) -> None:
    facts = mapper.map_facts({"m": bundle(statement({"text": "sorafenib"}, start=None))}, PID)
    assert not facts.lines
    assert any(n.reference == "MedicationStatement/m1" and "date" in n.reason for n in facts.notes)


@pytest.mark.parametrize(
    ("obs", "value", "comparator", "comparable"),
    [
        (observation("1834-1", value={"value": 512, "unit": "ng/mL", "code": "ng/mL"}), "512", None, True),
        (observation("1834-1", value={"value": 512, "code": "ug/L"}), "512", None, True),
        (observation("1834-1", value={"value": 51200, "code": "ng/dL"}), "512", None, True),
        (observation("83073-7", value={"value": 0.512, "code": "mg/L"}), "512", None, True),
        (observation("1834-1", value_string=">2000"), "2000", ">", True),
        (observation("1834-1", value_string="<2 ng/mL"), "2", "<", True),
        (observation("1834-1", value={"value": 2000, "comparator": ">", "code": "ng/mL"}), "2000", ">", True),
        (observation("19176-7", value={"value": 300, "code": "[IU]/mL"}), None, None, False),
        (observation("1834-1", value={"value": 300, "unit": "IU/mL"}), None, None, False),
        (observation("1834-1", value={"value": 5, "code": "mmol/L"}), None, None, False),
    ],
    ids=[
        "ng/mL",
        "ug/L",
        "ng/dL",
        "mg/L",
        "greater-than-string",
        "less-than-string",
        "comparator",
        "iu-loinc",
        "iu-unit",
        "unconvertible",
    ],
)
def test_afp_units_and_comparators(
    mapper: PatientMapper, obs: dict[str, Any], value: str | None, comparator: str | None, comparable: bool
) -> None:
    result = mapper.map_facts({"afp": bundle(obs)}, PID).afp
    assert result is not None
    assert result.value_ng_per_ml == (Decimal(value) if value else None)
    assert result.comparator == comparator
    assert result.comparable is comparable


@pytest.mark.parametrize(
    ("quantity", "unit"),
    [
        ({"value": 600, "unit": "IU/mL", "system": "http://unitsofmeasure.org", "code": "[IU]/mL"}, "IU/mL"),
        ({"value": 600, "code": "[IU]/mL"}, "[IU]/mL"),
        ({"value": 600}, None),
    ],
    ids=["unit-and-code", "code-only", "no-unit"],
)
def test_afp_not_comparable_keeps_its_unit_for_the_card(
    mapper: PatientMapper, quantity: dict[str, Any], unit: str | None
) -> None:
    result = mapper.map_facts({"afp": bundle(observation("19176-7", value=quantity))}, PID).afp
    assert result is not None
    assert not result.comparable
    assert result.unit == unit


def test_afp_iu_converted_only_with_a_configured_factor(knowledge: Knowledge) -> None:
    converting = PatientMapper(with_parameters(knowledge, afp_iu_per_ml_to_ng_per_ml=Decimal("1.21")))
    result = converting.map_facts(
        {"afp": bundle(observation("19176-7", value={"value": 100, "code": "[IU]/mL"}))}, PID
    ).afp
    assert result is not None
    assert result.comparable
    assert result.value_ng_per_ml == Decimal("121.00")
    assert "site factor" in (result.note or "")
    assert result.converted
    assert result.unit == "[IU]/mL"


def test_afp_in_ng_per_ml_is_not_marked_converted(mapper: PatientMapper) -> None:
    result = mapper.map_facts({"afp": bundle(observation("1834-1", value={"value": 512, "code": "ng/mL"}))}, PID).afp
    assert result is not None
    assert not result.converted


@pytest.mark.parametrize("status", ["preliminary", "registered", "cancelled", "entered-in-error"])
def test_afp_only_final_amended_corrected(mapper: PatientMapper, status: str) -> None:
    obs = observation("1834-1", value={"value": 512, "code": "ng/mL"}, status=status)
    assert mapper.map_facts({"afp": bundle(obs)}, PID).afp is None


def test_latest_afp_is_the_newest_result(mapper: PatientMapper) -> None:
    older = observation("1834-1", value={"value": 100, "code": "ng/mL"}, when="2026-01-01", rid="old")
    newer = observation("1834-1", value={"value": 900, "code": "ng/mL"}, when="2026-10-01", rid="new", status="amended")
    facts = mapper.map_facts({"afp": bundle(older, newer)}, PID)
    assert facts.afp is not None
    assert facts.afp.source.resource_id == "new"
    assert facts.afp.value_ng_per_ml == Decimal(900)


def test_latest_afp_returns_one_result_or_none(knowledge: Knowledge) -> None:
    """What ``latest_afp`` returns is what its name says: one AFP result (the newest with a value), or None."""
    newest = observation("1834-1", value={"value": 900, "code": "ng/mL"}, when="2026-10-01", rid="newest")
    older = observation("1834-1", value={"value": 100, "code": "ng/mL"}, when="2026-01-01", rid="older")
    no_value = observation("1834-1", when="2026-11-01", rid="no-value")
    vocabulary = knowledge.vocabulary
    found = latest_afp(ObservationIndex([older, no_value, newest]), vocabulary, None, Parser([]))
    assert isinstance(found, AfpResult)
    assert found.source.resource_id == "newest"
    assert latest_afp(ObservationIndex([no_value]), vocabulary, None, Parser([])) is None


def test_afp_history_read_only_down_to_the_latest_result_with_a_value(mapper: PatientMapper) -> None:
    no_value = observation("1834-1", value=None, when="2026-11-01", rid="no-value")
    latest = observation("1834-1", value={"value": 900, "code": "ng/mL"}, when="2026-10-01", rid="latest")
    invalid_old = observation("1834-1", value={"value": 5, "code": "ng/mL"}, when="2025-01-01", rid="old")
    invalid_old["valueQuantity"]["value"] = "not a number"
    facts = mapper.map_facts({"afp": bundle(invalid_old, latest, no_value)}, PID)
    assert facts.afp is not None
    assert facts.afp.source.resource_id == "latest"
    left_out = [note.reference for note in facts.notes]
    assert "Observation/no-value" in left_out
    assert "Observation/old" not in left_out


def labs(
    bilirubin: dict[str, Any] | None, albumin: dict[str, Any] | None, inr: dict[str, Any] | None
) -> list[dict[str, Any]]:
    out = []
    for code, value in (("1975-2", bilirubin), ("1751-7", albumin), ("6301-6", inr)):
        if value is not None:
            out.append(observation(code, value=value, rid=f"lab-{code}"))
    return out


@pytest.mark.parametrize(
    ("panel", "conditions", "class_text", "missing"),
    [
        (labs({"value": 1.0, "code": "mg/dL"}, {"value": 4.0, "code": "g/dL"}, {"value": 1.1}), [], "A or B", ()),
        (labs({"value": 41, "code": "umol/L"}, {"value": 30, "code": "g/L"}, {"value": 1.5}), [], "B or C", ()),
        (
            labs({"value": 4.0, "code": "mg/dL"}, {"value": 2.5, "code": "g/dL"}, {"value": 2.5}),
            [condition({"text": "Ascites"}, rid="asc", severity="Severe")],
            "C",
            (),
        ),
        (labs({"value": 1.0, "code": "mg/dL"}, {"value": 4.0, "code": "g/dL"}, None), [], "A, B or C", ("INR",)),
        (
            labs({"value": 4.0, "code": "mg/dL"}, {"value": 2.0, "code": "g/dL"}, None),
            [
                condition({"text": "Hepatic encephalopathy"}, rid="he", severity="Severe"),
                condition({"text": "Ascites"}, rid="asc", severity="Moderate"),
            ],
            "C",
            ("INR",),
        ),
    ],
    ids=["normal-labs-A-or-B", "SI-units-B-or-C", "class-C", "missing-INR", "C-despite-missing"],
)
def test_child_pugh_components_map_in_standard_units_and_score_as_a_range(
    mapper: PatientMapper,
    knowledge: Knowledge,
    panel: list[dict[str, Any]],
    conditions: list[dict[str, Any]],
    class_text: str,
    missing: tuple[str, ...],
) -> None:
    """Unrecorded ascites/encephalopathy are unknown, not absent (policy 6.2): the class is a range."""
    facts = mapper.map_facts({"labs": bundle(*panel), "conditions": bundle(*conditions)}, PID)
    assessment = assess_child_pugh(facts.liver, knowledge.parameters, TODAY)
    assert assessment.class_text == class_text
    assert assessment.missing_labs == missing


def test_child_pugh_labs_are_converted_to_mg_per_dl_and_g_per_dl_with_dates(mapper: PatientMapper) -> None:
    panel = labs({"value": 41, "code": "umol/L"}, {"value": 30, "code": "g/L"}, {"value": 1.5})
    liver = mapper.map_facts({"labs": bundle(*panel)}, PID).liver
    assert liver.bilirubin_mg_per_dl is not None
    assert liver.albumin_g_per_dl is not None
    assert liver.inr is not None
    assert round(liver.bilirubin_mg_per_dl.value, 2) == Decimal("2.40")
    assert liver.albumin_g_per_dl.value == Decimal("3.0")
    assert liver.bilirubin_mg_per_dl.effective == date(2026, 11, 1)


def test_a_lab_older_than_the_limit_counts_as_missing(mapper: PatientMapper, knowledge: Knowledge) -> None:
    panel = labs({"value": 1.0, "code": "mg/dL"}, {"value": 4.0, "code": "g/dL"}, {"value": 1.1})
    panel[2]["effectiveDateTime"] = "2026-01-01"
    assessment = assess_child_pugh(mapper.map_facts({"labs": bundle(*panel)}, PID).liver, knowledge.parameters, TODAY)
    assert assessment.missing_labs == ("INR",)
    assert "INR 1.1 (2026-01-01), too old" in [lab.describe() for lab in assessment.labs]


def coded_child_pugh(value: dict[str, Any], *, rid: str = "cp", when: str | None = "2026-11-01") -> dict[str, Any]:
    resource = {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": "http://example.org/cp", "code": "CP"}]},
        "subject": {"reference": f"Patient/{PID}"},
        **value,
    }
    if when:
        resource["effectiveDateTime"] = when
    return resource


@pytest.fixture
def site_mapper(knowledge: Knowledge) -> PatientMapper:
    return PatientMapper(with_parameters(knowledge, child_pugh_observation_code="http://example.org/cp|CP"))


@pytest.mark.parametrize(
    ("wording", "klass", "score"),
    [
        ("class B", "B", None),
        ("Child-Pugh B (8)", "B", 8),
        ("B8", "B", 8),
        ("score 8", None, 8),
        ("The patient has a score of 8, class B", "B", 8),
        ("Child-Pugh class C", "C", None),
    ],
)
def test_coded_child_pugh_wordings(
    site_mapper: PatientMapper, wording: str, klass: str | None, score: int | None
) -> None:
    """The article "a" in "has a score of 8, class B" is never read as class A (issue 17's safety defect)."""
    liver = site_mapper.map_facts({"labs": bundle(coded_child_pugh({"valueString": wording}))}, PID).liver
    assert liver.coded is not None
    assert (liver.coded.child_pugh_class, liver.coded.score) == (klass, score)


def test_coded_child_pugh_score_8_is_class_b(site_mapper: PatientMapper, knowledge: Knowledge) -> None:
    liver = site_mapper.map_facts({"labs": bundle(coded_child_pugh({"valueString": "a score of 8"}))}, PID).liver
    assert assess_child_pugh(liver, knowledge.parameters, TODAY).class_text == "B"


def test_coded_child_pugh_newest_first_and_undated_noted(site_mapper: PatientMapper) -> None:
    older = coded_child_pugh({"valueString": "class A"}, rid="old", when="2026-10-01")
    newer = coded_child_pugh({"valueString": "class C"}, rid="new", when="2026-11-20")
    undated = coded_child_pugh({"valueString": "class B"}, rid="undated", when=None)
    facts = site_mapper.map_facts({"labs": bundle(older, undated, newer)}, PID)
    assert facts.liver.coded is not None
    assert facts.liver.coded.source.resource_id == "new"
    assert facts.liver.coded.child_pugh_class == "C"
    assert any(n.reference == "Observation/undated" and "no date" in n.reason for n in facts.notes)


@pytest.mark.parametrize(
    ("obs", "grade"),
    [
        (observation("89247-1", value_integer=1), 1),
        (
            {
                **observation("89247-1"),
                "valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA9624-3", "display": "Symptomatic"}]},
            },
            2,
        ),
        # policy 6.5: the LOINC answer code decides (LA9623-5 is ECOG 1), whatever the display says
        (
            {
                **observation("89247-1"),
                "valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA9623-5", "display": "2"}]},
            },
            1,
        ),
        ({**observation("89247-1"), "valueQuantity": {"value": 3, "unit": "{score}"}}, 3),
        ({**observation("89247-1"), "valueString": "4"}, 4),
    ],
)
def test_ecog(mapper: PatientMapper, obs: dict[str, Any], grade: int) -> None:
    ecog = mapper.map_facts({"labs": bundle(obs)}, PID).ecog
    assert ecog is not None
    assert ecog.grade == grade


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ({"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "Z94.4"}]}, CautionKind.ORGAN_TRANSPLANT),
        ({"text": "History of kidney transplant"}, CautionKind.ORGAN_TRANSPLANT),
        ({"text": "Systemic lupus erythematosus"}, CautionKind.AUTOIMMUNE_DISEASE),
        ({"text": "Autoimmune hepatitis"}, CautionKind.AUTOIMMUNE_DISEASE),
    ],
)
def test_immunotherapy_cautions(mapper: PatientMapper, code: dict[str, Any], kind: CautionKind) -> None:
    cautions = mapper.map_facts({"c": bundle(condition(code))}, PID).immunotherapy_cautions
    assert [c.kind for c in cautions] == [kind]


ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("History of kidney transplant", CautionKind.ORGAN_TRANSPLANT),
        ("Liver transplant, no rejection", CautionKind.ORGAN_TRANSPLANT),
        ("No rejection of the liver transplant", CautionKind.ORGAN_TRANSPLANT),
        ("No immunosuppression after liver transplant", CautionKind.ORGAN_TRANSPLANT),
        ("No diabetes; kidney transplant 2019", CautionKind.ORGAN_TRANSPLANT),
        ("Autoimmune hepatitis not ruled out", CautionKind.AUTOIMMUNE_DISEASE),
        ("Lupus cannot be ruled out", CautionKind.AUTOIMMUNE_DISEASE),
        ("No history of transplant", None),
        ("no known history of organ transplant", None),
        ("Denies autoimmune disease", None),
        ("Ruled out autoimmune hepatitis", None),
        ("Negative for hepatitis B", None),
        ("Never had a transplant", None),
    ],
)
def test_caution_text_is_negated_negex_style(mapper: PatientMapper, text: str, kind: CautionKind | None) -> None:
    """conditions.yaml text_negation (the project's NegEx-style choice): negated text is no caution."""
    cautions = mapper.map_facts({"c": bundle(condition({"text": text}))}, PID).immunotherapy_cautions
    assert [c.kind for c in cautions] == ([kind] if kind else [])


def test_caution_codes_are_never_negated(mapper: PatientMapper) -> None:
    code = {"coding": [{"system": ICD10, "code": "Z94.4"}], "text": "No history of transplant"}
    cautions = mapper.map_facts({"c": bundle(condition(code))}, PID).immunotherapy_cautions
    assert [c.kind for c in cautions] == [CautionKind.ORGAN_TRANSPLANT]


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("No evidence of hepatocellular carcinoma", DiagnosisStatus.ABSENT),
        ("Liver biopsy negative for HCC", DiagnosisStatus.ABSENT),
        ("Hepatocellular carcinoma excluded on MRI", DiagnosisStatus.ABSENT),
        ("HCC has been ruled out", DiagnosisStatus.ABSENT),
        ("Hepatocellular carcinoma: biopsy negative", DiagnosisStatus.PRESENT),  # another clause
        ("Hepatocellular carcinoma cannot be excluded", DiagnosisStatus.ABSENT),  # a suspicion (6.2)
        ("History of hepatocellular carcinoma, resected 2015, no recurrence", DiagnosisStatus.ABSENT),
        ("HCC in remission", DiagnosisStatus.ABSENT),
        ("History of hepatocellular carcinoma", DiagnosisStatus.PRESENT),
        ("Hepatocellular carcinoma, resected 2015, recurrence 2025", DiagnosisStatus.PRESENT),
        ("Hepatocellular carcinoma with no vascular invasion", DiagnosisStatus.PRESENT),
        ("Hepatocellular carcinoma AFP-negative", DiagnosisStatus.PRESENT),
        ("HCC but portal vein thrombosis excluded", DiagnosisStatus.PRESENT),
        ("Hepatocellular carcinoma with extrahepatic spread excluded", DiagnosisStatus.PRESENT),
        ("Hepatocellular carcinoma with negative margins", DiagnosisStatus.PRESENT),
        ("No cirrhosis; hepatocellular carcinoma BCLC C", DiagnosisStatus.PRESENT),
        ("No evidence of HCC in segment 8; hepatocellular carcinoma in segment 4", DiagnosisStatus.PRESENT),
    ],
)
def test_hcc_text_is_negated_pre_and_post(mapper: PatientMapper, text: str, status: DiagnosisStatus) -> None:
    """Policy 6.2 (never from a refuted entry) for text: conditions.yaml text_negation with post-negation and
    hcc_not_current apply to the HCC diagnosis (a false HCC is the unsafe error)."""
    resource = condition({"text": text}, clinical=None, verification=None)
    assert mapper.map_facts({"c": bundle(resource)}, PID).hcc.status is status


def test_hcc_codes_are_never_negated(mapper: PatientMapper) -> None:
    code = {"coding": [{"system": ICD10, "code": "C22.0"}], "text": "No evidence of hepatocellular carcinoma"}
    assert mapper.map_facts({"c": bundle(condition(code))}, PID).hcc.status is DiagnosisStatus.PRESENT
    code = {"coding": [{"system": ICD10, "code": "C22.0"}], "text": "Hepatocellular carcinoma, no recurrence"}
    assert mapper.map_facts({"c": bundle(condition(code))}, PID).hcc.status is DiagnosisStatus.PRESENT


@pytest.mark.parametrize(
    ("text", "transplant"),
    [
        ("Awaiting liver transplant (listed)", False),
        ("Listed for liver transplant", False),
        ("On the liver transplant waiting list", False),
        ("Liver transplant candidate", False),
        ("Evaluation for liver transplant", False),
        ("Referred for kidney transplant", False),
        ("Evaluation for liver transplant rejection", True),
        ("Kidney transplant 2019; listed for liver transplant", True),
        ("Liver transplant 2018, awaiting re-transplant", True),
        ("Liver transplant recipient", True),
        ("Liver transplant evaluation of graft function", True),
        ("Awaiting biopsy of liver transplant", True),
        ("Awaiting results from the lab; liver transplant 2019", True),
        ("Awaiting deceased donor liver transplant", False),
    ],
)
def test_transplant_text_in_the_future_is_no_transplant(mapper: PatientMapper, text: str, transplant: bool) -> None:
    """conditions.yaml text_hypothetical (ConText-style, a project choice): a patient awaiting, listed for,
    evaluated or referred for a transplant has not had one; a transplant that exists still counts."""
    cautions = mapper.map_facts({"c": bundle(condition({"text": text}))}, PID).immunotherapy_cautions
    assert [c.kind for c in cautions] == ([CautionKind.ORGAN_TRANSPLANT] if transplant else [])


def test_transplant_codes_are_never_hypothetical(mapper: PatientMapper) -> None:
    code = {"coding": [{"system": ICD10, "code": "Z94.4"}], "text": "Awaiting liver transplant"}
    cautions = mapper.map_facts({"c": bundle(condition(code))}, PID).immunotherapy_cautions
    assert [c.kind for c in cautions] == [CautionKind.ORGAN_TRANSPLANT]


SIX_POINT_LABS = labs({"value": 3.5, "code": "mg/dL"}, {"value": 3.0, "code": "g/dL"}, {"value": 1.5})


def finding(text: str, rid: str, when: str = "2026-11-02", **extra: Any) -> dict[str, Any]:
    resource = condition({"text": text} if "coding" not in extra else {"text": text, **extra}, rid=rid)
    resource["onsetDateTime"] = when
    return resource


@pytest.mark.parametrize(
    ("conditions", "score", "class_text", "unrecorded"),
    [
        ([finding("No ascites", "a"), finding("No hepatic encephalopathy", "e")], "score 8", "B", ()),
        ([finding("Denies ascites", "a")], "score 8-10", "B or C", ("hepatic encephalopathy",)),
        (
            [finding("No ascites", "a", when="2025-01-01"), finding("No hepatic encephalopathy", "e")],
            "score 8-10",
            "B or C",
            ("ascites",),
        ),
        (
            [
                finding("No ascites", "a-old", when="2025-01-01"),
                finding("No ascites", "a"),
                finding("No ascites", "a-older", when="2024-01-01"),
                finding("No hepatic encephalopathy", "e"),
            ],
            "score 8",
            "B",
            (),
        ),
        (
            [finding("No ascites", "a"), finding("Ascites", "a2"), finding("No hepatic encephalopathy", "e")],
            "score 9-10",
            "B or C",
            (),
        ),
        ([finding("Ascites ruled out", "a"), finding("No hepatic encephalopathy", "e")], "score 9-10", "B or C", ()),
        (
            [
                finding("No ascites", "a", coding=[{"system": SNOMED, "code": "389026000"}]),
                finding("No hepatic encephalopathy", "e"),
            ],
            "score 9-10",
            "B or C",
            (),
        ),
    ],
    ids=[
        "both-denied",
        "one-denied",
        "old-denial",
        "newest-denial",
        "presence-wins",
        "no-post-negation",
        "code-not-negated",
    ],
)
def test_a_recorded_absence_of_ascites_or_encephalopathy_is_an_absence(
    mapper: PatientMapper,
    knowledge: Knowledge,
    conditions: list[dict[str, Any]],
    score: str,
    class_text: str,
    unrecorded: tuple[str, ...],
) -> None:
    """Policy 6.2 (the minimum counts what is recorded; a recorded absence is an absence): "No ascites" is 1
    point, not a finding, while as recent as the labs may be (liver_lab_max_age_days); presence and codes win."""
    facts = mapper.map_facts({"labs": bundle(*SIX_POINT_LABS), "conditions": bundle(*conditions)}, PID)
    assessment = assess_child_pugh(facts.liver, knowledge.parameters, TODAY)
    assert (assessment.score_text, assessment.class_text) == (score, class_text)
    assert assessment.unrecorded_findings == unrecorded


@pytest.mark.parametrize(
    ("code", "clinical", "verification", "kinds"),
    [
        ({"coding": [{"system": ICD10, "code": "Z94.4"}]}, "resolved", "confirmed", [CautionKind.ORGAN_TRANSPLANT]),
        ({"text": "Liver transplant"}, "inactive", "confirmed", [CautionKind.ORGAN_TRANSPLANT]),
        ({"text": "Liver transplant"}, "remission", None, [CautionKind.ORGAN_TRANSPLANT]),
        ({"coding": [{"system": ICD10, "code": "Z94.4"}]}, "active", "refuted", []),
        ({"coding": [{"system": ICD10, "code": "Z94.4"}]}, None, "entered-in-error", []),
        ({"text": "Systemic lupus erythematosus"}, "resolved", "confirmed", []),
        ({"text": "Systemic lupus erythematosus"}, "active", "refuted", []),
    ],
    ids=[
        "transplant-resolved",
        "transplant-inactive",
        "transplant-remission",
        "transplant-refuted",
        "transplant-entered-in-error",
        "autoimmune-resolved",
        "autoimmune-refuted",
    ],
)
def test_caution_statuses(
    mapper: PatientMapper,
    code: dict[str, Any],
    clinical: str | None,
    verification: str | None,
    kinds: list[CautionKind],
) -> None:
    """A transplant stays a transplant whatever its clinicalStatus; refuted / entered-in-error never count."""
    resource = condition(code, clinical=clinical, verification=verification)
    cautions = mapper.map_facts({"c": bundle(resource)}, PID).immunotherapy_cautions
    assert [c.kind for c in cautions] == kinds


def test_a_resolved_transplant_is_not_an_hcc_diagnosis_source(mapper: PatientMapper) -> None:
    facts = mapper.map_facts({"c": bundle(condition({"text": "Liver transplant"}, clinical="resolved"))}, PID)
    assert facts.hcc.status is DiagnosisStatus.ABSENT


@pytest.mark.parametrize(
    "value",
    [
        None,
        {"resourceType": "Bundle", "type": "searchset"},
        {"resourceType": "Bundle", "entry": []},
        {"resourceType": "OperationOutcome", "issue": []},
        "not a resource",
        [1, 2],
        {"resourceType": "Bundle", "entry": "x"},
    ],
    ids=["null", "empty-bundle", "bundle-without-type", "operation-outcome", "string", "list", "bad-entry"],
)
def test_prefetch_value_shapes_never_raise(mapper: PatientMapper, value: Any) -> None:
    facts = mapper.map_facts({"k": value}, PID)
    assert facts.hcc.status is DiagnosisStatus.ABSENT
    assert not facts.lines


def test_single_resource_prefetch_value(mapper: PatientMapper) -> None:
    assert mapper.map_facts({"c": condition(ICD_HCC)}, PID).hcc.status is DiagnosisStatus.PRESENT


def test_invalid_resource_is_left_out_with_a_note(mapper: PatientMapper) -> None:
    broken = condition(ICD_HCC, rid="bad")
    broken["onsetDateTime"] = "not-a-date"
    facts = mapper.map_facts({"c": bundle(broken, condition(ICD_HCC, rid="good"))}, PID)
    assert facts.hcc.status is DiagnosisStatus.PRESENT
    assert any(n.reference == "Condition/bad" and "not valid FHIR R4" in n.reason for n in facts.notes)


@pytest.mark.parametrize("path", sorted((THIRD_PARTY / "synthea").glob("*.json")), ids=lambda p: p.stem)
def test_synthea_patients_map_without_hcc(mapper: PatientMapper, path: Any) -> None:
    data = json.loads(path.read_text())
    pid = next(e["resource"]["id"] for e in data["entry"] if e["resource"]["resourceType"] == "Patient")
    facts = mapper.map_facts({"all": data}, pid)
    assert facts.hcc.status is DiagnosisStatus.ABSENT
    assert not facts.lines
    assert not [n for n in facts.notes if "another patient" in n.reason]


def test_draft_orders_r4_and_dstu2(mapper: PatientMapper) -> None:
    drafts = {
        "resourceType": "Bundle",
        "entry": [
            {
                "resource": {
                    "resourceType": "MedicationOrder",
                    "id": "order-123",
                    "status": "draft",
                    "medicationCodeableConcept": {"text": "Cabometyx 60 MG"},
                    "patient": {"reference": "Patient/p1"},
                }
            },
            {
                "resource": {
                    "resourceType": "MedicationRequest",
                    "id": "request-123",
                    "status": "draft",
                    "category": {"text": "outpatient"},
                    "reasonCode": {"text": "HCC"},
                    "medicationCodeableConcept": {
                        "text": "ramucirumab",
                        "coding": [{"system": RXNORM, "code": "1657775"}],
                    },
                }
            },
            {"resource": {"resourceType": "ServiceRequest", "id": "sr", "status": "draft"}},
        ],
    }
    selected = mapper.map_draft_orders(drafts, ["MedicationOrder/order-123", "MedicationRequest/missing"])
    assert [(o.reference, set(o.agents)) for o in selected.selected] == [
        ("MedicationOrder/order-123", {"cabozantinib"})
    ]
    assert [o.reference for o in selected.others] == ["MedicationRequest/request-123"]
    assert any(n.reference == "MedicationRequest/missing" for n in selected.notes)
    every = mapper.map_draft_orders(drafts, None)
    assert {o.reference for o in every.selected} == {"MedicationOrder/order-123", "MedicationRequest/request-123"}


def test_facts_cache_answers_a_repeated_chart_and_maps_a_changed_one_again(knowledge: Knowledge) -> None:
    cached = PatientMapper(knowledge, facts_cache_size=2)
    broken = condition(ICD_HCC, rid="bad")
    broken["onsetDateTime"] = "not-a-date"
    values = {"c": bundle(condition(ICD_HCC, rid="good"), broken)}
    first = cached.map_facts(values, PID)
    second = cached.map_facts(json.loads(json.dumps(values)), PID)  # an equal chart from a new request
    assert second is first  # mapped once
    assert any(n.reference == "Condition/bad" for n in second.notes)
    changed = {"c": bundle(condition(ICD_HCC, rid="good", clinical="resolved"))}
    assert cached.map_facts(changed, PID).hcc.status is DiagnosisStatus.ABSENT
    assert cached.map_facts(values, PID, conditions_available=False) is not first  # the flags are in the key
    assert len(cached.facts_cache._entries) == 2  # bounded: the oldest entry was evicted
    other_patient = cached.map_facts(values, "someone-else")
    assert other_patient.hcc.status is DiagnosisStatus.ABSENT  # another patient's id never reuses the facts


def test_a_chart_that_is_not_plain_json_is_mapped_but_not_cached(knowledge: Knowledge) -> None:
    cached = PatientMapper(knowledge, facts_cache_size=4)
    values = {"c": bundle(condition(ICD_HCC, rid="good")), "odd": {1: "a key that is not a string"}}
    assert cached.map_facts(values, PID).hcc.status is DiagnosisStatus.PRESENT
    assert not cached.facts_cache._entries


def test_facts_cache_off_maps_every_call(knowledge: Knowledge) -> None:
    uncached = PatientMapper(knowledge, facts_cache_size=0)
    values = {"c": bundle(condition(ICD_HCC, rid="good"))}
    assert uncached.map_facts(values, PID) is not uncached.map_facts(values, PID)
    assert uncached.map_facts(values, PID) == uncached.map_facts(values, PID)


def test_only_the_latest_usable_lab_is_validated(knowledge: Knowledge, monkeypatch: pytest.MonkeyPatch) -> None:
    history = [
        observation("1975-2", value={"value": 1.0, "code": "mg/dL"}, when=f"20{10 + i}-01-01", rid=f"b{i}")
        for i in range(10)
    ]
    history[-1]["valueQuantity"]["value"] = "not a number"  # the newest is invalid: the next newest is used
    validated: list[str] = []
    parse = Parser.parse

    def counting_parse(self: Parser, raw: dict[str, Any]) -> Any:
        validated.append(raw["id"])
        return parse(self, raw)

    monkeypatch.setattr(Parser, "parse", counting_parse)
    facts = PatientMapper(knowledge).map_facts({"labs": bundle(*history)}, PID)
    assert facts.liver.bilirubin_mg_per_dl is not None
    assert facts.liver.bilirubin_mg_per_dl.source.resource_id == "b8"
    assert validated == ["b9", "b8"]  # b9 (invalid), then b8; the eight older ones were never validated
