"""The FHIR fallback fetch, every path, with respx standing in for the EHR's FHIR server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import respx

from cds_service.data.fhir_client import FetchLimits, HttpFhirFetcher, ServerPolicy, substitute_tokens
from cds_service.data.prefetch import FetchOutcome, FetchRequest, PrefetchSpec
from tests.support.fhir import bundle

BASE = "https://ehr.example.org/fhir"
TOKEN = "secret-access-token-123"
CONDITIONS = PrefetchSpec("conditions", "Condition?patient={{context.patientId}}", "conditions", required=True)
PATIENT = PrefetchSpec("patient", "Patient/{{context.patientId}}", "patient", required=False)
MEDS = PrefetchSpec("meds", "MedicationStatement?patient={{context.patientId}}", "medications", required=True)
REQUEST = FetchRequest(BASE, TOKEN, {"patientId": "p1", "userId": "Practitioner/u1"})
CONDITION = {"resourceType": "Condition", "id": "c1"}


async def fetch(
    specs: list[PrefetchSpec],
    request: FetchRequest = REQUEST,
    *,
    policy: ServerPolicy | None = None,
    limits: FetchLimits | None = None,
) -> FetchOutcome:
    async with httpx.AsyncClient(timeout=httpx.Timeout(1.0)) as client:
        fetcher = HttpFhirFetcher(client, policy or ServerPolicy((BASE,)), limits or FetchLimits(deadline_seconds=2))
        return await fetcher.fetch_missing(specs, request)


def run(coro: Any) -> FetchOutcome:
    result: FetchOutcome = asyncio.run(coro)
    return result


@respx.mock
def test_missing_key_is_fetched_with_the_template_query_and_bearer_token() -> None:
    route = respx.get(f"{BASE}/Condition", params={"patient": "p1"}).mock(
        return_value=httpx.Response(200, json=bundle(CONDITION))
    )
    outcome = run(fetch([CONDITIONS]))
    assert outcome.values["conditions"]["entry"][0]["resource"] == CONDITION
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "application/fhir+json"


@respx.mock
def test_open_server_gets_no_authorization_header() -> None:
    route = respx.get(f"{BASE}/Condition").mock(return_value=httpx.Response(200, json=bundle()))
    run(fetch([CONDITIONS], FetchRequest(BASE, None, {"patientId": "p1"})))
    assert "Authorization" not in route.calls.last.request.headers


@respx.mock
def test_read_of_a_missing_resource_is_no_data_but_a_failed_search_is_a_failure() -> None:
    respx.get(f"{BASE}/Patient/p1").mock(return_value=httpx.Response(404))
    respx.get(f"{BASE}/Condition").mock(return_value=httpx.Response(404))
    outcome = run(fetch([PATIENT, CONDITIONS]))
    assert outcome.values == {"patient": None}
    assert "HTTP 404" in outcome.failures["conditions"]


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (httpx.Response(401), "refused access to conditions (HTTP 401)"),
        (httpx.Response(403), "refused access to conditions (HTTP 403)"),
        (httpx.Response(500), "answered conditions with HTTP 500"),
        (httpx.Response(200, content=b"<html>oops</html>"), "malformed JSON"),
        (httpx.Response(200, json=[1, 2]), "not a FHIR resource"),
        (httpx.Response(302, headers={"Location": "https://elsewhere.example/x"}), "redirect"),
    ],
    ids=["401", "403", "500", "malformed-json", "not-a-resource", "redirect"],
)
def test_server_errors_become_safe_failure_reasons(response: httpx.Response, reason: str) -> None:
    with respx.mock:
        respx.get(f"{BASE}/Condition").mock(return_value=response)
        outcome = run(fetch([CONDITIONS]))
    assert reason in outcome.failures["conditions"]
    assert TOKEN not in outcome.failures["conditions"]
    assert "conditions" not in outcome.values


@respx.mock
def test_timeout_and_connection_errors_are_failures() -> None:
    respx.get(f"{BASE}/Condition").mock(side_effect=httpx.ConnectTimeout("slow"))
    respx.get(f"{BASE}/MedicationStatement").mock(side_effect=httpx.ConnectError("refused"))
    outcome = run(fetch([CONDITIONS, MEDS]))
    assert outcome.failures["conditions"] == "FHIR server timed out on conditions"
    assert "unreachable" in outcome.failures["meds"]


@respx.mock
def test_slow_server_is_cut_by_the_deadline_while_fast_keys_are_kept() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json=bundle())

    respx.get(f"{BASE}/Condition").mock(side_effect=slow)
    respx.get(f"{BASE}/MedicationStatement").mock(return_value=httpx.Response(200, json=bundle()))
    outcome = run(fetch([CONDITIONS, MEDS], limits=FetchLimits(deadline_seconds=0.2)))
    assert "did not answer within 0.2 s" in outcome.failures["conditions"]
    assert outcome.values["meds"]["resourceType"] == "Bundle"


@respx.mock
def test_keys_are_fetched_in_parallel() -> None:
    both_started = asyncio.Event()
    started: set[str] = set()

    def handler(name: str) -> Any:
        async def respond(request: httpx.Request) -> httpx.Response:
            started.add(name)
            if len(started) == 2:
                both_started.set()
            await asyncio.wait_for(both_started.wait(), timeout=1)  # only returns if the other one is in flight
            return httpx.Response(200, json=bundle())

        return respond

    respx.get(f"{BASE}/Condition").mock(side_effect=handler("conditions"))
    respx.get(f"{BASE}/MedicationStatement").mock(side_effect=handler("meds"))
    outcome = run(fetch([CONDITIONS, MEDS]))
    assert set(outcome.values) == {"conditions", "meds"}


@respx.mock
def test_paging_is_followed_and_merged() -> None:
    respx.get(f"{BASE}/Condition", params={"patient": "p1"}).mock(
        return_value=httpx.Response(200, json=bundle(CONDITION, next_url=f"{BASE}/Condition?page=2"))
    )
    respx.get(f"{BASE}/Condition", params={"page": "2"}).mock(
        return_value=httpx.Response(200, json=bundle({**CONDITION, "id": "c2"}))
    )
    outcome = run(fetch([CONDITIONS]))
    assert [e["resource"]["id"] for e in outcome.values["conditions"]["entry"]] == ["c1", "c2"]
    assert "link" not in outcome.values["conditions"]


@respx.mock
def test_paging_stops_at_the_page_and_resource_limits_with_a_note() -> None:
    respx.get(f"{BASE}/Condition").mock(
        side_effect=lambda request: httpx.Response(
            200,
            json=bundle(
                {**CONDITION, "id": str(request.url)}, next_url=f"{BASE}/Condition?page=x{len(str(request.url))}"
            ),
        )
    )
    pages = run(fetch([CONDITIONS], limits=FetchLimits(max_pages=3)))
    assert len(pages.values["conditions"]["entry"]) == 3
    assert pages.notes == [("conditions", "more than 3 pages; the rest were not read")]
    resources = run(fetch([CONDITIONS], limits=FetchLimits(max_resources=2)))
    assert len(resources.values["conditions"]["entry"]) == 2
    assert resources.notes == [("conditions", "more than 2 resources; the rest were not read")]


@respx.mock
def test_next_page_on_another_host_is_refused() -> None:
    respx.get(f"{BASE}/Condition").mock(
        return_value=httpx.Response(
            200, json=bundle(CONDITION, next_url="https://attacker.example/fhir/Condition?page=2")
        )
    )
    attacker = respx.get("https://attacker.example/fhir/Condition")
    outcome = run(fetch([CONDITIONS]))
    assert "another server" in outcome.failures["conditions"]
    assert not attacker.called


@respx.mock
def test_response_over_the_size_cap_is_refused() -> None:
    big = json.dumps(bundle(*({**CONDITION, "id": str(i)} for i in range(500)))).encode()
    respx.get(f"{BASE}/Condition").mock(return_value=httpx.Response(200, content=big))
    outcome = run(fetch([CONDITIONS], limits=FetchLimits(max_response_bytes=2048)))
    assert "over 2048 bytes" in outcome.failures["conditions"]


@pytest.mark.parametrize(
    ("server", "policy", "reason"),
    [
        ("https://other.example/fhir", ServerPolicy((BASE,)), "not on the allowlist"),
        ("http://ehr.example.org/fhir", ServerPolicy(("http://ehr.example.org/fhir",)), "not https"),
        ("file:///etc/passwd", ServerPolicy((BASE,)), "not an absolute http(s) URL"),
        (None, ServerPolicy((BASE,)), "no fhirServer"),
    ],
    ids=["not-allowlisted", "http", "file-url", "no-server"],
)
def test_servers_not_allowed_get_zero_requests(server: str | None, policy: ServerPolicy, reason: str) -> None:
    with respx.mock(assert_all_called=False) as mock:
        mock.route().mock(return_value=httpx.Response(200, json=bundle()))
        outcome = run(fetch([CONDITIONS, MEDS], FetchRequest(server, TOKEN, {"patientId": "p1"}), policy=policy))
        assert mock.calls.call_count == 0
    assert set(outcome.failures) == {"conditions", "meds"}
    assert reason in outcome.failures["conditions"]


@respx.mock
def test_http_server_allowed_in_development() -> None:
    respx.get("http://127.0.0.1:8090/fhir/Condition").mock(return_value=httpx.Response(200, json=bundle()))
    outcome = run(
        fetch(
            [CONDITIONS],
            FetchRequest("http://127.0.0.1:8090/fhir/", None, {"patientId": "p1"}),
            policy=ServerPolicy(("http://127.0.0.1:8090/fhir",), allow_http=True),
        )
    )
    assert "conditions" in outcome.values


@pytest.mark.parametrize(
    ("template", "context", "expected"),
    [
        ("Patient/{{context.patientId}}", {"patientId": "p1"}, "Patient/p1"),
        ("Condition?patient={{ context.patientId }}", {"patientId": "a/b?c"}, "Condition?patient=a%2Fb%3Fc"),
        ("Practitioner/{{userPractitionerId}}", {"userId": "Practitioner/u1"}, "Practitioner/u1"),
    ],
)
def test_token_substitution(template: str, context: dict[str, Any], expected: str) -> None:
    assert substitute_tokens(template, context) == expected


@respx.mock
def test_unresolvable_token_fails_that_key_without_a_request() -> None:
    route = respx.get(f"{BASE}/Condition")
    outcome = run(fetch([CONDITIONS], FetchRequest(BASE, None, {"userId": "Practitioner/u1"})))
    assert "cannot be resolved" in outcome.failures["conditions"]
    assert not route.called


# --- through the HTTP API -------------------------------------------------------------------------------


def _without_prefetch(name: str, drop: tuple[str, ...] | None = None) -> dict[str, Any]:
    from tests.conftest import load_request

    request = load_request(name)
    prefetch = request.pop("prefetch", {})
    if drop is not None:
        request["prefetch"] = {k: v for k, v in prefetch.items() if k not in drop}
    request["fhirServer"] = BASE
    request["fhirAuthorization"] = {
        "access_token": TOKEN,
        "token_type": "Bearer",
        "expires_in": 30,
        "scope": "user/*.read",
        "subject": "cds-service",
    }
    return request


@pytest.fixture
def api(tmp_path: Any) -> Any:
    from fastapi.testclient import TestClient

    from cds_service.api.app import create_app
    from cds_service.config import Settings
    from tests.conftest import AS_OF

    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'f.sqlite3'}", log_level="WARNING", fhir_allowed_servers=[BASE]
    )
    with TestClient(create_app(settings, clock=lambda: AS_OF)) as client:
        yield client


def _serve_prefetch_from(request_name: str) -> None:
    """Route every discovery template of the fixture's patient to the fixture's own prefetch values."""
    from tests.conftest import load_request

    prefetch = load_request(request_name)["prefetch"]
    paths = {
        "patient": "/Patient/",
        "conditions": "/Condition",
        "medicationStatements": "/MedicationStatement",
        "medicationRequests": "/MedicationRequest",
        "medicationAdministrations": "/MedicationAdministration",
    }
    for key, path in paths.items():
        respx.get(url__startswith=f"{BASE}{path}").mock(return_value=httpx.Response(200, json=prefetch[key]))

    def observations(request: httpx.Request) -> httpx.Response:
        key = "afp" if "1834-1" in request.url.params.get("code", "") else "liverLabs"
        return httpx.Response(200, json=prefetch[key])

    respx.get(url__startswith=f"{BASE}/Observation").mock(side_effect=observations)


@respx.mock
def test_request_without_prefetch_gets_the_same_cards_as_with_prefetch(api: Any) -> None:
    from tests.conftest import load_request

    _serve_prefetch_from("01-")
    with_prefetch = api.post("/cds-services/hcc-second-line-order-select", json=load_request("01-")).json()
    fetched = api.post("/cds-services/hcc-second-line-order-select", json=_without_prefetch("01-"))
    assert fetched.status_code == 200
    assert fetched.json() == with_prefetch
    assert 'cds_fhir_fallback_fetches_total{outcome="ok"} 7.0' in api.get("/metrics").text


@respx.mock
def test_required_data_refused_by_the_server_is_412_without_the_token(api: Any) -> None:
    respx.get(url__startswith=BASE).mock(return_value=httpx.Response(401))
    response = api.post(
        "/cds-services/hcc-second-line-order-select", json=_without_prefetch("01-", drop=("conditions",))
    )
    assert response.status_code == 412
    assert 'cds_fhir_fallback_fetches_total{outcome="failed"} 1.0' in api.get("/metrics").text
    diagnostics = response.json()["issue"][0]["diagnostics"]
    assert "conditions" in diagnostics
    assert "HTTP 401" in diagnostics
    assert TOKEN not in response.text


@respx.mock
def test_optional_data_unavailable_is_stated_on_the_card(api: Any) -> None:
    respx.get(url__startswith=f"{BASE}/Observation").mock(return_value=httpx.Response(500))
    response = api.post(
        "/cds-services/hcc-second-line-order-select", json=_without_prefetch("01-", drop=("afp", "liverLabs"))
    )
    assert response.status_code == 200
    cards = response.json()["cards"]
    assert "prefetch afp: could not be obtained: FHIR server answered afp with HTTP 500" in cards[0]["detail"]
    assert any("AFP" in c["summary"] for c in cards)  # the missing AFP is now a data gap


def test_irrelevant_order_makes_no_request(api: Any) -> None:
    from tests.conftest import load_request

    request = _without_prefetch("90-crd-test-kit-order-select")
    request["fhirServer"] = BASE
    with respx.mock(assert_all_called=False) as mock:
        mock.route().mock(return_value=httpx.Response(500))
        assert api.post("/cds-services/hcc-second-line-order-select", json=request).json() == {"cards": []}
        assert mock.calls.call_count == 0
    assert load_request("90-crd-test-kit-order-select")["fhirAuthorization"]["access_token"] == "SAMPLE_TOKEN"
