"""Which of the review's settings a patient is in, from the prior lines of systemic therapy."""

from __future__ import annotations

from enum import StrEnum

from cds_service.facts import TherapyLine
from cds_service.knowledge import Knowledge, SettingId


class LineClass(StrEnum):
    SORAFENIB = "sorafenib"
    LENVATINIB = "lenvatinib"
    ATEZOLIZUMAB_BEVACIZUMAB = "atezolizumab_bevacizumab"
    OTHER_IMMUNOTHERAPY = "other_immunotherapy"
    OTHER = "other"


_SETTING_BY_LINE_CLASS = {
    LineClass.SORAFENIB: SettingId.AFTER_SORAFENIB,
    LineClass.LENVATINIB: SettingId.AFTER_LENVATINIB,
    LineClass.ATEZOLIZUMAB_BEVACIZUMAB: SettingId.AFTER_ATEZOLIZUMAB_BEVACIZUMAB,
    LineClass.OTHER_IMMUNOTHERAPY: SettingId.AFTER_OTHER_IMMUNOTHERAPY,
    LineClass.OTHER: SettingId.AFTER_OTHER_REGIMEN,
}


def classify_line(agents: frozenset[str], knowledge: Knowledge) -> LineClass:
    """Classify a prior regimen into the review's first-line settings (clinical-sequencing.md 2.1-2.3)."""
    regimen = knowledge.regimen_by_agents.get(agents)
    if regimen in (LineClass.SORAFENIB, LineClass.LENVATINIB, LineClass.ATEZOLIZUMAB_BEVACIZUMAB):
        return LineClass(regimen)
    if agents & knowledge.checkpoint_inhibitors:
        return LineClass.OTHER_IMMUNOTHERAPY
    return LineClass.OTHER


def determine_setting(lines: tuple[TherapyLine, ...], knowledge: Knowledge) -> SettingId:
    """From the lines that ended only (policy 6.5: current therapy is not a prior line). A prior line with an
    anticancer agent outside the review: not determined (6.5); none: first line; two or more: beyond second
    line; one: by what it was."""
    if any(line.is_unidentified for line in lines):
        return SettingId.NOT_DETERMINED
    if not lines:
        return SettingId.FIRST_LINE
    if len(lines) >= 2:
        return SettingId.BEYOND_SECOND_LINE
    return _SETTING_BY_LINE_CLASS[classify_line(lines[0].agents, knowledge)]


def line_label(line: TherapyLine, knowledge: Knowledge) -> str:
    """A line as a clinician reads it: its regimen, and each medication outside the review as recorded."""
    parts = [regimen_label(line.agents, knowledge)] if line.agents else []
    parts += [f"“{name}”" for name in line.unidentified]
    return " + ".join(parts) or "Unidentified regimen"


def unidentified_medications(lines: tuple[TherapyLine, ...]) -> tuple[str, ...]:
    """Every medication of the prior lines that is an anticancer agent outside the review, as recorded."""
    return tuple(dict.fromkeys(name for line in lines for name in line.unidentified))


def regimen_label(agents: frozenset[str], knowledge: Knowledge) -> str:
    regimen_id = knowledge.regimen_by_agents.get(agents)
    if regimen_id is not None:
        return knowledge.regimens[regimen_id].label
    return " + ".join(sorted(agents)).capitalize() if agents else "Unidentified regimen"
