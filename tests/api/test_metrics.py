"""Prometheus metrics and structured logs for the people who run the service."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi.testclient import TestClient

from cds_service.hooks.services import ORDER_SELECT_ID
from tests.conftest import load_request


def metric(text: str, name: str, **labels: str) -> float:
    selector = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = rf"^{re.escape(name)}\{{{re.escape(selector)}\}} (\S+)$" if labels else rf"^{re.escape(name)} (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_metrics_count_latency_cards_and_412(client: TestClient) -> None:
    client.post(f"/cds-services/{ORDER_SELECT_ID}", json=load_request("11-"))  # 3 cards: info, warning, info
    missing = load_request("01-")
    del missing["prefetch"]["conditions"]
    client.post(f"/cds-services/{ORDER_SELECT_ID}", json=missing)
    client.post("/cds-services/not-a-service-1234", json=missing)
    text = client.get("/metrics").text
    assert metric(text, "cds_cards_total", service=ORDER_SELECT_ID, indicator="info") == 2
    assert metric(text, "cds_cards_total", service=ORDER_SELECT_ID, indicator="warning") == 1
    assert metric(text, "cds_precondition_failed_total", service=ORDER_SELECT_ID) == 1
    assert (
        metric(
            text, "cds_http_request_duration_seconds_count", endpoint="service", service=ORDER_SELECT_ID, status="200"
        )
        == 1
    )
    assert (
        metric(
            text, "cds_http_request_duration_seconds_count", endpoint="service", service=ORDER_SELECT_ID, status="412"
        )
        == 1
    )
    assert (
        metric(text, "cds_http_request_duration_seconds_count", endpoint="service", service="unknown", status="404")
        == 1
    )
    assert "not-a-service-1234" not in text


def test_logs_say_hook_service_instance_duration_and_outcome(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    logging.getLogger("cds_service").propagate = True
    try:
        with caplog.at_level(logging.INFO, logger="cds_service"):
            request = load_request("01-")
            client.post(f"/cds-services/{ORDER_SELECT_ID}", json=request)
            del request["prefetch"]["conditions"]
            client.post(f"/cds-services/{ORDER_SELECT_ID}", json=request)
    finally:
        logging.getLogger("cds_service").propagate = False
    answered = next(r for r in caplog.records if r.getMessage() == "hook answered")
    refused = next(r for r in caplog.records if r.getMessage() == "hook refused")
    for record in (answered, refused):
        assert record.__dict__["hook"] == "order-select"
        assert record.__dict__["service"] == ORDER_SELECT_ID
        assert record.__dict__["hookInstance"] == request["hookInstance"]
        assert record.__dict__["duration_ms"] >= 0
    # the recommendation, and the data-needed card asking for ascites/encephalopathy (policy 6.2, revised)
    assert answered.__dict__["outcome"] == "cards-2"
    assert refused.__dict__["outcome"] == "http-412"


def test_json_log_lines_are_json(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from cds_service.api.logs import configure_logging

    configure_logging("INFO")
    logging.getLogger("cds_service.test").info("hello", extra={"hookInstance": "abc", "duration_ms": 1.5})
    line = capsys.readouterr().err.strip().splitlines()[-1]
    parsed = json.loads(line)
    assert parsed["message"] == "hello"
    assert parsed["hookInstance"] == "abc"
    assert parsed["level"] == "INFO"
