"""Token hardening (issue 13, items 2-4): header and claims are type-checked before use (401, never 500,
no traceback logged), ``exp - iat`` is capped, ``jti`` must be a non-empty string, replay entries live until
``exp`` so a restart cannot revive a token, and Redis being down is a 503 with ``/readyz`` not ready until
it comes back."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from tests.conftest import load_request
from tests.loopback import REDIS, TcpProxy, free_port, require_service
from tests.security.test_client_authentication import (
    DISCOVERY,
    EC_JWKS,
    EHR,
    FEEDBACK,
    SERVICE,
    assert_refused,
    auth,
    make_client,
    token,
)
from tests.support.tokens import EC_KEY, b64url


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps({"clients": [{"iss": EHR, "jwks": EC_JWKS}]}))
    return path


@pytest.fixture
def client(registry: Path, tmp_path: Path) -> Iterator[TestClient]:
    with make_client(registry, tmp_path) as test_client:
        yield test_client


def _with_header(path: str, **header: Any) -> str:
    """A correctly signed token whose header carries values of the wrong JSON type."""
    good = token(path)
    _, payload, _ = good.split(".")
    fields = {"alg": "ES384", "typ": "JWT", "kid": "ec-1", **header}
    signing_input = f"{b64url(json.dumps(fields).encode())}.{payload}"
    signature = jwt.get_algorithm_by_name("ES384").sign(signing_input.encode(), EC_KEY)
    return f"{signing_input}.{b64url(signature)}"


def _with_claims(path: str, raw_claims: str) -> str:
    """A correctly signed token with a hand-written claims JSON (values PyJWT would not produce)."""
    header = b64url(json.dumps({"alg": "ES384", "typ": "JWT", "kid": "ec-1"}).encode())
    signing_input = f"{header}.{b64url(raw_claims.encode())}"
    signature = jwt.get_algorithm_by_name("ES384").sign(signing_input.encode(), EC_KEY)
    return f"{signing_input}.{b64url(signature)}"


def _claims_json(path: str, **replace: str) -> str:
    now = int(time.time())
    fields = {
        "iss": json.dumps(EHR),
        "aud": json.dumps(f"https://cds.hospital.example{path}"),
        "exp": str(now + 120),
        "iat": str(now),
        "jti": json.dumps(str(uuid.uuid4())),
        **replace,
    }
    return "{" + ",".join(f'"{k}":{v}' for k, v in fields.items()) + "}"


MALFORMED = {
    "alg-list": lambda p: _with_header(p, alg=["ES384"]),
    "alg-object": lambda p: _with_header(p, alg={"name": "ES384"}),
    "alg-number": lambda p: _with_header(p, alg=384),
    "alg-null": lambda p: _with_header(p, alg=None),
    "kid-object": lambda p: _with_header(p, kid={"k": 1}),
    "jku-list": lambda p: _with_header(p, jku=["https://ehr.example.org/jwks"]),
    "header-not-object": lambda p: f"{b64url(b'[1,2]')}.{token(p).split('.')[1]}.{token(p).split('.')[2]}",
    "exp-string": lambda p: _with_claims(p, _claims_json(p, exp='"9999999999"')),
    "exp-infinity": lambda p: _with_claims(p, _claims_json(p, exp="Infinity")),
    "exp-1e16": lambda p: _with_claims(p, _claims_json(p, exp="1e16")),
    "iat-nan": lambda p: _with_claims(p, _claims_json(p, iat="NaN")),
    "iat-bool": lambda p: _with_claims(p, _claims_json(p, iat="true")),
    "jti-empty": lambda p: token(p, jti=""),
    "jti-blank": lambda p: token(p, jti="   "),
    "jti-number": lambda p: token(p, jti=12345),
    "jti-object": lambda p: token(p, jti={"id": "x"}),
    "jti-too-long": lambda p: token(p, jti="j" * 257),
    "iss-list": lambda p: _with_claims(p, _claims_json(p, iss=json.dumps([EHR]))),
    "aud-list-of-numbers": lambda p: token(p, aud=[1, 2]),
    "tenant-object": lambda p: token(p, tenant={"t": 1}),
    "claims-not-object": lambda p: _with_claims(p, "[1,2,3]"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_header_or_claims_are_401_without_a_traceback(
    client: TestClient, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    logging.getLogger("cds_service").propagate = True
    try:
        with caplog.at_level(logging.INFO, logger="cds_service"):
            assert_refused(client.get(DISCOVERY, headers=auth(MALFORMED[case](DISCOVERY))))
            assert_refused(client.post(SERVICE, json=load_request("01-"), headers=auth(MALFORMED[case](SERVICE))))
    finally:
        logging.getLogger("cds_service").propagate = False
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("lifetime", "accepted"), [(300, True), (3600, True), (3601, False), (10 * 365 * 86400, False)]
)
def test_token_lifetime_exp_minus_iat_is_capped_at_one_hour_by_default(
    client: TestClient, lifetime: int, accepted: bool
) -> None:
    now = int(time.time())
    response = client.get(DISCOVERY, headers=auth(token(DISCOVERY, iat=now, exp=now + lifetime)))
    if accepted:
        assert response.status_code == 200
    else:
        assert_refused(response)


def test_token_lifetime_cap_is_configurable(registry: Path, tmp_path: Path) -> None:
    with make_client(registry, tmp_path, auth_max_token_lifetime_seconds=900) as client:
        now = int(time.time())
        assert client.get(DISCOVERY, headers=auth(token(DISCOVERY, iat=now, exp=now + 900))).status_code == 200
        assert_refused(client.get(DISCOVERY, headers=auth(token(DISCOVERY, iat=now, exp=now + 901))))


def test_a_restart_cannot_revive_a_token_with_the_in_memory_replay_cache(registry: Path, tmp_path: Path) -> None:
    feedback = {"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-11-25T10:00:00Z"}]}
    with make_client(registry, tmp_path) as first:
        value = token(FEEDBACK)
        assert first.post(FEEDBACK, json=feedback, headers=auth(value)).status_code == 200
        assert_refused(first.post(FEEDBACK, json=feedback, headers=auth(value)))
    time.sleep(max(0.0, int(jwt.decode(value, options={"verify_signature": False})["iat"]) + 1.05 - time.time()))
    with make_client(registry, tmp_path) as restarted:
        assert_refused(restarted.post(FEEDBACK, json=feedback, headers=auth(value)))
        assert restarted.post(FEEDBACK, json=feedback, headers=auth(token(FEEDBACK))).status_code == 200


@pytest.fixture
def redis_available() -> None:
    require_service(REDIS, "Redis")


@pytest.mark.usefixtures("redis_available")
def test_redis_replay_entry_lives_until_exp_and_a_huge_exp_is_a_401_not_a_500(registry: Path, tmp_path: Path) -> None:
    import redis

    jti = f"hardening-{uuid.uuid4()}"
    now = int(time.time())
    with make_client(registry, tmp_path, replay_cache="redis") as client:
        assert client.get(DISCOVERY, headers=auth(token(DISCOVERY, jti=jti, iat=now, exp=now + 200))).status_code == 200
        assert_refused(
            client.get(DISCOVERY, headers=auth(_with_claims(DISCOVERY, _claims_json(DISCOVERY, exp="1e16"))))
        )
        assert_refused(client.get(DISCOVERY, headers=auth(token(DISCOVERY, iat=now, exp=10**16))))
    ttl = redis.Redis.from_url("redis://127.0.0.1:6379/0").ttl(f"cds-service:jti:{EHR}|{jti}")
    assert 200 - 5 <= ttl <= 200 + 60 + 1  # until exp, plus the leeway


def _outcome_code(response: Any) -> str:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return str(body["issue"][0]["code"])


def test_redis_unreachable_is_a_503_and_not_ready(registry: Path, tmp_path: Path) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with make_client(registry, tmp_path, replay_cache="redis", redis_url=closed) as client:
        response = client.get(DISCOVERY, headers=auth(token(DISCOVERY)))
        assert response.status_code == 503
        assert _outcome_code(response) == "transient"
        assert client.post(SERVICE, json=load_request("01-"), headers=auth(token(SERVICE))).status_code == 503
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["replay_cache"] == "unreachable"
        assert client.get(DISCOVERY, headers=auth("not.a.jwt")).status_code == 401  # refused before Redis


@pytest.mark.usefixtures("redis_available")
def test_the_service_recovers_by_itself_when_redis_comes_back(registry: Path, tmp_path: Path) -> None:
    proxy = TcpProxy(REDIS)
    with make_client(registry, tmp_path, replay_cache="redis", redis_url=f"redis://{proxy.address}/0") as client:
        assert client.get(DISCOVERY, headers=auth(token(DISCOVERY))).status_code == 503
        assert client.get("/readyz").status_code == 503
        proxy.start()
        try:
            assert client.get("/readyz").status_code == 200
            assert client.get(DISCOVERY, headers=auth(token(DISCOVERY))).status_code == 200
            proxy.stop()  # down again while connections are pooled
            assert client.get(DISCOVERY, headers=auth(token(DISCOVERY))).status_code == 503
            assert client.get("/readyz").json()["replay_cache"] == "unreachable"
            proxy.start()
            assert client.get(DISCOVERY, headers=auth(token(DISCOVERY))).status_code == 200
            assert client.get("/readyz").json()["status"] == "ready"
        finally:
            proxy.stop()


@pytest.mark.parametrize(
    "server", ["https://ehr.example.org@evil.example/fhir", "ftp://ehr.example.org/fhir", "https:///fhir"]
)
def test_registry_refuses_a_client_fhir_server_that_is_not_a_plain_url(tmp_path: Path, server: str) -> None:
    from cds_service.security.registry import RegistryError, load_registry

    path = tmp_path / "clients.json"
    path.write_text(json.dumps({"clients": [{"iss": EHR, "jwks": EC_JWKS, "fhir_servers": [server]}]}))
    with pytest.raises(RegistryError, match="fhir_servers entry"):
        load_registry(path)
