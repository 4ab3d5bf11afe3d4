"""The API docs page and its assets come from the service itself; with CDS_DOCS_ACCESS=token the operator
token is accepted as a bearer token or as the password of HTTP Basic (what a browser sends)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cds_service.api.app import create_app
from cds_service.config import Settings
from tests.conftest import AS_OF

TOKEN = "docs-token-0123456789abcdef0123456789abcdef"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def token_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        environment="development",
        database_url=f"sqlite:///{tmp_path / 'feedback.sqlite3'}",
        log_level="WARNING",
        docs_access="token",
        metrics_access="token",
        operator_token=TOKEN,
    )
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as client:
        yield client


def test_the_docs_page_loads_nothing_from_another_host(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
    assert sources
    assert all(source.startswith("/") for source in sources), sources
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"):
        assert asset in sources
        served = client.get(asset)
        assert served.status_code == 200
        assert len(served.content) > 10_000


@pytest.mark.parametrize("path", ["/docs", "/docs/assets/swagger-ui-bundle.js", "/openapi.json"])
def test_with_token_access_a_browser_sends_the_token_as_basic_password(token_client: TestClient, path: str) -> None:
    assert token_client.get(path, headers=basic("anyone", TOKEN)).status_code == 200
    assert token_client.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    for refused in (basic("anyone", "wrong"), basic(TOKEN, ""), {"Authorization": "Basic %%%"}, {}):
        answer = token_client.get(path, headers=refused)
        assert answer.status_code == 401
        challenges = answer.headers.get_list("www-authenticate")
        assert challenges[0] == "Bearer"
        assert challenges[1].startswith('Basic realm="cds-service operator')


def test_metrics_take_the_token_but_ask_no_browser_for_it(token_client: TestClient) -> None:
    assert token_client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    refused = token_client.get("/metrics")
    assert refused.status_code == 401
    assert refused.headers.get_list("www-authenticate") == ["Bearer"]


def test_docs_off_means_the_assets_are_off_too(tmp_path: Path) -> None:
    settings = Settings(
        environment="development", database_url=f"sqlite:///{tmp_path / 'f.sqlite3'}", docs_access="off"
    )
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as client:
        for path in ("/docs", "/docs/assets/swagger-ui.css", "/openapi.json"):
            assert client.get(path).status_code == 404
