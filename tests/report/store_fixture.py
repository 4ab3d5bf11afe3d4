"""A store with known events, on SQLite and on the real PostgreSQL, for the concordance report tests."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from cds_service.devtools.synthetic_traffic import migrate_scratch_store
from cds_service.store.feedback import FeedbackStore
from cds_service.store.schema import feedback_table, issued_card_table

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SELECT = "hcc-second-line-order-select"
SIGN = "hcc-second-line-order-sign"
VIEW = "hcc-second-line-patient-view"


def at(text_value: str) -> datetime:
    return datetime.fromisoformat(text_value).astimezone(UTC)


@dataclass
class Events:
    """Issued cards and feedback rows, written straight to the store's tables with chosen timestamps."""

    cards: list[dict[str, Any]]
    feedback: list[dict[str, Any]]

    def add_cards(
        self,
        count: int,
        when: str,
        kind: str,
        service: str,
        setting: str | None,
        selected: list[str] | None,
        version: str,
        suggestion: str | None = None,
        gates: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """``count`` cards; ``gates`` None: recorded without them, as before schema revision 0003."""
        added = []
        for _ in range(count):
            card_uuid = str(uuid.uuid4())
            suggestions = {f"{card_uuid}-s": suggestion} if suggestion else None
            row = {
                "card_uuid": card_uuid,
                "service_id": service,
                "hook_instance": str(uuid.uuid4()),
                "kind": kind,
                "setting": setting,
                "selected": json.dumps(selected) if selected else None,
                "suggestions": json.dumps(suggestions) if suggestions else None,
                "knowledge_version": version,
                "issued_at": at(when),
                "gates": json.dumps(gates) if gates is not None else None,
            }
            self.cards.append(row)
            added.append(row)
        return added

    def answer(self, card: dict[str, Any], outcome: str, *, reason: str | None = None, named: bool = False) -> None:
        self.answer_uuid(card["service_id"], card["card_uuid"], outcome, card["issued_at"], reason=reason, named=named)

    def answer_uuid(
        self,
        service: str,
        card_uuid: str,
        outcome: str,
        when: datetime,
        *,
        reason: str | None = None,
        named: bool = False,
    ) -> None:
        self.feedback.append(
            {
                "service_id": service,
                "card_uuid": card_uuid,
                "outcome": outcome,
                "outcome_timestamp": when.isoformat(),
                "accepted_suggestions": json.dumps([f"{card_uuid}-s"]) if named else None,
                "override_reason_system": "https://cds.example/CodeSystem/override-reason" if reason else None,
                "override_reason_code": reason,
                "override_comment": None,
                "received_at": when,
            }
        )

    def write(self, store: FeedbackStore) -> None:
        with store.engine.begin() as connection:
            connection.execute(issued_card_table.insert(), self.cards)
            connection.execute(feedback_table.insert(), self.feedback)


def known_events() -> Events:
    """The events whose report tests/report/test_concordance.py spells out number by number."""
    events = Events([], [])
    # September 30, one second before midnight UTC: the older knowledge version.
    september = events.add_cards(
        6, "2026-09-30T23:59:59+00:00", "mismatch", SELECT, "after_sorafenib", ["ramucirumab"], "2026.9.0", "replace"
    )
    for card in september[:5]:
        events.answer(card, "accepted", named=True)
    events.answer(september[5], "overridden", reason="patient-preference")
    # October 1 at midnight UTC (and 02:00 in Paris: the month is the UTC one).
    october = events.add_cards(
        12, "2026-10-01T02:00:00+02:00", "mismatch", SELECT, "after_sorafenib", ["ramucirumab"], "2026.11.0", "replace"
    )
    for card in october[:6]:
        events.answer(card, "accepted", named=True)
    for card in october[6:11]:
        events.answer(card, "overridden", reason="patient-preference")
    signed = events.add_cards(
        2, "2026-10-31T23:59:59.999999+00:00", "mismatch", SIGN, "after_sorafenib", ["regorafenib"], "2026.11.0"
    )
    events.answer(signed[0], "overridden")  # no coded reason
    recommendations = events.add_cards(
        8, "2026-10-15T12:00:00+00:00", "recommendation", SELECT, "after_sorafenib", ["cabozantinib"], "2026.11.0"
    )
    for card in recommendations[:3]:
        events.answer(card, "overridden", reason="other")  # not a warning: no override row in the report
    data_needed = events.add_cards(
        5, "2026-10-10T09:00:00+00:00", "data-needed", SELECT, "after_sorafenib", ["ramucirumab"], "2026.11.0", "afp"
    )
    for card in data_needed[:3]:
        events.answer(card, "accepted", named=True)
    events.answer(data_needed[3], "accepted")  # accepted, but no order named
    events.answer(data_needed[4], "overridden")
    events.add_cards(5, "2026-11-01T00:00:00+00:00", "recommendation", VIEW, "after_lenvatinib", None, "2026.11.0")
    # A kind this report does not know (the clinical core may rename or add kinds).
    events.add_cards(
        1, "2026-10-02T08:00:00+00:00", "retired-kind", SELECT, "after_sorafenib", ["ramucirumab"], "2026.11.0"
    )
    events.answer_uuid(SELECT, "a-card-never-recorded", "accepted", at("2026-10-20T10:00:00+00:00"))
    return events


def new_store(url: str) -> FeedbackStore:
    """A store with its tables, migrated to the latest revision."""
    store = FeedbackStore(url)
    migrate_scratch_store(store.engine)
    return store


def postgres_store() -> Iterator[FeedbackStore]:
    """A FeedbackStore in a fresh schema of the real PostgreSQL, its sessions in a non-UTC time zone.

    Skips with one line when PostgreSQL is not running, except under CI=true where that is a failure.
    """
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError:
        engine.dispose()
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL at 127.0.0.1:5432 (database test) is required under CI=true")
        pytest.skip("PostgreSQL not running at 127.0.0.1:5432 (database test)")
    schema = f"cds_report_{uuid.uuid4().hex[:10]}"
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    store = new_store(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}%20-ctimezone%3DPacific/Auckland")
    try:
        yield store
    finally:
        store.close()
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
