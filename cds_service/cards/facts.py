"""The "Patient facts used" section: every fact the advice rests on, with its date and source resource."""

from __future__ import annotations

from datetime import date

from cds_service.facts import LineState, PatientFacts, TherapyLine
from cds_service.sequencing.child_pugh import ChildPughAssessment
from cds_service.sequencing.markdown import cell
from cds_service.sequencing.wording import STOP_TEXT, afp_value_text, agents_text

MAX_NOTES_SHOWN = 10


def when(value: date | None) -> str:
    return value.isoformat() if value is not None else "undated"


def _child_pugh_rows(cp: ChildPughAssessment | None) -> list[str]:
    if cp is None:
        return []
    refs = ", ".join(s.reference for s in cp.sources) or "no source data"
    # Policy 6.2: a recorded class and the class computed from current labs: the worse counts, both shown.
    compared = f"; {cp.compared}" if cp.compared else ""
    if cp.coded:
        return [f"- Child-Pugh: class {cp.class_text} as recorded, {cp.score_text} ({refs}){compared}"]
    parts = [lab.describe() for lab in cp.labs] + [finding.describe() for finding in cp.recorded_findings]
    stale = {finding.name for finding in cp.recorded_findings if finding.stale}
    unknown = [name for name in cp.unrecorded_findings if name not in stale]
    if unknown:
        parts.append(f"not recorded (unknown, not absent): {', '.join(unknown)}")
    return [f"- Child-Pugh: class {cp.class_text} ({cp.score_text}; {'; '.join(parts)}) ({refs}){compared}"]


def line_row(line: TherapyLine) -> str:
    """One line as the record reads (policy 6.5): agents, dates, state and the record that decided it, how it
    ended with the recorded reason quoted, and the source resources."""
    refs = ", ".join(e.source.reference for e in line.episodes[:4])
    more = f" and {len(line.episodes) - 4} more" if len(line.episodes) > 4 else ""
    names = [agents_text(line.agents)] if line.agents else []
    recorded = dict.fromkeys(e.description for e in line.episodes if e.unidentified)
    names += [f"“{cell(text)}” (not covered by the review)" for text in recorded]
    if line.state is LineState.CURRENT:
        state = f"current since {when(line.start)} ({cell(line.state_basis)})"
    else:
        period = f"{when(line.start)} to {when(line.end) if line.end else 'end not recorded'}"
        quoted = f": “{cell(line.stop_text)}”" if line.stop_text else ""
        state = f"{period}, ended ({cell(line.state_basis)}), {STOP_TEXT[line.stop_reason]}{quoted}"
    return f"- Line {line.number}: {' + '.join(names) or 'unidentified'}, {state} ({refs}{more})"


def facts_markdown(facts: PatientFacts, child_pugh: ChildPughAssessment | None) -> list[str]:
    """The patient facts the advice used, each with its date and source resource."""
    rows: list[str] = []
    for source in facts.hcc.sources:
        rows.append(
            f"- HCC diagnosis: {cell(facts.hcc.description or 'HCC')} ({source.reference}, {when(source.date)})"
        )
    if not facts.lines:
        ongoing = " (the current line below is not a prior line)" if facts.current_line else ""
        rows.append(f"- Prior systemic therapy (lines that ended): none on record{ongoing}")
    else:
        rows.append(
            f"- Prior systemic lines (ended): {len(facts.lines)}; a new regimen would be line {facts.next_line_number}"
        )
    rows += [line_row(line) for line in facts.all_lines]
    afp = facts.afp
    if afp is None:
        rows.append("- AFP: no result on record")
    else:
        note = f"; {afp.note}" if afp.note else ""
        origin = f"{afp.source.reference}, {when(afp.effective)}{note}"
        rows.append(f"- AFP: {cell(afp_value_text(afp))} ({origin})")
    rows += _child_pugh_rows(child_pugh)
    if facts.ecog is not None:
        rows.append(f"- ECOG: {facts.ecog.grade} ({facts.ecog.source.reference}, {when(facts.ecog.source.date)})")
    for caution in facts.immunotherapy_cautions:
        rows.append(
            f"- Checkpoint-inhibitor caution ({caution.kind.label}): {cell(caution.description)} "
            f"({caution.source.reference})"
        )
    for medication in facts.current_medications:
        kind = medication.kind.value.replace("hbv_", "hepatitis B ").replace("_", " ")
        rows.append(f"- Active {kind}: {cell(medication.name)} ({medication.source.reference})")
    for left_out in facts.notes[:MAX_NOTES_SHOWN]:
        rows.append(f"- Left out: {cell(left_out.reference)}: {cell(left_out.reason)}")
    if len(facts.notes) > MAX_NOTES_SHOWN:
        rows.append(f"- Left out: {len(facts.notes) - MAX_NOTES_SHOWN} more resources")
    return rows
