"""One access line per request, with a request id, and the caller's W3C trace context passed through.

``X-Request-ID`` is honoured when it is a plain token (letters, digits, ``.``, ``_``, ``:``, ``-``; at most 128
characters), otherwise a new id is made; either way it is returned in the response. A valid ``traceparent``
is kept for the request (its trace id is on every log line, and it is sent on to the FHIR servers the call
reads from). An answer of 400 or more is logged with its reason: the OperationOutcome's diagnostics, which
never carry a token or patient data. The path is logged without its query string.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds_service.api.logs import RequestContext, current_request

logger = logging.getLogger("cds_service.access")

REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[^\s]*)?")
REASON_BYTES = 4096  # of an error body read for its reason
REASON_CHARACTERS = 300


def valid_traceparent(value: str) -> str | None:
    """``value`` when it is a W3C ``traceparent`` (version ff, an all-zero trace id or parent id are invalid)."""
    match = TRACEPARENT.fullmatch(value)
    if match is None or match[1] == "ff" or (match[1] == "00" and match[5]):
        return None
    if set(match[2]) == {"0"} or set(match[3]) == {"0"}:
        return None
    return value


class AccessLog:
    """Pure ASGI middleware, outermost: sets the request context, adds ``X-Request-ID``, logs the outcome."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name: value for name, value in scope.get("headers", []) if name in (b"x-request-id", b"traceparent")}
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if REQUEST_ID.fullmatch(given) else os.urandom(16).hex()  # uuid4's randomness, half its cost
        traceparent = valid_traceparent(headers.get(b"traceparent", b"").decode("latin-1").strip().lower())
        context = RequestContext(request_id, traceparent)
        token = current_request.set(context)
        started = time.perf_counter()
        status = 500
        error_body = bytearray()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", request_id.encode())]}
            elif message["type"] == "http.response.body" and status >= 400 and len(error_body) < REASON_BYTES:
                error_body.extend(message.get("body", b"")[: REASON_BYTES - len(error_body)])
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            fields: dict[str, object] = {
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            }
            if status >= 400:
                fields["reason"] = _reason(bytes(error_body))
            level = logging.ERROR if status >= 500 else logging.WARNING if status >= 400 else logging.INFO
            logger.log(level, "request", extra=fields)
            current_request.reset(token)


def _reason(body: bytes) -> str:
    """The diagnostics of an OperationOutcome body, cut short; or what kind of body it was."""
    try:
        issues = json.loads(body)["issue"]
        return str(issues[0]["diagnostics"])[:REASON_CHARACTERS]
    except (ValueError, KeyError, IndexError, TypeError):
        return "(no OperationOutcome)" if body else "(empty body)"
