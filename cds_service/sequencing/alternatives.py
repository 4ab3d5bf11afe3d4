"""What a does-not-fit card offers instead of the selected order, and what it withholds (policy 6.1-6.2).

Offered: the setting's regimens that may be replaced in one click (``OptionAssessment.offerable``: a drug, in a
preferred or option place, no gate forbidding it), the preferred ones, or the options when none is preferred;
never the selected regimen itself. Withheld: an offerable regimen that shares a warning or critical finding with
the selected order (pharmacist review: a replacement must not have the problem of the order it replaces, e.g.
Child-Pugh B, ECOG 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cds_service.knowledge import Place, Severity
from cds_service.sequencing.gates import Finding
from cds_service.sequencing.options import OptionAssessment
from cds_service.sequencing.selected import SelectedAssessment


@dataclass(frozen=True, slots=True)
class OfferedAlternative:
    """A regimen offered in one click; ``recommended`` when it is the only one and carries no caution."""

    option: OptionAssessment
    recommended: bool
    why: str


@dataclass(frozen=True, slots=True)
class WithheldAlternative:
    """An offerable regimen not offered: it shares ``shared`` (warning or critical) with the selected order."""

    option: OptionAssessment
    shared: tuple[Finding, ...]

    @property
    def why(self) -> str:
        return "; ".join(f.summary for f in self.shared)


@dataclass(frozen=True, slots=True)
class Alternatives:
    """The does-not-fit card's alternatives. ``offer_forbidden_by_gate``: a gate that fired on a misfit selected
    order forbids one-click offers (gates.yaml ``offer: false``, e.g. Child-Pugh C): with nothing offered, the
    card says that no replacement is offered."""

    offered: tuple[OfferedAlternative, ...] = ()
    withheld: tuple[WithheldAlternative, ...] = ()
    offer_forbidden_by_gate: bool = False

    @property
    def offered_options(self) -> tuple[OptionAssessment, ...]:
        return tuple(a.option for a in self.offered)


def shared_cautions(option: OptionAssessment, misfits: Sequence[SelectedAssessment]) -> tuple[Finding, ...]:
    """The option's warning or critical findings that a misfit selected order also has."""
    selected_gates = {f.gate_id for s in misfits for f in s.findings if f.severity is not Severity.INFO}
    return tuple(f for f in option.findings if f.severity is not Severity.INFO and f.gate_id in selected_gates)


def _offered(candidates: list[OptionAssessment]) -> tuple[OfferedAlternative, ...]:
    preferred = [o for o in candidates if o.place is Place.PREFERRED]
    chosen = preferred or [o for o in candidates if o.place is Place.OPTION]
    why = "preferred for this patient" if preferred else "an option for this patient; no preferred regimen fits"
    return tuple(
        OfferedAlternative(
            option=option,
            recommended=len(chosen) == 1 and all(f.severity is Severity.INFO for f in option.findings),
            why=why,
        )
        for option in chosen
    )


def choose_alternatives(options: Sequence[OptionAssessment], misfits: Sequence[SelectedAssessment]) -> Alternatives:
    """The alternatives to the misfit selected orders (none when every selected order fits).

    Policy 6.5: an order that continues the current line never gets a replacement; a regimen that misfits only
    for its drafted product (Cometriq capsules) is offered as its HCC product, and nothing else is."""
    if not misfits:
        return Alternatives()
    forbidden = any(not f.offer for s in misfits for f in s.findings)
    if any(s.continues_current for s in misfits):
        return Alternatives(offer_forbidden_by_gate=True)
    if all(s.product_only for s in misfits):
        same = [o for o in options if o.offerable and o.regimen_id in {s.regimen_id for s in misfits}]
        return Alternatives(offered=_offered(same), offer_forbidden_by_gate=forbidden)
    excluded = {s.regimen_id for s in misfits}
    others = [o for o in options if o.offerable and o.regimen_id not in excluded]
    withheld = tuple(
        WithheldAlternative(option, shared) for option in others if (shared := shared_cautions(option, misfits))
    )
    withheld_ids = {w.option.regimen_id for w in withheld}
    return Alternatives(
        offered=_offered([o for o in others if o.regimen_id not in withheld_ids]),
        withheld=withheld,
        offer_forbidden_by_gate=forbidden,
    )
