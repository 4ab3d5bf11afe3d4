"""The HTML report opened in headless Chromium: one offline file, summary first, labelled SVG charts, tables."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, Route, expect, sync_playwright

from cds_service.cli import main
from tests.loopback import CHROMIUM, CHROMIUM_ARGS
from tests.report.store_fixture import known_events, new_store


def local(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("file", "data", "about") or parsed.hostname in ("127.0.0.1", "localhost")


@pytest.fixture
def report_file(tmp_path: Path) -> Path:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    store = new_store(url)
    known_events().write(store)
    store.close()
    output = tmp_path / "concordance.html"
    assert main(["report", "concordance", "--database-url", url, "--output", str(output)]) == 0
    return output


@pytest.fixture
def browser_page() -> Iterator[Page]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("/usr/bin/chromium is required under CI=true (.ci/run installs it)")
        pytest.skip("Debian chromium not installed (apt-get install chromium)")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_the_report_opens_offline_with_labelled_charts_then_tables(report_file: Path, browser_page: Page) -> None:
    page = browser_page
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    def only_local(route: Route) -> None:
        if local(route.request.url):
            route.continue_()
        else:
            route.abort()

    page.route("**/*", only_local)
    page.goto(report_file.as_uri())

    expect(page).to_have_title("Concordance report: HCC second-line sequencing advice")
    headings = page.locator("h2").all_inner_texts()
    assert headings[:2] == ["Summary", "Charts"]  # the summary comes first, then the charts, then the tables
    expect(page.locator(".summary li").first).to_contain_text("In November 2026, 5 cards were issued")

    charts = page.locator("figure svg")
    expect(charts).to_have_count(3)
    for name, axis_label, category in (
        ("Acceptance over time", "Month (UTC) the card was issued", "2026-10"),
        ("Overrides by reason", "Override reports on warnings", "Patient preference"),
        ("Cards by setting", "Cards issued", "after sorafenib"),
    ):
        chart = page.get_by_role("img", name=name)
        expect(chart).to_be_visible()
        box = chart.bounding_box()
        assert box is not None
        assert box["width"] > 300
        assert box["height"] > 100
        texts = chart.locator("text").all_text_contents()
        assert name in texts
        assert axis_label in texts
        assert category in texts
    # Small cells are not drawn: one override reason had fewer than 5 reports.
    expect(page.locator("#chart-overrides figcaption")).to_contain_text("1 category with fewer than 5 events not drawn")
    overrides = page.get_by_role("img", name="Overrides by reason").locator("text").all_text_contents()
    assert "(no reason given)" not in overrides

    warnings = page.locator("#warnings_by_regimen table tbody tr")
    expect(warnings).to_have_count(3)
    expect(warnings.nth(1)).to_contain_text("Ramucirumab")
    expect(warnings.nth(1)).to_contain_text("54.5%")
    expect(page.locator("#cards_by_hook tbody tr").nth(2)).to_contain_text("<5")

    assert page.locator("script").count() == 0
    assert requested == [report_file.as_uri()], requested
    assert all(local(url) for url in requested)
