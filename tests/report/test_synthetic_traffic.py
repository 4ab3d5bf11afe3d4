"""Synthetic traffic for the concordance report answers cards only with what they offer."""

from __future__ import annotations

from datetime import date

from cds_service.devtools.synthetic_traffic import CallTemplate, CardTemplate, synthetic_rows


def test_contraindication_to_alternatives_is_drawn_only_for_cards_that_suggest_one() -> None:
    """Pharmacist review: the reason is offered only on a warning that suggests an alternative."""
    bare = CardTemplate("svc", "does-not-fit", "critical", "after_sorafenib", ("regorafenib",), (), "v")
    offering = CardTemplate("svc", "does-not-fit", "warning", "after_sorafenib", ("ramucirumab",), ("x",), "v")
    calls = [CallTemplate("bare", (bare,)), CallTemplate("offering", (offering,))]
    reasons: dict[bool, set[str]] = {True: set(), False: set()}
    for row, feedback in synthetic_rows(calls, [date(2026, 8, 1)], seed=7):
        for answer in feedback:
            if answer.get("override_reason_code"):
                reasons[row["suggestions"] is not None].add(answer["override_reason_code"])
    assert "contraindication-to-alternatives" in reasons[True]
    assert reasons[False]
    assert "contraindication-to-alternatives" not in reasons[False]
