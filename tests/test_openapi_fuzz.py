"""Schemathesis over the declared API (issue 13): every operation, bounded and derandomized examples,
against the real app served by uvicorn on loopback (authentication off); no answer may be a 5xx."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from cds_service.api.app import create_app
from cds_service.config import Settings
from tests.conftest import AS_OF
from tests.loopback import free_port

EXAMPLES_PER_OPERATION = 30


def _app_settings(database: Path | None = None) -> Settings:
    return Settings(
        environment="development",
        auth_disabled=True,
        database_url=f"sqlite:///{database}" if database else "sqlite://",
        log_level="ERROR",
    )


schema = schemathesis.openapi.from_dict(create_app(_app_settings()).openapi())


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = create_app(_app_settings(tmp_path_factory.mktemp("fuzz") / "f.sqlite3"), clock=lambda: AS_OF)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the service did not start"
        time.sleep(0.1)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_with_a_server_error(case: schemathesis.Case[Any], base_url: str) -> None:
    case.call_and_validate(base_url=base_url, checks=[not_a_server_error], timeout=10)
