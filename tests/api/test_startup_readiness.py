"""The start-up log says "ready" only when /readyz would: Redis down at start-up is "not ready"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cds_service.api.app import create_app
from cds_service.config import Settings
from tests.conftest import AS_OF


def startup_lines(err: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    return [line for line in lines if line["logger"] == "cds_service.api" and "ready" in str(line["message"])]


def settings_with_redis(tmp_path: Path, redis_url: str) -> Settings:
    return Settings(
        environment="development",
        database_url=f"sqlite:///{tmp_path / 'feedback.sqlite3'}",
        client_registry_path="config/clients.example.yaml",
        auth_disabled=False,
        replay_cache="redis",
        redis_url=redis_url,
    )


def test_redis_down_at_start_up_is_logged_as_not_ready(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    settings = settings_with_redis(tmp_path, "redis://127.0.0.1:9/0")  # nothing listens on the discard port
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as client:
        assert client.get("/readyz").status_code == 503
    [line] = startup_lines(capfd.readouterr().err)
    assert line["level"] == "WARNING"
    assert line["message"] == (
        "started, not ready: replay cache (CDS_REDIS_URL) unreachable; /readyz answers 503 until it is back"
    )


def test_ready_is_logged_when_everything_answers(
    tmp_path: Path, redis_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    with TestClient(create_app(settings_with_redis(tmp_path, redis_url), clock=lambda: AS_OF)) as client:
        assert client.get("/readyz").status_code == 200
    [line] = startup_lines(capfd.readouterr().err)
    assert (line["level"], line["message"]) == ("INFO", "ready")
