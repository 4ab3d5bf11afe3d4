"""The feedback store on a real PostgreSQL (127.0.0.1:5432, database "test", as on CI machines)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from cds_service.store.feedback import FeedbackRecord, FeedbackStore, IssuedCardRecord

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def store() -> Iterator[FeedbackStore]:
    schema = f"cds_test_{uuid.uuid4().hex[:8]}"
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    real = FeedbackStore(url)
    try:
        yield real
    finally:
        real.close()
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def test_feedback_is_stored_once_on_postgresql(store: FeedbackStore) -> None:
    record = FeedbackRecord("svc", "card-1", "accepted", "2026-11-25T10:00:00Z", accepted_suggestions=("s-1",))
    assert store.save([record]) == 1
    assert store.save([record]) == 0
    assert store.count() == 1
    assert store.ping()


def test_issued_cards_join_feedback_on_postgresql(store: FeedbackStore) -> None:
    store.record_issued(
        [
            IssuedCardRecord(
                "card-1",
                "svc",
                "hook-1",
                "mismatch",
                "after_sorafenib",
                ("ramucirumab",),
                {"s-1": "replace-with:cabozantinib"},
                "2026.11.0",
            )
        ]
    )
    store.record_issued(
        [IssuedCardRecord("card-1", "svc", "hook-1", "mismatch", "after_sorafenib", ("ramucirumab",), {}, "2026.11.0")]
    )  # a retried call: stored once
    store.save([FeedbackRecord("svc", "card-1", "accepted", "2026-11-25T10:00:00Z", accepted_suggestions=("s-1",))])
    [row] = store.feedback_with_cards()
    assert row["setting"] == "after_sorafenib"
    assert "replace-with:cabozantinib" in row["suggestions"]
