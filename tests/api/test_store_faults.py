"""The feedback database under faults (issue 25, findings 5 and 6): a PostgreSQL that accepts connections
but never answers makes ``/readyz`` a 503 within two seconds and feedback a 503 after the statement
timeout, never a hung request; issued-card records wait in a bounded spool through an outage and a full
disk (``/readyz`` not ready meanwhile) and are written when the database is back; records beyond the
spool are counted in ``cds_issued_cards_dropped_total`` and logged."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event

from cds_service.api.app import create_app
from cds_service.config import Settings
from cds_service.hooks.services import ORDER_SELECT_ID
from cds_service.store.feedback import FeedbackStore, IssuedCardWriter
from cds_service.store.migrate import upgrade
from tests.api.test_store_resilience import issued, stored_cards
from tests.conftest import AS_OF, load_request
from tests.loopback import POSTGRES, postgres_schema, require_service

SERVICE = f"/cds-services/{ORDER_SELECT_ID}"
FEEDBACK = f"{SERVICE}/feedback"


def report(card: str) -> dict[str, Any]:
    return {"feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-11-25T10:00:00Z"}]}


class BlackHoleProxy:
    """Forwards a loopback port to PostgreSQL until ``swallow()``: then every byte is taken and nothing is
    answered, on open connections and new ones (a database that accepts but never answers);
    ``forward()`` cuts the swallowed connections and forwards again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.swallowing = False
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = None if self.swallowing else socket.create_connection(self.target, timeout=5)
            with self._lock:
                self._sockets += [client] + ([upstream] if upstream else [])
            if upstream is None:
                threading.Thread(target=self._pipe, args=(client, None), daemon=True).start()
                continue
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket | None) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if sink is not None and not self.swallowing:
                    sink.sendall(data)
        for sock in (source, sink):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def swallow(self) -> None:
        self.swallowing = True

    def forward(self) -> None:
        """Cut every connection (they were swallowed) and forward new ones again."""
        self.swallowing = False
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def close(self) -> None:
        self.forward()
        self._listener.close()


@pytest.fixture
def black_hole_postgres() -> Iterator[tuple[BlackHoleProxy, str]]:
    require_service(POSTGRES, "PostgreSQL")
    proxy = BlackHoleProxy(POSTGRES)
    try:
        with postgres_schema(f"127.0.0.1:{proxy.port}") as url:
            engine = create_engine(url)
            upgrade(engine)
            engine.dispose()
            yield proxy, url
    finally:
        proxy.close()


def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_a_postgresql_that_never_answers_is_a_503_within_seconds_and_recovers(
    black_hole_postgres: tuple[BlackHoleProxy, str],
) -> None:
    proxy, url = black_hole_postgres
    settings = Settings(
        environment="development", database_url=url, log_level="ERROR", database_statement_timeout_seconds=1.0
    )
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as client:
        assert client.post(FEEDBACK, json=report("before")).status_code == 200
        assert client.get("/readyz").status_code == 200
        proxy.swallow()
        ready, seconds = timed(lambda: client.get("/readyz"))
        assert ready.status_code == 503
        assert ready.json()["store"] == "unreachable"
        assert seconds < 2.0
        stored, seconds = timed(lambda: client.post(FEEDBACK, json=report("during")))
        assert stored.status_code == 503
        assert stored.json()["issue"][0]["code"] == "transient"
        assert seconds < 3.5  # statement timeout (1 s) + 1 s, plus room for a loaded machine
        ready, seconds = timed(lambda: client.get("/readyz"))  # again: pooled connections are stuck too
        assert ready.status_code == 503
        assert seconds < 2.0
        proxy.forward()
        deadline = time.monotonic() + 15
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.get("/readyz").status_code == 200
        assert client.post(FEEDBACK, json=report("after")).status_code == 200


def _limit_pages(store: FeedbackStore, pages: int | None) -> None:
    """Every new SQLite connection may grow the file to ``pages`` pages (None: no limit): a full disk."""

    def limit(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        if pages is not None:
            cursor.execute(f"PRAGMA max_page_count = {pages}")
        cursor.close()

    for listener in getattr(store, "_page_limits", []):
        event.remove(store.engine, "connect", listener)
    store._page_limits = [limit]  # type: ignore[attr-defined]
    event.listen(store.engine, "connect", limit)
    store.engine.dispose()


def _page_count(store: FeedbackStore) -> int:
    with store.engine.connect() as connection:
        return int(connection.exec_driver_sql("PRAGMA page_count").scalar_one())


def test_issued_cards_survive_a_full_disk_and_readyz_is_not_ready_meanwhile(tmp_path: Path) -> None:
    settings = Settings(environment="development", database_url=f"sqlite:///{tmp_path / 'f.sqlite3'}")
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as client:
        state = client.app.state.cds  # type: ignore[attr-defined]
        state.issued_cards.max_pause_seconds = 0.3
        store: FeedbackStore = state.store
        request = load_request("01-")
        assert client.post(SERVICE, json=request).status_code == 200
        _limit_pages(store, _page_count(store))  # the disk is full: no page may be added
        for number in range(60):
            assert client.post(SERVICE, json={**request, "hookInstance": f"full-disk-{number}"}).status_code == 200
        deadline = time.monotonic() + 10
        while not state.issued_cards.failing and time.monotonic() < deadline:
            time.sleep(0.1)
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["store"].startswith("cannot write")
        assert "cds_issued_cards_spooled " in (metrics := client.get("/metrics").text)
        assert "cds_issued_cards_spooled 0.0" not in metrics
        _limit_pages(store, None)  # space again
        deadline = time.monotonic() + 10
        while (state.issued_cards.spooled or state.issued_cards.failing) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get("/readyz").status_code == 200
        hook_instances = set(stored_cards(store).values())
        assert {f"full-disk-{number}" for number in range(60)} <= hook_instances
        assert state.issued_cards.dropped == 0


def test_records_wait_through_an_outage_longer_than_a_few_retries(tmp_path: Path) -> None:
    store = FeedbackStore(f"sqlite:///{tmp_path / 'f.sqlite3'}")
    upgrade(store.engine)
    writer = IssuedCardWriter(store, first_pause_seconds=0.2, max_pause_seconds=0.4)

    async def outage() -> None:
        _limit_pages(store, _page_count(store))
        for number in range(40):
            writer.submit([issued(f"outage-{number}", f"hook-{number}")])
            await asyncio.sleep(0.1)  # four seconds of calls while nothing can be written
        assert writer.failing
        assert writer.spooled > 0
        _limit_pages(store, None)
        await writer.close()

    try:
        asyncio.run(outage())
        assert writer.dropped == 0
        assert {f"outage-{number}" for number in range(40)} <= set(stored_cards(store))
    finally:
        store.close()


def test_records_beyond_the_spool_are_counted_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = FeedbackStore(f"sqlite:///{tmp_path / 'f.sqlite3'}")
    upgrade(store.engine)
    dropped: list[int] = []
    writer = IssuedCardWriter(store, max_spooled=100, on_dropped=dropped.append, close_timeout_seconds=0.5)

    async def overflow() -> None:
        _limit_pages(store, _page_count(store))
        writer.submit([issued(f"spool-{n}") for n in range(150)])
        await writer.close()

    logging.getLogger("cds_service").propagate = True
    try:
        with caplog.at_level(logging.WARNING, logger="cds_service.store"):
            asyncio.run(overflow())
    finally:
        logging.getLogger("cds_service").propagate = False
        store.close()
    assert dropped[0] == 50  # the 50 the spool had no room for
    assert sum(dropped) == writer.dropped == 150  # the rest when the database was still full at shutdown
    messages = [r.getMessage() for r in caplog.records]
    assert "issued-card records dropped: spool full" in messages
    assert "issued-card records dropped: database unavailable at shutdown" in messages
