"""The timeline app launched as a SMART app in headless Chromium: by the EHR, and from a card in the CDS Hooks sandbox.

Everything runs on loopback, as ``cds-service sandbox`` starts it: a real FHIR server (sekmet-fhir) with the
fixture patients, behind a strict SMART EHR (``cds_service/devtools/smart_ehr.py``: the authorization server,
the sandbox's launch endpoint, and a FHIR facade that checks every token), ``cds-service serve``, and for the
card test the built CDS Hooks sandbox. The three
network guards of the sandbox test apply (Chromium's resolver rules, a route that aborts non-loopback URLs, an
assertion on every request). The tests assert on what is drawn: the two lines, the 400 ng/mL cut-off, the 20
AFP results with the one the rules used ringed, and the advice in the card's words. With
TIMELINE_SCREENSHOT_DIR set, the EHR-launch test saves the README's pictures there (``scripts/timeline-screenshots``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from cds_service.devtools.sandbox import free_port, local_sandbox, sandbox_url
from cds_service.devtools.smart_ehr import SmartEhr
from tests.browser.test_cds_hooks_sandbox import GuardedPage
from tests.conftest import PATIENTS, REQUESTS, ROOT

SANDBOX_APP = Path(os.environ.get("SANDBOX_APP_DIR") or ROOT.parent / "shared" / "data" / "cds-hooks-sandbox" / "app")
REGISTRY = ROOT / "config" / "clients.example.yaml"
PATIENT = "hcc-timeline"
USED_AFP = "Observation/hcc-timeline-afp-20"
TARGET_SECONDS = 2.0


@dataclass(frozen=True)
class Setup:
    service: str
    ehr: SmartEhr
    sandbox: str | None
    service_log: Path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """What ``cds-service sandbox`` starts: the FHIR server behind the SMART EHR, the service, the sandbox build."""
    with local_sandbox(
        port=free_port(),
        fhir_port=free_port(),
        data=tmp_path_factory.mktemp("smart"),
        registry=REGISTRY,
        patients=PATIENTS,
        sandbox_app=SANDBOX_APP if SANDBOX_APP.is_dir() else None,
        auth_disabled=True,
    ) as running:
        ehr = running.ehr
        assert ehr is not None
        ehr.open_without_token = False  # strict: only the sandbox test lets the sandbox read without a token
        ehr.standalone_patient = PATIENT
        service = running.discovery_url.removesuffix("/cds-services")
        yield Setup(service, ehr, running.sandbox if SANDBOX_APP.is_dir() else None, running.service_log)


@pytest.fixture
def guarded(browser: Browser) -> Iterator[GuardedPage]:
    page = GuardedPage(browser)
    yield page
    try:
        page.assert_stayed_local()
    finally:
        page.close()


def _watch_csp(page: Page) -> list[str]:
    """Console messages about the Content-Security-Policy (none may appear: the app runs under it)."""
    violations: list[str] = []

    def seen(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            violations.append(message.text)

    page.on("console", seen)
    return violations


def _consent_and_wait(page: Page) -> int:
    """Allow on the EHR's consent page, wait for the drawn timeline; the app's own time from redirect to drawn."""
    page.get_by_role("button", name="Allow").click()
    expect(page.locator("body[data-state]")).to_have_attribute("data-state", "drawn", timeout=30_000)
    return int(page.locator("body").get_attribute("data-drawn-ms") or "0")


def _card_summary(service: str, hook: str = "patient-view") -> str:
    """The recommendation card's summary for the fixture patient, from the service's own hook endpoint."""
    request = json.loads((REQUESTS / "21-hcc-timeline-patient-view.json").read_text(encoding="utf-8"))
    response = httpx.post(f"{service}/cds-services/hcc-second-line-{hook}", json=request, timeout=30)
    assert response.status_code == 200, response.text
    summary: str = response.json()["cards"][0]["summary"]
    return summary


def _assert_timeline_drawn(page: Page, service: str) -> None:
    lines = page.locator("#therapy-chart a.line-mark")
    expect(lines).to_have_count(2)
    expect(page.locator("#therapy-chart")).to_contain_text("Line 1: Sorafenib")
    expect(page.locator("#therapy-chart")).to_contain_text("Line 2: Regorafenib")
    expect(page.locator("#therapy-chart")).to_contain_text("stopped for progression")
    expect(page.locator('#therapy-chart a[data-line="2"] rect.current')).to_have_count(1)  # no end: current
    cutoff = page.locator("#afp-cutoff")
    expect(cutoff).to_have_attribute("data-cutoff", "400")
    expect(page.locator("#afp-chart .cutoff-label")).to_have_text("cut-off 400 ng/mL")
    expect(page.locator("#afp-chart a.point-link")).to_have_count(20)
    expect(page.locator("#afp-chart .not-comparable")).to_have_count(1)  # the IU/mL result, not placed on the axis
    used = page.locator("#afp-chart a.point-link").filter(has=page.locator(".afp-point.used"))
    expect(used).to_have_count(1)
    expect(used).to_have_attribute("data-reference", USED_AFP)
    expect(page.locator("#afp-chart .used-label")).to_have_text("used by the rules: 820 ng/mL")
    expect(page.locator("#liver-chart .child-pugh")).to_have_count(4)
    expect(page.locator("#child-pugh-now")).to_contain_text("not recorded")  # the missing components named
    expect(page.locator("#headline")).to_have_text(_card_summary(service))
    expect(page.locator("#options tr[data-regimen]").first).to_be_visible()


def _screenshot(page: Page) -> None:
    folder = os.environ.get("TIMELINE_SCREENSHOT_DIR")
    if folder:
        page.locator("#timeline").screenshot(path=str(Path(folder) / "timeline-lines.png"))
        page.locator("#afp").screenshot(path=str(Path(folder) / "timeline-afp.png"))


def test_ehr_launch_consent_and_the_timeline_drawn(guarded: GuardedPage, setup: Setup) -> None:
    ehr = setup.ehr
    page = guarded.page
    violations = _watch_csp(page)
    launch = ehr.new_launch(PATIENT)
    started = time.perf_counter()
    page.goto(f"{setup.service}/app/launch?{urlencode({'iss': ehr.fhir_base, 'launch': launch})}")
    app_ms = _consent_and_wait(page)
    total = time.perf_counter() - started
    print(
        f"\nEHR launch to drawn timeline: {total:.2f} s including the consent page; {app_ms} ms from the redirect "
        f"back to the drawn timeline (target < {TARGET_SECONDS:.0f} s)"
    )
    _assert_timeline_drawn(page, setup.service)
    _screenshot(page)
    asked = ehr.seen.authorize[-1]
    assert asked["scope"].split()[0] == "launch"
    assert "patient/Observation.rs" in asked["scope"].split()
    assert not any(s.startswith(("user/", "system/")) or s.endswith("*.read") for s in asked["scope"].split())
    reads = [entry for entry in ehr.seen.fhir if PATIENT in entry[1]]
    assert reads
    assert all(valid for _, _, valid in reads), "every FHIR read of the app carried a valid token"
    assert not violations, violations
    # Keyboard: a point's link opens its data table at the source resource's row.
    page.locator(f'#afp-chart a[data-reference="{USED_AFP}"]').focus()
    page.keyboard.press("Enter")
    row = page.locator("#src-Observation-hcc-timeline-afp-20")
    expect(row).to_be_visible()
    expect(row).to_have_class("selected")
    expect(row).to_contain_text("used by the rules")
    log = setup.service_log.read_text(encoding="utf-8")
    assert not any(token in log for token in ehr._tokens), "no FHIR token in the service's log"
    assert not any(code in log for code in ehr._used_codes), "no authorization code in the service's log"
    assert "hcc-timeline-afp" not in log  # the posted chart is not logged


def test_an_older_server_with_smart_v1_scopes(guarded: GuardedPage, setup: Setup) -> None:
    ehr = setup.ehr
    ehr.scope_style = "v1"
    try:
        launch = ehr.new_launch(PATIENT)
        guarded.page.goto(f"{setup.service}/app/launch?{urlencode({'iss': ehr.fhir_base, 'launch': launch})}")
        _consent_and_wait(guarded.page)
    finally:
        ehr.scope_style = "v2"
    assert "patient/Observation.read" in ehr.seen.authorize[-1]["scope"].split()
    expect(guarded.page.locator("#afp-chart a.point-link")).to_have_count(20)  # granted patient/*.read


def test_standalone_launch_asks_the_ehr_for_a_patient(guarded: GuardedPage, setup: Setup) -> None:
    ehr = setup.ehr
    guarded.page.goto(f"{setup.service}/app/launch?{urlencode({'iss': ehr.fhir_base})}")
    _consent_and_wait(guarded.page)
    scope = ehr.seen.authorize[-1]["scope"].split()
    assert "launch/patient" in scope
    assert "launch" not in scope
    expect(guarded.page.locator("#therapy-chart a.line-mark")).to_have_count(2)


def test_a_launch_the_ehr_refuses_is_said_plainly(guarded: GuardedPage, setup: Setup) -> None:
    page = guarded.page
    page.goto(f"{setup.service}/app/launch?{urlencode({'iss': 'http://127.0.0.1:9/fhir', 'launch': 'x'})}")
    expect(page.locator("#status")).to_contain_text("is not one this service is set up for")


def _require_sandbox() -> None:
    if not SANDBOX_APP.is_dir():
        message = f"no built CDS Hooks sandbox at {SANDBOX_APP} (a clone without ../shared; set SANDBOX_APP_DIR)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: CI has ../shared beside the clone")
        pytest.skip(message)


def test_open_timeline_from_a_card_in_the_cds_hooks_sandbox(guarded: GuardedPage, setup: Setup) -> None:
    _require_sandbox()
    assert setup.sandbox is not None
    ehr = setup.ehr
    ehr.open_without_token = True  # the sandbox reads its FHIR server without a token; bad tokens still fail
    try:
        page = guarded.page
        discovery = f"{setup.service}/cds-services"
        page.goto(
            sandbox_url(
                setup.sandbox, fhir_base=ehr.fhir_base, patient_id=PATIENT, discovery_url=discovery, hook="patient-view"
            )
        )
        card = page.locator("[class*=decision-card]").filter(has_text="HCC after")
        expect(card).to_be_visible(timeout=30_000)
        with page.context.expect_page(timeout=30_000) as opened:
            card.get_by_role("button", name="Open timeline").click()
        app = opened.value
        violations = _watch_csp(app)
        app.wait_for_load_state()
        _consent_and_wait(app)
        _assert_timeline_drawn(app, setup.service)
        assert not violations, violations
        assert ehr.seen.launches[-1]["parameters"]["patient"] == PATIENT
        assert ehr.seen.launches[-1]["launchUrl"] == f"{setup.service}/app/launch"
        reads = [entry for entry in ehr.seen.fhir if entry[2]]
        assert reads, "the app read the chart with its token"
    finally:
        ehr.open_without_token = False
