"""The concordance report's charts, rendered in headless Chromium: no two text labels of a chart overlap
(data labels, tick labels, axis labels, legend, title), on the README's demo store and on a store whose
two acceptance series are equal month after month (the case that stacked labels on each other)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from cds_service.cli import main
from tests.conftest import REQUESTS
from tests.loopback import CHROMIUM, CHROMIUM_ARGS

BOXES_OF_TEXT = """
svgs => svgs.map(svg => ({
  chart: svg.getAttribute('aria-label'),
  labels: [...svg.querySelectorAll('text')]
    .filter(t => t.textContent.trim())
    .map(t => { const r = t.getBoundingClientRect();
                return {text: t.textContent.trim(), x: r.x, y: r.y, w: r.width, h: r.height}; }),
}))
"""


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("/usr/bin/chromium is required under CI=true (.ci/run installs it)")
        pytest.skip("Debian chromium not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            new_page = browser.new_page(viewport={"width": 1280, "height": 900})
            new_page.route(
                "**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort()
            )
            yield new_page
        finally:
            browser.close()


def overlaps(a: dict[str, float], b: dict[str, float], slack: float = 0.5) -> bool:
    return bool(
        a["x"] + slack < b["x"] + b["w"]
        and b["x"] + slack < a["x"] + a["w"]
        and a["y"] + slack < b["y"] + b["h"]
        and b["y"] + slack < a["y"] + a["h"]
    )


def overlapping_labels(page: Page, report: Path) -> list[str]:
    page.goto(report.as_uri())
    charts = page.locator("figure svg").evaluate_all(BOXES_OF_TEXT)
    assert len(charts) >= 3
    found = []
    for chart in charts:
        labels = chart["labels"]
        assert labels, chart["chart"]
        for i, a in enumerate(labels):
            for b in labels[i + 1 :]:
                if overlaps(a, b):
                    found.append(f"{chart['chart']}: {a['text']!r} overlaps {b['text']!r}")
    return found


@pytest.fixture(scope="module")
def demo_reports(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The README's demo store filled for 3, 6 and 12 months, each reported as HTML (before any browser runs)."""
    folder = tmp_path_factory.mktemp("demo-reports")
    reports = []
    for months, seed in ((3, 2026), (6, 7), (12, 11)):
        url = f"sqlite:///{folder / f'demo-{months}.sqlite3'}"
        fill = ["demo", "--fill-store", url, "--month", "2026-01", "--months", str(months), "--seed", str(seed)]
        assert main([*fill, "--fixtures", str(REQUESTS), "--as-of", "2026-12-31"]) == 0
        output = folder / f"demo-{months}.html"
        assert main(["report", "concordance", "--database-url", url, "--output", str(output)]) == 0
        reports.append(output)
    return reports


def test_the_demo_reports_charts_have_no_overlapping_labels(demo_reports: list[Path], page: Page) -> None:
    for report in demo_reports:
        assert overlapping_labels(page, report) == [], report.name


def test_equal_and_extreme_series_keep_their_labels_apart(page: Page, tmp_path: Path) -> None:
    from cds_service.report.charts import line_chart

    months = [f"2026-{m:02d}" for m in range(1, 13)]
    svg = line_chart(
        "Acceptance over time",
        months,
        [
            ("Warnings accepted", [50.0, 0.0, 100.0, 33.3, None, 60.0, 61.0, 0.0, 100.0, 12.5, 87.5, 50.0]),
            (
                "Data-needed cards that led to an order",
                [50.0, 0.0, 100.0, 33.4, 20.0, None, 59.0, 1.0, 99.0, 12.5, 87.5, 49.0],
            ),
        ],
        y_label="Percent",
    )
    html = tmp_path / "chart.html"
    html.write_text(f"<!doctype html><html><body><figure>{svg}</figure>" * 3 + "</body></html>", encoding="utf-8")
    assert overlapping_labels(page, html) == []
