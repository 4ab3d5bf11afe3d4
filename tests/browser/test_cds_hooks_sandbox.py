"""The service driven by the real CDS Hooks sandbox in headless Chromium, everything on loopback.

The sandbox build (the app behind sandbox.cds-hooks.org, Apache-2.0) is not in the repository: it sits in
``../shared/data/cds-hooks-sandbox/app`` beside a checkout, and the tests skip when it is absent. They start
what ``cds-service sandbox`` starts (a real FHIR server with the fixtures, ``cds-service serve`` on a free
port with the example registry), serve the sandbox on loopback, and keep every request on the machine:
Chromium's resolver maps every name but loopback to nothing, a route aborts any non-loopback URL (the
sandbox calls its remote defaults), and each test asserts that no other non-loopback request was made.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Request, Route, expect

from cds_service.devtools.sandbox import LocalSandbox, free_port, local_sandbox, sandbox_url
from tests.conftest import PATIENTS, ROOT

# A built sandbox: SANDBOX_APP_DIR, or where CI lays it out beside the checkout.
SANDBOX_APP = Path(os.environ.get("SANDBOX_APP_DIR") or ROOT.parent / "shared" / "data" / "cds-hooks-sandbox" / "app")
REGISTRY = ROOT / "config" / "clients.example.yaml"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
ORDER_SELECT_PATH = "/cds-services/hcc-second-line-order-select"

pytestmark = pytest.mark.skipif(
    not SANDBOX_APP.is_dir(),
    reason=f"no built CDS Hooks sandbox at {SANDBOX_APP} (a clone without ../shared; set SANDBOX_APP_DIR)",
)


def is_local(url: str) -> bool:
    if url.startswith(("data:", "blob:", "about:")):
        return True
    return urlsplit(url).hostname in LOOPBACK


def _start(tmp: Path, *, auth_disabled: bool) -> Iterator[LocalSandbox]:
    with local_sandbox(
        port=free_port(),
        fhir_port=free_port(),
        data=tmp,
        registry=REGISTRY,
        patients=PATIENTS,
        sandbox_app=SANDBOX_APP,
        auth_disabled=auth_disabled,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def with_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSandbox]:
    """Authentication on with the example registry: the sandbox's own ES384 JWTs must be accepted."""
    yield from _start(tmp_path_factory.mktemp("sandbox-auth"), auth_disabled=False)


@pytest.fixture(scope="module")
def without_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSandbox]:
    yield from _start(tmp_path_factory.mktemp("sandbox-open"), auth_disabled=True)


class GuardedPage:
    """A page whose every non-loopback request is aborted and recorded; ``assert_stayed_local`` checks it."""

    def __init__(self, browser: Browser) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.requests: list[Request] = []
        self.aborted: list[str] = []
        self.context.on("request", lambda request: self.requests.append(request))
        self.context.route("**/*", self._route)
        self.page: Page = self.context.new_page()

    def _route(self, route: Route) -> None:
        if is_local(route.request.url):
            route.continue_()
        else:
            self.aborted.append(route.request.url)
            route.abort()

    def assert_stayed_local(self) -> None:
        remote = [r.url for r in self.requests if not is_local(r.url)]
        unexpected = [url for url in remote if url not in self.aborted]
        assert not unexpected, f"requests left the machine without being aborted: {unexpected}"

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def guarded(browser: Browser) -> Iterator[GuardedPage]:
    page = GuardedPage(browser)
    yield page
    try:
        page.assert_stayed_local()
    finally:
        page.close()


def _open(guarded: GuardedPage, sandbox: LocalSandbox, patient: str, hook: str) -> Page:
    url = sandbox_url(
        sandbox.sandbox, fhir_base=sandbox.fhir_base, patient_id=patient, discovery_url=sandbox.discovery_url, hook=hook
    )
    guarded.page.goto(url)
    return guarded.page


def _screenshot(page: Page, name: str) -> None:
    """With SANDBOX_SCREENSHOT_DIR set, save the page as ``name``.png there (to read the cards, or refresh the
    README's picture); a normal run saves nothing."""
    folder = os.environ.get("SANDBOX_SCREENSHOT_DIR")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _stored(sandbox: LocalSandbox, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(sandbox.database_url.removeprefix("sqlite:///")) as db:
        return db.execute(query).fetchall()


def _draft_medication(request: Request) -> dict[str, Any]:
    body = json.loads(request.post_data or "{}")
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    concept: dict[str, Any] = order.get("medicationCodeableConcept", {})
    return concept


def _order_select_for(drug: str) -> Callable[[Request], bool]:
    """Matches the order-select call whose draft order names ``drug`` (the sandbox also calls it with none)."""

    def matches(request: Request) -> bool:
        if request.method != "POST" or not request.url.endswith(ORDER_SELECT_PATH):
            return False
        return drug in str(_draft_medication(request).get("text", "")).lower()

    return matches


def _replace_regorafenib_in_rx_view(guarded: GuardedPage, sandbox: LocalSandbox) -> None:
    page = _open(guarded, sandbox, "hcc-intolerant", "order-select")
    medication = page.locator('input[name="medication-input"]')
    medication.fill("regorafenib")
    with page.expect_request(_order_select_for("regorafenib"), timeout=30_000) as selected:
        page.get_by_text("regorafenib 40 MG Oral Tablet", exact=True).click()
    assert _draft_medication(selected.value)["coding"][0]["code"] == "1312402"
    warning = page.locator("[class*=alert-warning]").filter(has_text="regorafenib not supported")
    expect(warning).to_be_visible(timeout=30_000)
    expect(warning).to_contain_text("Sorafenib stopped for intolerance")
    _screenshot(page, "sandbox-rx-view")
    replace = warning.get_by_role("button", name="Replace with cabozantinib")
    with page.expect_request(_order_select_for("cabozantinib"), timeout=30_000) as replaced:
        replace.click()
    concept = _draft_medication(replaced.value)  # the draft the sandbox now holds (its box keeps the typed text)
    assert concept["coding"][0]["code"] == "1363271"  # the sandbox's "cabozantinib Pill" (dose-form group)
    assert "cabozantinib" in concept["text"].lower()
    expect(page.locator("[class*=alert-warning]")).to_have_count(0, timeout=30_000)
    expect(page.locator("[class*=decision-card]").first).to_contain_text("cabozantinib", ignore_case=True)


@pytest.mark.parametrize("sandbox_name", ["without_auth", "with_auth"])
def test_rx_view_replacement_places_cabozantinib_and_clears_the_warning(
    guarded: GuardedPage, sandbox_name: str, request: pytest.FixtureRequest
) -> None:
    sandbox: LocalSandbox = request.getfixturevalue(sandbox_name)
    _replace_regorafenib_in_rx_view(guarded, sandbox)
    # The sandbox sent `accepted` feedback for the suggestion; it is stored against the warning card it came from.
    rows = _stored(
        sandbox,
        "SELECT f.accepted_suggestions, c.kind, c.suggestions FROM cds_feedback f "
        "JOIN cds_issued_card c ON c.card_uuid = f.card_uuid WHERE f.outcome = 'accepted'",
    )
    assert rows, "accepted feedback tied to an issued card"
    accepted, kind, meanings = rows[-1]
    assert kind == "does-not-fit"
    [suggestion] = json.loads(accepted)
    assert json.loads(meanings)[suggestion] == "replace-with:cabozantinib"
    log = sandbox.service_log.read_text(encoding="utf-8")
    assert "eyJ" not in log  # no JWT (header, payload or whole) in the service's log
    if sandbox_name == "with_auth":
        assert "client authentication failed" not in log


def test_patient_view_card_renders_with_a_few_links_and_the_evidence_page(
    guarded: GuardedPage, with_auth: LocalSandbox
) -> None:
    page = _open(guarded, with_auth, "hcc-sorafenib", "patient-view")
    card = page.locator("[class*=decision-card]").filter(has_text="HCC after sorafenib")
    expect(card).to_be_visible(timeout=30_000)
    expect(card.locator("table")).to_be_visible()  # the Markdown table of options renders as a table
    links = card.get_by_role("button").filter(has_not_text="Dismiss")
    labels = [label.strip() for label in links.all_inner_texts() if label.strip()]
    assert 1 <= len(labels) <= 5, labels
    evidence = card.get_by_role("button", name="All options and trials")
    with page.context.expect_page() as opened:
        evidence.click()
    evidence_page = opened.value
    evidence_page.wait_for_load_state()
    assert urlsplit(evidence_page.url).path == "/knowledge/settings/after_sorafenib"
    expect(evidence_page.locator("h1")).to_contain_text("sorafenib")
    expect(evidence_page.locator("#trial-CELESTIAL")).to_be_visible()
