"""Cards against the binding safety policy (docs/clinical-sequencing.md 6.1-6.2), from a pharmacist's review."""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from datetime import timedelta

import pytest

from cds_service.cards.builder import build_cards
from cds_service.cards.common import (
    CardContext,
    Hook,
    caution_line,
    checkpoint_caution,
    lower_first,
    summary_with_cautions,
)
from cds_service.cards.issued import IssuedCard
from cds_service.facts import (
    CautionKind,
    ChildPughClass,
    EcogStatus,
    LiverFacts,
    PatientFacts,
    Provenance,
    StopReason,
    TherapyLine,
)
from cds_service.knowledge import Knowledge, Severity
from cds_service.sequencing.engine import Recommendation, recommend
from tests.sequencing.builders import TODAY, afp, facts, line, order

AFTER_SORAFENIB = facts(line(1, "sorafenib"), afp_result=afp(1250))
CHECKPOINT_CAUTIONS = ("Organ transplant", "Autoimmune disease", "Prior immune toxicity")


def many_cautions(cp: ChildPughClass = "B", *cautions: CautionKind) -> PatientFacts:
    """After atezolizumab + bevacizumab stopped for toxicity (prior immune toxicity), ECOG 2, Child-Pugh ``cp``."""
    first_line = line(1, "atezolizumab", "bevacizumab", stop=StopReason.INTOLERANCE)
    return ecog(facts(first_line, afp_result=afp(20), cp=cp, cautions=cautions), 2)


@pytest.fixture
def ctx(knowledge: Knowledge) -> CardContext:
    return CardContext(knowledge, "p1", "hook-1", "http://127.0.0.1:8000/CodeSystem/override-reason", "http://x")


def ecog(patient: PatientFacts, grade: int) -> PatientFacts:
    when = TODAY - timedelta(days=5)
    return replace(patient, ecog=EcogStatus(grade, Provenance("Observation", "ecog", when)))


def cards(
    patient: PatientFacts, ctx: CardContext, *selected: str, hook: Hook = "order-select"
) -> dict[str, IssuedCard]:
    orders = (order(*selected, ref="MedicationRequest/draft-1"),) if selected else ()
    rec = recommend(patient, ctx.knowledge, selected_orders=orders, today=TODAY)
    return {c.kind: c for c in build_cards(rec, ctx, hook=hook)}


def replacement_regimens(card: IssuedCard) -> set[str]:
    return {meaning.removeprefix("replace-with:") for meaning in card.suggestions.values()}


@pytest.mark.parametrize(
    ("patient", "selected", "shared"),
    [
        (ecog(AFTER_SORAFENIB, 2), "cabozantinib", "ECOG 2"),
        (ecog(AFTER_SORAFENIB, 3), "regorafenib", "ECOG 3"),
        (facts(line(1, "sorafenib"), afp_result=afp(1250), cp="B"), "cabozantinib", "Child-Pugh B"),
    ],
)
def test_no_replacement_shares_the_selected_orders_caution(
    ctx: CardContext, patient: PatientFacts, selected: str, shared: str
) -> None:
    """Pharmacist review: a TKI swapped for another TKI with the same ECOG or Child-Pugh caution fixes nothing."""
    card = cards(patient, ctx, selected)["does-not-fit"]
    assert card.card.indicator == "warning"
    assert shared in card.card.summary
    assert card.card.suggestions is None
    assert replacement_regimens(card) == set()
    detail = card.card.detail or ""
    assert "No replacement is offered in one click" in detail
    assert f"same caution as the selected order: {'Regorafenib' if selected == 'cabozantinib' else 'Cabozantinib'}" in (
        detail
    )


def test_a_replacement_without_the_selected_orders_problem_is_still_offered(ctx: CardContext) -> None:
    """Ramucirumab with AFP below 400: its problem is its own, so cabozantinib and regorafenib are offered."""
    patient = facts(line(1, "sorafenib"), afp_result=afp(20))
    card = cards(patient, ctx, "ramucirumab")["does-not-fit"]
    assert replacement_regimens(card) == {"cabozantinib", "regorafenib"}


@pytest.mark.parametrize("hook", ["order-select", "patient-view"])
def test_recommendation_summary_names_every_checkpoint_caution_when_it_lists_checkpoint_inhibitors(
    ctx: CardContext, hook: Hook
) -> None:
    """Policy 6.2: every card that touches a checkpoint inhibitor names the caution in its summary, also when
    the selected order is a TKI and Child-Pugh B and ECOG 2 compete for the 140 characters."""
    selected = ("cabozantinib",) if hook == "order-select" else ()
    card = cards(many_cautions("B", CautionKind.AUTOIMMUNE_DISEASE), ctx, *selected, hook=hook)["recommendation"]
    summary = card.card.summary
    assert "Nivolumab + ipilimumab" in (card.card.detail or "")
    assert summary.startswith("Child-Pugh B; ")
    assert "Autoimmune disease" in summary
    assert "Prior immune toxicity" in summary
    assert len(summary) < 140


def test_does_not_fit_on_a_checkpoint_inhibitor_leads_with_its_caution(ctx: CardContext) -> None:
    """The checkpoint caution is specific to the order: it leads, the patient-wide Child-Pugh B follows."""
    card = cards(many_cautions("B", CautionKind.AUTOIMMUNE_DISEASE), ctx, "nivolumab", "ipilimumab")["does-not-fit"]
    summary = card.card.summary
    assert summary.startswith("Autoimmune disease: nivolumab + ipilimumab")
    assert "Prior immune toxicity" in summary
    assert "Child-Pugh B" in summary


@pytest.mark.parametrize(
    ("patient", "selected", "own_reasons"),
    [
        # Child-Pugh C leads (critical); the 141-character line used to lose "Sorafenib stopped for intolerance".
        (
            facts(line(1, "sorafenib", stop=StopReason.INTOLERANCE), afp_result=afp(1250), cp="C"),
            "regorafenib",
            ["Sorafenib stopped for intolerance"],
        ),
        (many_cautions("C"), "ramucirumab", ["AFP 20 ng/mL below 400", "After bevacizumab"]),
        (many_cautions("B"), "ramucirumab", ["AFP 20 ng/mL below 400", "After bevacizumab"]),
    ],
)
def test_does_not_fit_summary_keeps_the_orders_own_reason_when_a_caution_leads(
    ctx: CardContext, patient: PatientFacts, selected: str, own_reasons: list[str]
) -> None:
    """Pharmacist review: AFP below 400 or sorafenib intolerance stays in the summary next to Child-Pugh."""
    card = cards(patient, ctx, selected)["does-not-fit"]
    summary = card.card.summary
    assert summary.startswith(("Child-Pugh C", "AFP 20 ng/mL below 400"))
    for reason in own_reasons:
        assert reason in summary
    assert len(summary) < 140


def test_a_summary_counts_the_cautions_it_cannot_name(ctx: CardContext) -> None:
    """Pharmacist review: cautions that do not fit are counted at the end, never dropped silently."""
    from tests.sequencing.builders import lab

    patient = replace(
        many_cautions("A", CautionKind.ORGAN_TRANSPLANT, CautionKind.AUTOIMMUNE_DISEASE),
        liver=LiverFacts(None, lab("2.5", "g/dL"), None),
    )
    card = cards(patient, ctx, hook="patient-view")["recommendation"]
    summary = card.card.summary
    range_fact = "Child-Pugh B or C: bilirubin and INR missing, ascites/encephalopathy not recorded"
    facts_ = ["Organ transplant", range_fact, *CHECKPOINT_CAUTIONS[1:], "ECOG 2"]
    named = [fact for fact in facts_ if fact in summary]
    assert named[:2] == facts_[:2]
    assert len(named) < len(facts_)
    unnamed = len(facts_) - len(named)
    assert summary.endswith(f"(+{unnamed} more caution{'s' if unnamed > 1 else ''})")
    assert len(summary) < 140


def test_caution_line_names_what_fits_and_counts_the_rest() -> None:
    essential = "E" * 100
    line, unnamed = caution_line(essential, ["Organ transplant", "Autoimmune disease", "ECOG 2"])
    assert line == f"{essential}; Organ transplant (+2 more cautions)"
    assert unnamed == 2
    line, unnamed = caution_line("E" * 115, ["Organ transplant", "ECOG 2"])
    assert (line, unnamed) == ("E" * 115 + " (+2 more cautions)", 2)
    line, unnamed = caution_line("E" * 100, ["ECOG 2", "Organ transplant"])
    assert (line, unnamed) == ("E" * 100 + "; ECOG 2; Organ transplant", 0)
    assert summary_with_cautions("E" * 10, ["ECOG 2"], ["cabozantinib preferred"]) == (
        "EEEEEEEEEE; ECOG 2; cabozantinib preferred"
    )
    cautions = ["C" * 50, "D" * 40]
    assert summary_with_cautions("E" * 60, cautions, ["x"]) == "E" * 60 + "; " + "C" * 50 + " (+1 more caution)"


def test_checkpoint_regimens_carry_the_transplant_caution_in_their_place(ctx: CardContext) -> None:
    """Policy 6.2, pharmacist review: on the critical transplant card a checkpoint regimen is never a bare
    "option", and never a one-click alternative."""
    patient = facts(line(1, "sorafenib"), afp_result=afp(1250), cautions=(CautionKind.ORGAN_TRANSPLANT,))
    issued = cards(patient, ctx, "nivolumab", "ipilimumab")
    warning = issued["does-not-fit"]
    assert warning.card.indicator == "critical"
    detail = warning.card.detail or ""
    assert "**Nivolumab + ipilimumab** (MedicationRequest/draft-1): option (caution: organ transplant)." in detail
    assert replacement_regimens(warning) <= {"cabozantinib", "regorafenib", "ramucirumab"}
    table = [row for row in (issued["recommendation"].card.detail or "").splitlines() if row.startswith("| ")]
    checkpoint_rows = [row for row in table if row.startswith(("| Nivolumab", "| Pembrolizumab"))]
    assert len(checkpoint_rows) == 3
    assert all("(caution: organ transplant)" in row.split("|")[2] for row in checkpoint_rows)
    cabozantinib = next(row for row in table if row.startswith("| Cabozantinib"))
    assert cabozantinib.split("|")[2].strip() == "preferred"


@pytest.mark.parametrize(
    ("caution", "selected", "hook"),
    [
        (CautionKind.ORGAN_TRANSPLANT, ("durvalumab", "tremelimumab"), "order-select"),
        (CautionKind.ORGAN_TRANSPLANT, ("regorafenib",), "order-select"),
        (CautionKind.AUTOIMMUNE_DISEASE, ("regorafenib",), "order-sign"),
    ],
)
def test_a_summary_naming_a_preferred_checkpoint_inhibitor_names_its_caution(
    ctx: CardContext, caution: CautionKind, selected: tuple[str, ...], hook: Hook
) -> None:
    """Pharmacist review of policy 6.2: treatment-naive, "atezolizumab + bevacizumab preferred" read alone on a
    transplant or autoimmune patient's card; it carries "(caution: organ transplant)", and is never offered."""
    issued = cards(facts(afp_result=afp(40), cautions=(caution,)), ctx, *selected, hook=hook)
    named = caution.value.replace("_", " ")
    for card in issued.values():
        summary = card.card.summary
        if "atezolizumab + bevacizumab" in summary:
            # First line, the preference is attributed where it fits ("preferred in the 2021 review").
            pattern = rf"atezolizumab \+ bevacizumab preferred (in the 2021 review )?\(caution: {named}\)"
            assert re.search(pattern, summary), summary
        assert len(summary) < 140
    warning = issued["does-not-fit"]
    assert named in warning.card.summary.lower()
    assert "atezolizumab_bevacizumab" not in replacement_regimens(warning)


def test_a_hepatitis_b_patient_offered_atezolizumab_bevacizumab_is_told_about_antiviral_therapy(
    ctx: CardContext,
) -> None:
    """Policy 6.2 (hepatitis B row): the card offering the checkpoint-inhibitor regimen carries the note."""
    issued = cards(facts(afp_result=afp(40), cautions=(CautionKind.HEPATITIS_B,)), ctx, "regorafenib")
    warning = issued["does-not-fit"]
    assert replacement_regimens(warning) == {"atezolizumab_bevacizumab"}
    assert "Atezolizumab + bevacizumab: Hepatitis B on record" in (warning.card.detail or "")
    assert "trials required antiviral therapy" in (warning.card.detail or "")
    assert "(hepatitis B: trials required antiviral therapy)" in issued["recommendation"].card.summary


@pytest.mark.parametrize(
    ("patient", "shared"),
    [
        (ecog(AFTER_SORAFENIB, 2), "ECOG 2"),
        (facts(line(1, "sorafenib"), afp_result=afp(1250), cp="B"), "Child-Pugh B"),
    ],
)
def test_a_summary_never_points_to_alternatives_withheld_for_the_same_caution(
    ctx: CardContext, patient: PatientFacts, shared: str
) -> None:
    """Pharmacist review (fixture 08): "cabozantinib or regorafenib preferred" while the detail withholds them for
    the same caution; the summary says they share it (or leaves them out)."""
    card = cards(patient, ctx, "nivolumab")["does-not-fit"].card
    assert card.suggestions is None
    assert "Not offered, same caution as the selected order" in (card.detail or "")
    if "preferred" in card.summary:
        assert card.summary.endswith(f"cabozantinib or regorafenib preferred (caution: {shared})"), card.summary


def _counted(summary: str) -> int:
    match = re.search(r" \(\+(\d+) more cautions?\)$", summary)
    return int(match.group(1)) if match else 0


PATIENT_LINES: list[tuple[TherapyLine, ...]] = [
    (),
    (line(1, "sorafenib"),),
    (line(1, "sorafenib", stop=StopReason.INTOLERANCE),),
    (line(1, "atezolizumab", "bevacizumab", stop=StopReason.INTOLERANCE),),
    (line(1, "durvalumab", "tremelimumab"), line(2, "sorafenib", stop=StopReason.INTOLERANCE)),
]
SELECTABLE = ["cabozantinib", "regorafenib", "ramucirumab", "nivolumab", "pembrolizumab", "sorafenib"]


@pytest.mark.parametrize(
    "lines", PATIENT_LINES, ids=["naive", "sorafenib", "sorafenib-intolerance", "atezo-bev-irae", "durva"]
)
def test_every_caution_is_named_or_counted_and_own_reasons_always_named(
    ctx: CardContext, lines: tuple[TherapyLine, ...]
) -> None:
    """Pharmacist review, over many combinations: no summary over 139 characters or ending in an ellipsis; each
    warning/critical fact is named or counted in "(+N more cautions)"; the order's own reasons always named."""
    classes: list[ChildPughClass | None] = ["A", "B", "C", None]
    combinations = itertools.product(
        classes,
        [1, 2],
        [
            (),
            (CautionKind.ORGAN_TRANSPLANT,),
            (CautionKind.AUTOIMMUNE_DISEASE,),
            (CautionKind.AUTOIMMUNE_DISEASE, CautionKind.ORGAN_TRANSPLANT),
        ],
        [20, 1250],
    )
    for cp, grade, cautions, afp_value in combinations:
        patient = ecog(facts(*lines, afp_result=afp(afp_value), cp=cp, cautions=cautions), grade)
        for selected in SELECTABLE:
            rec = recommend(patient, ctx.knowledge, selected_orders=(order(selected),), today=TODAY)
            issued = {c.kind: c.card for c in build_cards(rec, ctx, hook="order-select")}
            facts_ = [f.summary for f in rec.headline_findings]
            summary = issued["recommendation"].summary
            _assert_named_preferred_carry_their_cautions(summary, rec, ctx.knowledge)
            assert len(summary) < 140
            assert not summary.endswith(("...", "…"))
            assert sum(fact.lower() in summary.lower() for fact in facts_) + _counted(summary) == len(facts_), summary
            parts = summary.removesuffix(f" (+{_counted(summary)} more cautions)").split("; ")
            repeated = [
                p for i, p in enumerate(parts) if i and p in facts_ and p.lower() in "; ".join(parts[:i]).lower()
            ]
            assert not repeated, summary
            if "does-not-fit" not in issued:
                continue
            summary = issued["does-not-fit"].summary
            loud = [f for f in rec.selected[0].findings if f.severity is not Severity.INFO]
            _assert_named_preferred_carry_their_cautions(summary, rec, ctx.knowledge, {f.gate_id for f in loud})
            assert len(summary) < 140
            assert sum(f.summary in summary for f in loud) + _counted(summary) == len(loud), summary
            assert all(f.summary in summary for f in loud if not f.headline), summary


def _assert_named_preferred_carry_their_cautions(
    summary: str, rec: Recommendation, knowledge: Knowledge, shared: set[str] | frozenset[str] = frozenset()
) -> None:
    """Policy 6.2: a preferred regimen a summary names carries its checkpoint caution and any caution it shares
    with the selected order."""
    for option in rec.preferred:
        selected = any(s.regimen_id == option.regimen_id for s in rec.selected)
        if selected or f"{option.label.lower()}" not in summary:
            continue
        for finding in option.findings:
            if checkpoint_caution(finding, knowledge) or (
                finding.gate_id in shared and finding.severity is not Severity.INFO
            ):
                assert lower_first(finding.summary) in summary.split(option.label.lower(), 1)[1], summary


@pytest.mark.parametrize(
    ("patient", "selected", "suggests"),
    [
        (facts(line(1, "sorafenib"), afp_result=afp(95), cp="C"), "regorafenib", False),  # fixture 18
        (facts(line(1, "sorafenib"), afp_result=afp(95), cp="B"), "nivolumab", False),  # fixture 08's pattern
        (facts(line(1, "sorafenib"), afp_result=afp(20)), "ramucirumab", True),
    ],
    ids=["child-pugh-c", "child-pugh-b", "afp-below-400"],
)
def test_contraindication_to_alternatives_is_offered_only_with_an_alternative(
    ctx: CardContext, patient: PatientFacts, selected: str, suggests: bool
) -> None:
    """Pharmacist review: "Contraindication to the suggested alternatives" on a card that suggests none."""
    card = cards(patient, ctx, selected)["does-not-fit"].card
    codes = [reason.code for reason in card.overrideReasons or []]
    assert bool(card.suggestions) is suggests
    assert ("contraindication-to-alternatives" in codes) is suggests
    assert {"patient-preference", "clinical-trial", "information-missing", "other"} <= set(codes)
