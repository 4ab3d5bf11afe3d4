"""Which fired gates a regimen carries as its own cautions (clinical-sequencing.md 6.2, pharmacist review).

A regimen's place carries its checkpoint-inhibitor cautions (transplant, autoimmune disease, prior immune
toxicity) and its own regimen-specific warnings (no current AFP...) that did not already move the place down,
so a card never shows a bare "option" for a regimen with a caution. The checkpoint-inhibitor notes (hepatitis
B: the trials required antiviral therapy) go on every card that offers or names such a regimen.
"""

from __future__ import annotations

from collections.abc import Iterable

from cds_service.knowledge import Knowledge, Place, Severity
from cds_service.sequencing.gates import Finding


def _about_checkpoint_inhibitors(finding: Finding, knowledge: Knowledge) -> bool:
    return knowledge.gates[finding.gate_id].scope == "checkpoint_inhibitors"


def checkpoint_caution(finding: Finding, knowledge: Knowledge) -> bool:
    """A checkpoint-inhibitor caution: policy 6.2 wants it named in the summary of every card that touches a
    checkpoint inhibitor."""
    return finding.severity is not Severity.INFO and _about_checkpoint_inhibitors(finding, knowledge)


def checkpoint_notes(findings: Iterable[Finding], knowledge: Knowledge) -> tuple[Finding, ...]:
    """The informational checkpoint-inhibitor notes among ``findings`` (policy 6.2)."""
    return tuple(f for f in findings if f.severity is Severity.INFO and _about_checkpoint_inhibitors(f, knowledge))


def own_cautions(place: Place, findings: Iterable[Finding], knowledge: Knowledge) -> tuple[Finding, ...]:
    """The warnings a regimen's place carries: its checkpoint-inhibitor cautions and its own regimen-specific
    warnings that did not already move the place down (policy 6.2)."""
    return tuple(
        f
        for f in findings
        if f.severity is not Severity.INFO
        and f.place_cap is not place
        and (not f.headline or checkpoint_caution(f, knowledge))
    )
