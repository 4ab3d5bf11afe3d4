"""Concordance from orders: an order-sign follows the order-select of the same patient (a keyed pseudonym in the
record, never the id), and the report says whether the signed order followed the advice."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from cds_service.cli import main
from cds_service.hooks.services import ORDER_SELECT_ID, ORDER_SIGN_ID
from cds_service.store.schema import order_event_table
from tests.conftest import load_request
from tests.pilot.support import pilot_client, pilot_settings


def _sign(instance: str, medication_text: str | None = None) -> dict[str, Any]:
    request = copy.deepcopy(load_request("10-"))
    request["hookInstance"] = instance
    if medication_text is not None:
        draft = request["context"]["draftOrders"]["entry"][0]["resource"]
        draft["medicationCodeableConcept"] = {"text": medication_text}
    return request


def _select(instance: str) -> dict[str, Any]:
    return {**load_request("09-"), "hookInstance": instance}


def test_the_report_pairs_each_signed_order_with_the_advice_at_selection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = pilot_settings(tmp_path, None)
    with pilot_client(settings) as client:
        for path, body in [
            (ORDER_SELECT_ID, _select("select-1")),  # ramucirumab with AFP 35: warned, cabozantinib suggested
            (ORDER_SIGN_ID, _sign("sign-1")),  # ramucirumab signed anyway
            (ORDER_SELECT_ID, _select("select-2")),
            (ORDER_SIGN_ID, _sign("sign-2", "cabozantinib")),  # the suggested regimen signed instead
        ]:
            assert client.post(f"/cds-services/{path}", json=body).status_code == 200
            time.sleep(0.05)  # the events are dated when written, in order
    engine = create_engine(settings.database_url)
    with engine.connect() as connection:
        events = connection.execute(select(order_event_table)).all()
    engine.dispose()
    assert len(events) == 4
    assert len({e.patient_key for e in events}) == 1  # the same patient, under one pseudonym
    assert all("hcc-afp-low" not in json.dumps([str(v) for v in e]) for e in events)  # never the id

    assert main(["report", "concordance", "--database-url", settings.database_url, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (orders,) = [t for t in report["tables"] if t["id"] == "pilot_orders"]
    assert {r["order_outcome"]: r["orders"] for r in orders["rows"]} == {
        "signed-despite-warning": "<5",
        "switched-to-suggested": "<5",
    }
    assert report["totals"]["pilot_orders_paired"] == "<5"
