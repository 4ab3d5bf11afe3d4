"""CDS Hooks 2.0 client authentication: every way a token can be wrong is one generic 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from cds_service.api.app import create_app
from cds_service.config import Settings
from cds_service.hooks.services import ORDER_SELECT_ID
from tests.conftest import AS_OF, load_request
from tests.support.tokens import EC_KEY, b64url, bearer, client_claims, public_jwk, sign

BASE = "https://cds.hospital.example"
EHR = "https://ehr.example.org"
RSA_EHR = "https://rsa-ehr.example.org"
TENANTED = "https://tenanted-ehr.example.org"
RSA_JKU = f"{RSA_EHR}/.well-known/jwks.json"
DISCOVERY = "/cds-services"
SERVICE = f"/cds-services/{ORDER_SELECT_ID}"
FEEDBACK = f"{SERVICE}/feedback"

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ROTATED_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


jwk = public_jwk
EC_JWKS = {"keys": [jwk(EC_KEY.public_key(), "ec-1", "ES384")]}
RSA_JWKS = {"keys": [jwk(RSA_KEY.public_key(), "rsa-1", "RS384")]}


b64 = b64url


def claims(path: str, **overrides: Any) -> dict[str, Any]:
    """Client claims for this service's ``path``; an override of None drops the claim."""
    return client_claims(**{"aud": BASE + path, "iss": EHR, **overrides})


def token(
    path: str,
    *,
    key: Any = EC_KEY,
    alg: str = "ES384",
    kid: str | None = "ec-1",
    headers: dict[str, Any] | None = None,
    **claim_overrides: Any,
) -> str:
    extra = {"kid": kid, **(headers or {})} if kid else dict(headers or {})
    return sign(claims(path, **claim_overrides), key, alg, extra)


auth = bearer


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    (tmp_path / "ehr.jwks.json").write_text(json.dumps(EC_JWKS))
    path = tmp_path / "clients.yaml"
    path.write_text(
        json.dumps(
            {
                "clients": [
                    {"iss": EHR, "jwks_path": "ehr.jwks.json", "fhir_servers": ["https://ehr.example.org/fhir"]},
                    {"iss": RSA_EHR, "jku": RSA_JKU},
                    {"iss": TENANTED, "jwks": EC_JWKS, "tenants": ["north"]},
                ]
            }
        )
    )
    return path


def make_client(registry: Path, tmp_path: Path, **overrides: Any) -> TestClient:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'f.sqlite3'}",
        log_level="WARNING",
        auth_disabled=False,
        client_registry_path=str(registry),
        public_base_url=BASE,
        **overrides,
    )
    return TestClient(create_app(settings, clock=lambda: AS_OF))


@pytest.fixture
def client(registry: Path, tmp_path: Path) -> Iterator[TestClient]:
    with make_client(registry, tmp_path) as test_client:
        yield test_client


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "security", "diagnostics": "Unauthorized"}],
    }


def test_valid_token_passes_on_discovery_service_and_feedback(client: TestClient) -> None:
    assert client.get(DISCOVERY, headers=auth(token(DISCOVERY))).status_code == 200
    response = client.post(SERVICE, json=load_request("01-"), headers=auth(token(SERVICE)))
    assert response.status_code == 200
    assert response.json()["cards"]
    feedback = {
        "feedback": [
            {
                "card": "c",
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-25T10:00:00Z",
                "overrideReason": {"userComment": "n/a"},
            }
        ]
    }
    assert client.post(FEEDBACK, json=feedback, headers=auth(token(FEEDBACK))).status_code == 200


def test_audience_may_be_a_list_containing_the_endpoint(client: TestClient) -> None:
    value = token(DISCOVERY, aud=["https://other.example", BASE + DISCOVERY])
    assert client.get(DISCOVERY, headers=auth(value)).status_code == 200


def _unsigned(path: str) -> str:
    header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "ec-1"}).encode())
    return f"{header}.{b64(json.dumps(claims(path)).encode())}."


def _hs256_with_public_key(path: str) -> str:
    secret = EC_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = (
        f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': 'ec-1'}).encode())}."
        f"{b64(json.dumps(claims(path)).encode())}"
    )
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def _tampered(path: str) -> str:
    header, payload, signature = token(path).split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["iss"] = EHR
    data["tenant"] = "someone-else"
    return f"{header}.{b64(json.dumps(data).encode())}.{signature}"


REFUSED: dict[str, Callable[[str], str]] = {
    "malformed": lambda path: "not.a.jwt",
    "alg-none": _unsigned,
    "hs256-with-public-key": _hs256_with_public_key,
    "wrong-aud": lambda path: token(path, aud=BASE + "/cds-services/another-service"),
    "aud-of-another-host": lambda path: token(path, aud="https://evil.example" + path),
    "expired": lambda path: token(path, exp=int(time.time()) - 120, iat=int(time.time()) - 400),
    "nbf-in-future": lambda path: token(path, nbf=int(time.time()) + 600),
    "iat-in-future": lambda path: token(path, iat=int(time.time()) + 600, exp=int(time.time()) + 900),
    "no-jti": lambda path: token(path, jti=None),
    "unknown-kid": lambda path: token(path, kid="ec-2"),
    "no-kid": lambda path: token(path, kid=None),
    "untrusted-iss": lambda path: token(path, iss="https://unknown-ehr.example"),
    "tampered-payload": _tampered,
    "tenant-not-allowed": lambda path: token(path, iss=TENANTED, tenant="south"),
    "tenant-missing": lambda path: token(path, iss=TENANTED),
    "rs256-not-allowed": lambda path: token(path, key=RSA_KEY, alg="RS256", kid="rsa-1", iss=RSA_EHR),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
@pytest.mark.parametrize("path", [DISCOVERY, SERVICE, FEEDBACK])
def test_bad_tokens_are_refused_with_401(client: TestClient, case: str, path: str) -> None:
    value = REFUSED[case](path)
    if path == DISCOVERY:
        response = client.get(path, headers=auth(value))
    else:
        response = client.post(path, json=load_request("01-"), headers=auth(value))
    assert_refused(response)


@pytest.mark.parametrize("header", [None, "Basic dXNlcjpwYXNz", "Bearer ", "Bearer"])
def test_missing_or_non_bearer_authorization_is_refused(client: TestClient, header: str | None) -> None:
    assert_refused(client.get(DISCOVERY, headers={"Authorization": header} if header else {}))


def test_allowed_tenant_passes(client: TestClient) -> None:
    assert client.get(DISCOVERY, headers=auth(token(DISCOVERY, iss=TENANTED, tenant="north"))).status_code == 200


def test_replayed_jti_is_refused_in_memory(client: TestClient) -> None:
    value = token(DISCOVERY)
    assert client.get(DISCOVERY, headers=auth(value)).status_code == 200
    assert_refused(client.get(DISCOVERY, headers=auth(value)))


def test_replayed_jti_is_refused_across_replicas_through_redis(registry: Path, tmp_path: Path, redis_url: str) -> None:
    prefix_isolation = str(uuid.uuid4())
    value = token(DISCOVERY, jti=f"redis-test-{prefix_isolation}")
    with (
        make_client(registry, tmp_path, replay_cache="redis", redis_url=redis_url) as first,
        make_client(registry, tmp_path, replay_cache="redis", redis_url=redis_url) as second,
    ):
        assert first.get(DISCOVERY, headers=auth(value)).status_code == 200
        assert_refused(second.get(DISCOVERY, headers=auth(value)))
    import redis

    stored = redis.Redis.from_url(redis_url).ttl(f"cds-service:jti:{EHR}|redis-test-{prefix_isolation}")
    assert 0 < stored <= 300 + 60


def test_jku_not_in_the_registry_is_refused_before_any_request(client: TestClient) -> None:
    with respx.mock(assert_all_called=False) as mock:
        attacker = mock.get("https://attacker.example/jwks.json").mock(return_value=httpx.Response(200, json=RSA_JWKS))
        value = token(
            DISCOVERY,
            key=RSA_KEY,
            alg="RS384",
            kid="rsa-1",
            iss=RSA_EHR,
            headers={"jku": "https://attacker.example/jwks.json"},
        )
        assert_refused(client.get(DISCOVERY, headers=auth(value)))
        assert mock.calls.call_count == 0
        assert not attacker.called


def test_registered_jku_is_fetched_once_cached_and_refreshed_on_an_unknown_kid_at_most_once_a_minute(
    client: TestClient,
) -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = mock.get(RSA_JKU).mock(return_value=httpx.Response(200, json=RSA_JWKS))
        for _ in range(2):
            value = token(DISCOVERY, key=RSA_KEY, alg="RS384", kid="rsa-1", iss=RSA_EHR, headers={"jku": RSA_JKU})
            assert client.get(DISCOVERY, headers=auth(value)).status_code == 200
        assert route.call_count == 1
        rotated = {"keys": [*RSA_JWKS["keys"], jwk(ROTATED_RSA_KEY.public_key(), "rsa-2", "RS384")]}
        route.mock(return_value=httpx.Response(200, json=rotated))
        value = token(DISCOVERY, key=ROTATED_RSA_KEY, alg="RS384", kid="rsa-2", iss=RSA_EHR)
        assert client.get(DISCOVERY, headers=auth(value)).status_code == 200
        assert route.call_count == 2
        for made_up in ("rsa-8", "rsa-9"):
            unknown = token(DISCOVERY, key=ROTATED_RSA_KEY, alg="RS384", kid=made_up, iss=RSA_EHR)
            assert_refused(client.get(DISCOVERY, headers=auth(unknown)))
        assert route.call_count == 2  # no further refresh within a minute of the last one


def test_refusal_reason_is_logged_without_the_token(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    value = token(DISCOVERY, aud=BASE + "/elsewhere", jti="jti-for-log-test")
    logging.getLogger("cds_service").propagate = True
    try:
        with caplog.at_level(logging.WARNING, logger="cds_service.security"):
            assert_refused(client.get(DISCOVERY, headers=auth(value)))
    finally:
        logging.getLogger("cds_service").propagate = False
    record = next(r for r in caplog.records if r.getMessage() == "client authentication failed")
    assert record.__dict__["iss"] == EHR
    assert record.__dict__["kid"] == "ec-1"
    assert record.__dict__["jti"] == "jti-for-log-test"
    assert "InvalidAudienceError" in record.__dict__["reason"]
    everything = " ".join(str(r.__dict__) for r in caplog.records)
    assert value not in everything
    assert value.split(".")[2] not in everything


def test_clients_fhir_servers_extend_the_fetch_allowlist(client: TestClient) -> None:
    request = load_request("01-")
    del request["prefetch"]
    request["fhirServer"] = "https://ehr.example.org/fhir"
    with respx.mock(assert_all_called=False) as mock:
        mock.get(url__startswith="https://ehr.example.org/fhir/").mock(
            return_value=httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset"})
        )
        response = client.post(SERVICE, json=request, headers=auth(token(SERVICE)))
        assert response.status_code == 200
        assert mock.calls.call_count == 7
    other = token(SERVICE, iss=TENANTED, tenant="north")
    with respx.mock(assert_all_called=False) as mock:
        response = client.post(SERVICE, json=request, headers=auth(other))
        assert response.status_code == 412
        assert mock.calls.call_count == 0


def test_cors_preflight_needs_no_token(client: TestClient) -> None:
    response = client.options(
        SERVICE,
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code == 200


def test_health_needs_no_token(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200


def test_example_registry_trusts_the_sandbox_key_on_file() -> None:
    from cds_service.security.registry import load_registry

    registry, local = load_registry(Path(__file__).resolve().parents[2] / "config" / "clients.example.yaml")
    sandbox = registry.by_issuer("https://sandbox.cds-hooks.org")
    assert sandbox is not None
    assert sandbox.has_local_keys
    assert local[sandbox.iss]["keys"][0]["kid"] == "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
