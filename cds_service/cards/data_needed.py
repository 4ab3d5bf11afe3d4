"""The data-needed card (info): missing data that would change the answer, with the lab orders in one click."""

from __future__ import annotations

from cds_service.cards.common import (
    CardContext,
    Hook,
    card_source,
    card_uuid,
    closing_line,
    evidence_page,
    summary_line,
)
from cds_service.cards.drafts import LAB_ORDERS, lab_service_request
from cds_service.cards.issued import CardBody, IssuedCard, fired_gates, issue
from cds_service.cards.models import Action, Suggestion
from cds_service.sequencing.engine import Recommendation
from cds_service.sequencing.markdown import cell


def data_needed_card(rec: Recommendation, ctx: CardContext, *, hook: Hook) -> IssuedCard | None:
    """Card 3 (info): an AFP order when it decides ramucirumab; bilirubin/albumin/INR when Child-Pugh is unknown."""
    body = data_needed_body(rec, ctx, hook=hook)
    return None if body is None else issue_data_needed(body, rec, ctx, hook)


def _lab_orders(rec: Recommendation) -> list[str]:
    """The labs the card offers to order: AFP when it decides ramucirumab, then the missing Child-Pugh labs."""
    afp = ["afp"] if any(gap.kind == "afp" for gap in rec.data_gaps) else []
    return afp + [lab for gap in rec.data_gaps for lab in gap.labs]


def data_needed_body(rec: Recommendation, ctx: CardContext, *, hook: Hook) -> CardBody | None:
    """What card 3 says; None when no missing data would change the answer.

    The summary names each decisive missing fact ("Why sorafenib stopped decides regorafenib: not recorded"),
    never only "missing data" (policy 6.1)."""
    indicator = rec.indicators.data_needed
    if not rec.data_gaps or indicator is None:
        return None
    kinds = {gap.kind for gap in rec.data_gaps}
    labs = [lab for gap in rec.data_gaps for lab in gap.labs]
    parts = []
    if "child_pugh" in kinds:
        parts.append(f"Child-Pugh unknown: {', '.join(labs) or 'labs'} needed")
    if "afp" in kinds:
        parts.append("AFP needed: it decides whether ramucirumab is an option")
    # Every other gap names its decisive missing fact itself (pharmacist review of policy 6.1).
    parts += [gap.summary for gap in rec.data_gaps if gap.kind not in ("child_pugh", "afp") and gap.summary]
    summary = summary_line(*parts) if parts else "Missing data would change this HCC second-line assessment"
    detail = [f"- {cell(gap.description)}" for gap in rec.data_gaps]
    # Policy 6.5: every card says the review's trials excluded this patient's population.
    detail += [f"- {cell(message)}" for message in rec.population_messages]
    detail += ["", closing_line(ctx.knowledge)]
    # The gates whose missing data the card asks for (a gap not raised by a gate, e.g. unknown prior therapy,
    # names none).
    findings = [*(f for o in rec.options for f in o.findings), *(f for s in rec.selected for f in s.findings)]
    return CardBody(
        "data-needed",
        summary=summary,
        detail="\n".join(detail),
        indicator=indicator.value,
        source=card_source(ctx.knowledge, evidence_page(rec, ctx)),
        gates=fired_gates(f for f in findings if f.gap is not None and f.gap.kind in kinds),
    )


def issue_data_needed(body: CardBody, rec: Recommendation, ctx: CardContext, hook: Hook) -> IssuedCard:
    """Card 3 of one call: ``body`` with a one-click draft order for each lab it asks for."""
    orders = _lab_orders(rec)
    suggestions = [
        Suggestion(
            label=f"Order {LAB_ORDERS[lab][2]} (LOINC {LAB_ORDERS[lab][0]})",
            uuid=card_uuid(ctx.hook_instance, hook, "data", lab),
            actions=[
                Action(
                    type="create",
                    description=f"Draft an order for {LAB_ORDERS[lab][2]}",
                    resource=lab_service_request(lab, ctx),
                )
            ],
        )
        for lab in orders
    ]
    meanings = {s.uuid: f"order:{lab.lower()}" for s, lab in zip(suggestions, orders, strict=True)}
    selection = "any" if len(suggestions) > 1 else ("at-most-one" if suggestions else None)
    return issue(body, ctx, hook, suggestions, meanings, selection)
