"""Who is calling: the identity the authentication layer establishes for each request."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    issuer: str
    tenant: str | None = None
    fhir_servers: tuple[str, ...] = ()  # FHIR bases this client's hook calls may be fetched from


DEVELOPMENT_CLIENT = ClientIdentity(issuer="unauthenticated-development")
