"""Every fixture hook request through the HTTP API: the clinical branch, the cards, their fields."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_service.hooks.services import SERVICE_ID_BY_HOOK
from tests.conftest import load_request

SERVICE_BY_HOOK = SERVICE_ID_BY_HOOK


def call(client: TestClient, name: str, mutate: Any = None) -> list[dict[str, Any]]:
    request = load_request(name)
    if mutate:
        mutate(request)
    response = client.post(f"/cds-services/{SERVICE_BY_HOOK[request['hook']]}", json=request)
    assert response.status_code == 200, response.text
    cards: list[dict[str, Any]] = response.json()["cards"]
    return cards


def suggested_agents(card: dict[str, Any]) -> list[list[str]]:
    """Per suggestion, in action order, the agents of the MedicationRequests it places (update or create)."""
    return [
        [
            a["resource"]["medicationCodeableConcept"]["text"].split()[0].lower()
            for a in s["actions"]
            if a["type"] in ("update", "create")
        ]
        for s in card.get("suggestions", [])
    ]


# name, indicators, summary fragment of the first card, suggested regimens on the warning (agent lists). A last
# "info" is the data-needed card: most fixture charts do not record ascites or encephalopathy, and at a Child-Pugh
# minimum of A the card asks for them to be recorded (policy 6.2, revised in issue 24).
CASES = [
    ("01-", ["info", "info"], "after sorafenib: cabozantinib or regorafenib preferred", None),
    ("04-", ["info", "warning", "info"], "after sorafenib: cabozantinib preferred", [["cabozantinib"]]),
    ("05-", ["info", "info"], "after lenvatinib: cabozantinib or regorafenib preferred", None),
    (
        "06-",
        ["info", "warning", "info"],
        "after atezolizumab + bevacizumab: cabozantinib or regorafenib may be preferred",
        [["cabozantinib"], ["regorafenib"]],
    ),
    ("07-", ["info", "warning", "info"], "after two or more prior lines: cabozantinib preferred", [["cabozantinib"]]),
    ("08-", ["info", "warning"], "after sorafenib", []),  # Child-Pugh B: every alternative shares the caution
    ("09-", ["info", "warning", "info"], "after sorafenib", [["cabozantinib"], ["regorafenib"]]),
    ("11-", ["info", "warning", "info"], "after sorafenib", [["cabozantinib"], ["regorafenib"]]),
    ("12-", ["info", "warning", "info"], "after sorafenib", [["cabozantinib"], ["regorafenib"]]),
    ("13-", ["info", "critical", "info"], "Organ transplant; HCC after sorafenib", [["cabozantinib"], ["regorafenib"]]),
    (
        "14-",
        ["info", "warning", "info"],
        "with no prior systemic therapy: atezolizumab + bevacizumab preferred in the 2021 review",
        [["bevacizumab", "atezolizumab"]],  # the coded agent first: it replaces the draft
    ),
    ("15-", ["info", "info"], "after sorafenib: cabozantinib or regorafenib preferred", None),
    ("18-", ["info", "critical"], "Child-Pugh C (no trial in the review enrolled it); HCC after sorafenib", []),
    (
        "19-",
        ["info", "info"],
        "with no prior systemic therapy: atezolizumab + bevacizumab preferred in the 2021 review",
        None,
    ),
    ("17-", ["info", "info"], "after another immunotherapy-based first line: no regimen is preferred", None),
]


@pytest.mark.parametrize(("name", "indicators", "summary", "suggested"), CASES, ids=[c[0] for c in CASES])
def test_order_select_branch(
    client: TestClient, name: str, indicators: list[str], summary: str, suggested: list[list[str]] | None
) -> None:
    cards = call(client, name)
    assert [c["indicator"] for c in cards] == indicators
    assert summary in cards[0]["summary"]
    warnings = [c for c in cards if c["indicator"] in ("warning", "critical")]
    if suggested is None:
        assert not warnings
    else:
        assert suggested_agents(warnings[0]) == suggested
        for suggestion in warnings[0].get("suggestions", []):
            assert suggestion["actions"][0]["type"] == "update"  # the first action places the drug


def test_every_card_conforms_to_cds_hooks(client: TestClient) -> None:
    for name in [*(c[0] for c in CASES), "02-", "10-", "20-"]:
        for card in call(client, name):
            assert len(card["summary"]) < 140
            assert card["uuid"]
            assert card["source"]["label"]
            assert card["indicator"] in ("info", "warning", "critical")
            for key, value in card.items():
                assert value not in (None, "", [], {}), (name, key)
            if "suggestions" in card:
                assert card["selectionBehavior"] == "at-most-one"
                assert sum(1 for s in card["suggestions"] if s.get("isRecommended")) <= 1
                for suggestion in card["suggestions"]:
                    assert suggestion["uuid"]
                    for action in suggestion["actions"]:
                        assert action["description"]
                        if action["type"] == "delete":
                            assert "/" in action["resourceId"]
                            assert "resource" not in action
                        else:
                            resource_type = action["resource"]["resourceType"]
                            assert resource_type in ("MedicationRequest", "ServiceRequest")
                            get_fhir_model_class(resource_type).model_validate(action["resource"])  # valid FHIR R4
            for reason in card.get("overrideReasons", []):
                assert reason["display"]
                assert reason["code"]
                assert reason["system"]


def test_warning_replaces_the_selected_draft_and_offers_coded_override_reasons(client: TestClient) -> None:
    warning = call(client, "09-")[1]
    assert "ramucirumab" in warning["summary"].lower()
    assert "AFP 35 ng/mL" in warning["summary"]
    for suggestion in warning["suggestions"]:
        [update] = suggestion["actions"]  # one-agent alternative: the draft is changed in place
        assert update["type"] == "update"
        assert update["resourceId"] == "MedicationRequest/draft-ramu"
        assert update["resource"]["id"] == "draft-ramu"
        assert update["resource"]["medicationCodeableConcept"]["coding"][0]["code"] in ("1363271", "1312402")
    own = "http://127.0.0.1:8000/CodeSystem/override-reason"
    ballot = "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes"  # CDS Hooks 3.0 ballot categories
    assert [(r["system"], r["code"]) for r in warning["overrideReasons"]] == [
        (own, "patient-preference"),
        (own, "clinical-trial"),
        (own, "tumour-board-decision"),
        (own, "drug-access"),
        (own, "contraindication-to-alternatives"),
        (own, "information-missing"),
        (ballot, "cds-not-applicable"),
        (ballot, "cds-suboptimal-context"),
        (ballot, "recipient-disagrees-evidence"),
        (ballot, "recipient-concerns-outcomes"),
        (ballot, "does-not-align-preferences"),
        (ballot, "not-convenient-feasible"),
        (own, "other"),
    ]


def test_single_alternative_is_the_recommended_suggestion(client: TestClient) -> None:
    warning = call(client, "04-")[1]
    assert warning["suggestions"][0]["isRecommended"] is True


def test_combination_selected_replaces_both_drafts(client: TestClient) -> None:
    warning = call(client, "13-")[1]
    assert "nivolumab + ipilimumab" in warning["summary"].lower()
    first, *rest = warning["suggestions"][0]["actions"]
    assert first["type"] == "update"
    assert first["resource"]["medicationCodeableConcept"]["coding"][0]["code"] == "1363271"  # cabozantinib Pill
    deletes = [a["resourceId"] for a in rest if a["type"] == "delete"]
    assert sorted([first["resourceId"], *deletes]) == ["MedicationRequest/draft-ipi", "MedicationRequest/draft-nivo"]


def test_data_needed_card_orders_afp(client: TestClient) -> None:
    data_card = call(client, "11-")[2]
    assert "AFP" in data_card["summary"]
    action = data_card["suggestions"][0]["actions"][0]
    assert action["type"] == "create"
    resource = ServiceRequest.model_validate(action["resource"])
    assert resource.code is not None
    assert resource.code.coding
    assert resource.code.coding[0].system == "http://loinc.org"
    assert resource.code.coding[0].code == "1834-1"
    assert resource.status == "draft"
    assert action["resource"]["subject"] == {"reference": "Patient/hcc-afp-missing"}


def test_recommendation_card_lists_the_facts_used_with_dates_and_sources(client: TestClient) -> None:
    detail = call(client, "01-")[0]["detail"]
    assert "Condition/hcc-sorafenib-hcc, 2025-03-01" in detail
    assert "MedicationStatement/hcc-sorafenib-sorafenib" in detail
    assert "2025-03-15" in detail
    assert "Observation/hcc-sorafenib-afp, 2026-11-10" in detail
    assert "Child-Pugh: class A" in detail
    assert "v2026." in detail


def test_cards_link_a_few_trials_and_the_page_that_covers_every_cited_trial(client: TestClient, knowledge: Any) -> None:
    cards = call(client, "06-")
    page_url = "http://127.0.0.1:8000/knowledge/settings/after_atezolizumab_bevacizumab"
    for card in cards[:2]:  # the data-needed card links nothing
        assert len(card["links"]) <= 5
        assert card["links"][-1]["url"] == page_url
        assert card["source"]["url"] == page_url
    urls = {link["url"] for link in cards[0]["links"]}
    assert "https://clinicaltrials.gov/study/NCT01908426" in urls  # CELESTIAL, behind preferred cabozantinib
    after_sorafenib = {link["url"] for link in call(client, "09-")[1]["links"]}
    assert "https://clinicaltrials.gov/study/NCT02435433" in after_sorafenib  # REACH-2, behind selected ramucirumab
    page = client.get("/knowledge/settings/after_atezolizumab_bevacizumab").text
    for trial_id, trial in knowledge.evidence.trials.items():
        if trial_id in cards[0]["detail"] and trial.nct:
            assert trial.registry_url in page, trial_id


def test_extrapolation_is_stated_after_lenvatinib(client: TestClient) -> None:
    card = call(client, "05-")[0]
    assert "extrapolated" in card["detail"]
    assert "medicationReference" not in card["detail"]
    assert "Line 1: lenvatinib" in card["detail"]


def test_patient_view_shows_options_without_suggestions(client: TestClient) -> None:
    cards = call(client, "02-")
    assert len(cards) == 1
    assert cards[0]["indicator"] == "info"
    assert "suggestions" not in cards[0]


def test_patient_view_is_silent_for_a_treatment_naive_patient(client: TestClient) -> None:
    def as_patient_view(request: dict[str, Any]) -> None:
        request["hook"] = "patient-view"
        del request["context"]["draftOrders"], request["context"]["selections"]

    assert call(client, "14-", as_patient_view) == []


def test_order_sign_shows_only_the_warning(client: TestClient) -> None:
    cards = call(client, "10-")
    assert [c["indicator"] for c in cards] == ["warning"]


def test_order_sign_is_silent_when_the_order_fits(client: TestClient) -> None:
    def as_order_sign(request: dict[str, Any]) -> None:
        request["hook"] = "order-sign"
        del request["context"]["selections"]

    assert call(client, "01-", as_order_sign) == []


def test_optional_prefetch_missing_keeps_the_answer_and_says_so(client: TestClient) -> None:
    def without_administrations(request: dict[str, Any]) -> None:
        del request["prefetch"]["medicationAdministrations"]

    cards = call(client, "01-", without_administrations)
    assert "cabozantinib or regorafenib preferred" in cards[0]["summary"]
    assert "prefetch medicationAdministrations: could not be obtained" in cards[0]["detail"]


def test_sandbox_call_before_a_medication_is_picked_is_empty(client: TestClient) -> None:
    assert call(client, "16-") == []


def test_non_oncology_order_for_an_hcc_patient_gets_no_card(client: TestClient) -> None:
    def amlodipine(request: dict[str, Any]) -> None:
        order = request["context"]["draftOrders"]["entry"][0]["resource"]
        order["medicationCodeableConcept"] = {"text": "amlodipine 5 MG Oral Tablet"}

    assert call(client, "01-", amlodipine) == []


def test_combination_product_is_not_the_listed_agent_alone(client: TestClient) -> None:
    def opdualag(request: dict[str, Any]) -> None:
        order = request["context"]["draftOrders"]["entry"][0]["resource"]
        order["medicationCodeableConcept"] = {"text": "nivolumab and relatlimab-rmbw [Opdualag]"}

    assert call(client, "01-", opdualag) == []


def test_uuids_are_stable_for_a_retried_call_and_differ_between_calls(client: TestClient) -> None:
    first = call(client, "09-")
    again = call(client, "09-")
    other = call(client, "09-", lambda r: r.update(hookInstance="d6f9d3a4-5a57-4a43-9b0e-9a7d5e1f0001"))
    assert [c["uuid"] for c in first] == [c["uuid"] for c in again]
    assert not {c["uuid"] for c in first} & {c["uuid"] for c in other}


def test_logs_carry_no_patient_name_or_token(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    logging.getLogger("cds_service").propagate = True
    try:
        with caplog.at_level(logging.DEBUG, logger="cds_service"):

            def with_token(request: dict[str, Any]) -> None:
                request["fhirAuthorization"] = {
                    "access_token": "very-secret-access-token",
                    "token_type": "Bearer",
                    "expires_in": 30,
                    "scope": "user/*.read",
                    "subject": "cds",
                }

            call(client, "01-", with_token)
    finally:
        logging.getLogger("cds_service").propagate = False
    text = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    assert "hook answered" in text
    assert "very-secret-access-token" not in text
    assert "Testpatient" not in text
    assert "Sora" not in text


def test_transplant_recipient_signing_a_checkpoint_inhibitor_gets_a_critical_card_naming_the_transplant(
    client: TestClient,
) -> None:
    """Policy 6.2: critical after organ transplant; no checkpoint inhibitor is offered in one click."""
    [card] = call(client, "20-")
    assert card["indicator"] == "critical"
    assert card["summary"].startswith("Organ transplant")
    offered = {agent for agents in suggested_agents(card) for agent in agents}
    assert offered
    assert not offered & {"nivolumab", "ipilimumab", "pembrolizumab", "atezolizumab", "durvalumab", "tremelimumab"}
