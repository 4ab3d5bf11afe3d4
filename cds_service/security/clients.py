"""Client authentication: the one place where CDS Hooks JWT verification plugs in.

Every discovery, service and feedback route depends on ``require_trusted_client``. Until signed-JWT
verification lands (its own issue), it admits every caller as the anonymous client and the service logs a
warning at start-up; nothing here is a default that cannot be switched off later.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    issuer: str
    tenant: str | None = None
    authenticated: bool = False


ANONYMOUS = ClientIdentity(issuer="anonymous")


async def require_trusted_client(request: Request) -> ClientIdentity:
    """Verify the caller (CDS Hooks 2.0, "Trusting CDS Clients"); today: no verification, anonymous."""
    return ANONYMOUS
