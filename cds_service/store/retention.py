"""Retention: what ``cds-service db prune --older-than DAYS`` deletes, one entry per table.

Each kept table names the column that dates its rows; a new table the site must expire (e.g. a review
queue) adds one ``RetainedTable`` to ``RETAINED_TABLES``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, Table, delete, func, select

from cds_service.store.schema import feedback_table, issued_card_table, order_event_table, review_item_table


@dataclass(frozen=True, slots=True)
class RetainedTable:
    """A table whose rows expire, the column that dates each row, and how the command names its rows."""

    table: Table
    dated_by: str
    rows_are: str


RETAINED_TABLES: tuple[RetainedTable, ...] = (
    RetainedTable(issued_card_table, "issued_at", "issued cards"),
    RetainedTable(feedback_table, "received_at", "feedback reports"),
)


# The pilot's records keyed to patients (sealed chart references, pseudonymised order events) expire after the
# site's own retention (site parameter ``pilot.review_queue.retention_days``, default 90), whatever --older-than
# says; the pharmacists' verdicts hold no patient data and follow the issued cards' retention by their card.
PILOT_RETAINED_TABLES: tuple[RetainedTable, ...] = (
    RetainedTable(review_item_table, "queued_at", "review-queue entries"),
    RetainedTable(order_event_table, "occurred_at", "order events"),
)


@dataclass(frozen=True, slots=True)
class PruneResult:
    cutoff: datetime
    deleted: dict[str, int]  # rows deleted (or, on a dry run, that would be) by ``RetainedTable.rows_are``


def prune(
    engine: Engine,
    older_than: timedelta,
    *,
    now: datetime,
    dry_run: bool = False,
    tables: Sequence[RetainedTable] = RETAINED_TABLES,
) -> PruneResult:
    """Delete every row dated before ``now - older_than`` from each retained table, in one transaction."""
    cutoff = now - older_than
    deleted: dict[str, int] = {}
    with engine.begin() as connection:
        for retained in tables:
            old = retained.table.c[retained.dated_by] < cutoff
            if dry_run:
                count = connection.execute(select(func.count()).select_from(retained.table).where(old)).scalar_one()
            else:
                count = connection.execute(delete(retained.table).where(old)).rowcount
            deleted[retained.rows_are] = int(count)
    return PruneResult(cutoff, deleted)
