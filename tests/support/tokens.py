"""CDS Hooks client authentication in tests: keys, JWK sets, client registries and signed bearer tokens."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

EHR_ISSUER = "https://ehr.example.org"
# One EC P-384 key for the whole test run (the CDS Hooks 2.0 recommended ES384).
EC_KEY = ec.generate_private_key(ec.SECP384R1())


def b64url(data: bytes) -> str:
    """Base64url without padding, as in a JWS."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(public_key: Any, kid: str, alg: str | None = "ES384", use: str = "sig") -> dict[str, Any]:
    """The public JWK of an EC or RSA key, with its ``kid``, ``use`` and (unless None) ``alg``."""
    algorithm = RSAAlgorithm if alg is not None and alg.startswith("RS") else ECAlgorithm
    data: dict[str, Any] = json.loads(algorithm.to_jwk(public_key))
    return {**data, "kid": kid, "use": use, **({"alg": alg} if alg else {})}


def client_claims(aud: str, iss: str = EHR_ISSUER, lifetime: int = 300, **overrides: Any) -> dict[str, Any]:
    """The claims of a CDS Hooks client JWT (fresh ``jti``, ``iat`` now); an override of None drops the claim."""
    now = int(time.time())
    claims: dict[str, Any] = {"iss": iss, "aud": aud, "exp": now + lifetime, "iat": now, "jti": str(uuid.uuid4())}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign(claims: dict[str, Any], key: Any = EC_KEY, alg: str = "ES384", headers: dict[str, Any] | None = None) -> str:
    """A compact JWS of ``claims``."""
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def client_token(aud: str, kid: str = "k1", key: Any = EC_KEY, iss: str = EHR_ISSUER) -> str:
    """A valid ES384 client token for ``aud``, signed with ``key`` under ``kid``."""
    return sign(client_claims(aud, iss), key, headers={"kid": kid})


def bearer(token: str) -> dict[str, str]:
    """The Authorization header carrying ``token``."""
    return {"Authorization": f"Bearer {token}"}


def write_registry(folder: Path, kid: str = "k1", iss: str = EHR_ISSUER, key: Any = EC_KEY) -> Path:
    """A client registry (clients.yaml) trusting ``iss`` with the public key in a JWK set file beside it."""
    public = public_jwk(key.public_key(), kid, alg=None)
    (folder / "ehr.jwks.json").write_text(json.dumps({"keys": [public]}))
    path = folder / "clients.yaml"
    path.write_text(json.dumps({"clients": [{"iss": iss, "jwks_path": "ehr.jwks.json"}]}))
    return path
