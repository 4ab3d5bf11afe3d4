"""Order events under a keyed pseudonym: which regimen was selected, then signed, for the same patient.

Each relevant order-select and order-sign call is recorded with a pseudonym of the patient (HMAC-SHA256 of the
patient id with a key derived from the site key, never the id itself), the selected regimens and the knowledge
version. The concordance report pairs an order-sign with the latest order-select of the same pseudonym before
it, and tells whether the signed order followed the advice given at selection. Without the site key no event
is recorded. Events expire with the review queue's retention (``cds-service review prune``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cds_service.store.schema import order_event_table


def patient_key(site_key: str, patient_id: str) -> str:
    """The patient's pseudonym: 32 hex digits of an HMAC with a key of its own derived from the site key."""
    derived = hmac.new(site_key.encode(), b"cds-service patient pseudonym v1", hashlib.sha256).digest()
    return hmac.new(derived, patient_id.encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class OrderEvent:
    service_id: str
    hook_instance: str
    hook: str
    patient_key: str
    selected: tuple[str, ...]
    knowledge_version: str | None


def record_order_events(engine: Engine, events: list[OrderEvent], *, now: datetime | None = None) -> int:
    """Store the events (a retried hook call is stored once)."""
    if not events:
        return 0
    occurred_at = now or datetime.now(UTC)
    rows = [
        {
            "service_id": e.service_id,
            "hook_instance": e.hook_instance[:128],
            "hook": e.hook,
            "patient_key": e.patient_key,
            "selected": json.dumps(list(e.selected)) if e.selected else None,
            "knowledge_version": e.knowledge_version,
            "occurred_at": occurred_at,
        }
        for e in events
    ]
    insert = postgresql_insert if engine.dialect.name == "postgresql" else sqlite_insert
    statement = insert(order_event_table).on_conflict_do_nothing()
    with engine.begin() as connection:
        return int(connection.execute(statement, rows).rowcount or 0)


def prune_order_events(engine: Engine, older_than: timedelta, *, now: datetime | None = None) -> int:
    """Delete the events older than ``older_than``; returns how many."""
    cutoff = (now or datetime.now(UTC)) - older_than
    with engine.begin() as connection:
        return int(
            connection.execute(delete(order_event_table).where(order_event_table.c.occurred_at < cutoff)).rowcount
        )
