"""Who may read ``/metrics`` and the API docs (``/docs``, ``/openapi.json``): off, token or open.

``CDS_METRICS_ACCESS`` and ``CDS_DOCS_ACCESS``: ``off`` answers 404, ``token`` needs
``Authorization: Bearer <CDS_OPERATOR_TOKEN>`` (else 401), ``open`` serves everyone. Unset, both are open
in development and off in production. Pure ASGI, so a refused request costs no route work.
"""

from __future__ import annotations

import hmac
import json
from typing import Literal

from starlette.types import ASGIApp, Receive, Scope, Send

from cds_service.api.errors import operation_outcome

Access = Literal["off", "token", "open"]
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/openapi.json")
METRICS_PATHS = ("/metrics",)


class OperatorAccess:
    def __init__(self, app: ASGIApp, *, metrics: Access, docs: Access, token: str | None) -> None:
        self.app = app
        self._access: dict[str, Access] = dict.fromkeys(METRICS_PATHS, metrics)
        self._access.update(dict.fromkeys(DOCS_PATHS, docs))
        self._token = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        access = self._access.get(scope.get("path", "")) if scope["type"] == "http" else None
        if access is None or access == "open":
            await self.app(scope, receive, send)
            return
        if access == "token" and self._token is not None:
            given = next((v for k, v in scope.get("headers", []) if k == b"authorization"), b"")
            if hmac.compare_digest(given, self._token):
                await self.app(scope, receive, send)
                return
            await _refuse(send, 401, "security", "Unauthorized", [(b"www-authenticate", b"Bearer")])
            return
        await _refuse(send, 404, "not-found", "Not Found", [])


async def _refuse(send: Send, status: int, code: str, diagnostics: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps(operation_outcome(code, diagnostics)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
