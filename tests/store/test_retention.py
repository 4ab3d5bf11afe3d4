"""`cds-service db prune --older-than DAYS`: issued cards and feedback older than the retention period are
deleted, newer ones kept, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select

from cds_service.cli import main
from cds_service.store.feedback import FeedbackStore
from cds_service.store.migrate import upgrade
from cds_service.store.schema import feedback_table, issued_card_table

NOW = datetime.now(UTC)


def fill(engine: Engine, ages_in_days: list[int]) -> None:
    """One issued card and one feedback report per age (the feedback two days younger than its card)."""
    with engine.begin() as connection:
        for age in ages_in_days:
            card = f"card-{age}"
            issued_at = NOW - timedelta(days=age, hours=1)
            connection.execute(
                insert(issued_card_table).values(
                    card_uuid=card,
                    service_id="hcc-second-line-order-select",
                    hook_instance=f"hook-{age}",
                    kind="recommendation",
                    issued_at=issued_at,
                )
            )
            connection.execute(
                insert(feedback_table).values(
                    service_id="hcc-second-line-order-select",
                    card_uuid=card,
                    outcome="accepted",
                    outcome_timestamp=issued_at.isoformat(),
                    received_at=issued_at + timedelta(days=2),
                )
            )


def remaining(engine: Engine) -> tuple[list[str], list[str]]:
    with engine.connect() as connection:
        cards = sorted(connection.execute(select(issued_card_table.c.card_uuid)).scalars())
        feedback = sorted(connection.execute(select(feedback_table.c.card_uuid)).scalars())
    return cards, feedback


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    url: str = request.getfixturevalue("postgres_schema_url")
    return url


def test_prune_deletes_only_what_is_older_than_the_retention(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = FeedbackStore(database_url)
    try:
        upgrade(store.engine)
        fill(store.engine, [1, 29, 31, 400, 800])
        monkeypatch.delenv("CDS_ENVIRONMENT")  # an offline command: the production default is fine
        monkeypatch.setenv("CDS_DATABASE_URL", database_url)

        assert main(["db", "prune", "--older-than", "30", "--dry-run"]) == 0
        assert capsys.readouterr().out.startswith("would delete 3 issued cards, 2 feedback reports older than 30 days")
        assert remaining(store.engine)[0] == ["card-1", "card-29", "card-31", "card-400", "card-800"]

        assert main(["db", "prune", "--older-than", "30"]) == 0
        assert capsys.readouterr().out.startswith("deleted 3 issued cards, 2 feedback reports older than 30 days")
        # card-31's feedback came two days later (29 days ago): it stays until it is 30 days old itself
        assert remaining(store.engine) == (["card-1", "card-29"], ["card-1", "card-29", "card-31"])

        assert main(["db", "prune", "--older-than", "30"]) == 0
        assert capsys.readouterr().out.startswith("deleted 0 issued cards, 0 feedback reports")
    finally:
        store.close()


def test_prune_refuses_a_period_under_a_day_and_a_schema_that_is_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", f"sqlite:///{tmp_path / 'new.sqlite3'}")
    assert main(["db", "prune", "--older-than", "0"]) == 2
    assert capsys.readouterr().err == "cds-service: invalid setting: --older-than: give a number of days, 1 or more\n"
    assert main(["db", "prune", "--older-than", "30"]) == 2
    assert "run `cds-service db upgrade`" in capsys.readouterr().err
