"""Pilot switches (clinical-sequencing.md 6.5): silent services compute and record, off services disappear,
and no suggestion is marked isRecommended when the site forbids it — all part of the version on every card."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from cds_service.hooks.services import ORDER_SELECT_ID, ORDER_SIGN_ID, PATIENT_VIEW_ID
from cds_service.knowledge import KnowledgeError, load_knowledge, site_parameters_hash
from cds_service.store.schema import issued_card_table
from tests.conftest import load_request
from tests.pilot.support import pilot_client, pilot_settings, queued

SILENT_SELECT = "pilot:\n  mode: silent\n  services:\n    order-sign: {mode: live}\n    patient-view: {mode: off}\n"


def test_a_silent_service_answers_no_card_but_records_and_queues_them(tmp_path: Path) -> None:
    settings = pilot_settings(tmp_path, SILENT_SELECT)
    with pilot_client(settings) as client:
        silent = client.post(f"/cds-services/{ORDER_SELECT_ID}", json=load_request("13-"))
        live = client.post(f"/cds-services/{ORDER_SIGN_ID}", json=load_request("10-"))
    assert silent.status_code == 200
    assert silent.json() == {"cards": []}
    assert [c["indicator"] for c in live.json()["cards"]] == ["warning"]  # order-sign is live
    engine = create_engine(settings.database_url)
    with engine.connect() as connection:
        recorded = connection.execute(select(issued_card_table.c.service_id, issued_card_table.c.indicator)).all()
    engine.dispose()
    assert sorted(recorded) == [(ORDER_SELECT_ID, "critical"), (ORDER_SELECT_ID, "info"), (ORDER_SIGN_ID, "warning")]
    items = queued(settings, expected=2)
    assert {(i.hook, i.indicator, i.queued_because) for i in items} == {
        ("order-select", "critical", "critical"),
        ("order-sign", "warning", "warning"),
    }  # the info card is not sampled (info_sample_percent 0)
    critical = next(i for i in items if i.indicator == "critical")
    assert critical.patient == f"Patient/{load_request('13-')['context']['patientId']}"
    assert critical.card["summary"].startswith("Organ transplant")  # the card as it would have been shown


def test_an_off_service_is_not_discovered_and_answers_as_unknown(tmp_path: Path) -> None:
    with pilot_client(pilot_settings(tmp_path, SILENT_SELECT)) as client:
        services = {s["id"] for s in client.get("/cds-services").json()["services"]}
        answer = client.post(f"/cds-services/{PATIENT_VIEW_ID}", json=load_request("02-"))
    assert services == {ORDER_SELECT_ID, ORDER_SIGN_ID}
    assert answer.status_code == 404
    assert answer.json()["resourceType"] == "OperationOutcome"


def test_recommended_suggestions_never_leaves_no_suggestion_recommended(tmp_path: Path) -> None:
    with pilot_client(pilot_settings(tmp_path, None)) as client:
        allowed = client.post(f"/cds-services/{ORDER_SELECT_ID}", json=load_request("04-")).json()["cards"]
    with pilot_client(pilot_settings(tmp_path, "pilot: {recommended_suggestions: never}\n")) as client:
        never = client.post(f"/cds-services/{ORDER_SELECT_ID}", json=load_request("04-")).json()["cards"]
    assert any(s.get("isRecommended") for c in allowed for s in c.get("suggestions", []))
    suggestions = [s for c in never for s in c.get("suggestions", [])]
    assert suggestions  # the alternatives are still offered, just not marked
    assert not any("isRecommended" in s for s in suggestions)


def test_the_pilot_switches_are_part_of_the_version_on_every_card(tmp_path: Path) -> None:
    site = "pilot: {recommended_suggestions: never}\n"
    with pilot_client(pilot_settings(tmp_path, site)) as client:
        cards = client.post(f"/cds-services/{ORDER_SELECT_ID}", json=load_request("04-")).json()["cards"]
    version = f"+site.{site_parameters_hash({'pilot': {'recommended_suggestions': 'never'}})}"
    assert cards
    assert all(c["source"]["label"].endswith(version) for c in cards)


def test_a_bare_yaml_off_means_off(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text("pilot:\n  services:\n    order-select:\n      mode: off\n", encoding="utf-8")
    pilot = load_knowledge(site).pilot
    assert (pilot.mode_of("order-select"), pilot.mode_of("order-sign")) == ("off", "live")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("pilot: {mode: quiet}\n", "pilot.mode"),
        ("pilot: {services: {order-dispatch: {mode: silent}}}\n", "pilot.services"),
        ("pilot: {review_queue: {retention_days: 0}}\n", "retention_days"),
    ],
)
def test_a_bad_pilot_switch_refuses_to_start_in_one_line(tmp_path: Path, content: str, message: str) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(content, encoding="utf-8")
    with pytest.raises(KnowledgeError, match=message) as raised:
        load_knowledge(site)
    assert "\n" not in str(raised.value)
