"""CDS Hooks 2.0 request models: lenient with what real clients send, strict about what the service needs.

Unknown fields are kept and ignored (forward compatibility); ``draftOrders`` is only required to be a
Bundle-shaped object (the sandbox omits ``Bundle.type`` and sends slightly invalid R4).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cds_service.errors import InvalidRequest

ModelT = TypeVar("ModelT", bound=BaseModel)


def validated(model: type[ModelT], payload: Any, *, what: str, prefix: str = "") -> ModelT:
    """Validate ``payload`` with ``model``; a missing or malformed field is a 400 naming each one."""
    if not isinstance(payload, dict):
        raise InvalidRequest(f"{what} must be a JSON object", expression=[prefix.rstrip(".")] if prefix else None)
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        where = [prefix + ".".join(str(p) for p in e["loc"]) or "(body)" for e in errors]
        detail = "; ".join(f"{w}: {e['msg']}" for w, e in zip(where, errors, strict=True))
        raise InvalidRequest(f"Invalid {what}: {detail}", expression=where) from exc


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class FhirAuthorization(_Lenient):
    access_token: str = Field(repr=False)
    token_type: str
    expires_in: int | None = None
    scope: str | None = None
    subject: str | None = None
    patient: str | None = None


class HookRequest(_Lenient):
    hook: str = Field(min_length=1)
    hookInstance: str = Field(min_length=1, max_length=128, pattern=r"^[^\x00]*$")
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = Field(None, repr=False)
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _server_with_token(self) -> HookRequest:
        if self.fhirAuthorization is not None and not self.fhirServer:
            raise ValueError("fhirServer is required when fhirAuthorization is present (cds-r-1)")
        return self


class PatientViewContext(_Lenient):
    userId: str = Field(min_length=1)
    patientId: str = Field(min_length=1, pattern=r"^[A-Za-z0-9\-\.]{1,64}$")
    encounterId: str | None = None

    @field_validator("patientId")
    @classmethod
    def _not_a_dot_segment(cls, value: str) -> str:
        """``.`` and ``..`` match the FHIR id pattern but, put in a URL, name the collection, not a patient."""
        if value in (".", ".."):
            raise ValueError("patientId may not be '.' or '..'")
        return value


class OrderSignContext(PatientViewContext):
    draftOrders: dict[str, Any]

    @field_validator("draftOrders")
    @classmethod
    def _is_bundle(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("resourceType") != "Bundle":
            raise ValueError("draftOrders must be a FHIR Bundle")
        return value


class OrderSelectContext(OrderSignContext):
    selections: list[str] = Field(min_length=1)
