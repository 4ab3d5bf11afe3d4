"""The pilot's edges: another key, a writer that falls behind or fails, a bad view or verdict, a broken lock."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from cds_service.hooks.services import ORDER_SIGN_ID
from cds_service.knowledge import KnowledgeError, load_knowledge
from cds_service.knowledge.releases import LOCK_FILE, ReleaseError, read_lock
from cds_service.store.migrate import upgrade
from cds_service.store.review_queue import BackgroundWriter, ReviewQueue, new_key
from tests.conftest import load_request
from tests.pilot.support import OPERATOR_TOKEN, REVIEW_KEY, pilot_client, pilot_settings, queued
from tests.pilot.test_review_queue import item


def test_entries_sealed_with_another_key_are_shown_as_such(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'queue.sqlite3'}")
    upgrade(engine)
    ReviewQueue(engine, REVIEW_KEY).add([item("c-1")])
    assert ReviewQueue(engine, new_key()).add([]) == 0
    (entry,) = ReviewQueue(engine, new_key()).items()
    assert (entry.patient, entry.card) == (None, {"summary": "(sealed with another key)"})
    engine.dispose()


def test_the_background_writer_drops_when_behind_and_logs_a_failed_write(caplog: pytest.LogCaptureFixture) -> None:
    written: list[list[Any]] = []

    def write(items: list[Any]) -> int:
        written.append(items)
        return len(items)

    def fail(items: list[Any]) -> int:
        raise RuntimeError("database gone")

    async def run() -> BackgroundWriter:
        writer = BackgroundWriter(max_pending=1)
        writer.submit(write, ["a"])
        writer.submit(write, ["b"])  # one write already in flight: dropped
        writer.submit(write, [])  # nothing to write
        await writer.close()
        writer.submit(fail, ["c"])
        await writer.close()
        return writer

    with caplog.at_level(logging.WARNING, logger="cds_service.store"):
        writer = asyncio.run(run())
    assert written == [["a"]]
    assert writer.dropped == 2  # "b" behind, "c" failed
    assert "pilot records could not be written" in caplog.text


def test_a_bad_view_or_verdict_is_a_400(tmp_path: Path) -> None:
    settings = pilot_settings(tmp_path, None)
    bearer = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    with pilot_client(settings) as client:
        client.post(f"/cds-services/{ORDER_SIGN_ID}", json=load_request("10-"))
        (entry,) = queued(settings, expected=1)
        assert client.get("/review?view=everything", headers=bearer).status_code == 400
        page = client.get("/review", headers=bearer).text
        token = page.split('name="form_token" value="', 1)[1].split('"', 1)[0]
        form = {"verdict": "maybe", "reason_code": "advice-correct", "form_token": token}
        refused = client.post(f"/review/{entry.card_uuid}", data=form, headers=bearer)
    assert refused.status_code == 400
    assert "verdict must be one of agree, disagree, unsafe" in refused.text


def test_a_broken_lock_file_refuses_the_knowledge(tmp_path: Path) -> None:
    (tmp_path / LOCK_FILE).write_text("releases: [not, a, mapping]\n", encoding="utf-8")
    with pytest.raises(ReleaseError, match=r"releases\.yaml is invalid"):
        read_lock(tmp_path)


def test_a_bare_yaml_on_reads_as_live(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text("pilot: {mode: on}\n", encoding="utf-8")
    assert load_knowledge(site).pilot.mode_of("order-select") == "live"
    site.write_text("pilot: [silent]\n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match="pilot"):
        load_knowledge(site)
