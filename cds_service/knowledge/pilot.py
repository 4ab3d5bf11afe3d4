"""Pilot switches: how a site takes the service live (the ``pilot:`` section of its site parameters file).

clinical-sequencing.md 6.5 "Pilot switches": a site can run every service silent (cards computed and
recorded, none returned), turn each hook on or off, and forbid ``isRecommended`` on any suggestion, all in
the site parameters file, so that each choice is part of the version on every card and audit record (the
file's content hash). The pharmacist review queue's retention and its sample of info cards live here too.

    pilot:
      mode: silent                    # every service unless listed under services
      recommended_suggestions: never  # no suggestion is marked isRecommended
      services:
        order-sign: {mode: live}
        patient-view: {mode: live}
      review_queue:
        retention_days: 90
        info_sample_percent: 10
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

PilotMode = Literal["live", "silent", "off"]
PilotHook = Literal["order-select", "order-sign", "patient-view"]
RecommendedSuggestions = Literal["allowed", "never"]


def _yaml_off(value: Any) -> Any:
    """YAML 1.1 reads a bare ``off`` as false (and ``on`` as true): take them as the words meant."""
    if value is False:
        return "off"
    if value is True:
        return "live"
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServicePilot(_Strict):
    """One hook's switches; an unset field takes the pilot-wide value."""

    mode: PilotMode | None = None
    recommended_suggestions: RecommendedSuggestions | None = None

    _off = field_validator("mode", mode="before")(_yaml_off)


class ReviewQueueParameters(_Strict):
    """The pharmacist review queue: how long its entries (with patient references) are kept, and which share
    of info cards it samples (warning and critical cards are always kept)."""

    retention_days: int = Field(90, ge=1, le=3650)
    info_sample_percent: int = Field(0, ge=0, le=100)


class PilotSwitches(_Strict):
    """The site's pilot switches; the defaults are a live service with nothing forbidden."""

    mode: PilotMode = "live"
    recommended_suggestions: RecommendedSuggestions = "allowed"
    services: dict[PilotHook, ServicePilot] = Field(default_factory=dict)
    review_queue: ReviewQueueParameters = Field(default_factory=ReviewQueueParameters)

    _off = field_validator("mode", mode="before")(_yaml_off)

    def _own(self, hook: str) -> ServicePilot | None:
        return next((own for name, own in self.services.items() if name == hook), None)

    def mode_of(self, hook: str) -> PilotMode:
        """``live``, ``silent`` or ``off`` for this hook."""
        own = self._own(hook)
        return own.mode if own is not None and own.mode is not None else self.mode

    def recommends(self, hook: str) -> bool:
        """May a suggestion of this hook's cards be marked ``isRecommended``?"""
        own = self._own(hook)
        value = own.recommended_suggestions if own is not None and own.recommended_suggestions else None
        return (value or self.recommended_suggestions) == "allowed"

    def describe(self) -> str:
        """One line for logs and pages: each hook's mode, and whether suggestions may be recommended."""
        hooks = ", ".join(f"{hook} {self.mode_of(hook)}" for hook in ("order-select", "order-sign", "patient-view"))
        never = [h for h in ("order-select", "order-sign", "patient-view") if not self.recommends(h)]
        tail = f"; isRecommended never on {', '.join(never)}" if never else ""
        return hooks + tail
