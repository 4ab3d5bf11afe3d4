"""The pharmacist review queue: sealed patient references, verdicts, the page's access, committee flags,
retention (SQLite and PostgreSQL) and the export of verdicts."""

from __future__ import annotations

import base64
import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from cds_service.cli import main
from cds_service.hooks.services import ORDER_SELECT_ID, ORDER_SIGN_ID
from cds_service.store.migrate import upgrade
from cds_service.store.review_queue import (
    NewReviewItem,
    ReviewQueue,
    ReviewQueueError,
    prune_review_queue,
    queued_because,
)
from cds_service.store.schema import review_item_table, review_verdict_table
from tests.conftest import load_request
from tests.pilot.support import OPERATOR_TOKEN, REVIEW_KEY, pilot_client, pilot_settings, queued

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def item(card_uuid: str, patient: str = "Patient/p-17") -> NewReviewItem:
    return NewReviewItem(
        card_uuid=card_uuid,
        service_id=ORDER_SIGN_ID,
        hook="order-sign",
        indicator="warning",
        queued_because="warning",
        knowledge_version="2026.12.2",
        patient=patient,
        encounter="Encounter/e-3",
        card={"summary": "Ramucirumab not supported", "indicator": "warning"},
    )


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{tmp_path / 'queue.sqlite3'}")
    upgrade(engine)
    return engine


def test_patient_references_are_sealed_at_rest_and_read_back_with_the_key(sqlite_engine: Engine) -> None:
    queue = ReviewQueue(sqlite_engine, REVIEW_KEY)
    assert queue.add([item("c-1")], now=NOW) == 1
    assert queue.add([item("c-1")], now=NOW) == 0  # a retried hook call is queued once
    with sqlite_engine.connect() as connection:
        stored = " ".join(str(v) for v in connection.execute(select(review_item_table)).one())
    assert "p-17" not in stored
    assert "e-3" not in stored
    assert "Ramucirumab" not in stored
    (entry,) = queue.items()
    assert (entry.patient, entry.encounter, entry.card["summary"]) == (
        "Patient/p-17",
        "Encounter/e-3",
        "Ramucirumab not supported",
    )


def test_a_verdict_needs_a_queued_card_a_known_verdict_and_a_coded_reason(sqlite_engine: Engine) -> None:
    queue = ReviewQueue(sqlite_engine, REVIEW_KEY)
    queue.add([item("c-1")], now=NOW)
    for args, message in [
        (("c-2", "agree", "advice-correct"), "no queued card"),
        (("c-1", "maybe", "advice-correct"), "verdict must be one of"),
        (("c-1", "unsafe", "because"), "unknown reason code"),
    ]:
        with pytest.raises(ReviewQueueError, match=message):
            queue.record_verdict(*args, note=None, reviewer=None)
    queue.record_verdict("c-1", "disagree", "setting-wrong", "line 2 was maintenance", "rph-a")
    queue.record_verdict("c-1", "unsafe", "gate-missed", "transplant in scanned notes", "rph-a")  # replaces
    (entry,) = queue.items()
    assert (entry.verdict, entry.reason_code, entry.note) == ("unsafe", "gate-missed", "transplant in scanned notes")
    assert queue.items(pending_only=True) == []


def test_warnings_and_criticals_are_always_queued_info_cards_by_a_stable_sample() -> None:
    assert queued_because("critical", "any", 0) == "critical"
    assert queued_because("warning", "any", 0) == "warning"
    assert queued_because("info", "any", 0) is None
    assert queued_because("info", "any", 100) == "info-sample"
    sampled = [queued_because("info", f"card-{n}", 30) for n in range(1000)]
    assert 200 < sampled.count("info-sample") < 400
    assert sampled == [queued_because("info", f"card-{n}", 30) for n in range(1000)]


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_the_review_page_needs_the_operator_token_and_its_own_form(tmp_path: Path) -> None:
    settings = pilot_settings(tmp_path, "pilot: {mode: silent}\n")
    with pilot_client(settings) as client:
        client.post(f"/cds-services/{ORDER_SIGN_ID}", json=load_request("10-"))
        (entry,) = queued(settings, expected=1)
        assert client.get("/review").status_code == 401
        assert client.get("/review", headers=_basic("rph-a", "wrong")).status_code == 401
        page = client.get("/review", headers=_basic("rph-a", OPERATOR_TOKEN))
        assert page.status_code == 200
        assert entry.card["summary"] in page.text
        assert entry.patient in page.text
        assert page.headers["cache-control"] == "no-store"
        token = re.search(r'name="form_token" value="([0-9a-f]+)"', page.text)
        assert token is not None
        form = {"verdict": "agree", "reason_code": "advice-correct", "note": "checked"}
        forged = client.post(
            f"/review/{entry.card_uuid}", data={**form, "form_token": "0" * 64}, headers=_basic("x", OPERATOR_TOKEN)
        )
        assert forged.status_code == 403
        posted = client.post(
            f"/review/{entry.card_uuid}",
            data={**form, "form_token": token.group(1)},
            headers=_basic("rph-a", OPERATOR_TOKEN),
            follow_redirects=False,
        )
        assert posted.status_code == 303
        reflected = client.get("/review?recorded=<script>x</script>", headers=_basic("rph-a", OPERATOR_TOKEN))
        assert "<script>" not in reflected.text
        bearer = client.get("/review?view=all", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
        assert "Verdict recorded: agree" in bearer.text
    (judged,) = queued(settings, expected=1)
    assert (judged.verdict, judged.reason_code, judged.note) == ("agree", "advice-correct", "checked")


def test_without_a_queue_key_there_is_no_queue_and_no_page(tmp_path: Path) -> None:
    settings = pilot_settings(tmp_path, None).model_copy(update={"review_queue_key": None})
    with pilot_client(settings) as client:
        assert client.post(f"/cds-services/{ORDER_SIGN_ID}", json=load_request("10-")).status_code == 200
        assert client.get("/review", headers=_basic("rph", OPERATOR_TOKEN)).status_code == 404
    engine = create_engine(settings.database_url)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(review_item_table)).scalar_one() == 0
    engine.dispose()


def test_an_override_disagreeing_with_the_evidence_puts_the_card_in_the_committee_queue(tmp_path: Path) -> None:
    settings = pilot_settings(tmp_path, None)
    with pilot_client(settings) as client:
        cards = client.post(f"/cds-services/{ORDER_SELECT_ID}", json=load_request("09-")).json()["cards"]
        warning = next(c for c in cards if c["indicator"] == "warning")
        queued(settings, expected=1)
        reason = next(r for r in warning["overrideReasons"] if r["code"] == "recipient-disagrees-evidence")
        assert reason["system"] == "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes"
        feedback = {
            "feedback": [
                {
                    "card": warning["uuid"],
                    "outcome": "overridden",
                    "outcomeTimestamp": "2026-11-25T10:00:00Z",
                    "overrideReason": {"reason": reason},
                }
            ]
        }
        assert client.post(f"/cds-services/{ORDER_SELECT_ID}/feedback", json=feedback).status_code == 200
        committee = client.get("/review?view=committee", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
    assert warning["summary"] in committee.text
    assert "committee queue: recipient-disagrees-evidence" in committee.text


def _prune_deletes_only_what_is_due(engine: Engine) -> None:
    queue = ReviewQueue(engine, REVIEW_KEY)
    queue.add([item("old")], now=NOW - timedelta(days=91))
    queue.add([item("edge")], now=NOW - timedelta(days=90) + timedelta(seconds=1))
    queue.add([item("new")], now=NOW - timedelta(days=1))
    queue.record_verdict("old", "agree", "advice-correct", None, None)
    assert prune_review_queue(engine, timedelta(days=90), now=NOW) == 1
    assert sorted(i.card_uuid for i in queue.items()) == ["edge", "new"]
    with engine.connect() as connection:  # the verdict stays: no patient data, and the report counts it
        assert connection.execute(select(review_verdict_table.c.card_uuid)).scalars().all() == ["old"]


def test_prune_on_sqlite(sqlite_engine: Engine) -> None:
    _prune_deletes_only_what_is_due(sqlite_engine)


def test_prune_on_postgresql(postgres_schema_url: str) -> None:
    engine = create_engine(postgres_schema_url)
    try:
        upgrade(engine)
        _prune_deletes_only_what_is_due(engine)
    finally:
        engine.dispose()


def test_review_commands_prune_and_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'queue.sqlite3'}"
    engine = create_engine(url)
    upgrade(engine)
    queue = ReviewQueue(engine, REVIEW_KEY)
    queue.add([item("old")], now=datetime.now(UTC) - timedelta(days=120))
    queue.add([item("recent")], now=datetime.now(UTC) - timedelta(days=3))
    queue.record_verdict("recent", "unsafe", "gate-missed", "see chart", "rph-b")
    site = tmp_path / "site.yaml"
    site.write_text("pilot: {review_queue: {retention_days: 100}}\n", encoding="utf-8")
    assert main(["review", "prune", "--database-url", url, "--site-parameters", str(site)]) == 0
    assert capsys.readouterr().out == "deleted 1 review-queue entries, 0 order events older than 100 days\n"
    assert main(["review", "export", "--database-url", url, "--format", "json"]) == 0
    (exported,) = json.loads(capsys.readouterr().out)["verdicts"]
    assert (exported["card_uuid"], exported["verdict"], exported["reason_code"]) == ("recent", "unsafe", "gate-missed")
    assert "Patient" not in json.dumps(exported)  # the export carries no chart reference
    assert main(["review", "export", "--database-url", url]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.startswith("card_uuid,reviewed_at,reviewer,verdict,reason_code,note")
    assert row.startswith("recent,")
    assert ",rph-b,unsafe,gate-missed,see chart," in row
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM cds_review_item")).scalar_one() == 1
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_db_prune_expires_the_pilot_records_after_the_site_retention(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cds-service db prune --older-than DAYS` also deletes queue entries and order events past the site's
    pilot retention (pilot.review_queue.retention_days), whatever DAYS is; --dry-run only counts."""
    url = (
        f"sqlite:///{tmp_path / 'store.sqlite3'}"
        if backend == "sqlite"
        else str(request.getfixturevalue("postgres_schema_url"))
    )
    engine = create_engine(url)
    try:
        upgrade(engine)
        queue = ReviewQueue(engine, REVIEW_KEY)
        queue.add([item("old")], now=datetime.now(UTC) - timedelta(days=40))
        queue.add([item("new")], now=datetime.now(UTC) - timedelta(days=5))
        site = tmp_path / "site.yaml"
        site.write_text("pilot: {review_queue: {retention_days: 30}}\n", encoding="utf-8")
        os.environ["CDS_SITE_PARAMETERS_PATH"] = str(site)
        try:
            os.environ["CDS_DATABASE_URL"] = url
            assert main(["db", "prune", "--older-than", "3650", "--dry-run"]) == 0
            assert "would delete 1 review-queue entries, 0 order events older than 30 days" in capsys.readouterr().out
            assert main(["db", "prune", "--older-than", "3650"]) == 0
            assert "deleted 1 review-queue entries, 0 order events older than 30 days" in capsys.readouterr().out
        finally:
            os.environ.pop("CDS_SITE_PARAMETERS_PATH", None)
            os.environ.pop("CDS_DATABASE_URL", None)
        assert [i.card_uuid for i in queue.items()] == ["new"]
    finally:
        engine.dispose()
