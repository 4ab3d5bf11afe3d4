"""The trusted-client registry: which EHRs may call the service, with which keys, tenants and FHIR servers.

A YAML or JSON file (``CDS_CLIENT_REGISTRY_PATH``)::

    clients:
      - iss: https://ehr.hospital.example          # the JWT "iss", exactly
        jku: https://ehr.hospital.example/jwks.json  # the one key-set URL a token's "jku" may name
        jwks: {keys: [...]}                        # an inline JWK set, or
        jwks_path: keys/ehr.jwks.json              # a local JWK set (relative to this file); with either,
                                                   # keys are never fetched, even when jku is given
        tenants: [north, south]                    # optional: allowed "tenant" claims
        fhir_servers: [https://ehr.hospital.example/fhir]  # FHIR bases this client's calls may be fetched from
        audience_base: https://cds.hospital.example      # optional: base of "aud" if the EHR types its own
        audience: https://cds.hospital.example/hcc  # optional instead: the one exact "aud" it always sends
        max_token_lifetime_seconds: 900            # optional: largest exp - iat (default
                                                   # CDS_AUTH_MAX_TOKEN_LIFETIME_SECONDS, at most 3600)
        sub: ehr-client-id                         # optional: the "sub" its tokens must carry (client id)
        development_only: true                     # optional: refused at start-up in production

Production refuses, at start-up and one line each: an entry marked ``development_only`` (a key whose
private half is public, such as the CDS Hooks sandbox's), an ``audience_base`` that is not https, and a
symmetric (``oct``) key in a key set on file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class RegistryError(Exception):
    """The registry file is missing or invalid (a start-up error)."""


class TrustedClient(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    iss: str = Field(min_length=1)
    jku: str | None = Field(None, pattern=r"^https://")
    jwks: dict[str, Any] | None = None
    jwks_path: str | None = None
    tenants: tuple[str, ...] = ()
    fhir_servers: tuple[str, ...] = ()
    audience_base: str | None = None
    description: str | None = None
    audience: str | None = None
    max_token_lifetime_seconds: int | None = Field(None, ge=1, le=3600)
    sub: str | None = Field(None, min_length=1)
    development_only: bool = False

    @model_validator(mode="after")
    def _key_source(self) -> TrustedClient:
        if self.jwks is not None and self.jwks_path is not None:
            raise ValueError(f"client {self.iss}: give jwks or jwks_path, not both")
        if self.jku is None and self.jwks is None and self.jwks_path is None:
            raise ValueError(f"client {self.iss}: give jku, jwks or jwks_path")
        return self

    @model_validator(mode="after")
    def _one_audience(self) -> TrustedClient:
        if self.audience is not None and self.audience_base is not None:
            raise ValueError(f"client {self.iss}: give audience or audience_base, not both")
        return self

    @model_validator(mode="after")
    def _fhir_servers_are_plain_http_urls(self) -> TrustedClient:
        for server in self.fhir_servers:
            parts = urlsplit(server)
            if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
                raise ValueError(f"client {self.iss}: fhir_servers entry {server!r} is not an http(s) URL with a host")
        return self

    @property
    def has_local_keys(self) -> bool:
        """Keys are on file; a ``jku`` then only has to match, it is never fetched."""
        return self.jwks is not None or self.jwks_path is not None


class ClientRegistry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    clients: tuple[TrustedClient, ...] = ()

    def by_issuer(self, iss: str) -> TrustedClient | None:
        return next((c for c in self.clients if c.iss == iss), None)

    @model_validator(mode="after")
    def _unique_issuers(self) -> ClientRegistry:
        issuers = [c.iss for c in self.clients]
        if len(issuers) != len(set(issuers)):
            raise ValueError("each iss may appear once in the client registry")
        return self


def production_problems(registry: ClientRegistry, local_keys: dict[str, dict[str, Any]]) -> list[str]:
    """What production refuses in a registry, one line each (development-only entries, http audiences,
    symmetric keys)."""
    problems: list[str] = []
    for client in registry.clients:
        if client.development_only:
            problems.append(f"client {client.iss} is marked development_only (its key is not secret)")
        for name, value in (("audience_base", client.audience_base), ("audience", client.audience)):
            if value is not None and urlsplit(value).scheme != "https":
                problems.append(f"client {client.iss}: {name} {value!r} is not https")
        keys = local_keys.get(client.iss, {}).get("keys")
        for key in keys if isinstance(keys, list) else []:
            if isinstance(key, dict) and key.get("kty") == "oct":
                problems.append(f"client {client.iss}: key {str(key.get('kid'))[:64]!r} is symmetric (oct)")
    return problems


def load_registry(
    path: str | Path, *, environment: str | None = None
) -> tuple[ClientRegistry, dict[str, dict[str, Any]]]:
    """Read the registry and the local JWK sets it names; returns the registry and local key sets by iss.

    With ``environment="production"``, what ``production_problems`` names is a ``RegistryError``.
    """
    file = Path(path)
    registry, local = _read_registry(file)
    if environment == "production":
        problems = production_problems(registry, local)
        if problems:
            raise RegistryError(f"client registry {file} is refused in production: " + "; ".join(problems))
    return registry, local


def _read_registry(file: Path) -> tuple[ClientRegistry, dict[str, dict[str, Any]]]:
    try:
        text = file.read_text(encoding="utf-8")
        data = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
        registry = ClientRegistry.model_validate(data or {})
        local: dict[str, dict[str, Any]] = {}
        for client in registry.clients:
            if client.jwks is not None:
                local[client.iss] = client.jwks
            elif client.jwks_path is not None:
                local[client.iss] = json.loads((file.parent / client.jwks_path).read_text(encoding="utf-8"))
        return registry, local
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors(include_url=False)
        )
        raise RegistryError(f"client registry {file} is invalid: {problems}") from exc
    except (OSError, ValueError, yaml.YAMLError) as exc:
        reason = " ".join(str(exc).split())
        raise RegistryError(f"client registry {file} is invalid: {type(exc).__name__}: {reason}") from exc
