"""One-click replacements any CDS Hooks client can apply: the selected draft is updated in place.

Clients differ in how much of a suggestion they apply; the CDS Hooks sandbox applies only the first
action, and only a medication with ``coding[0].code``. So the first action always places the suggested
drug: for a one-agent alternative a single ``update`` of the selected draft (same ``resourceId``, new
medication); for a multi-agent regimen the draft is updated with its first coded agent and the others are
created. An agent with no known code is drafted as text, and the card says that it must be placed by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

from cds_service.cards.common import CardContext
from cds_service.cards.drafts import is_coded, medication_concept, medication_request
from cds_service.cards.models import Action
from cds_service.knowledge import Knowledge


@dataclass(frozen=True, slots=True)
class Replacement:
    """The actions of one "replace with" suggestion, and the agents it could only draft as text."""

    actions: list[Action]
    by_hand: tuple[str, ...]


def _name(agent: str, ctx: CardContext) -> str:
    return str(medication_concept(agent, ctx.knowledge)["text"])


def replacement_actions(order_references: tuple[str, ...], agents: tuple[str, ...], ctx: CardContext) -> Replacement:
    """Replace the selected draft order(s) with ``agents``; the first action places the first (coded) agent.

    The selected ``MedicationRequest`` is updated in place (same id); any other kind of draft (a DSTU2
    ``MedicationOrder``) cannot become a MedicationRequest, so the new order is created first and the old
    draft deleted after. Further agents are created; further selected drafts are deleted last.
    """
    first, *others = sorted(agents, key=lambda agent: not is_coded(agent, ctx.knowledge))  # stable sort
    target = order_references[0] if order_references else None
    resource_type, _, draft_id = (target or "").partition("/")
    leftovers = list(order_references[1:])
    if target and resource_type == "MedicationRequest" and draft_id:
        place = Action(
            type="update",
            description=f"Change the draft order to {_name(first, ctx)}",
            resourceId=target,
            resource=medication_request(first, ctx, draft_id=draft_id),
        )
    else:
        place = Action(
            type="create",
            description=f"Draft an order for {_name(first, ctx)}",
            resource=medication_request(first, ctx),
        )
        leftovers = list(order_references)
    actions = [place]
    actions += [
        Action(
            type="create",
            description=f"Draft an order for {_name(agent, ctx)}",
            resource=medication_request(agent, ctx),
        )
        for agent in others
    ]
    actions += [
        Action(type="delete", description=f"Remove the draft order {reference}", resourceId=reference)
        for reference in leftovers
    ]
    return Replacement(actions, uncoded_agents(agents, ctx.knowledge))


def uncoded_agents(agents: tuple[str, ...], knowledge: Knowledge) -> tuple[str, ...]:
    """The agents with no known code, in their order: a suggestion drafts them as text, placed by hand."""
    return tuple(agent for agent in agents if not is_coded(agent, knowledge))


def by_hand_note(agents: tuple[str, ...]) -> str | None:
    """The card's line for agents it could not code: their suggested orders are text only, placed by hand."""
    if not agents:
        return None
    names = " and ".join(agents)
    return f"No orderable code is known for {names}: its suggested order is text only and must be placed by hand."
