"""Element-wise validation gives the R4B model's verdict and values on what the rules read (issue 29).

``parse_r4`` validates each read element with the type the R4B model declares for it, then the model's
resource-level rules; the reference here is the whole R4B model validating a copy of the resource pruned
to the same elements. Fixture resources are broken at random in the elements the rules read.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.facts import DataQualityNote
from cds_service.mapping.fhir import ELEMENTS_READ, R4B_MODELS, ElementValidator, parse_r4

ROOT = Path(__file__).resolve().parents[2]


def _resources() -> list[dict[str, Any]]:
    """Every resource of a type the rules read, from the fixture requests."""
    found: list[dict[str, Any]] = []
    for path in sorted((ROOT / "fixtures" / "fhir" / "requests").glob("*.json")):
        stack: list[Any] = [json.loads(path.read_text())]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                if item.get("resourceType") in R4B_MODELS and "coding" not in item:
                    found.append(item)
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
    return found


# A dispensing record (no fixture request carries one), shaped as an EHR's pharmacy feed sends it.
DISPENSE = {
    "resourceType": "MedicationDispense",
    "id": "dispense-1",
    "status": "completed",
    "medicationCodeableConcept": {
        "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "597747"}],
        "text": "sorafenib 200 MG Oral Tablet",
    },
    "subject": {"reference": "Patient/hcc-sorafenib"},
    "whenHandedOver": "2025-03-15",
    "daysSupply": {"value": 30, "unit": "day", "system": "http://unitsofmeasure.org", "code": "d"},
    "note": [{"text": "stopped: progression"}],
}
RESOURCES = [*_resources(), DISPENSE]
JUNK: list[Any] = [
    None,
    "",
    "x",
    0,
    -3,
    1.5,
    True,
    [],
    {},
    [None],
    ["a"],
    [{}],
    {"coding": "x"},
    {"coding": [None]},
    {"coding": [{"code": 1}]},
    {"text": 3},
    {"unknown": 1},
    "2024-13-01",
    "2024-02-30",
    "2024",
    "2024-05-01T10:00:00",
    "2024-05-01T10:00:00Z",
    {"start": "bad"},
    {"start": "2024-01-01", "end": "2023"},
    {"value": "x"},
    {"value": 1e30, "unit": "ng/mL"},
    {"reference": 5},
    [{"coding": [{"system": "http://snomed.info/sct", "code": "1"}]}],
    {"validityPeriod": {"start": "2025"}, "quantity": {"value": 1}},
]


def reference_model(raw: dict[str, Any]) -> Any | None:
    """The whole R4B model over the elements the rules read (``None`` when it refuses them)."""
    model = R4B_MODELS[raw["resourceType"]]
    names = {info.alias or name for name, info in model.model_fields.items()} | {"resourceType"}
    data = {k: v for k, v in raw.items() if k in ELEMENTS_READ[raw["resourceType"]] & names}
    dispense = data.get("dispenseRequest")
    if isinstance(dispense, dict):
        data["dispenseRequest"] = {k: v for k, v in dispense.items() if k == "validityPeriod"}
    try:
        return model.model_validate(data)
    except (ValueError, TypeError):
        return None


def test_fixtures_hold_every_type_the_rules_read() -> None:
    assert {r["resourceType"] for r in RESOURCES} >= {
        "Condition",
        "Observation",
        "MedicationStatement",
        "MedicationRequest",
        "MedicationAdministration",
    }


def _changed(resource: dict[str, Any], changes: list[tuple[int, Any]]) -> dict[str, Any]:
    raw = copy.deepcopy(resource)
    keys = sorted(ELEMENTS_READ[raw["resourceType"]] - {"resourceType"})
    for position, value in changes:
        key = keys[position % len(keys)]
        if value == "<drop>":
            raw.pop(key, None)
        else:
            raw[key] = copy.deepcopy(value)
    return raw


@pytest.mark.parametrize("resource_type", sorted(R4B_MODELS))
def test_every_read_element_broken_every_way(resource_type: str) -> None:
    """One resource of each type, each read element in turn dropped or replaced by each wrong value."""
    resource = next(r for r in RESOURCES if r["resourceType"] == resource_type)
    for position in range(len(ELEMENTS_READ[resource_type]) - 1):
        for value in [*JUNK, "<drop>"]:
            assert_same_as_r4b(_changed(resource, [(position, value)]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    resource=st.sampled_from(RESOURCES),
    changes=st.lists(st.tuples(st.integers(0, 100), st.sampled_from([*JUNK, "<drop>"])), min_size=1, max_size=3),
)
def test_same_verdict_and_values_as_the_r4b_model(resource: dict[str, Any], changes: list[tuple[int, Any]]) -> None:
    assert_same_as_r4b(_changed(resource, changes))


def assert_same_as_r4b(raw: dict[str, Any]) -> None:
    notes: list[DataQualityNote] = []
    parsed = parse_r4(raw, notes)
    expected = reference_model(raw)
    assert (parsed is None) == (expected is None), (raw, notes)
    if expected is None:
        assert len(notes) == 1
        assert "not valid FHIR R4" in notes[0].reason
        return
    assert notes == []
    for name in type(expected).model_fields:
        if name not in ("resource_type", "fhir_comments"):
            assert getattr(parsed, name) == getattr(expected, name), name


def test_an_element_no_rule_reads_is_none_and_a_name_outside_the_model_is_an_error() -> None:
    observation = next(r for r in RESOURCES if r["resourceType"] == "Observation")
    parsed = parse_r4({**observation, "interpretation": "not even a list"}, [])
    assert parsed is not None
    assert parsed.interpretation is None
    with pytest.raises(AttributeError):
        _ = parsed.no_such_element


def test_validated_datatypes_are_remembered_within_a_bound() -> None:
    validator = ElementValidator(ELEMENTS_READ, cache_size=2)
    observation = next(r for r in RESOURCES if r["resourceType"] == "Observation")
    first = validator.validate(observation)
    second = validator.validate(copy.deepcopy(observation))
    assert first is not None
    assert second is not None
    assert second.subject is first.subject  # the same datatype content: validated once
    for index in range(5):
        validator.validate({**observation, "subject": {"reference": f"Patient/p{index}"}})
    assert len(validator._cache._entries) == 2  # the bound is the point
