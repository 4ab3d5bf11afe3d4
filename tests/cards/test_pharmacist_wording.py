"""Wording findings of the oncology pharmacist's cold read of the cards against clinical-sequencing.md (§2, §6.3)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest

from cds_service.cards.builder import build_cards
from cds_service.cards.common import CardContext
from cds_service.cards.facts import facts_markdown
from cds_service.cards.models import Card
from cds_service.facts import CautionKind, LiverFacts, LiverFinding, PatientFacts, Provenance
from cds_service.knowledge import Knowledge
from cds_service.sequencing.child_pugh import assess_child_pugh
from cds_service.sequencing.engine import recommend
from tests.sequencing.builders import TODAY, afp, facts, lab, line, order

NIVOLUMAB_ALONE = "phase I/II; US accelerated approval withdrawn 2021-07-23"


@pytest.fixture
def ctx(knowledge: Knowledge) -> CardContext:
    return CardContext(knowledge, "p1", "hook-1", "http://127.0.0.1:8000/CodeSystem/override-reason", "http://x")


def _cards(knowledge: Knowledge, ctx: CardContext, patient: PatientFacts, *agents: str) -> dict[str, Card]:
    selected = (order(*agents, ref="MedicationRequest/sel"),) if agents else ()
    rec = recommend(patient, knowledge, selected_orders=selected, today=TODAY)
    return {issued.kind: issued.card for issued in build_cards(rec, ctx, hook="order-select")}


@pytest.mark.parametrize(
    ("patient", "caution"),
    [
        (facts(line(1, "atezolizumab", "bevacizumab"), afp_result=afp(820)), "single-agent checkpoint inhibitor"),
        (facts(line(1, "sorafenib"), afp_result=afp(1250), cautions=(CautionKind.HEPATITIS_B,)), "antiviral"),
        (facts(line(1, "sorafenib"), afp_result=afp(95), cp="B"), "Child-Pugh B"),
    ],
    ids=["after-atezo-bev", "hepatitis-b", "child-pugh-b"],
)
def test_nivolumab_alone_keeps_its_own_reason_and_evidence_next_to_a_caution(
    knowledge: Knowledge, ctx: CardContext, patient: PatientFacts, caution: str
) -> None:
    """Policy 6.3: nivolumab alone is "phase I/II; US accelerated approval withdrawn 2021-07-23", less preferable;
    the pharmacist found only the caution on the card (hepatitis B note, Child-Pugh text, the single-agent line)."""
    cards = _cards(knowledge, ctx, patient, "nivolumab")
    warning, recommendation = cards["does-not-fit"], cards["recommendation"]
    assert warning.detail is not None
    assert recommendation.detail is not None
    assert warning.detail.startswith("**Nivolumab** (MedicationRequest/sel): less preferable")
    assert caution in warning.detail
    assert NIVOLUMAB_ALONE in warning.detail
    assert "withdrawn on 2021-07-23" in warning.detail
    selected_line = next(r for r in recommendation.detail.splitlines() if r.startswith("**Selected order:**"))
    assert selected_line.startswith("**Selected order:** Nivolumab: less preferable")
    assert NIVOLUMAB_ALONE in selected_line
    assert "withdrawn on 2021-07-23" in selected_line
    row = next(r for r in recommendation.detail.splitlines() if r.startswith("| Nivolumab |"))
    assert caution in row
    assert f"| less preferable | {NIVOLUMAB_ALONE}" in row
    assert "withdrawn on 2021-07-23" in row


@pytest.mark.parametrize(
    ("cautions", "named"),
    [
        ((CautionKind.ORGAN_TRANSPLANT,), "(caution: organ transplant)"),
        ((CautionKind.ORGAN_TRANSPLANT, CautionKind.AUTOIMMUNE_DISEASE), "(caution: organ transplant; autoimmune"),
    ],
    ids=["transplant", "transplant-and-autoimmune"],
)
@pytest.mark.parametrize("agents", [(), ("regorafenib",)], ids=["patient-view-like", "regorafenib-selected"])
def test_a_checkpoint_caution_is_named_once_on_the_recommendation(
    knowledge: Knowledge, ctx: CardContext, cautions: tuple[CautionKind, ...], named: str, agents: tuple[str, ...]
) -> None:
    """Pharmacist review: "Organ transplant; ... atezolizumab + bevacizumab preferred (caution: organ transplant)"
    named the caution twice; it stays attached to the preferred checkpoint regimen (policy 6.2), once."""
    summary = _cards(knowledge, ctx, facts(afp_result=afp(10), cautions=cautions), *agents)["recommendation"].summary
    assert re.search(rf"atezolizumab \+ bevacizumab preferred (in the 2021 review )?{re.escape(named)}", summary)
    assert summary.lower().count("organ transplant") == 1
    assert summary.lower().count("autoimmune disease") == (CautionKind.AUTOIMMUNE_DISEASE in cautions)
    assert len(summary) < 140


def test_the_facts_say_when_ascites_or_encephalopathy_was_recorded_absent(knowledge: Knowledge) -> None:
    """Pharmacist review: a recorded absence ("No ascites") narrows the Child-Pugh range, so the facts name it with
    its source and date; an absence too old to count says so instead of "not recorded" (policy 6.2, section 1)."""
    recent = LiverFinding("absent", Provenance("Condition", "no-ascites", TODAY - timedelta(days=5)))
    old = LiverFinding("absent", Provenance("Condition", "no-he", TODAY - timedelta(days=400)))
    liver = LiverFacts(lab("1.0", "mg/dL"), lab("4.0", "g/dL"), lab("1.0"), ascites=recent, encephalopathy=old)
    patient = replace(facts(line(1, "sorafenib"), afp_result=afp(10)), liver=liver)
    cp = assess_child_pugh(patient.liver, knowledge.parameters, TODAY)
    row = next(r for r in facts_markdown(patient, cp) if r.startswith("- Child-Pugh:"))
    assert f"ascites recorded absent (Condition/no-ascites, {(TODAY - timedelta(days=5)).isoformat()})" in row
    assert "hepatic encephalopathy recorded absent (Condition/no-he, " in row
    assert "too old: counted as not recorded" in row
    assert "not recorded (unknown, not absent): ascites" not in row
    assert cp.class_text == "A or B"


@pytest.mark.parametrize(
    "agents", [(), ("nivolumab", "ipilimumab"), ("regorafenib",)], ids=["none", "nivo-ipi", "rego"]
)
def test_first_line_cards_attribute_the_preference_to_the_2021_review(
    knowledge: Knowledge, ctx: CardContext, agents: tuple[str, ...]
) -> None:
    """Pharmacist review: "atezolizumab + bevacizumab preferred" on a first-line card read as a 2026 ranking, even
    next to a later first-line standard (section 2.3: the review's introduction; 6.3)."""
    cards = _cards(knowledge, ctx, facts(afp_result=afp(10)), *agents)
    summaries = [card.summary for card in cards.values()]
    assert any("atezolizumab + bevacizumab preferred in the 2021 review" in s for s in summaries)
    assert not any(s.endswith("atezolizumab + bevacizumab preferred") for s in summaries)
    detail = cards["recommendation"].detail or ""
    row = next(r for r in detail.splitlines() if r.startswith("| Atezolizumab + bevacizumab |"))
    assert "| preferred in the 2021 review |" in row
    assert "the preferred first line (IMbrave150)" in row
    assert "Longest" not in row


def test_a_preference_outside_the_first_line_is_not_attributed(knowledge: Knowledge, ctx: CardContext) -> None:
    summary = _cards(knowledge, ctx, facts(line(1, "sorafenib"), afp_result=afp(10)))["recommendation"].summary
    assert summary == "HCC after sorafenib: cabozantinib or regorafenib preferred"


def test_after_atezolizumab_bevacizumab_cabozantinib_and_regorafenib_may_be_preferred(
    knowledge: Knowledge, ctx: CardContext
) -> None:
    """Section 2.2 (the review: "may be preferred options", no prospective evidence): fixture 06 read a plain
    "preferred" in the place, the summaries and the suggestions (pharmacist review)."""
    cards = _cards(knowledge, ctx, facts(line(1, "atezolizumab", "bevacizumab"), afp_result=afp(820)), "ramucirumab")
    for kind, card in cards.items():
        if kind != "data-needed":  # policy 6.2 (revised): it asks for ascites and encephalopathy
            assert "cabozantinib or regorafenib may be preferred" in card.summary
    detail = cards["recommendation"].detail or ""
    for drug in ("Cabozantinib", "Regorafenib"):
        row = next(r for r in detail.splitlines() if r.startswith(f"| {drug} |"))
        assert row.startswith(f"| {drug} | may be preferred | no prospective evidence")
    labels = [s.label for s in cards["does-not-fit"].suggestions or []]
    assert labels == ["Replace with cabozantinib (may be preferred)", "Replace with regorafenib (may be preferred)"]


def test_after_another_immunotherapy_first_line_no_regimen_is_called_preferred(
    knowledge: Knowledge, ctx: CardContext
) -> None:
    """Policy 6.3: after durvalumab + tremelimumab the options are a labelled extrapolation "with no 'preferred'";
    fixture 17 read "the review says cabozantinib may be preferred" (pharmacist review)."""
    patient = facts(line(1, "durvalumab", "tremelimumab"), afp_result=afp(60))
    cards = _cards(knowledge, ctx, patient, "cabozantinib")
    for card in cards.values():
        text = f"{card.summary}\n{card.detail}".lower()
        assert "may be preferred" not in text
        places = [row.split("|")[2].strip() for row in text.splitlines() if row.startswith("| ")]
        assert not [place for place in places if place.startswith(("preferred", "may be preferred"))]


def test_facts_show_the_afp_compared_and_the_reported_value_only_when_converted() -> None:
    as_reported = afp(35)
    converted = replace(afp(363), as_reported="300 IU/mL", unit="IU/mL", converted=True)
    assert "- AFP: 35 ng/mL (Observation/afp, " in "\n".join(facts_markdown(facts(afp_result=as_reported), None))
    rows = "\n".join(facts_markdown(facts(afp_result=converted), None))
    assert "- AFP: 363 ng/mL (reported 300 IU/mL) (Observation/afp, " in rows


def test_a_caution_is_named_with_its_proper_capitals() -> None:
    """Independent review r28: "Checkpoint-inhibitor caution (hepatitis b)" read as a typo."""
    rows = facts_markdown(facts(cautions=(CautionKind.HEPATITIS_B, CautionKind.ORGAN_TRANSPLANT)), None)
    named = [row.split(":", 1)[0] for row in rows if row.startswith("- Checkpoint-inhibitor caution")]
    assert named == [
        "- Checkpoint-inhibitor caution (hepatitis B)",
        "- Checkpoint-inhibitor caution (organ transplant)",
    ]
