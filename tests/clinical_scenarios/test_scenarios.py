"""The clinical validation suite (issue 11): every scenario through the HTTP API, checked against §6."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.clinical_scenarios.checks import failure_message, failures
from tests.clinical_scenarios.model import SCENARIOS_DIR, Scenario, load_scenario, scenario_files
from tests.clinical_scenarios.render import render
from tests.clinical_scenarios.results import recommendation_for, result_failures
from tests.clinical_scenarios.runner import ScenarioRunner, scenario_runner

DOC = Path(__file__).resolve().parents[2] / "docs" / "clinical-validation.md"
SCHEMA = SCENARIOS_DIR / "schema.json"
FILES = scenario_files()


@pytest.fixture(scope="module")
def runner() -> Iterator[ScenarioRunner]:
    with scenario_runner() as started:
        yield started


def test_there_are_enough_scenarios_for_every_hook() -> None:
    scenarios = [load_scenario(path) for path in FILES]
    assert len(scenarios) >= 45
    assert {s.hook for s in scenarios} == {"order-select", "order-sign", "patient-view"}
    assert len({s.id for s in scenarios}) == len(scenarios)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario_file_validates_against_the_schema(path: Path) -> None:
    load_scenario(path)


def test_schema_rejects_a_scenario_with_an_unknown_field() -> None:
    data = {
        "id": "bad-one",
        "title": "t",
        "source": "§6.2",
        "as_of": "2026-11-25",
        "patient": {"diagnoses": [{"text": "HCC"}]},
        "hook": "patient-view",
        "result": {"applicable": False, "gates": []},
        "expect": {"no_cards": True},
        "expected_cards": 3,
    }
    with pytest.raises(ValidationError, match="expected_cards"):
        Scenario.model_validate(data)
    data.pop("expected_cards")
    without_result = {k: v for k, v in data.items() if k != "result"}
    with pytest.raises(ValidationError, match="result"):
        Scenario.model_validate(without_result)
    data["hook"] = "order-select"
    with pytest.raises(ValidationError, match="need an order"):
        Scenario.model_validate(data)


def test_committed_json_schema_is_current() -> None:
    current = json.dumps(Scenario.model_json_schema(), indent=2) + "\n"
    assert SCHEMA.read_text(encoding="utf-8") == current, (
        "run: .venv/bin/python -m tests.clinical_scenarios.schema > clinical-scenarios/schema.json"
    )


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_clinical_scenario(runner: ScenarioRunner, path: Path) -> None:
    scenario = load_scenario(path)
    cards = runner.cards(scenario)
    problems = failures(scenario, cards) + result_failures(scenario, recommendation_for(scenario))
    assert not problems, failure_message(scenario, problems)


def test_committed_clinical_validation_page_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "run: .venv/bin/python -m tests.clinical_scenarios.render > docs/clinical-validation.md"
    )
