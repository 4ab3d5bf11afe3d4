"""Durable CDS Hooks feedback and the record of the cards issued (SQLite by default, any SQLAlchemy URL).

The same feedback posted twice is stored once: (service, card, outcome, outcomeTimestamp) is unique.
Each issued card is recorded with what it stood for (setting, selected regimen, what each suggestion
does, knowledge version, the safety gates that fired for it) so that feedback joins back to the
recommendation; no patient identifiers.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, String, Table, create_engine, event, func, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from cds_service.errors import InvalidRequest, ServiceUnavailable
from cds_service.store.schema import feedback_table, issued_card_table

logger = logging.getLogger("cds_service.store")


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """WAL: readers never block the writer, and a commit costs no full fsync of the database."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@dataclass(frozen=True, slots=True)
class IssuedCardRecord:
    card_uuid: str
    service_id: str
    hook_instance: str
    kind: str
    setting: str | None
    selected: tuple[str, ...]
    suggestions: dict[str, str]
    knowledge_version: str | None
    indicator: str | None = None
    gates: tuple[str, ...] | None = None  # ids of the gates that fired; None: not known (revision 0003)


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    service_id: str
    card_uuid: str
    outcome: str
    outcome_timestamp: str
    accepted_suggestions: tuple[str, ...] = ()
    override_reason_system: str | None = None
    override_reason_code: str | None = None
    override_comment: str | None = None


class FeedbackStore:
    """Feedback persistence. Calls are blocking: call them from a worker thread, not the event loop.

    The tables come from the migrations (``cds_service.store.migrate``), not from this class.
    """

    def __init__(self, database_url: str) -> None:
        if database_url in ("sqlite://", "sqlite:///:memory:"):
            # One shared in-memory database for every thread (the demo, tests).
            self.engine: Engine = create_engine(
                database_url, connect_args={"check_same_thread": False}, poolclass=StaticPool
            )
        else:
            if database_url.startswith("sqlite:///"):
                Path(database_url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(database_url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)

    def save(self, records: list[FeedbackRecord]) -> int:
        """Insert the records, skipping any already stored; returns how many were new."""
        if not records:
            return 0
        rows: list[dict[str, Any]] = [
            {
                "service_id": r.service_id,
                "card_uuid": r.card_uuid,
                "outcome": r.outcome,
                "outcome_timestamp": r.outcome_timestamp,
                "accepted_suggestions": json.dumps(list(r.accepted_suggestions)) if r.accepted_suggestions else None,
                "override_reason_system": r.override_reason_system,
                "override_reason_code": r.override_reason_code,
                "override_comment": r.override_comment,
                "received_at": datetime.now(UTC),
            }
            for r in records
        ]
        problems = [problem for row in rows for problem in _column_problems(feedback_table, row)]
        if problems:
            raise InvalidRequest("Feedback cannot be stored: " + "; ".join(problems))
        try:
            return self._insert_new(feedback_table, rows)
        except SQLAlchemyError as exc:
            if _is_unavailable(exc):
                raise ServiceUnavailable("The feedback store is unavailable; retry later") from exc
            raise

    def _insert_new(self, table: Table, rows: list[dict[str, Any]]) -> int:
        insert = postgresql_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        key = next(iter(table.primary_key.columns))
        statement = insert(table).on_conflict_do_nothing().returning(key)
        with self.engine.begin() as connection:  # executemany: one compiled statement, whatever the batch size
            return len(connection.execute(statement, rows).fetchall())

    def record_issued(self, records: list[IssuedCardRecord]) -> int:
        """Remember the cards sent (a retried hook call re-sends the same uuids and is stored once).

        Each record is fitted to the columns first (NUL removed, over-long text cut); if the batch is still
        refused, the records are written one by one so that one bad record never loses the good ones.
        A database that is down is ``ServiceUnavailable``.
        """
        if not records:
            return 0
        now = datetime.now(UTC)
        rows: list[dict[str, Any]] = [
            {
                "card_uuid": r.card_uuid,
                "service_id": r.service_id,
                "hook_instance": r.hook_instance,
                "kind": r.kind,
                "setting": r.setting,
                "selected": json.dumps(list(r.selected)) if r.selected else None,
                "suggestions": json.dumps(r.suggestions) if r.suggestions else None,
                "knowledge_version": r.knowledge_version,
                "issued_at": now,
            }
            for r in records
        ]
        if any(r.indicator for r in records):  # revision 0002; records without one write as before it
            for row, record in zip(rows, records, strict=True):
                row["indicator"] = record.indicator
        if any(r.gates is not None for r in records):  # revision 0003; likewise
            for row, record in zip(rows, records, strict=True):
                row["gates"] = json.dumps(sorted(set(record.gates))) if record.gates is not None else None
        rows = [_fit_to_columns(issued_card_table, row) for row in rows]
        try:
            return self._insert_new(issued_card_table, rows)
        except SQLAlchemyError as exc:
            if _is_unavailable(exc):
                raise ServiceUnavailable("The feedback store is unavailable") from exc
            if len(rows) == 1:
                logger.warning(
                    "issued-card record refused by the database",
                    extra={"card_uuid": rows[0]["card_uuid"], "error": type(exc).__name__},
                )
                return 0
        return sum(self._record_one(row) for row in rows)

    def _record_one(self, row: dict[str, Any]) -> int:
        try:
            return self._insert_new(issued_card_table, [row])
        except SQLAlchemyError as exc:
            if _is_unavailable(exc):
                raise ServiceUnavailable("The feedback store is unavailable") from exc
            logger.warning(
                "issued-card record refused by the database",
                extra={"card_uuid": row["card_uuid"], "error": type(exc).__name__},
            )
            return 0

    def feedback_with_cards(self) -> list[dict[str, Any]]:
        """Every feedback row with the card it answers (card fields are None for unknown cards)."""
        joined = feedback_table.outerjoin(
            issued_card_table, feedback_table.c.card_uuid == issued_card_table.c.card_uuid
        )
        query = select(
            feedback_table.c.card_uuid,
            feedback_table.c.outcome,
            feedback_table.c.accepted_suggestions,
            feedback_table.c.override_reason_code,
            issued_card_table.c.kind,
            issued_card_table.c.setting,
            issued_card_table.c.selected,
            issued_card_table.c.suggestions,
            issued_card_table.c.knowledge_version,
            issued_card_table.c.gates,
            issued_card_table.c.hook_instance,
        ).select_from(joined)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def count(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(feedback_table)).scalar_one())

    def rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(select(feedback_table))]

    def ping(self) -> bool:
        """True when the database answers."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def close(self) -> None:
        self.engine.dispose()


def _is_unavailable(error: SQLAlchemyError) -> bool:
    """The database cannot be reached (as opposed to refusing the data)."""
    if isinstance(error, OperationalError | InterfaceError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


@functools.cache
def _text_columns(table: Table) -> dict[str, int | None]:
    """The table's text columns and their sizes (the schema is fixed for the process)."""
    return {c.name: getattr(c.type, "length", None) for c in table.columns if isinstance(c.type, String)}


def _column_problems(table: Table, row: dict[str, Any]) -> list[str]:
    """Why ``row`` does not fit ``table``'s text columns (length, NUL), one line per field."""
    problems = []
    for name, length in _text_columns(table).items():
        value = row.get(name)
        if not isinstance(value, str):
            continue
        if "\x00" in value:
            problems.append(f"{name} contains a NUL character")
        if length is not None and len(value) > length:
            problems.append(f"{name} is longer than {length} characters")
    return problems


def _fit_to_columns(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with text every database accepts: NUL removed, lone surrogates replaced, cut to the column size."""
    fitted = dict(row)
    for name, length in _text_columns(table).items():
        value = fitted.get(name)
        if not isinstance(value, str) or (value.isascii() and "\x00" not in value):
            clean = value  # the usual case: nothing to replace
        else:
            clean = value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
        if isinstance(clean, str):
            fitted[name] = clean[:length] if length is not None else clean
    return fitted


class IssuedCardWriter:
    """Records issued cards off the request path: a bounded queue, written in batches by one task.

    A hook answer never waits for the database; if the database falls far behind, records are dropped
    with a warning rather than slowing clinicians down (feedback itself is always stored). After the
    first record of a batch it waits ``linger_seconds`` so that, under load, one transaction carries the
    cards of many calls rather than one each.
    """

    def __init__(
        self, store: FeedbackStore, max_pending: int = 10_000, batch_size: int = 500, linger_seconds: float = 0.05
    ) -> None:
        self._store = store
        self.linger_seconds = linger_seconds
        self._queue: asyncio.Queue[list[IssuedCardRecord] | None] = asyncio.Queue(maxsize=max_pending)
        self._batch_size = batch_size
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.retry_pauses: tuple[float, ...] = (0.5, 2.0)  # while the database is unavailable

    def submit(self, records: list[IssuedCardRecord]) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        try:
            self._queue.put_nowait(records)
        except asyncio.QueueFull:
            self.dropped += len(records)
            logger.warning("issued-card records dropped: database behind", extra={"dropped": self.dropped})

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            item = await self._queue.get()
            if item is not None and self.linger_seconds:
                await asyncio.sleep(self.linger_seconds)
            batch: list[IssuedCardRecord] = []
            while item is not None:
                batch += item
                if len(batch) >= self._batch_size or self._queue.empty():
                    break
                item = self._queue.get_nowait()
            stopping = item is None
            if batch:
                await self._write(batch)

    async def _write(self, batch: list[IssuedCardRecord]) -> None:
        for pause in (*self.retry_pauses, None):
            try:
                await asyncio.to_thread(self._store.record_issued, batch)
                return
            except ServiceUnavailable:
                if pause is None:
                    break
                await asyncio.sleep(pause)
            except Exception:
                logger.exception("issued-card records could not be written", extra={"records": len(batch)})
                return
        self.dropped += len(batch)
        logger.warning("issued-card records dropped: database unavailable", extra={"records": len(batch)})

    async def close(self) -> None:
        """Write everything queued, then stop."""
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
