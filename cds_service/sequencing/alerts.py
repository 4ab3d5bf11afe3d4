"""The alert policy in one place (docs/clinical-sequencing.md 6.1): does the selected order fit, and how loud.

- info: the recommendation card, and a selected order that fits: preferred, or an option whose
  conditions are met. A fitting order gets no warning and no replacement suggestion.
- warning: the selected order does not fit: not supported, less preferable or not preferred while a
  better-supported option exists, already received, or a warning gate fired.
- critical: a gate whose severity is critical fired.
Where the review is silent ("not addressed by the review") the order is unranked: an info statement.
The indicator of every card comes from here (``CardIndicators``): the recommendation card and the data-needed
card inform (info); the does-not-fit card speaks as loudly as its loudest misfit selected order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from cds_service.knowledge import Place, Severity
from cds_service.sequencing.gates import Finding


class Fit(StrEnum):
    """How a selected order fits this patient: the one word for it in code and on cards."""

    FITS = "fits"
    DOES_NOT_FIT = "does_not_fit"
    UNRANKED = "unranked"
    # order-select: one agent of a combination the setting lists, picked before its partner (policy 6.5 "One
    # regimen, however it is drafted"): an info statement naming the combination; the full check at order-sign.
    PART_OF_COMBINATION = "part_of_combination"


def worst_severity(findings: Iterable[Finding]) -> Severity:
    worst = Severity.INFO
    for finding in findings:
        if finding.severity is not worst and finding.severity.rank > worst.rank:
            worst = finding.severity
    return worst


def fit_of(place: Place, findings: Iterable[Finding], *, better_option_exists: bool) -> Fit:
    """Policy 6.1: a warning or critical finding, or a place below the best available, means it does not fit."""
    if worst_severity(findings) is not Severity.INFO or place is Place.NOT_SUPPORTED:
        return Fit.DOES_NOT_FIT
    if place in (Place.PREFERRED, Place.OPTION):
        return Fit.FITS
    if place in (Place.LESS_PREFERABLE, Place.NOT_PREFERRED) and better_option_exists:
        return Fit.DOES_NOT_FIT
    return Fit.UNRANKED


def indicator_for(fit: Fit, findings: Iterable[Finding]) -> Severity:
    """The card's indicator: critical if a critical gate fired, warning if the order does not fit, else info."""
    worst = worst_severity(findings)
    if worst is Severity.CRITICAL:
        return Severity.CRITICAL
    if fit is Fit.DOES_NOT_FIT or worst is Severity.WARNING:
        return Severity.WARNING
    return Severity.INFO


@dataclass(frozen=True, slots=True)
class CardIndicators:
    """The indicator of each card the recommendation can give; None where that card is not given."""

    recommendation: Severity = Severity.INFO
    does_not_fit: Severity | None = None
    data_needed: Severity | None = None


def card_indicators(misfit_indicators: Iterable[Severity], has_data_gaps: bool) -> CardIndicators:
    """Policy 6.1: the recommendation and data-needed cards inform; the does-not-fit card takes the loudest
    indicator of the selected orders that do not fit (None when every selected order fits)."""
    loudest = max(misfit_indicators, key=lambda s: s.rank, default=None)
    return CardIndicators(
        recommendation=Severity.INFO,
        does_not_fit=loudest,
        data_needed=Severity.INFO if has_data_gaps else None,
    )
