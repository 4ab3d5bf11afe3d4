"""The feedback database (issue 13, items 2-3): one bad issued-card record never loses the good records
of its batch, and a database that is down is a 503 with /readyz not ready, recovering by itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from cds_service.api.app import create_app
from cds_service.config import Settings
from cds_service.hooks.services import ORDER_SELECT_ID
from cds_service.store.feedback import FeedbackStore, IssuedCardRecord
from cds_service.store.migrate import upgrade
from tests.conftest import AS_OF
from tests.loopback import POSTGRES, TcpProxy, postgres_schema

FEEDBACK = f"/cds-services/{ORDER_SELECT_ID}/feedback"
REPORT = {"feedback": [{"card": "c-1", "outcome": "overridden", "outcomeTimestamp": "2026-11-25T10:00:00Z"}]}


def issued(card: str, hook_instance: str = "hook-1") -> IssuedCardRecord:
    return IssuedCardRecord(
        card, ORDER_SELECT_ID, hook_instance, "mismatch", "after_sorafenib", ("ramucirumab",), {}, "2026.11.0"
    )


def stored_cards(store: FeedbackStore) -> dict[str, str]:
    with store.engine.connect() as connection:
        rows = connection.execute(text("SELECT card_uuid, hook_instance FROM cds_issued_card"))
        return {row.card_uuid: row.hook_instance for row in rows}


@pytest.fixture
def postgres_store() -> Iterator[FeedbackStore]:
    with postgres_schema() as url:
        store = FeedbackStore(url)
        upgrade(store.engine)
        try:
            yield store
        finally:
            store.close()


def test_an_over_long_hook_instance_does_not_lose_the_batch_on_postgresql(postgres_store: FeedbackStore) -> None:
    batch = [issued("good-1"), issued("long", "h" * 300), issued("nul", "bad\x00hook"), issued("good-2")]
    assert postgres_store.record_issued(batch) == 4
    cards = stored_cards(postgres_store)
    assert cards["good-1"] == cards["good-2"] == "hook-1"
    assert cards["long"] == "h" * 128
    assert cards["nul"] == "badhook"


def test_a_record_the_database_refuses_is_dropped_alone(tmp_path: Path) -> None:
    store = FeedbackStore(f"sqlite:///{tmp_path / 'f.sqlite3'}")
    upgrade(store.engine)
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON cds_issued_card WHEN NEW.hook_instance = 'poison' "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        )
    try:
        assert store.record_issued([issued("good-1"), issued("bad", "poison"), issued("good-2")]) == 2
        assert set(stored_cards(store)) == {"good-1", "good-2"}
    finally:
        store.close()


@pytest.fixture
def proxied_postgres() -> Iterator[tuple[TcpProxy, str]]:
    proxy = TcpProxy(POSTGRES)
    proxy.start()
    try:
        with postgres_schema(proxy.address) as url:
            engine = create_engine(url)
            upgrade(engine)
            engine.dispose()
            yield proxy, url
    finally:
        proxy.stop()


def test_database_down_is_a_503_and_not_ready_and_recovers_by_itself(proxied_postgres: tuple[TcpProxy, str]) -> None:
    proxy, url = proxied_postgres
    settings = Settings(environment="development", database_url=url, log_level="WARNING")
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as client:
        assert client.post(FEEDBACK, json=REPORT).status_code == 200
        assert client.get("/readyz").status_code == 200
        proxy.stop()
        response = client.post(FEEDBACK, json=REPORT)
        assert response.status_code == 503
        assert response.json()["issue"][0]["code"] == "transient"
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["store"] == "unreachable"
        proxy.start()
        assert client.get("/readyz").status_code == 200
        second = {"feedback": [{**REPORT["feedback"][0], "card": "c-2"}]}
        assert client.post(FEEDBACK, json=second).status_code == 200
        assert client.app.state.cds.store.count() == 2  # type: ignore[attr-defined]


def test_issued_cards_wait_for_a_database_that_comes_back(proxied_postgres: tuple[TcpProxy, str]) -> None:
    import asyncio
    import threading

    from cds_service.store.feedback import IssuedCardWriter

    proxy, url = proxied_postgres
    store = FeedbackStore(url)
    try:
        writer = IssuedCardWriter(store, first_pause_seconds=0.3, max_pause_seconds=0.3)

        async def write_while_down() -> None:
            proxy.stop()
            threading.Timer(0.8, proxy.start).start()
            writer.submit([issued("while-down-1"), issued("while-down-2")])
            await writer.close()

        asyncio.run(write_while_down())
        assert writer.dropped == 0
        assert set(stored_cards(store)) == {"while-down-1", "while-down-2"}
    finally:
        store.close()
