"""Prefetch semantics of CDS Hooks 2.0: present keys are the answer; absent required keys are a 412."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cds_service.data.prefetch import FetchOutcome, FetchRequest, KeyStatus, PrefetchSpec, classify_value, resolve_data
from cds_service.errors import DataUnavailable

SPECS = (
    PrefetchSpec("conditions", "Condition?patient={{context.patientId}}", "conditions", required=True),
    PrefetchSpec("afp", "Observation?patient={{context.patientId}}&code=1834-1", "observations", required=False),
)
CONDITION = {"resourceType": "Condition", "id": "c1"}
NO_SERVER = FetchRequest(fhir_server=None)


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ({"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": CONDITION}]}, KeyStatus.PROVIDED),
        (CONDITION, KeyStatus.PROVIDED),
        (None, KeyStatus.NONE),
        ({"resourceType": "Bundle", "type": "searchset", "total": 0}, KeyStatus.NONE),
        ({"resourceType": "Bundle", "entry": []}, KeyStatus.NONE),
        ({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}, KeyStatus.ERROR),
        (
            {
                "resourceType": "Bundle",
                "entry": [{"resource": {"resourceType": "OperationOutcome", "issue": [{"severity": "fatal"}]}}],
            },
            KeyStatus.ERROR,
        ),
        (
            {
                "resourceType": "Bundle",
                "entry": [
                    {"resource": CONDITION},
                    {"resource": {"resourceType": "OperationOutcome", "issue": [{"severity": "warning"}]}},
                ],
            },
            KeyStatus.PROVIDED,
        ),
        (
            {
                "resourceType": "Bundle",
                "entry": [
                    {"resource": {"resourceType": "OperationOutcome", "issue": [{"severity": "warning"}]}},
                    {"resource": {"resourceType": "OperationOutcome", "issue": [{"severity": "error"}]}},
                ],
            },
            KeyStatus.ERROR,
        ),
        (
            {
                "resourceType": "Bundle",
                "entry": [
                    {"resource": CONDITION},
                    {"resource": {"resourceType": "OperationOutcome", "issue": [{"severity": "error"}]}},
                ],
            },
            KeyStatus.PROVIDED,
        ),
        ("<html>error</html>", KeyStatus.ERROR),
    ],
    ids=[
        "searchset",
        "single-resource",
        "null",
        "empty-searchset",
        "empty-no-type",
        "operation-outcome",
        "bundle-of-outcome",
        "bundle-with-warning",
        "bundle-of-outcomes-one-error",
        "results-and-an-error-outcome",
        "html-error-page",
    ],
)
def test_classify_prefetch_value(value: Any, status: KeyStatus) -> None:
    assert classify_value(value) is status


class RecordingFetcher:
    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def fetch_missing(self, specs: list[PrefetchSpec], request: FetchRequest) -> FetchOutcome:
        self.asked += [s.key for s in specs]
        keys = {s.key for s in specs}
        return FetchOutcome(
            values={k: v for k, v in self.answers.items() if k in keys},
            failures={k: "server down" for k in keys if k not in self.answers},
        )


def test_present_keys_are_never_refetched_even_when_null_or_empty() -> None:
    fetcher = RecordingFetcher({"conditions": CONDITION, "afp": CONDITION})
    resolved = asyncio.run(
        resolve_data(SPECS, {"conditions": None, "afp": {"resourceType": "Bundle"}}, NO_SERVER, fetcher)
    )
    assert fetcher.asked == []
    assert resolved.status == {"conditions": KeyStatus.NONE, "afp": KeyStatus.NONE}
    assert resolved.available("conditions")


def test_absent_keys_go_to_the_fetcher() -> None:
    fetcher = RecordingFetcher({"conditions": CONDITION})
    resolved = asyncio.run(resolve_data(SPECS, {}, NO_SERVER, fetcher))
    assert fetcher.asked == ["conditions", "afp"]
    assert resolved.status == {"conditions": KeyStatus.PROVIDED, "afp": KeyStatus.MISSING}
    assert resolved.reasons["afp"] == "server down"
    assert resolved.fetched == ("conditions",)
    assert not resolved.available("observations")


def test_required_key_failed_by_the_fetcher_is_412_with_its_reason() -> None:
    with pytest.raises(DataUnavailable, match=r"conditions .*: server down"):
        asyncio.run(resolve_data(SPECS, {}, NO_SERVER, RecordingFetcher({})))


def test_required_key_missing_without_fetcher_is_412() -> None:
    with pytest.raises(DataUnavailable, match="conditions") as raised:
        asyncio.run(resolve_data(SPECS, {"afp": None}, NO_SERVER, None))
    assert raised.value.status_code == 412
    assert raised.value.expression == ["prefetch.conditions"]


def test_optional_key_missing_is_not_an_error() -> None:
    resolved = asyncio.run(resolve_data(SPECS, {"conditions": None}, NO_SERVER, None))
    assert resolved.status["afp"] is KeyStatus.MISSING
    assert [s.key for s in resolved.unavailable()] == ["afp"]
