"""CDS Hooks 2.0 response models that enforce the spec (cds-hooks-conformance.md sections 0 and 3).

No null or empty values (optional lists have at least one item; serialise with ``exclude_none``),
``summary`` under 140 characters, ``selectionBehavior`` whenever there are suggestions, at most one
``isRecommended`` under ``at-most-one``, ``display`` on every override reason, ``appContext`` only on
SMART links, ``resourceId`` for deletes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SUMMARY_MAX_CHARS = 139


class _Response(BaseModel):
    """Frozen: a card's parts may be kept with its recommendation and issued again (``CardBody``)."""

    model_config = ConfigDict(extra="forbid", str_min_length=1, frozen=True)


class Coding(_Response):
    system: str
    code: str
    display: str | None = None


class Source(_Response):
    label: str
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Link(_Response):
    label: str
    url: str
    type: Literal["absolute", "smart"]
    appContext: str | None = None

    @model_validator(mode="after")
    def _app_context_only_on_smart(self) -> Link:
        if self.appContext is not None and self.type != "smart":
            raise ValueError("appContext is only allowed on smart links (cds-resp-3)")
        return self


class Action(_Response):
    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None
    resourceId: str | None = None

    @model_validator(mode="after")
    def _target(self) -> Action:
        if self.type == "delete" and (self.resourceId is None or self.resource is not None):
            raise ValueError("a delete action names its target in resourceId only (cds-resp-2)")
        if self.type != "delete" and self.resource is None:
            raise ValueError(f"a {self.type} action carries the resource")
        return self


class Suggestion(_Response):
    label: str
    uuid: str = Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    isRecommended: bool | None = None
    actions: list[Action] | None = Field(None, min_length=1)


class Card(_Response):
    uuid: str = Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    summary: str = Field(max_length=SUMMARY_MAX_CHARS)
    detail: str | None = None
    indicator: Literal["info", "warning", "critical"]
    source: Source
    suggestions: list[Suggestion] | None = Field(None, min_length=1)
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[Coding] | None = Field(None, min_length=1)
    links: list[Link] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _conformance(self) -> Card:
        if self.suggestions and self.selectionBehavior is None:
            raise ValueError("selectionBehavior is required when there are suggestions (cds-resp-6)")
        recommended = sum(1 for s in self.suggestions or [] if s.isRecommended)
        if self.selectionBehavior == "at-most-one" and recommended > 1:
            raise ValueError("at most one suggestion may be recommended under at-most-one (cds-resp-1)")
        for reason in self.overrideReasons or []:
            if not reason.display:
                raise ValueError("every override reason needs a display (cds-resp-4)")
        return self


class CdsResponse(_Response):
    cards: list[Card]
    systemActions: list[Action] | None = Field(None, min_length=1)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)
