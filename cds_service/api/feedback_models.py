"""CDS Hooks 2.0 feedback body (conformance checklist section 4), accepting the legacy flat override."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class AcceptedSuggestion(_Lenient):
    id: str = Field(min_length=1)


class ReasonCoding(_Lenient):
    system: str | None = None
    code: str = Field(min_length=1)
    display: str | None = None


class OverrideReason(_Lenient):
    reason: ReasonCoding | None = None
    userComment: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy_flat_reason(cls, value: Any) -> Any:
        if isinstance(value, dict) and "code" in value and "reason" not in value:
            return {"reason": {k: value[k] for k in ("system", "code", "display") if k in value}}
        return value


class FeedbackItem(_Lenient):
    card: str = Field(min_length=1)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = None
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: str = Field(min_length=1)

    @model_validator(mode="after")
    def _accepted_names_suggestions(self) -> FeedbackItem:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("acceptedSuggestions is required when the outcome is accepted (cds-fb-2)")
        return self


class FeedbackRequest(_Lenient):
    feedback: list[FeedbackItem] = Field(min_length=1)
