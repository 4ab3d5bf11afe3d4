"""The API docs in a browser, as an operator opens them on a production service: every asset served by the
service itself (no CDN), behind CDS_DOCS_ACCESS=token, the browser asking for the operator token once.

A real `cds-service serve` in production mode on 127.0.0.1 and Debian's headless chromium; every request is
kept on loopback (unresolvable other hosts, a route that aborts them, and an assertion on request events).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlparse

import httpx
import pytest
from playwright.sync_api import Browser, Response, Route, expect

from tests.service_process import ServiceProcess, run_cli
from tests.support.tokens import write_registry

TOKEN = "operator-token-for-the-docs-test-0123456789"


def loopback(url: str) -> bool:
    return urlparse(url).hostname in ("127.0.0.1", "localhost")


@pytest.fixture(scope="module")
def production_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    folder = tmp_path_factory.mktemp("docs")
    env = {
        "CDS_DATABASE_URL": f"sqlite:///{folder / 'store.sqlite3'}",
        "CDS_PUBLIC_BASE_URL": "https://cds.hospital.example",
        # production refuses the example's development-only sandbox entry: a registry of one EHR
        "CDS_CLIENT_REGISTRY_PATH": str(write_registry(folder)),
        "CDS_DOCS_ACCESS": "token",
        "CDS_METRICS_ACCESS": "token",
        "CDS_OPERATOR_TOKEN": TOKEN,
    }  # CDS_ENVIRONMENT unset: production
    upgraded = run_cli(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    service = ServiceProcess("docs", env, folder)
    service.launch()
    try:
        service.wait_ready(60)
        yield service
    finally:
        service.stop()


def test_the_docs_open_offline_with_the_operator_token(production_service: ServiceProcess, browser: Browser) -> None:
    context = browser.new_context(http_credentials={"username": "operator", "password": TOKEN})
    page = context.new_page()
    requested: list[str] = []
    failed: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    def note_failure(response: Response) -> None:
        if response.status >= 400:
            failed.append(f"{response.status} {response.url}")

    page.on("response", note_failure)

    def only_loopback(route: Route) -> None:
        if loopback(route.request.url):
            route.continue_()
        else:
            route.abort()

    page.route("**/*", only_loopback)
    try:
        page.goto(f"{production_service.url}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("HCC second-line sequencing CDS service")
        expect(page.get_by_text("/cds-services/hcc-second-line-order-select", exact=True)).to_be_visible()
    finally:
        context.close()
    assert requested, "the page made no request"
    assert all(loopback(url) for url in requested), [url for url in requested if not loopback(url)]
    paths = {urlparse(url).path for url in requested}
    assert {"/docs", "/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/openapi.json"} <= paths
    assert failed == []


def test_without_the_token_a_browser_is_asked_for_it_and_prometheus_sends_it_as_bearer(
    production_service: ServiceProcess,
) -> None:
    refused = httpx.get(f"{production_service.url}/docs", timeout=5)
    assert refused.status_code == 401
    assert any(value.startswith("Basic realm=") for value in refused.headers.get_list("www-authenticate"))
    wrong = httpx.get(f"{production_service.url}/openapi.json", auth=("operator", "not-the-token"), timeout=5)
    assert wrong.status_code == 401
    metrics = httpx.get(f"{production_service.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert metrics.status_code == 200
    assert "cds_build_info{" in metrics.text
    assert httpx.get(f"{production_service.url}/metrics", timeout=5).headers["www-authenticate"] == "Bearer"


def test_the_production_process_logs_only_json_lines(production_service: ServiceProcess) -> None:
    lines = [line for line in production_service.log().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # uvicorn's own lines included
    assert any(r["logger"].startswith("uvicorn") for r in records)
    assert any(r["message"] == "ready" for r in records)
