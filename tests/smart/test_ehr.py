"""The test EHR is strict: what the browser tests prove rests on it refusing what a real server refuses."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cds_service.devtools.smart_ehr import SmartEhr, s256, scope_allows
from tests.loopback import CountingServer, send_json

REDIRECT = "http://127.0.0.1:9/app/"
CLIENT = "hcc-timeline"


@pytest.fixture
def ehr() -> Iterator[SmartEhr]:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        send_json(handler, b'{"resourceType": "Bundle", "type": "searchset", "entry": []}')

    with CountingServer(answer) as upstream, SmartEhr(upstream.base, client_id=CLIENT, redirect_uri=REDIRECT) as ehr:
        yield ehr


def _authorize(ehr: SmartEhr, verifier: str, **changes: str) -> httpx.Response:
    query = {
        "response_type": "code",
        "client_id": CLIENT,
        "redirect_uri": REDIRECT,
        "scope": "launch patient/Observation.rs patient/Patient.rs",
        "state": "s1",
        "aud": ehr.fhir_base,
        "launch": ehr.new_launch("p1"),
        "code_challenge": s256(verifier),
        "code_challenge_method": "S256",
        **changes,
    }
    return httpx.get(f"{ehr.base}/auth/authorize", params=query)


def _code(ehr: SmartEhr, verifier: str) -> str:
    page = _authorize(ehr, verifier)
    assert page.status_code == 200, page.text
    transaction = page.text.split('name="transaction" value="')[1].split('"')[0]
    decided = httpx.post(f"{ehr.base}/auth/decide", data={"transaction": transaction, "decision": "allow"})
    assert decided.status_code == 302
    location = urlsplit(decided.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["s1"]
    return query["code"][0]


def _token(ehr: SmartEhr, code: str, verifier: str, redirect: str = REDIRECT) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect,
        "client_id": CLIENT,
        "code_verifier": verifier,
    }
    return httpx.post(f"{ehr.base}/auth/token", data=form)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"redirect_uri": REDIRECT + "x"}, "redirect_uri"),
        ({"client_id": "other"}, "client_id"),
        ({"code_challenge_method": "plain"}, "PKCE"),
        ({"aud": "http://127.0.0.1:1/fhir"}, "aud"),
        ({"launch": "made-up"}, "launch"),
        ({"scope": "launch patient/Observation.write"}, "scopes not offered"),
    ],
)
def test_authorize_refuses_what_a_strict_server_refuses(ehr: SmartEhr, change: dict[str, str], reason: str) -> None:
    response = _authorize(ehr, secrets.token_urlsafe(48), **change)
    assert response.status_code == 400
    assert reason in response.text


def test_a_code_is_single_use_and_bound_to_its_verifier_and_redirect(ehr: SmartEhr) -> None:
    verifier = secrets.token_urlsafe(48)
    assert _token(ehr, _code(ehr, verifier), "x" * 64).status_code == 400  # wrong verifier
    code = _code(ehr, verifier)
    assert _token(ehr, code, verifier, REDIRECT + "other").status_code == 400  # the code is spent even so
    code = _code(ehr, verifier)
    first = _token(ehr, code, verifier)
    assert first.status_code == 200
    assert first.json()["patient"] == "p1"
    token = first.json()["access_token"]
    read = httpx.get(f"{ehr.fhir_base}/Observation?patient=p1", headers={"Authorization": f"Bearer {token}"})
    assert read.status_code == 200
    assert _token(ehr, code, verifier).json()["error"] == "invalid_grant"  # replayed: refused, token revoked
    again = httpx.get(f"{ehr.fhir_base}/Observation?patient=p1", headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 401


def test_a_token_reads_only_its_patient_and_its_scopes(ehr: SmartEhr) -> None:
    verifier = secrets.token_urlsafe(48)
    token = _token(ehr, _code(ehr, verifier), verifier).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{ehr.fhir_base}/Observation?patient=p2", headers=bearer).status_code == 403
    assert httpx.get(f"{ehr.fhir_base}/Condition?patient=p1", headers=bearer).status_code == 403  # not granted
    assert httpx.get(f"{ehr.fhir_base}/Observation?patient=p1").status_code == 401  # no token


def test_v1_and_v2_scopes_are_read_as_smart_defines_them() -> None:
    assert scope_allows("patient/*.read", "Observation")
    assert scope_allows("patient/Observation.rs", "Observation")
    assert not scope_allows("patient/Observation.rs", "Condition")
    assert not scope_allows("user/Observation.rs", "Observation")
