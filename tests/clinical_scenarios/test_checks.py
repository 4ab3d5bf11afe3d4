"""The scenario checker itself: it must catch the misfits the committee cares about, and the FHIR it builds is R4."""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from tests.clinical_scenarios.checks import failures
from tests.clinical_scenarios.fhir import hook_request, patient_resources
from tests.clinical_scenarios.model import Scenario, load_scenario, scenario_files

CLOSING = "Decision support from a 2021 review plus dated later evidence; the clinician decides."


def scenario(expect: dict[str, Any], hook: str = "order-select") -> Scenario:
    return Scenario.model_validate(
        {
            "id": "checker",
            "title": "Checker",
            "source": "§6",
            "as_of": "2026-11-25",
            "patient": {"diagnoses": [{"text": "HCC", "system": "icd10cm", "code": "C22.0"}]},
            "hook": hook,
            "order": {"selected": ["regorafenib"]},
            "result": {},
            "expect": expect,
        }
    )


def card(indicator: str, summary: str, detail: str = CLOSING, suggestions: list[Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"indicator": indicator, "summary": summary, "detail": detail}
    if suggestions:
        out["suggestions"] = suggestions
    return out


def replace_with(agents: list[str], recommended: bool = False) -> dict[str, Any]:
    actions: list[dict[str, Any]] = [{"type": "delete", "resourceId": "MedicationRequest/draft-regorafenib"}]
    actions += [
        {"type": "create", "resource": {"resourceType": "MedicationRequest", "medicationCodeableConcept": {"text": a}}}
        for a in agents
    ]
    return {"label": f"Replace with {' + '.join(agents)}", "isRecommended": recommended, "actions": actions}


def test_a_fitting_answer_has_no_failures() -> None:
    expected = scenario(
        {"selected_order": {"indicator": "critical", "summary_contains": ["Child-Pugh C"], "no_replacement": True}}
    )
    cards = [card("critical", "Child-Pugh C: no trial in the review enrolled Child-Pugh C patients")]
    assert failures(expected, cards) == []


def test_missing_closing_line_and_ellipsis_are_caught_on_every_card() -> None:
    problems = failures(scenario({"cards": 1}), [card("info", "HCC after sorafenib: cabozantinib…", "No closing")])
    assert any("ellipsis" in p for p in problems)
    assert any("§6.4" in p for p in problems)


def test_replacement_recommendation_and_forbidden_regimens_are_caught() -> None:
    expected = scenario(
        {
            "every_card": {
                "no_replacement": True,
                "no_recommended_suggestion": True,
                "must_not_suggest": ["nivolumab"],
            }
        }
    )
    cards = [card("warning", "Selected regorafenib", suggestions=[replace_with(["nivolumab", "ipilimumab"], True)])]
    problems = " ".join(failures(expected, cards))
    assert "one-click replacement" in problems
    assert "as recommended" in problems
    assert '"ipilimumab + nivolumab" as a suggestion' in problems


def test_preferred_is_read_from_the_summary_and_the_table_but_not_from_a_negation() -> None:
    expected = scenario({"every_card": {"no_regimen_preferred": True}})
    negated = card("info", "HCC after another immunotherapy: no option is preferred by the review")
    assert failures(expected, [negated]) == []
    in_summary = card("info", "HCC after sorafenib: cabozantinib or regorafenib preferred")
    assert failures(expected, [in_summary])
    in_table = card("info", "HCC", "| Regimen | Place |\n|---|---|\n| Cabozantinib | preferred |\n" + CLOSING)
    assert failures(expected, [in_table])


def test_two_kinds_need_two_cards() -> None:
    expected = scenario({"recommendation": {"indicator": "info"}, "selected_order": {"indicator": "info"}})
    problems = failures(expected, [card("info", "HCC after sorafenib: cabozantinib preferred")])
    assert len(problems) == 1
    assert "no card fits" in problems[0]


def test_no_cards_expected_but_answered() -> None:
    problems = failures(scenario({"no_cards": True}), [card("info", "HCC")])
    assert problems == ['The service should stay silent, but it answered [INFO] "HCC".']


@pytest.mark.parametrize("path", scenario_files(), ids=[p.stem for p in scenario_files()])
def test_scenario_builds_valid_fhir_r4(path: Any) -> None:
    built = load_scenario(path)
    for resource in patient_resources(built):
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    request = hook_request(built)
    assert request["context"]["patientId"] == built.id
    if built.order:
        for entry in request["context"]["draftOrders"]["entry"]:
            get_fhir_model_class("MedicationRequest").model_validate(entry["resource"])


def test_regimen_place_needs_a_line_naming_both() -> None:
    expected = scenario(
        {"recommendation": {"regimen_places": {"nivolumab + ipilimumab": "not addressed by the review"}}}
    )
    table = "| Regimen | Place |\n|---|---|\n| Nivolumab + ipilimumab | {} |\n" + CLOSING
    assert failures(expected, [card("info", "HCC", table.format("not addressed by the review"))]) == []
    problems = failures(expected, [card("info", "HCC", table.format("not supported for this patient"))])
    assert 'no line names nivolumab + ipilimumab as "not addressed by the review"' in problems[0]


def test_a_result_block_that_disagrees_with_the_engine_is_reported_field_by_field() -> None:
    from tests.clinical_scenarios.model import SCENARIOS_DIR, Result, load_scenario
    from tests.clinical_scenarios.results import recommendation_for, result_failures

    scenario = load_scenario(SCENARIOS_DIR / "s21-nivolumab-alone-sign.yaml")
    rec = recommendation_for(scenario)
    assert result_failures(scenario, rec) == []
    wrong = Result.model_validate(
        {
            "setting": "first_line",
            "places": {"cabozantinib": "option"},
            "selected": {"place": "preferred"},
            "gates": ["child_pugh_c"],
        }
    )
    problems = result_failures(scenario.model_copy(update={"result": wrong}), rec)
    assert problems == [
        "setting: expected first_line, engine says after_sorafenib",
        "place of cabozantinib: expected option, engine says preferred",
        "selected place: expected preferred, engine says less_preferable",
        "gates fired: expected ['child_pugh_c'], engine fired ['child_pugh_findings_not_recorded']",
    ]
