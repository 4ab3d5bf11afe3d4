"""Schema migrations on SQLite and PostgreSQL: from an empty database and from the schema shipped before them.

PostgreSQL cases use CDS_TEST_POSTGRES_URL (skipped with one line when it is absent, failing under CI=true).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    inspect,
    text,
)

from cds_service import cli
from cds_service.api.app import create_app
from cds_service.config import Settings, get_settings
from cds_service.store.feedback import FeedbackRecord, FeedbackStore, IssuedCardRecord
from cds_service.store.migrate import (
    SchemaBehindError,
    downgrade,
    head_revision,
    require_current_schema,
    schema_state,
    upgrade,
)
from cds_service.store.schema import VERSION_TABLE, metadata
from tests.conftest import AS_OF

# The tables exactly as FeedbackStore created them (metadata.create_all at start-up) before migrations
# existed: cds_service/store/feedback.py at commit c594e97. Frozen here, never to follow schema.py.
pre_issue = MetaData()
Table(
    "cds_feedback",
    pre_issue,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service_id", String(128), nullable=False),
    Column("card_uuid", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("outcome_timestamp", String(40), nullable=False),
    Column("accepted_suggestions", Text, nullable=True),
    Column("override_reason_system", String(512), nullable=True),
    Column("override_reason_code", String(128), nullable=True),
    Column("override_comment", Text, nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("service_id", "card_uuid", "outcome", "outcome_timestamp", name="uq_cds_feedback_once"),
)
Table(
    "cds_issued_card",
    pre_issue,
    Column("card_uuid", String(64), primary_key=True),
    Column("service_id", String(128), nullable=False),
    Column("hook_instance", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("setting", String(64), nullable=True),
    Column("selected", Text, nullable=True),
    Column("suggestions", Text, nullable=True),
    Column("knowledge_version", String(32), nullable=True),
    Column("issued_at", DateTime(timezone=True), nullable=False),
)

FEEDBACK = FeedbackRecord("svc", "card-1", "overridden", "2026-11-25T10:00:00Z", override_reason_code="other")
ISSUED = IssuedCardRecord("card-1", "svc", "hook-1", "mismatch", "after_sorafenib", ("ramucirumab",), {}, "2026.11.0")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    url: str = request.getfixturevalue("postgres_schema_url")
    return url


@pytest.fixture
def store(database_url: str) -> Iterator[FeedbackStore]:
    opened = FeedbackStore(database_url)
    try:
        yield opened
    finally:
        opened.close()


def schema_differences(engine: Engine, expected: MetaData = metadata) -> list[object]:
    """What autogenerate would change to make the database match ``expected`` (nothing, when they agree)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE, "compare_type": True})
        return list(compare_metadata(context, expected))


def make_pre_issue_database(store: FeedbackStore) -> None:
    pre_issue.create_all(store.engine)
    store.save([FEEDBACK])
    store.record_issued([ISSUED])


def test_an_empty_database_is_behind_and_upgrade_creates_the_schema(store: FeedbackStore) -> None:
    before = schema_state(store.engine)
    assert before.current is None
    assert before.behind
    after = upgrade(store.engine)
    assert after.current == head_revision()
    assert not after.behind
    assert schema_differences(store.engine) == []
    assert store.save([FEEDBACK, FEEDBACK]) == 1
    assert store.record_issued([ISSUED]) == 1
    assert store.feedback_with_cards()[0]["setting"] == "after_sorafenib"


def test_the_baseline_revision_is_exactly_the_pre_issue_schema(store: FeedbackStore) -> None:
    upgrade(store.engine, "0001")
    assert schema_differences(store.engine, pre_issue) == []


def test_upgrading_twice_changes_nothing(store: FeedbackStore) -> None:
    upgrade(store.engine)
    store.save([FEEDBACK])
    assert upgrade(store.engine).current == head_revision()
    assert store.count() == 1


def test_the_pre_issue_schema_is_adopted_with_its_rows(store: FeedbackStore) -> None:
    make_pre_issue_database(store)
    assert schema_state(store.engine).behind  # tables, but no revision recorded
    with pytest.raises(SchemaBehindError, match="run `cds-service db upgrade`"):
        require_current_schema(store.engine, upgrade_if_behind=False)
    upgrade(store.engine)
    assert not schema_state(store.engine).behind
    assert schema_differences(store.engine) == []
    [row] = store.feedback_with_cards()
    assert (row["card_uuid"], row["override_reason_code"], row["setting"]) == ("card-1", "other", "after_sorafenib")
    assert store.save([FEEDBACK]) == 0  # the uniqueness that makes feedback idempotent is still there


def issued_gates(store: FeedbackStore) -> dict[str, str | None]:
    with store.engine.connect() as connection:
        return {row[0]: row[1] for row in connection.execute(text("SELECT card_uuid, gates FROM cds_issued_card"))}


def test_0003_adds_the_fired_gates_keeping_older_cards_as_unknown_and_goes_back_down(store: FeedbackStore) -> None:
    upgrade(store.engine, "0002")
    assert store.record_issued([replace(ISSUED, indicator="warning")]) == 1  # as 0002 wrote it
    assert "gates" not in {c["name"] for c in inspect(store.engine).get_columns("cds_issued_card")}

    assert upgrade(store.engine, "0003").current == "0003"
    newer = IssuedCardRecord(
        "card-2", "svc", "hook-2", "does-not-fit", "after_sorafenib", ("ramucirumab",), {}, "2026.12.0",
        indicator="warning", gates=("afp_below_cutoff", "afp_below_cutoff"),
    )  # fmt: skip
    silent = IssuedCardRecord(
        "card-3", "svc", "hook-3", "recommendation", "after_sorafenib", ("cabozantinib",), {}, "2026.12.0",
        indicator="info", gates=(),
    )  # fmt: skip
    assert store.record_issued([newer, silent]) == 2
    assert issued_gates(store) == {"card-1": None, "card-2": '["afp_below_cutoff"]', "card-3": "[]"}
    from cds_service.report.concordance import Labels, Period, build_report

    report = build_report(store.engine, Period(), Labels(), generated_at=datetime(2026, 12, 2, tzinfo=UTC))
    by_gate = next(t for t in report["tables"] if t["id"] == "cards_by_gate")["rows"]
    assert sorted((row["gate"], row["kind"]) for row in by_gate) == [
        ("(no gate fired)", "recommendation"),
        ("afp_below_cutoff", "does-not-fit"),
        ("unknown", "mismatch"),  # recorded before 0003
    ]

    assert downgrade(store.engine, "0002").current == "0002"  # the column goes, the cards stay
    assert "gates" not in {c["name"] for c in inspect(store.engine).get_columns("cds_issued_card")}
    assert schema_state(store.engine).behind
    with store.engine.connect() as connection:
        kept = connection.execute(text("SELECT card_uuid, indicator FROM cds_issued_card ORDER BY card_uuid")).all()
    assert [tuple(row) for row in kept] == [("card-1", "warning"), ("card-2", "warning"), ("card-3", "info")]
    assert upgrade(store.engine).current == head_revision()
    assert issued_gates(store) == {"card-1": None, "card-2": None, "card-3": None}  # unknown again
    assert schema_differences(store.engine) == []


def test_a_table_that_is_not_ours_is_not_adopted(store: FeedbackStore) -> None:
    with store.engine.begin() as connection:
        connection.execute(text("CREATE TABLE cds_feedback (id INTEGER PRIMARY KEY, note TEXT)"))
    with pytest.raises(RuntimeError, match="lacks columns"):
        upgrade(store.engine)
    assert schema_state(store.engine).current is None  # nothing half-applied
    assert not inspect(store.engine).has_table("cds_issued_card")


def test_a_revision_from_a_newer_version_does_not_stop_this_one(
    store: FeedbackStore, caplog: pytest.LogCaptureFixture
) -> None:
    upgrade(store.engine)
    with store.engine.begin() as connection:
        connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))  # noqa: S608 (a constant)
    logging.getLogger("cds_service").propagate = True
    with caplog.at_level(logging.WARNING, logger="cds_service.store"):
        state = require_current_schema(store.engine, upgrade_if_behind=False)
    assert (state.current, state.known, state.behind) == ("9999", False, False)
    assert "newer than this version" in caplog.text


def test_start_up_refuses_a_server_database_that_is_behind_even_in_development(postgres_schema_url: str) -> None:
    settings = Settings(environment="development", database_url=postgres_schema_url, log_level="ERROR")
    with pytest.raises(SchemaBehindError), TestClient(create_app(settings, clock=lambda: AS_OF)):
        pass
    probe = create_engine(postgres_schema_url)
    assert not inspect(probe).has_table("cds_feedback")  # start-up never changes a server database
    probe.dispose()


def test_start_up_upgrades_an_embedded_sqlite_in_development(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dev.sqlite3'}"
    old = FeedbackStore(url)
    make_pre_issue_database(old)
    settings = Settings(environment="development", database_url=url, log_level="ERROR")
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as client:
        assert client.get("/readyz").status_code == 200
    assert schema_state(old.engine).current == head_revision()
    assert old.count() == 1
    old.close()


def test_start_up_refuses_an_embedded_sqlite_in_production(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'prod.sqlite3'}"
    monkeypatch.setenv("CDS_AUTH_DISABLED", "false")
    registry = tmp_path / "clients.yaml"
    registry.write_text("clients: []\n", encoding="utf-8")
    settings = Settings(
        database_url=url,
        environment="production",
        public_base_url="https://cds.hospital.example",
        client_registry_path=str(registry),
        log_level="ERROR",
    )
    with pytest.raises(SchemaBehindError), TestClient(create_app(settings, clock=lambda: AS_OF)):
        pass


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("CDS_DATABASE_URL", url)
    monkeypatch.setenv("CDS_ENVIRONMENT", "production")
    monkeypatch.setenv("CDS_PUBLIC_BASE_URL", "https://cds.hospital.example")
    monkeypatch.setenv("CDS_AUTH_DISABLED", "false")
    monkeypatch.delenv("CDS_CLIENT_REGISTRY_PATH", raising=False)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_db_commands_need_only_the_database_url(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["db", "current"]) == 1
    assert "behind: run `cds-service db upgrade`" in capsys.readouterr().out
    assert cli.main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out == f"database schema upgraded from revision none to {head_revision()}\n"
    assert cli.main(["db", "upgrade"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert cli.main(["db", "current"]) == 0


def test_serve_refuses_a_schema_that_is_behind_with_one_line(
    cli_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = tmp_path / "clients.yaml"
    registry.write_text("clients: []\n", encoding="utf-8")
    monkeypatch.setenv("CDS_CLIENT_REGISTRY_PATH", str(registry))
    old = FeedbackStore(cli_env)
    make_pre_issue_database(old)
    old.close()
    assert cli.main(["serve", "--port", "1"]) == 2  # refused before uvicorn binds anything
    error = capsys.readouterr().err
    assert error == (
        f"cds-service: the database schema is behind (at revision none, this version needs {head_revision()}): "
        "run `cds-service db upgrade`\n"
    )
