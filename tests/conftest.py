from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

import pytest
from fastapi.testclient import TestClient

from cds_service.api.app import create_app
from cds_service.config import Settings
from cds_service.knowledge import Knowledge, load_knowledge

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = ROOT / "fixtures" / "fhir" / "requests"
PATIENTS = ROOT / "fixtures" / "fhir" / "patients"
THIRD_PARTY = ROOT / "tests" / "third_party"
AS_OF = date(2026, 11, 25)

# Real services some tests need (see README "Tests that need PostgreSQL or Redis"); CI machines run both.
POSTGRES_URL_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_URL_DEFAULT = "redis://127.0.0.1:6379/0"


def load_request(name: str) -> dict[str, Any]:
    path = REQUESTS / name if name.endswith(".json") else next(REQUESTS.glob(f"{name}*.json"))
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.fixture(autouse=True)
def _authentication_off_unless_a_test_turns_it_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Most tests are about clinical behaviour; tests/security turns authentication on explicitly.

    Tests run as development (the settings default is production, which refuses these shortcuts);
    tests of the production default unset ``CDS_ENVIRONMENT`` themselves.
    """
    monkeypatch.setenv("CDS_ENVIRONMENT", "development")
    monkeypatch.setenv("CDS_AUTH_DISABLED", "true")


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    return load_knowledge()


def with_parameters(knowledge: Knowledge, **overrides: Any) -> Knowledge:
    """The knowledge with some clinical parameters changed, as a site's overrides file would."""
    parameters = knowledge.parameters.model_copy(update=overrides)
    return knowledge.model_copy(update={"parameters": parameters})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        environment="development", database_url=f"sqlite:///{tmp_path / 'feedback.sqlite3'}", log_level="WARNING"
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as test_client:
        yield test_client


def _service_missing(what: str, variable: str, why: Exception) -> NoReturn:
    """Skip with one line naming the service and the variable; under CI=true a missing service fails."""
    reason = f"{what} not reachable ({type(why).__name__}); set {variable} to run these tests"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """``CDS_TEST_POSTGRES_URL`` (default: database ``test`` on 127.0.0.1:5432), checked once per run."""
    from sqlalchemy import create_engine, text

    url = os.environ.get("CDS_TEST_POSTGRES_URL", POSTGRES_URL_DEFAULT)
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    problem: Exception | None = None
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        problem = exc
    finally:
        engine.dispose()
    if problem is not None:
        _service_missing("PostgreSQL", "CDS_TEST_POSTGRES_URL", problem)
    return url


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """A URL whose connections work in a new, empty schema of the test database (dropped afterwards)."""
    from sqlalchemy import create_engine, make_url, text

    schema = f"cds_test_{uuid.uuid4().hex[:10]}"
    engine = create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """``CDS_TEST_REDIS_URL`` (default: redis://127.0.0.1:6379/0), checked once per run."""
    import redis

    url = os.environ.get("CDS_TEST_REDIS_URL", REDIS_URL_DEFAULT)
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    problem: Exception | None = None
    try:
        client.ping()
    except Exception as exc:
        problem = exc
    finally:
        client.close()
    if problem is not None:
        _service_missing("Redis", "CDS_TEST_REDIS_URL", problem)
    return url


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per skip reason (e.g. "PostgreSQL not reachable"), however many tests it skipped."""
    counts: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reason = reason.removeprefix("Skipped: ")
        counts[reason] = counts.get(reason, 0) + 1
    for reason, count in counts.items():
        terminalreporter.write_line(f"SKIPPED {count} test{'s' if count > 1 else ''}: {reason}")
