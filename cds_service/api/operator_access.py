"""Who may read ``/metrics`` and the API docs (``/docs``, ``/openapi.json``): off, token or open.

``CDS_METRICS_ACCESS`` and ``CDS_DOCS_ACCESS``: ``off`` answers 404, ``token`` needs the operator token
(else 401), ``open`` serves everyone. Unset, both are open in development and off in production. The token
is sent as ``Authorization: Bearer <CDS_OPERATOR_TOKEN>`` (Prometheus) or as the password of HTTP Basic
authentication, any user name: a browser opening ``/docs`` asks for it once and sends it with the page's
assets and ``/openapi.json``. Pure ASGI, so a refused request costs no route work.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from typing import Literal

from starlette.types import ASGIApp, Receive, Scope, Send

from cds_service.api.errors import operation_outcome

Access = Literal["off", "token", "open"]
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/openapi.json")
DOCS_PREFIX = "/docs/"  # the offline assets of the docs page (api/docs.py)
METRICS_PATHS = ("/metrics",)
BASIC_CHALLENGE = b'Basic realm="cds-service operator (user name: any; password: the operator token)", charset="UTF-8"'


class OperatorAccess:
    def __init__(self, app: ASGIApp, *, metrics: Access, docs: Access, token: str | None) -> None:
        self.app = app
        self._access: dict[str, Access] = dict.fromkeys(METRICS_PATHS, metrics)
        self._access.update(dict.fromkeys(DOCS_PATHS, docs))
        self._docs = docs
        self._token = token.encode() if token else None

    def _access_to(self, path: str) -> Access | None:
        access = self._access.get(path)
        if access is None and path.startswith(DOCS_PREFIX):
            return self._docs
        return access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        access = self._access_to(path) if scope["type"] == "http" else None
        if access is None or access == "open":
            await self.app(scope, receive, send)
            return
        if access == "token" and self._token is not None:
            given = next((v for k, v in scope.get("headers", []) if k == b"authorization"), b"")
            if hmac.compare_digest(_presented_token(given), self._token):
                await self.app(scope, receive, send)
                return
            challenges = [(b"www-authenticate", b"Bearer")]
            if path not in METRICS_PATHS:  # a browser asks for the token (Basic) on the docs
                challenges.append((b"www-authenticate", BASIC_CHALLENGE))
            await _refuse(send, 401, "security", "Unauthorized", challenges)
            return
        await _refuse(send, 404, "not-found", "Not Found", [])


def _presented_token(authorization: bytes) -> bytes:
    """The token in ``Bearer <token>`` or the password of ``Basic <base64(user:password)>`` (else empty)."""
    scheme, _, credentials = authorization.strip().partition(b" ")
    if scheme.lower() == b"bearer":
        return credentials.strip()
    if scheme.lower() == b"basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True)
        except (binascii.Error, ValueError):
            return b""
        return decoded.partition(b":")[2]
    return b""


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
