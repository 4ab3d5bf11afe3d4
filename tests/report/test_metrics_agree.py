"""The report and /metrics count the same things (docs/concordance-report.md), through the real service."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from cds_service.api.app import create_app
from cds_service.config import Settings
from cds_service.hooks.services import ORDER_SELECT_ID
from cds_service.report.concordance import Labels, Period, build_report
from cds_service.store.feedback import FeedbackStore
from tests.api.test_metrics import metric
from tests.conftest import AS_OF, load_request

CALLS = 5  # each kind of event 5 times: no small cell hides a number


def hook_call(client: TestClient, fixture: str) -> list[dict[str, Any]]:
    request = load_request(fixture) | {"hookInstance": str(uuid.uuid4())}
    response = client.post(f"/cds-services/{ORDER_SELECT_ID}", json=request)
    assert response.status_code == 200
    cards: list[dict[str, Any]] = response.json()["cards"]
    return cards


def answer(client: TestClient, card: dict[str, Any], outcome: str) -> None:
    item: dict[str, Any] = {"card": card["uuid"], "outcome": outcome, "outcomeTimestamp": "2026-11-25T10:00:00Z"}
    if outcome == "accepted":
        item["acceptedSuggestions"] = [{"id": card["suggestions"][0]["uuid"]}]
    else:
        item["overrideReason"] = {"reason": {"code": "patient-preference"}}
    response = client.post(f"/cds-services/{ORDER_SELECT_ID}/feedback", json={"feedback": [item]})
    assert response.status_code == 200


def test_cards_and_feedback_counters_match_the_report(settings: Settings) -> None:
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as client:
        for _ in range(CALLS):
            missing_afp = hook_call(client, "11-")  # recommendation, warning, data needed
            warning = next(c for c in missing_afp if c["indicator"] == "warning")
            data_needed = next(c for c in missing_afp if "AFP" in c["summary"] and c["indicator"] == "info")
            answer(client, warning, "accepted")
            answer(client, data_needed, "accepted")
            low_afp = hook_call(client, "09-")
            answer(client, next(c for c in low_afp if c["indicator"] == "warning"), "overridden")
        metrics = client.get("/metrics").text
        answer(client, warning, "accepted")  # a retried report: counted by the metric, stored once
        retried = client.get("/metrics").text

    store = FeedbackStore(settings.database_url)
    try:
        report = build_report(store.engine, Period(), Labels(), generated_at=datetime.now(UTC))
    finally:
        store.close()
    assert report["notices"] == []  # every card was recorded with its indicator
    totals = report["totals"]
    by_indicator: dict[str, int] = {}
    for row in next(t for t in report["tables"] if t["id"] == "cards_by_indicator")["rows"]:
        by_indicator[row["indicator"]] = by_indicator.get(row["indicator"], 0) + row["cards"]

    for indicator in ("info", "warning"):
        cards = metric(metrics, "cds_cards_total", service=ORDER_SELECT_ID, indicator=indicator)
        assert cards == by_indicator[indicator]
    assert by_indicator["warning"] == totals["warnings"] == 2 * CALLS
    accepted = metric(metrics, "cds_feedback_total", service=ORDER_SELECT_ID, outcome="accepted")
    assert accepted == totals["warnings_accepted"] + totals["data_needed_accepted_order"] == 2 * CALLS
    overridden = metric(metrics, "cds_feedback_total", service=ORDER_SELECT_ID, outcome="overridden")
    assert overridden == totals["warnings_overridden"] == CALLS
    assert metric(retried, "cds_feedback_total", service=ORDER_SELECT_ID, outcome="accepted") == accepted + 1
