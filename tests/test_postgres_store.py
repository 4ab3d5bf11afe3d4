"""The feedback store on a real PostgreSQL (CDS_TEST_POSTGRES_URL; skipped when absent, except under CI)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cds_service.store.feedback import FeedbackRecord, FeedbackStore, IssuedCardRecord
from cds_service.store.migrate import upgrade


@pytest.fixture
def store(postgres_schema_url: str) -> Iterator[FeedbackStore]:
    real = FeedbackStore(postgres_schema_url)
    upgrade(real.engine)
    try:
        yield real
    finally:
        real.close()


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
