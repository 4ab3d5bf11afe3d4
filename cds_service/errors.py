"""The service's error hierarchy; the api layer maps each class to an HTTP status and an OperationOutcome.

CdsServiceError
 ├── InvalidRequest        400  body not JSON, required field missing, hook mismatch
 ├── UnknownService        404  no service with that id
 ├── PayloadTooLarge       413  body over CDS_MAX_BODY_BYTES
 ├── UnsupportedMediaType  415  a POST body that is not Content-Type application/json
 ├── DataUnavailable       412  required FHIR data could not be obtained
 └── ServiceUnavailable    503  a dependency is down (Redis for replay, the feedback database)
"""

from __future__ import annotations


class CdsServiceError(Exception):
    """Base class: carries the HTTP status and the OperationOutcome issue code."""

    status_code = 500
    issue_code = "exception"

    def __init__(self, diagnostics: str, *, expression: list[str] | None = None) -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        self.expression = expression or []


class InvalidRequest(CdsServiceError):
    status_code = 400
    issue_code = "invalid"


class UnknownService(CdsServiceError):
    status_code = 404
    issue_code = "not-found"


class PayloadTooLarge(CdsServiceError):
    status_code = 413
    issue_code = "too-long"


class DataUnavailable(CdsServiceError):
    status_code = 412
    issue_code = "processing"


class UnsupportedMediaType(CdsServiceError):
    status_code = 415
    issue_code = "not-supported"


class ServiceUnavailable(CdsServiceError):
    """A dependency the request needs is down; the caller may retry (the service recovers on its own)."""

    status_code = 503
    issue_code = "transient"
