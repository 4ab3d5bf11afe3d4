"""A silent pilot end to end, everything on loopback: `cds-service serve` with every hook silent answers no card
but records and queues them; a pharmacist works the queue page in headless Debian Chromium (HTTP Basic with the
operator token) and records a verdict; the concordance report counts it in its pilot section.

Every request stays on the machine: Chromium's resolver maps every name but loopback to nothing, a route
aborts any other URL, and the test asserts no non-loopback request was made. With PILOT_SCREENSHOT_DIR set,
the queue page and the report's pilot section are saved there (docs/images/ in the repository).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, FloatRect, Page, Request, Route, expect
from sqlalchemy import create_engine

from cds_service.cli import main
from cds_service.hooks.services import SERVICE_ID_BY_HOOK
from cds_service.store.review_queue import ReviewQueue, new_key
from tests.conftest import load_request
from tests.service_process import ServiceProcess

TOKEN = "silent-pilot-operator-token-0123456789"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
SITE = """\
pilot:
  mode: silent
  recommended_suggestions: never
  review_queue: {retention_days: 90, info_sample_percent: 0}
"""
CALLS = ("13-", "10-", "09-", "04-")  # critical order-select, warning order-sign, two warnings at order-select


def is_local(url: str) -> bool:
    return url.startswith(("data:", "about:")) or urlsplit(url).hostname in LOOPBACK


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[ServiceProcess, str, str]]:
    site = tmp_path / "site.yaml"
    site.write_text(SITE, encoding="utf-8")
    key = new_key()
    database_url = f"sqlite:///{tmp_path / 'pilot.sqlite3'}"
    env = {
        "CDS_ENVIRONMENT": "development",
        "CDS_AUTH_DISABLED": "true",
        "CDS_DATABASE_URL": database_url,
        "CDS_SITE_PARAMETERS_PATH": str(site),
        "CDS_REVIEW_QUEUE_KEY": key,
        "CDS_OPERATOR_TOKEN": TOKEN,
        "CDS_LOG_LEVEL": "WARNING",
    }
    process = ServiceProcess("silent-pilot", env, tmp_path)
    process.start()
    try:
        yield process, database_url, key
    finally:
        process.stop()


def _screenshot(page: Page, name: str, clip: FloatRect | None = None) -> None:
    """With PILOT_SCREENSHOT_DIR set, save the visible page (or ``clip`` of the full page) as ``name``.png."""
    folder = os.environ.get("PILOT_SCREENSHOT_DIR")
    if folder:
        path = str(Path(folder) / f"{name}.png")
        page.screenshot(path=path, clip=clip, full_page=True) if clip else page.screenshot(path=path)


def _report_pilot_section(browser: Browser, html: str) -> None:
    """The report's pilot section as a reader sees it (no network: the HTML is set, not fetched)."""
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    try:
        page.route("**/*", lambda route: route.abort())
        page.set_content(html)
        top = page.locator("h2", has_text="Pilot: pharmacist review").bounding_box()
        bottom = page.locator("#pilot_releases").bounding_box()
        assert top is not None
        assert bottom is not None
        clip: FloatRect = {
            "x": 0,
            "y": top["y"] - 10,
            "width": 1100,
            "height": bottom["y"] + bottom["height"] - top["y"] + 20,
        }
        _screenshot(page, "report-pilot-section", clip)
    finally:
        page.close()


def _post(url: str, name: str, hook_instance: str) -> dict[str, Any]:
    request = {**load_request(name), "hookInstance": hook_instance}
    response = httpx.post(f"{url}/cds-services/{SERVICE_ID_BY_HOOK[request['hook']]}", json=request, timeout=30)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _queued(database_url: str, key: str, expected: int) -> int:
    engine = create_engine(database_url)
    try:
        for _ in range(100):  # the service writes the queue off the request path
            count = len(ReviewQueue(engine, key).items())
            if count >= expected:
                return count
            time.sleep(0.1)
        return len(ReviewQueue(engine, key).items())
    finally:
        engine.dispose()


def test_a_silent_pilot_from_hook_to_report(
    service: tuple[ServiceProcess, str, str], browser: Browser, capsys: pytest.CaptureFixture[str]
) -> None:
    process, database_url, key = service
    answers = [_post(process.url, name, f"pilot-{name}") for name in CALLS]
    assert answers == [{"cards": []}] * len(CALLS)  # silent: nothing shown to the clinician
    assert _queued(database_url, key, 4) == 4  # one warning or critical card per call

    context = browser.new_context(
        viewport={"width": 1300, "height": 1000}, http_credentials={"username": "rph-a", "password": TOKEN}
    )
    requests: list[Request] = []
    aborted: list[str] = []

    def guard(route: Route) -> None:
        if is_local(route.request.url):
            route.continue_()
        else:
            aborted.append(route.request.url)
            route.abort()

    context.on("request", lambda request: requests.append(request))
    context.route("**/*", guard)
    page = context.new_page()
    try:
        page.goto(f"{process.url}/review")
        items = page.locator("section.item")
        expect(items).to_have_count(4)
        critical = items.filter(has=page.locator(".card.critical"))
        expect(critical).to_have_count(1)
        expect(critical.locator(".summary")).to_contain_text("Organ transplant")
        expect(critical.locator(".meta")).to_contain_text(f"Patient/{load_request('13-')['context']['patientId']}")
        expect(page.locator("body")).not_to_contain_text("(recommended)")  # recommended_suggestions: never
        _screenshot(page, "review-queue")
        critical.locator("input[value=unsafe]").check()
        critical.locator("select[name=reason_code]").select_option("gate-missed")
        critical.locator("textarea").fill("Transplant listed in the scanned referral letter")
        critical.locator("button[type=submit]").click()
        expect(page.locator("p[role=status]")).to_contain_text("Verdict recorded")
        expect(page.locator("section.item")).to_have_count(3)  # the judged card leaves the to-review view
    finally:
        context.close()
    assert all(is_local(r.url) for r in requests if r.url not in aborted)
    assert not [r.url for r in requests if not is_local(r.url) and r.url not in aborted]

    assert main(["report", "concordance", "--database-url", database_url, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    tables = {t["id"]: t for t in report["tables"]}
    (unsafe,) = tables["pilot_unsafe_cards"]["rows"]
    assert (unsafe["hook"], unsafe["indicator"], unsafe["verdict_reason"]) == (
        "order-select",
        "critical",
        "gate-missed",
    )
    assert "organ_transplant" in unsafe["gates"]
    assert unsafe["knowledge_version"].startswith(report["knowledge_versions"][0].split("+")[0])
    (by_setting,) = tables["pilot_agreement_by_setting"]["rows"]
    assert (by_setting["reviewed"], by_setting["unsafe"], by_setting["agreement_percent"]) == ("<5", "<5", None)
    assert report["totals"]["pilot_reviewed"] == "<5"
    assert any(s.startswith("Pilot: pharmacists reviewed fewer than 5 cards") for s in report["summary"])
    assert main(["report", "concordance", "--database-url", database_url, "--format", "html"]) == 0
    html = capsys.readouterr().out
    assert "Pilot: pharmacist review and knowledge releases" in html
    assert "Cards judged unsafe" in html
    _report_pilot_section(browser, html)
