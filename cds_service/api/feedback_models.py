"""CDS Hooks 2.0 feedback body (conformance checklist section 4), accepting the legacy flat override.

Every field the service stores has a type and a length the feedback store accepts (the column sizes of
``store/feedback.py``) and no NUL character, so a bad field is a 400 naming it, never a database error.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

MAX_FEEDBACK_ITEMS = 100
MAX_ACCEPTED_SUGGESTIONS = 20
MAX_COMMENT_LENGTH = 4000


def no_nul(value: str) -> str:
    """Refuse the NUL character (PostgreSQL text cannot hold it; no real client sends it)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


CardId = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(no_nul)]
SuggestionId = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(no_nul)]
Timestamp = Annotated[str, Field(min_length=1, max_length=40), AfterValidator(no_nul)]
System = Annotated[str, Field(max_length=512), AfterValidator(no_nul)]
Code = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(no_nul)]
Display = Annotated[str, Field(max_length=1024), AfterValidator(no_nul)]
Comment = Annotated[str, Field(max_length=MAX_COMMENT_LENGTH), AfterValidator(no_nul)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class AcceptedSuggestion(_Lenient):
    id: SuggestionId


class ReasonCoding(_Lenient):
    system: System | None = None
    code: Code
    display: Display | None = None


class OverrideReason(_Lenient):
    reason: ReasonCoding | None = None
    userComment: Comment | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy_flat_reason(cls, value: Any) -> Any:
        if isinstance(value, dict) and "code" in value and "reason" not in value:
            return {"reason": {k: value[k] for k in ("system", "code", "display") if k in value}}
        return value


class FeedbackItem(_Lenient):
    card: CardId
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = Field(None, max_length=MAX_ACCEPTED_SUGGESTIONS)
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: Timestamp

    @model_validator(mode="after")
    def _accepted_names_suggestions(self) -> FeedbackItem:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("acceptedSuggestions is required when the outcome is accepted (cds-fb-2)")
        return self


class FeedbackRequest(_Lenient):
    feedback: list[FeedbackItem] = Field(min_length=1, max_length=MAX_FEEDBACK_ITEMS)
