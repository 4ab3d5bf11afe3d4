"""The codes suggested draft orders carry: the CDS Hooks sandbox's own RxNorm codes, or an ingredient code."""

from __future__ import annotations

import pytest

from cds_service.knowledge import Knowledge

# The CDS Hooks sandbox's medication list (github.com/cds-hooks/sandbox, Apache-2.0).
SANDBOX_CODES = {
    "sorafenib": ("597747", "sorafenib 200 MG Oral Tablet", "SCD"),
    "regorafenib": ("1312402", "regorafenib 40 MG Oral Tablet", "SCD"),
    "cabozantinib": ("1363271", "cabozantinib Pill", "SCDG"),
}
COMETRIQ_CAPSULES = ("1363273", "1363281")  # the thyroid product: recognised in history, never suggested


@pytest.mark.parametrize("agent", sorted(SANDBOX_CODES))
def test_sandbox_products_code_suggested_orders(knowledge: Knowledge, agent: str) -> None:
    coding = knowledge.terminology.agents[agent].order_coding
    assert coding is not None
    assert (coding.code, coding.display, coding.term_type) == SANDBOX_CODES[agent]
    assert "cds-hooks/sandbox" in coding.source


def test_cometriq_capsules_are_cabozantinib_history_but_never_an_order_code(knowledge: Knowledge) -> None:
    cabozantinib = knowledge.terminology.agents["cabozantinib"]
    assert set(COMETRIQ_CAPSULES) <= set(cabozantinib.rxnorm)
    codes = {a.order_coding.code for a in knowledge.terminology.agents.values() if a.order_coding}
    assert not codes & set(COMETRIQ_CAPSULES)


@pytest.mark.parametrize("agent", ["lenvatinib", "ramucirumab", "atezolizumab", "ipilimumab"])
def test_agents_without_a_known_orderable_code_have_none(knowledge: Knowledge, agent: str) -> None:
    spec = knowledge.terminology.agents[agent]
    assert spec.order_coding is None
    assert spec.rxnorm_ingredient is None
