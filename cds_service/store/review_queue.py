"""The pharmacist review queue of a pilot: the cards a reviewer checks against the chart, and the verdicts.

Warning and critical cards (and a configurable sample of info cards) are queued with what a reviewer needs to
find the chart: the patient and encounter references of the hook context, and the card exactly as it would
have been shown. Those are sealed with the site's key (Fernet: AES-128-CBC with an HMAC-SHA256) and stored
apart from the de-identified issued-card record; the rows are deleted after the retention period (site
parameter ``pilot.review_queue.retention_days``, ``cds-service review prune``). The verdicts (agree,
disagree, unsafe, a coded reason, a note) carry no patient data: the card's uuid joins them to the issued-card
record for the concordance report.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cds_service.store.schema import issued_card_table, review_item_table, review_verdict_table

logger = logging.getLogger("cds_service.store")

Verdict = Literal["agree", "disagree", "unsafe"]
VERDICTS: tuple[Verdict, ...] = ("agree", "disagree", "unsafe")
# The reviewer's coded reasons (the project's choice; a committee may extend them).
VERDICT_REASONS: tuple[tuple[str, str], ...] = (
    ("advice-correct", "The advice is right for this patient"),
    ("prior-therapy-misread", "Prior therapy or its stop reason read wrongly from the chart"),
    ("setting-wrong", "Treatment setting wrong"),
    ("place-wrong", "Place of a regimen wrong for this patient"),
    ("gate-missed", "A safety gate should have fired and did not"),
    ("gate-wrong", "A safety gate fired wrongly"),
    ("data-in-chart-missed", "The chart holds data the service did not use"),
    ("wording-unclear", "Wording unclear or misleading"),
    ("alert-not-needed", "Card not needed (alert fatigue)"),
    ("other", "Other (the note says which)"),
)
REASON_CODES = frozenset(code for code, _ in VERDICT_REASONS)
COMMITTEE_OVERRIDE = "recipient-disagrees-evidence"  # CDS Hooks 3.0 ballot non-adherence category


class ReviewQueueError(ValueError):
    """A verdict that cannot be recorded (unknown card, verdict or reason)."""


def sampled(card_uuid: str, percent: int) -> bool:
    """Deterministic sample of ``percent`` % of cards by uuid (a retried hook call samples the same cards)."""
    if percent <= 0:
        return False
    return int(hashlib.sha256(card_uuid.encode()).hexdigest()[:8], 16) % 100 < percent


def queued_because(indicator: str, card_uuid: str, info_sample_percent: int) -> str | None:
    """Why a card is queued (its indicator, or "info-sample"), or None when it is not."""
    if indicator in ("warning", "critical"):
        return indicator
    return "info-sample" if sampled(card_uuid, info_sample_percent) else None


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """One queued card as the reviewer needs it."""

    card_uuid: str
    service_id: str
    hook: str
    indicator: str
    queued_because: str
    knowledge_version: str | None
    queued_at: datetime
    patient: str | None  # "Patient/123", from the hook context
    encounter: str | None
    card: dict[str, Any]  # the card exactly as it would have been shown (CDS Hooks JSON)
    committee_reason: str | None = None
    verdict: str | None = None
    reason_code: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class NewReviewItem:
    card_uuid: str
    service_id: str
    hook: str
    indicator: str
    queued_because: str
    knowledge_version: str | None
    patient: str | None
    encounter: str | None
    card: dict[str, Any]


class ReviewQueue:
    """The queue and the verdicts in the feedback store's database. Blocking: call from a worker thread."""

    def __init__(self, engine: Engine, key: str) -> None:
        self.engine = engine
        self._fernet = Fernet(key.encode())

    def _seal(self, item: NewReviewItem) -> str:
        content = {"patient": item.patient, "encounter": item.encounter, "card": item.card}
        return self._fernet.encrypt(json.dumps(content, separators=(",", ":")).encode()).decode()

    def _open(self, sealed: str) -> dict[str, Any]:
        try:
            content: dict[str, Any] = json.loads(self._fernet.decrypt(sealed.encode()))
        except InvalidToken:
            return {"patient": None, "encounter": None, "card": {"summary": "(sealed with another key)"}}
        return content

    def add(self, items: list[NewReviewItem], *, now: datetime | None = None) -> int:
        """Queue the cards (a retried hook call re-sends the same uuids and is queued once)."""
        if not items:
            return 0
        queued_at = now or datetime.now(UTC)
        rows = [
            {
                "card_uuid": item.card_uuid,
                "service_id": item.service_id,
                "hook": item.hook,
                "indicator": item.indicator,
                "queued_because": item.queued_because,
                "knowledge_version": item.knowledge_version,
                "queued_at": queued_at,
                "sealed": self._seal(item),
            }
            for item in items
        ]
        insert = postgresql_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        statement = insert(review_item_table).on_conflict_do_nothing().returning(review_item_table.c.card_uuid)
        with self.engine.begin() as connection:
            return len(connection.execute(statement, rows).fetchall())

    def items(self, *, pending_only: bool = False, committee_only: bool = False, limit: int = 200) -> list[ReviewItem]:
        """Queued cards, newest first, with their verdict if any."""
        joined = review_item_table.outerjoin(
            review_verdict_table, review_item_table.c.card_uuid == review_verdict_table.c.card_uuid
        )
        query = (
            select(
                review_item_table,
                review_verdict_table.c.verdict,
                review_verdict_table.c.reason_code,
                review_verdict_table.c.note,
            )
            .select_from(joined)
            .order_by(review_item_table.c.queued_at.desc(), review_item_table.c.card_uuid)
            .limit(limit)
        )
        if pending_only:
            query = query.where(review_verdict_table.c.verdict.is_(None))
        if committee_only:
            query = query.where(review_item_table.c.committee_reason.is_not(None))
        with self.engine.connect() as connection:
            rows = connection.execute(query).fetchall()
        items = []
        for row in rows:
            content = self._open(row.sealed)
            items.append(
                ReviewItem(
                    card_uuid=row.card_uuid,
                    service_id=row.service_id,
                    hook=row.hook,
                    indicator=row.indicator,
                    queued_because=row.queued_because,
                    knowledge_version=row.knowledge_version,
                    queued_at=row.queued_at,
                    patient=content.get("patient"),
                    encounter=content.get("encounter"),
                    card=content.get("card") or {},
                    committee_reason=row.committee_reason,
                    verdict=row.verdict,
                    reason_code=row.reason_code,
                    note=row.note,
                )
            )
        return items

    def record_verdict(
        self,
        card_uuid: str,
        verdict: str,
        reason_code: str,
        note: str | None,
        reviewer: str | None,
        *,
        now: datetime | None = None,
    ) -> None:
        """Store (or replace) the verdict on a queued card."""
        if verdict not in VERDICTS:
            raise ReviewQueueError(f"verdict must be one of {', '.join(VERDICTS)}")
        if reason_code not in REASON_CODES:
            raise ReviewQueueError(f"unknown reason code {reason_code!r}")
        row = {
            "card_uuid": card_uuid,
            "verdict": verdict,
            "reason_code": reason_code,
            "note": (note or "").replace("\x00", "").strip()[:4000] or None,
            "reviewer": (reviewer or "").strip()[:128] or None,
            "reviewed_at": now or datetime.now(UTC),
        }
        with self.engine.begin() as connection:
            known = connection.execute(
                select(review_item_table.c.card_uuid).where(review_item_table.c.card_uuid == card_uuid)
            ).first()
            if known is None:
                raise ReviewQueueError(f"no queued card {card_uuid}")
            connection.execute(delete(review_verdict_table).where(review_verdict_table.c.card_uuid == card_uuid))
            connection.execute(review_verdict_table.insert().values(**row))

    def flag_for_committee(self, card_uuid: str, reason: str) -> bool:
        """Put a queued card in the committee's queue (an override "disagrees with the evidence")."""
        statement = (
            update(review_item_table)
            .where(review_item_table.c.card_uuid == card_uuid)
            .values(committee_reason=reason[:128])
        )
        with self.engine.begin() as connection:
            return connection.execute(statement).rowcount > 0


def verdict_rows(engine: Engine) -> list[dict[str, Any]]:
    """Every verdict with the de-identified record of its card (for the export and the report)."""
    joined = review_verdict_table.outerjoin(
        issued_card_table, review_verdict_table.c.card_uuid == issued_card_table.c.card_uuid
    )
    query = (
        select(
            review_verdict_table.c.card_uuid,
            review_verdict_table.c.verdict,
            review_verdict_table.c.reason_code,
            review_verdict_table.c.note,
            review_verdict_table.c.reviewer,
            review_verdict_table.c.reviewed_at,
            issued_card_table.c.service_id,
            issued_card_table.c.kind,
            issued_card_table.c.indicator,
            issued_card_table.c.setting,
            issued_card_table.c.selected,
            issued_card_table.c.gates,
            issued_card_table.c.knowledge_version,
            issued_card_table.c.issued_at,
        )
        .select_from(joined)
        .order_by(review_verdict_table.c.reviewed_at, review_verdict_table.c.card_uuid)
    )
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def prune_review_queue(engine: Engine, older_than: timedelta, *, now: datetime | None = None) -> int:
    """Delete the queued cards (with their sealed patient references) queued before ``now - older_than``;
    returns how many. The verdicts stay: they hold no patient data and the report counts them."""
    cutoff = (now or datetime.now(UTC)) - older_than
    with engine.begin() as connection:
        return connection.execute(delete(review_item_table).where(review_item_table.c.queued_at < cutoff)).rowcount


class BackgroundWriter:
    """Writes the queue entries and order events off the request path (a hook answer never waits for the
    database); at most ``max_pending`` writes in flight, further ones dropped with a warning."""

    def __init__(self, max_pending: int = 64) -> None:
        self._max_pending = max_pending
        self._tasks: set[asyncio.Task[None]] = set()
        self.dropped = 0

    def submit(self, write: Callable[[list[Any]], int], items: list[Any]) -> None:
        if not items:
            return
        if len(self._tasks) >= self._max_pending:
            self.dropped += len(items)
            logger.warning("pilot records dropped: database behind", extra={"dropped": self.dropped})
            return
        task = asyncio.get_running_loop().create_task(self._write(write, items))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, write: Callable[[list[Any]], int], items: list[Any]) -> None:
        try:
            await asyncio.to_thread(write, items)
        except Exception:
            self.dropped += len(items)
            logger.exception("pilot records could not be written", extra={"records": len(items)})

    async def close(self) -> None:
        """Wait for every write submitted so far."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))


def new_key() -> str:
    """A fresh site key for ``CDS_REVIEW_QUEUE_KEY``."""
    return Fernet.generate_key().decode()
