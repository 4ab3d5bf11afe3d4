"""Shared wording of the sequencing layer: one home for each phrase that cards and rules both use."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from cds_service.facts import AfpResult, StopReason, TherapyLine

STOP_TEXT = {
    StopReason.PROGRESSION: "stopped for progression",
    StopReason.INTOLERANCE: "stopped for intolerance",
    StopReason.UNCLEAR: "stopped for a reason that is unclear (possibly intolerance)",
    StopReason.UNKNOWN: "reason for stopping not recorded",
}


def joined(names: Sequence[str], conjunction: str) -> str:
    """ "a", "a or b", "a, b or c" (``conjunction`` "or" or "and"); "" for none."""
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} {conjunction} {names[-1]}"


def number_text(value: Decimal) -> str:
    """400 rather than 400.0 or 4E+2."""
    return format(value.normalize(), "f")


def stop_text(line: TherapyLine) -> str:
    """How a line ended, with the recorded reason quoted (policy 6.5: never "not recorded" when it is)."""
    return STOP_TEXT[line.stop_reason] + quoted_reason(line)


def quoted_reason(line: TherapyLine) -> str:
    """The recorded stop reason quoted after a colon (': “Grade 3 hand-foot skin reaction”'), or ''."""
    return f": “{line.stop_text}”" if line.stop_text else ""


def afp_text(afp: AfpResult | None) -> str:
    if afp is None:
        return "no AFP result"
    when = afp.effective.isoformat() if afp.effective else "undated"
    if afp.converted and afp.value_ng_per_ml is not None:
        return f"AFP {_ng_text(afp, afp.value_ng_per_ml)} (reported {afp.as_reported}, {when})"
    return f"AFP {afp.as_reported} ({when})"


def _ng_text(afp: AfpResult, value: Decimal) -> str:
    return f"{afp.comparator or ''}{number_text(value)} ng/mL"


def afp_value_text(afp: AfpResult) -> str:
    """The AFP value the rules compared: as reported, or in ng/mL first when it was converted from
    another unit ("363 ng/mL (reported 300 IU/mL)"), so no card compares an IU/mL number with 400 ng/mL."""
    if not afp.converted or afp.value_ng_per_ml is None:
        return afp.as_reported
    return f"{_ng_text(afp, afp.value_ng_per_ml)} (reported {afp.as_reported})"


def afp_reading_text(afp: AfpResult) -> str:
    """The AFP value with its unit named: "600 IU/mL", or "600 (no unit)" when the result gives none."""
    if afp.unit and afp.unit in afp.as_reported:
        return afp.as_reported
    return f"{afp.as_reported} ({afp.unit or 'no unit'})"


def agents_text(agents: frozenset[str]) -> str:
    return " + ".join(sorted(agents))
