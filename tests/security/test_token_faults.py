"""Token checks under hostile tokens and real EHRs (issue 25, findings 2, 4, 8 and 9): every failure is a
401 with one log line (an ``alg`` that does not fit a registered key without ``alg``; ``exp``/``iat``/
``nbf`` of 10^400); an Epic-shaped token (RS384, base64 ``kid``, ``nbf = iat - 300``, ``exp = iat + 900``,
``sub``, a typed-in ``aud``) is accepted under its client's limits and refused beyond them; production
refuses development-only registry entries, http audiences, symmetric keys, an empty algorithm list and
absurd body limits, each in one line."""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from pydantic import ValidationError

from cds_service.config import Settings
from cds_service.security.registry import RegistryError, load_registry
from tests.conftest import ROOT
from tests.security.test_client_authentication import (
    BASE,
    DISCOVERY,
    RSA_KEY,
    assert_refused,
    auth,
    jwk,
    make_client,
)
from tests.service_process import run_cli
from tests.support.tokens import EC_KEY

EPIC = "https://fhir.epic.example/interconnect-cds"
EPIC_KID = base64.b64encode(b"\xfb\xff\xbe epic key 2026 \x00").decode()  # has + / and =
TYPED_AUDIENCE = "https://cds.hospital.example/hcc"  # what the health system typed into its EHR
EPIC_CLIENT_ID = "0f7c5b1e-epic-client-id"


def _registry(tmp_path: Path, *clients: dict[str, Any]) -> Path:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps({"clients": list(clients)}))
    return path


@pytest.fixture
def epic_registry(tmp_path: Path) -> Path:
    public = jwk(RSA_KEY.public_key(), EPIC_KID, "RS384")
    no_alg_ec = {k: v for k, v in jwk(EC_KEY.public_key(), "ec-no-alg", "ES384").items() if k != "alg"}
    return _registry(
        tmp_path,
        {
            "iss": EPIC,
            "jwks": {"keys": [public, no_alg_ec]},
            "audience": TYPED_AUDIENCE,
            "max_token_lifetime_seconds": 900,
            "sub": EPIC_CLIENT_ID,
        },
    )


def epic_token(
    *, key: Any = RSA_KEY, alg: str = "RS384", kid: str = EPIC_KID, now: int | None = None, **changes: Any
) -> str:
    now = now or int(time.time())
    claims: dict[str, Any] = {
        "iss": EPIC,
        "sub": EPIC_CLIENT_ID,
        "aud": TYPED_AUDIENCE,
        "iat": now,
        "nbf": now - 300,
        "exp": now + 900,
        "jti": str(uuid.uuid4()),
    }
    claims.update(changes)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm=alg, headers={"kid": kid})


def test_an_epic_shaped_token_is_accepted_and_refused_beyond_its_clients_limits(
    epic_registry: Path, tmp_path: Path
) -> None:
    with make_client(epic_registry, tmp_path, auth_max_token_lifetime_seconds=300) as client:
        now = int(time.time())
        assert client.get(DISCOVERY, headers=auth(epic_token())).status_code == 200
        over_limit = epic_token(now=now, exp=now + 901)  # over the client's 900 s
        assert_refused(client.get(DISCOVERY, headers=auth(over_limit)))
        assert_refused(client.get(DISCOVERY, headers=auth(epic_token(sub="someone-else"))))
        assert_refused(client.get(DISCOVERY, headers=auth(epic_token(sub=None))))  # registered sub is required
        assert_refused(client.get(DISCOVERY, headers=auth(epic_token(aud=BASE + DISCOVERY))))
        assert_refused(client.get(DISCOVERY, headers=auth(epic_token(now=now, nbf=now + 120))))  # not yet valid
        within_leeway = epic_token(now=now, nbf=now + 30)
        assert client.get(DISCOVERY, headers=auth(within_leeway)).status_code == 200


def _logged_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What the service logged about the call, beside the access log's one line per request."""
    return [r for r in caplog.records if r.name.startswith("cds_service") and r.name != "cds_service.access"]


HOSTILE = {
    "alg-fits-no-key-type": lambda: epic_token(kid="ec-no-alg"),  # RS384 named for an EC key without alg
    "exp-10^400": lambda: _raw_claims(exp="1" + "0" * 400),
    "iat-10^400": lambda: _raw_claims(iat="1" + "0" * 400),
    "nbf-10^400": lambda: _raw_claims(nbf="1" + "0" * 400),
    "nbf-minus-10^400": lambda: _raw_claims(nbf="-1" + "0" * 400),
}


def _raw_claims(**raw: str) -> str:
    """A correctly signed Epic token whose claims JSON holds numbers no float can hold."""
    now = int(time.time())
    fields = {
        "iss": json.dumps(EPIC),
        "sub": json.dumps(EPIC_CLIENT_ID),
        "aud": json.dumps(TYPED_AUDIENCE),
        "iat": str(now),
        "exp": str(now + 60),
        "jti": json.dumps(str(uuid.uuid4())),
        **raw,
    }
    header = base64.urlsafe_b64encode(json.dumps({"alg": "RS384", "kid": EPIC_KID}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(("{" + ",".join(f'"{k}":{v}' for k, v in fields.items()) + "}").encode())
    signing_input = header + b"." + body.rstrip(b"=")
    signature = jwt.get_algorithm_by_name("RS384").sign(signing_input, RSA_KEY)
    return (signing_input + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_tokens_are_a_401_with_one_log_line_and_no_traceback(
    epic_registry: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    with make_client(epic_registry, tmp_path) as client:
        logging.getLogger("cds_service").propagate = True
        try:
            with caplog.at_level(logging.INFO, logger="cds_service"):
                response = client.get(DISCOVERY, headers=auth(HOSTILE[case]()))
        finally:
            logging.getLogger("cds_service").propagate = False
    assert_refused(response)
    lines = _logged_lines(caplog)
    assert [r.getMessage() for r in lines] == ["client authentication failed"]
    assert not lines[0].exc_info


def test_production_refuses_the_example_registry_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="development_only") as refused:
        load_registry(ROOT / "config" / "clients.example.yaml", environment="production")
    assert "\n" not in str(refused.value)
    registry, _ = load_registry(ROOT / "config" / "clients.example.yaml", environment="development")
    [sandbox] = registry.clients
    assert sandbox.development_only
    assert sandbox.max_token_lifetime_seconds == 300

    env = {
        "CDS_ENVIRONMENT": "production",
        "CDS_PUBLIC_BASE_URL": "https://cds.hospital.example",
        "CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'f.sqlite3'}",
        "CDS_CLIENT_REGISTRY_PATH": str(ROOT / "config" / "clients.example.yaml"),
    }
    assert run_cli(env, "db", "upgrade").returncode == 0
    result = run_cli(env, "serve")
    assert result.returncode == 2
    [line] = [line for line in result.stderr.splitlines() if "development_only" in line]
    assert "https://sandbox.cds-hooks.org" in line


@pytest.mark.parametrize(
    ("client", "problem"),
    [
        ({"audience_base": "http://cds.hospital.example"}, "audience_base 'http://cds.hospital.example' is not https"),
        ({"audience": "http://cds.hospital.example/hcc"}, "is not https"),
        ({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "shared"}]}}, "is symmetric (oct)"),
    ],
)
def test_production_refuses_http_audiences_and_symmetric_keys(
    tmp_path: Path, client: dict[str, Any], problem: str
) -> None:
    entry = {"iss": "https://ehr.example.org", "jwks": {"keys": []}, **client}
    path = _registry(tmp_path, entry)
    with pytest.raises(RegistryError) as refused:
        load_registry(path, environment="production")
    assert problem in str(refused.value)
    load_registry(path, environment="development")  # allowed while developing


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ({"auth_algorithms": []}, "CDS_AUTH_ALGORITHMS may not be empty in production"),
        ({"max_body_bytes": 10**12}, "CDS_MAX_BODY_BYTES over 104857600"),
    ],
)
def test_production_refuses_an_empty_algorithm_list_and_absurd_body_limits(
    setting: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        Settings(
            environment="production",
            public_base_url="https://cds.hospital.example",
            client_registry_path="clients.yaml",
            auth_disabled=False,
            **setting,
        )


def test_the_default_token_lifetime_is_at_most_one_hour_and_a_client_may_lower_it(tmp_path: Path) -> None:
    assert Settings().auth_max_token_lifetime_seconds <= 3600
    public = jwk(RSA_KEY.public_key(), EPIC_KID, "RS384")
    path = _registry(tmp_path, {"iss": EPIC, "jwks": {"keys": [public]}, "audience": TYPED_AUDIENCE})
    with make_client(path, tmp_path) as client:
        now = int(time.time())
        assert client.get(DISCOVERY, headers=auth(epic_token(sub=None, now=now, exp=now + 3600))).status_code == 200
        assert_refused(client.get(DISCOVERY, headers=auth(epic_token(sub=None, now=now, exp=now + 3601))))
