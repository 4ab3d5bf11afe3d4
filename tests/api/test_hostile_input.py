"""No input from a trusted client gives a 5xx (issue 25, findings 3 and 8): a Condition ``coding.system``
that is a list or object, nesting hundreds deep (capped at parse: 400), a draft order id that is not a
FHIR id (accepted, and the card still warns), ``patientId`` ``.``/``..`` (400); and a property test that
changes the type of the value at any path of any fixture request and asserts that no answer is a 5xx.

``CDS_MUTATION_EXAMPLES`` sets how many mutated requests the property test sends (default 2000; a
nightly-style run: ``CDS_MUTATION_EXAMPLES=50000``)."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.api.app import create_app
from cds_service.api.json_depth import deeper_than
from cds_service.config import Settings
from cds_service.hooks.services import ORDER_SELECT_ID, SERVICE_ID_BY_HOOK
from tests.conftest import AS_OF, REQUESTS, load_request

SERVICE = f"/cds-services/{ORDER_SELECT_ID}"
MUTATION_EXAMPLES = int(os.environ.get("CDS_MUTATION_EXAMPLES", "2000"))


def _conditions(request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for value in request["prefetch"].values():
        for entry in value.get("entry", []) if isinstance(value, dict) else []:
            if entry["resource"]["resourceType"] == "Condition":
                yield entry["resource"]


@pytest.mark.parametrize("system", [["http://snomed.info/sct"], {"url": "http://snomed.info/sct"}])
def test_a_condition_coding_system_that_is_a_list_or_object_is_not_a_500(client: TestClient, system: Any) -> None:
    request = copy.deepcopy(load_request("01-"))
    for condition in _conditions(request):
        for coding in condition["code"]["coding"]:
            coding["system"] = system
    response = client.post(SERVICE, json=request)
    assert response.status_code == 200, response.text


def _with_nesting(depth: int) -> bytes:
    """The fixture request with an extension nested ``depth`` levels (written by hand: encoders stop early)."""
    request = copy.deepcopy(load_request("01-"))
    request["context"]["draftOrders"]["entry"][0]["resource"]["extension"] = "NESTED"
    nested = '{"x":[' * (depth // 2) + '"leaf"' + "]}" * (depth // 2)
    return json.dumps(request).replace('"NESTED"', nested).encode()


def test_nesting_deeper_than_the_cap_is_a_400_at_parse(client: TestClient) -> None:
    headers = {"content-type": "application/json"}
    response = client.post(SERVICE, content=_with_nesting(960), headers=headers)
    assert response.status_code == 400
    assert "levels deep" in response.json()["issue"][0]["diagnostics"]
    assert client.post(SERVICE, content=_with_nesting(40), headers=headers).status_code == 200


def test_a_draft_order_id_that_is_not_a_fhir_id_still_gets_its_warning_and_update(client: TestClient) -> None:
    request = json.loads(json.dumps(load_request("09-")).replace("draft-ramu", "draft_ramu"))
    response = client.post(SERVICE, json=request)
    assert response.status_code == 200, response.text
    warning = next(card for card in response.json()["cards"] if card["indicator"] == "warning")
    assert "ramucirumab not supported" in warning["summary"]
    actions = [a for s in warning.get("suggestions", []) for a in s["actions"] if a["type"] == "update"]
    assert actions
    assert {a["resource"]["id"] for a in actions} == {"draft_ramu"}
    assert {a["resourceId"] for a in actions} == {"MedicationRequest/draft_ramu"}


@pytest.mark.parametrize("patient_id", [".", ".."])
def test_a_patient_id_that_is_a_dot_segment_is_a_400(client: TestClient, patient_id: str) -> None:
    request = copy.deepcopy(load_request("01-"))
    request["context"]["patientId"] = patient_id
    response = client.post(SERVICE, json=request)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["context.patientId"]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*path, index))


FIXTURES = {path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(REQUESTS.glob("*.json"))}
TARGETS = [(name, path) for name, request in FIXTURES.items() for path in _paths(request) if path]

REPLACEMENTS: list[Any] = [
    None,
    True,
    0,
    -1,
    2.5,
    10**30,
    "",
    "x",
    "..",
    [],
    {},
    ["x"],
    {"x": "y"},
    [None],
    [{}],
    {"resourceType": "Bundle"},
]


def _mutated(request: dict[str, Any], path: tuple[Any, ...], how: str, replacement: Any) -> dict[str, Any]:
    mutated = copy.deepcopy(request)
    parent: Any = mutated
    for step in path[:-1]:
        parent = parent[step]
    original = parent[path[-1]]
    parent[path[-1]] = {
        "replace": replacement,
        "wrap-in-list": [original],
        "wrap-in-object": {"value": original},
        "to-string": json.dumps(original),
    }[how]
    return mutated


def test_type_changing_mutations_at_any_path_of_any_fixture_never_give_a_5xx(tmp_path: Path) -> None:
    app_settings = Settings(
        environment="development", database_url=f"sqlite:///{tmp_path / 'f.sqlite3'}", log_level="ERROR"
    )

    with TestClient(create_app(app_settings, clock=lambda: AS_OF), raise_server_exceptions=False) as client:

        @settings(
            max_examples=MUTATION_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(
            target=st.sampled_from(TARGETS),
            how=st.sampled_from(["replace", "replace", "wrap-in-list", "wrap-in-object", "to-string"]),
            replacement=st.sampled_from(REPLACEMENTS),
        )
        def no_5xx(target: tuple[str, tuple[Any, ...]], how: str, replacement: Any) -> None:
            name, path = target
            request = _mutated(FIXTURES[name], path, how, replacement)
            hook = FIXTURES[name]["hook"]
            response = client.post(f"/cds-services/{SERVICE_ID_BY_HOOK[hook]}", json=request)
            assert response.status_code < 500, (name, path, how, replacement, response.text[:300])

        no_5xx()


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(child) for child in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(child) for child in value), default=0)
    return 0


TRICKY_TEXT = st.text(alphabet='ab"[]{}\\', max_size=6)
JSON_VALUES = st.recursive(
    st.none() | st.integers() | TRICKY_TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TRICKY_TEXT, children, max_size=3),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(value=JSON_VALUES)
def test_the_depth_measured_on_the_bytes_is_the_depth_of_the_json(value: Any) -> None:
    body, depth = json.dumps(value).encode(), _depth(value)
    assert deeper_than(body, depth) is False
    if depth:
        assert deeper_than(body, depth - 1) is True
