"""Every error leaves the service as an OperationOutcome with a fitting status; never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from cds_service.errors import CdsServiceError

logger = logging.getLogger("cds_service.api")

_HTTP_ISSUE_CODES = {401: "security", 403: "forbidden", 404: "not-found", 405: "not-supported", 413: "too-long"}


def operation_outcome(code: str, diagnostics: str, expression: list[str] | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = expression
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def outcome_response(status: int, code: str, diagnostics: str, expression: list[str] | None = None) -> JSONResponse:
    return JSONResponse(operation_outcome(code, diagnostics, expression), status_code=status)


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, CdsServiceError):
        return await _unexpected_error(request, exc)
    return outcome_response(exc.status_code, exc.issue_code, exc.diagnostics, exc.expression)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):
        return await _unexpected_error(request, exc)
    code = _HTTP_ISSUE_CODES.get(exc.status_code, "processing")
    response = outcome_response(exc.status_code, code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):
        return await _unexpected_error(request, exc)
    return outcome_response(400, "invalid", "Invalid request")


async def _client_gone(request: Request, exc: Exception) -> JSONResponse:
    logger.info("client disconnected before the request was read", extra={"path": request.url.path})
    return outcome_response(400, "incomplete", "Client disconnected")


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unexpected error", extra={"path": request.url.path})
    return outcome_response(500, "exception", "Internal error; the request was not processed")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CdsServiceError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected_error)
