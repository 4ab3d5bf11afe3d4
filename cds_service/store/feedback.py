"""Durable CDS Hooks feedback and the record of the cards issued (SQLite by default, any SQLAlchemy URL).

The same feedback posted twice is stored once: (service, card, outcome, outcomeTimestamp) is unique.
Each issued card is recorded with what it stood for (setting, selected regimen, what each suggestion
does, knowledge version, the safety gates that fired for it) so that feedback joins back to the
recommendation; no patient identifiers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, String, Table, create_engine, event, func, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from cds_service.errors import InvalidRequest, ServiceUnavailable
from cds_service.store.schema import feedback_table, issued_card_table

logger = logging.getLogger("cds_service.store")
T = TypeVar("T")


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

    def __init__(
        self,
        database_url: str,
        *,
        connect_timeout_seconds: int = 2,
        statement_timeout_seconds: float = 5.0,
    ) -> None:
        """Open the database lazily; a PostgreSQL that does not answer fails a connect after
        ``connect_timeout_seconds`` and a statement after ``statement_timeout_seconds`` (SQLite: the busy
        timeout), and a pooled connection is waited for at most ``connect_timeout_seconds``."""
        self.statement_timeout_seconds = statement_timeout_seconds
        # Its own threads: a database that stops answering holds these, never the event loop's default pool.
        self.executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="feedback-store")
        if database_url in ("sqlite://", "sqlite:///:memory:"):
            # One shared in-memory database for every thread (the demo, tests).
            self.engine: Engine = create_engine(
                database_url,
                connect_args={"check_same_thread": False, "timeout": statement_timeout_seconds},
                poolclass=StaticPool,
            )
        elif database_url.startswith("sqlite"):
            if database_url.startswith("sqlite:///"):
                Path(database_url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(
                database_url, pool_pre_ping=True, connect_args={"timeout": statement_timeout_seconds}
            )
        else:
            self.engine = create_engine(
                database_url,
                pool_pre_ping=True,
                pool_timeout=connect_timeout_seconds,
                connect_args=_postgresql_timeouts(database_url, connect_timeout_seconds),
            )
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        elif self.engine.dialect.name == "postgresql":
            milliseconds = max(1, round(statement_timeout_seconds * 1000))
            event.listen(self.engine, "connect", functools.partial(_statement_timeout, milliseconds=milliseconds))

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
        """Insert the rows that are not there yet; how many were new. One compiled statement, one transaction.

        SQLite counts the rows an executemany inserted (``rowcount`` is their sum), so its rows go through the
        driver's own executemany; PostgreSQL counts them by ``RETURNING`` (SQLAlchemy's insertmanyvalues).
        """
        if self.engine.dialect.name == "sqlite":
            with self.engine.begin() as connection:
                return int(connection.execute(sqlite_insert(table).on_conflict_do_nothing(), rows).rowcount)
        key = next(iter(table.primary_key.columns))
        statement = postgresql_insert(table).on_conflict_do_nothing().returning(key)
        with self.engine.begin() as connection:
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

    async def call(self, function: Callable[..., T], *args: Any, timeout: float) -> T:
        """``function(*args)`` on the store's threads; ``TimeoutError`` after ``timeout`` seconds (the thread
        may stay blocked on a database that does not answer; the caller does not)."""
        future = asyncio.get_running_loop().run_in_executor(self.executor, function, *args)
        async with asyncio.timeout(timeout):
            return await future

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.engine.dispose()


def _postgresql_timeouts(database_url: str, connect_timeout_seconds: int) -> dict[str, Any]:
    """libpq options: a connect timeout, and TCP keepalives so that a peer that vanished is noticed."""
    if not database_url.startswith("postgresql"):
        return {}
    return {
        "connect_timeout": max(2, connect_timeout_seconds),  # libpq's minimum is 2 s
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "tcp_user_timeout": connect_timeout_seconds * 1000 * 5,
    }


def _statement_timeout(connection: Any, _record: Any, *, milliseconds: int) -> None:
    """PostgreSQL cancels any statement of this connection that runs longer than ``milliseconds``."""
    cursor = connection.cursor()
    cursor.execute(f"SET statement_timeout = {int(milliseconds)}")
    cursor.close()
    connection.commit()


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
        if not isinstance(value, str):
            continue
        if value.isascii() and "\x00" not in value:
            if length is None or len(value) <= length:
                continue  # the usual case: nothing to replace or cut
            clean = value
        else:
            clean = value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
        fitted[name] = clean[:length] if length is not None else clean
    return fitted


class IssuedCardWriter:
    """Records issued cards off the request path: a bounded spool in memory, written in batches by one task.

    A hook answer never waits for the database. While the database cannot take the records (down, not
    answering, disk full) they stay in the spool and are retried with a growing pause (up to
    ``max_pause_seconds``); meanwhile ``failing`` is True (``/readyz`` says the store cannot write). Only
    records beyond ``max_spooled`` are dropped, each drop counted (``on_dropped``) and logged. After the
    first record of a batch it waits ``linger_seconds`` so that, under load, one transaction carries the
    cards of many calls rather than one each.
    """

    def __init__(
        self,
        store: FeedbackStore,
        max_spooled: int = 100_000,
        batch_size: int = 500,
        linger_seconds: float = 0.05,
        *,
        on_dropped: Callable[[int], None] | None = None,
        first_pause_seconds: float = 0.5,
        max_pause_seconds: float = 30.0,
        write_timeout_seconds: float = 15.0,
        close_timeout_seconds: float = 10.0,
    ) -> None:
        self._store = store
        self.linger_seconds = linger_seconds
        self.max_spooled = max_spooled
        self._spool: deque[IssuedCardRecord] = deque()
        self._batch_size = batch_size
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._on_dropped = on_dropped
        self.first_pause_seconds = first_pause_seconds
        self.max_pause_seconds = max_pause_seconds
        self.write_timeout_seconds = write_timeout_seconds
        self.close_timeout_seconds = close_timeout_seconds
        self._close_deadline = 0.0
        self.dropped = 0
        self.failing = False  # the last attempt found the database unable to take the records

    @property
    def spooled(self) -> int:
        """Records waiting to be written."""
        return len(self._spool)

    def submit(self, records: list[IssuedCardRecord]) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        room = self.max_spooled - len(self._spool)
        if room < len(records):
            self._drop(len(records) - max(room, 0), "spool full")
            records = records[: max(room, 0)]
        self._spool.extend(records)
        self._wakeup.set()

    def _drop(self, count: int, why: str) -> None:
        if count <= 0:
            return
        self.dropped += count
        if self._on_dropped is not None:
            self._on_dropped(count)
        logger.warning(
            f"issued-card records dropped: {why}",
            extra={"records": count, "dropped_total": self.dropped, "spooled": len(self._spool)},
        )

    async def _run(self) -> None:
        pause = self.first_pause_seconds
        while True:
            if not self._spool:
                if self._closing:
                    return
                await self._wakeup.wait()
                self._wakeup.clear()
                if self.linger_seconds and not self._closing:
                    await asyncio.sleep(self.linger_seconds)
            while self._spool:
                batch = [self._spool[i] for i in range(min(self._batch_size, len(self._spool)))]
                if await self._write(batch):
                    for _ in batch:
                        self._spool.popleft()
                    self.failing = False
                    pause = self.first_pause_seconds
                    continue
                if not self.failing:
                    logger.warning(
                        "issued-card records waiting: the database cannot take them; retrying",
                        extra={"spooled": len(self._spool)},
                    )
                self.failing = True
                if self._closing:
                    if asyncio.get_running_loop().time() >= self._close_deadline:
                        self._drop(len(self._spool), "database unavailable at shutdown")
                        self._spool.clear()
                        return
                    await asyncio.sleep(min(pause, self.first_pause_seconds))
                    continue
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(pause):
                        await self._wakeup_on_close()
                pause = min(pause * 2, self.max_pause_seconds)

    async def _wakeup_on_close(self) -> None:
        while not self._closing:
            await self._wakeup.wait()
            self._wakeup.clear()

    async def _write(self, batch: list[IssuedCardRecord]) -> bool:
        """True when the batch is done with (written, or refused record by record); False: retry later."""
        try:
            await self._store.call(self._store.record_issued, batch, timeout=self.write_timeout_seconds)
        except (ServiceUnavailable, TimeoutError):
            return False
        except Exception:
            logger.exception("issued-card records could not be written", extra={"records": len(batch)})
            self._drop(len(batch), "refused by the database")
        return True

    async def close(self) -> None:
        """Write everything spooled (retrying for up to ``close_timeout_seconds``), then stop."""
        if self._task is not None:
            self._close_deadline = asyncio.get_running_loop().time() + self.close_timeout_seconds
            self._closing = True
            self._wakeup.set()
            await self._task
            self._task = None
