"""CDS Hooks feedback is stored durably, once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from cds_service.api.app import create_app
from cds_service.config import Settings
from cds_service.hooks.services import ORDER_SELECT_ID
from cds_service.report.concordance import Labels, Period, build_report
from cds_service.report.render import to_csv, to_json
from cds_service.store.feedback import FeedbackStore
from cds_service.store.schema import issued_card_table
from tests.conftest import AS_OF, load_request

FEEDBACK_URL = f"/cds-services/{ORDER_SELECT_ID}/feedback"


def accepted(card: str = "card-1", when: str = "2026-11-25T10:05:31Z") -> dict[str, Any]:
    return {
        "card": card,
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": "suggestion-1"}],
        "outcomeTimestamp": when,
    }


def test_feedback_is_stored_once_when_posted_twice(client: TestClient, settings: Settings) -> None:
    body = {"feedback": [accepted()]}
    assert client.post(FEEDBACK_URL, json=body).status_code == 200
    assert client.post(FEEDBACK_URL, json=body).status_code == 200
    rows = FeedbackStore(settings.database_url).rows()
    assert len(rows) == 1
    assert rows[0]["card_uuid"] == "card-1"
    assert rows[0]["service_id"] == ORDER_SELECT_ID
    assert rows[0]["accepted_suggestions"] == '["suggestion-1"]'


def test_feedback_survives_a_restart(settings: Settings) -> None:
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as first:
        first.post(FEEDBACK_URL, json={"feedback": [accepted("card-a")]})
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as second:
        second.post(FEEDBACK_URL, json={"feedback": [accepted("card-b")]})
    assert {r["card_uuid"] for r in FeedbackStore(settings.database_url).rows()} == {"card-a", "card-b"}


def test_override_with_reason_and_the_legacy_flat_shape(client: TestClient, settings: Settings) -> None:
    system = "http://127.0.0.1:8000/CodeSystem/override-reason"
    body = {
        "feedback": [
            {
                "card": "card-2",
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-25T10:06:46.365Z",
                "overrideReason": {
                    "reason": {"system": system, "code": "patient-preference"},
                    "userComment": "Discussed",
                },
            },
            {
                "card": "card-3",
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-25T10:07:00Z",
                "overrideReason": {"system": system, "code": "clinical-trial"},
            },
        ]
    }
    assert client.post(FEEDBACK_URL, json=body).status_code == 200
    rows = {r["card_uuid"]: r for r in FeedbackStore(settings.database_url).rows()}
    assert rows["card-2"]["override_reason_code"] == "patient-preference"
    assert rows["card-2"]["override_comment"] == "Discussed"
    assert rows["card-3"]["override_reason_code"] == "clinical-trial"
    assert rows["card-3"]["override_reason_system"] == system


def test_same_card_with_another_outcome_is_a_new_record(client: TestClient, settings: Settings) -> None:
    client.post(FEEDBACK_URL, json={"feedback": [accepted("card-4", "2026-11-25T10:00:00Z")]})
    client.post(FEEDBACK_URL, json={"feedback": [accepted("card-4", "2026-11-25T11:00:00Z")]})
    assert FeedbackStore(settings.database_url).count() == 2


def test_malformed_feedback_is_400(client: TestClient, settings: Settings) -> None:
    bodies: tuple[dict[str, Any], ...] = (
        {"feedback": []},
        {"feedback": [{"card": "x", "outcome": "accepted", "outcomeTimestamp": "t"}]},
        {"feedback": [{"card": "x", "outcome": "ignored", "outcomeTimestamp": "t"}]},
        {"nothing": 1},
    )
    for body in bodies:
        response = client.post(FEEDBACK_URL, json=body)
        assert response.status_code == 400, body
        assert response.json()["resourceType"] == "OperationOutcome"
    assert FeedbackStore(settings.database_url).count() == 0


def test_feedback_ties_back_to_the_recommendation_that_produced_the_card(settings: Settings) -> None:
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as client:
        cards = client.post(f"/cds-services/{ORDER_SELECT_ID}", json=load_request("09-")).json()["cards"]
        warning = next(c for c in cards if c["indicator"] == "warning")
        chosen = warning["suggestions"][0]
        client.post(
            FEEDBACK_URL,
            json={
                "feedback": [
                    {
                        "card": warning["uuid"],
                        "outcome": "accepted",
                        "acceptedSuggestions": [{"id": chosen["uuid"]}],
                        "outcomeTimestamp": "2026-11-25T10:00:00Z",
                    },
                    {
                        "card": "unknown-card",
                        "outcome": "overridden",
                        "outcomeTimestamp": "2026-11-25T10:00:00Z",
                        "overrideReason": {"userComment": "not relevant"},
                    },
                ]
            },
        )
    rows = {r["card_uuid"]: r for r in FeedbackStore(settings.database_url).feedback_with_cards()}
    tied = rows[warning["uuid"]]
    assert tied["kind"] == "does-not-fit"
    assert tied["setting"] == "after_sorafenib"
    assert tied["selected"] == '["ramucirumab"]'
    assert f'"{chosen["uuid"]}": "replace-with:cabozantinib"' in tied["suggestions"]
    assert tied["knowledge_version"]
    assert rows["unknown-card"]["kind"] is None


def test_each_issued_card_records_the_safety_gates_that_fired_for_it_and_no_patient_identifier(
    settings: Settings,
) -> None:
    requests = {name: load_request(name) for name in ("11-", "13-", "14-", "01-")}
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as client:
        answered = {
            name: client.post(f"/cds-services/{ORDER_SELECT_ID}", json=request).json()["cards"]
            for name, request in requests.items()
        }
    store = FeedbackStore(settings.database_url)
    with store.engine.connect() as connection:
        stored = {row.card_uuid: row for row in connection.execute(select(issued_card_table))}

    def gates(name: str) -> dict[str, str]:
        return {stored[card["uuid"]].kind: stored[card["uuid"]].gates for card in answered[name]}

    # AFP missing: the warning, the recommendation and the AFP order all stem from the same gate.
    # (and ascites/encephalopathy are not recorded: policy 6.2 revised, an info gate the cards also record)
    findings = '["afp_unknown", "child_pugh_findings_not_recorded"]'
    assert gates("11-") == {"recommendation": findings, "does-not-fit": findings, "data-needed": findings}
    # Organ transplant: the critical card names its gate; the recommendation also shows ramucirumab's AFP cap.
    assert gates("13-") == {
        "recommendation": '["afp_below_cutoff", "child_pugh_findings_not_recorded", "organ_transplant"]',
        "does-not-fit": '["child_pugh_findings_not_recorded", "organ_transplant"]',
        "data-needed": '["child_pugh_findings_not_recorded"]',
    }
    # Regorafenib as first line: a warning from the decision table alone, no warning gate (only the info gate
    # asking for ascites/encephalopathy, policy 6.2 revised).
    assert gates("14-")["does-not-fit"] == '["child_pugh_findings_not_recorded"]'
    assert gates("01-") == {
        "recommendation": '["child_pugh_findings_not_recorded"]',
        "data-needed": '["child_pugh_findings_not_recorded"]',
    }
    patient_ids = {request["context"]["patientId"] for request in requests.values()}
    for row in stored.values():
        assert not any(patient_id in str(value) for value in row for patient_id in patient_ids)
    report = build_report(store.engine, Period(), Labels(), generated_at=datetime(2026, 12, 2, tzinfo=UTC))
    store.close()
    assert {"afp_unknown", "organ_transplant", "child_pugh_findings_not_recorded"} <= {
        row["gate"] for row in next(t for t in report["tables"] if t["id"] == "cards_by_gate")["rows"]
    }
    assert not any(patient_id in to_json(report) + to_csv(report) for patient_id in patient_ids)
